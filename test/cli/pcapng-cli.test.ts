// --write / --snaplen usage mistakes on trace, observe and serve: exit 2 with the fix, before anything starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'calitrace.js');

function run(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [BIN, ...args], { timeout: 20000 }, (err, _o, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr })),
  );
}

test('usage mistakes around --write and --snaplen exit 2 and say what to do', async () => {
  const cases: [string[], RegExp][] = [
    [['trace', '--no-ui', '--snaplen', '64'], /--snaplen sets how much of each packet --write keeps: give --write FILE too/],
    [['trace', '--no-ui', '--write', 'x.pcapng', '--events'], /--write writes judged packets with their verdicts: not with --events/],
    [['trace', '--no-ui', '--write', 'x.pcapng', '--mode', 'flow'], /needs every packet's record \(packet mode, what --write picks by default\): drop --mode flow/],
    [['trace', '--no-ui', '--write', 'x.pcapng', '--mode', 'case'], /needs every packet's record \(packet mode, what --write picks by default\): drop --mode case/],
    [['trace', '--no-ui', '--write', '-', '--snaplen', '600'], /--snaplen takes 1 to 512 bytes, got 600/],
    [['trace', '--no-ui', '--write', '/nonexistent-dir/x.pcapng'], /--write \/nonexistent-dir\/x\.pcapng: ENOENT/],
    [['observe', '--snaplen', '64'], /--snaplen trims what --write records: give --write FILE too/],
    [['serve', '--snaplen', '0'], /--snaplen takes 1 to 512 bytes, got 0/],
    [['serve', '--snaplen', '64', '--mode', 'flow'], /--snaplen gives verdicts their packet bytes, which needs every packet's record \(packet mode, what --snaplen picks by default\): drop --mode flow/],
    [['serve', '--snaplen', '64', '--mode', 'case'], /drop --mode case/],
  ];
  for (const [args, want] of cases) {
    const r = await run(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, want, args.join(' '));
  }
});

test('help: trace, observe and serve document --write/--snaplen/--metrics-addr with examples', async () => {
  const help = (cmd: string) => new Promise<string>((resolve) => execFile(process.execPath, [BIN, cmd, '--help'], (_e, out) => resolve(out)));
  assert.match(await help('trace'), /--write FILE[\s\S]*Implies --no-ui and packet mode[\s\S]*--snaplen BYTES[\s\S]*--write - \| wireshark -k -i -/);
  assert.match(await help('observe'), /--write FILE[\s\S]*-o dict/);
  assert.match(await help('serve'), /--metrics-addr ADDR[\s\S]*--snaplen BYTES/);
});

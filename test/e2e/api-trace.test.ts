// `calitrace trace --no-ui` serves the API beside its own output (unless --no-api): a real trace on a lab
// node, real pings, and a real client reading the same verdicts the terminal prints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withLab } from '../helpers/lab';
import { labExec } from '../../src/lab';
import { BATCH, CalitraceClient, ObserveMessage } from '../../src/api/client';
import { stopProcess, waitUntil } from '../helpers/api';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'calitrace.js');

function start(args: string[]): { proc: ChildProcess; stdout: () => string; stderr: () => string } {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (err += d));
  return { proc, stdout: () => out, stderr: () => err };
}

test('trace --no-ui serves the API (same verdicts as its output); --no-api does not', async () => {
  await withLab(async (lab) => {
    const netns = lab.nodes.find((n) => n.id === 'node1')!.netns;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-api-trace-'));
    const sock = path.join(dir, 'api.sock');
    const trace = start(['trace', '--no-ui', '-o', 'json', '--netns', netns, '--listen', `unix:${sock}`]);
    const client = new CalitraceClient({ server: `unix:${sock}` });
    try {
      // The session says "API on …" as soon as it listens and "judging …" once the trace starts printing: wait for both.
      await waitUntil(() => (/API on unix:/.test(trace.stderr()) && /judging /.test(trace.stderr())) || trace.proc.exitCode !== null, 'the trace to serve the API and start judging', 30000);
      assert.match(trace.stderr(), /API on unix:/, trace.stderr());
      // The default: case mode, said once on stderr with how to get every packet's line.
      assert.match(trace.stderr(), /\(case mode: a verdict line per new path and per drop, every packet judged and counted .*--mode packet for a line per packet/);
      assert.match(trace.stderr(), /, case mode; calitrace observe/);
      const got: ObserveMessage[] = [];
      const stream = client.observe({ follow: true, batch: BATCH, allow: [{ eventType: [2 /* VERDICT */] }] });
      void (async () => {
        for await (const m of stream) got.push(m);
      })().catch(() => undefined);
      await waitUntil(async () => (await client.status()).subscribers.length === 1, 'the subscriber');

      // Three pings of their own (three ICMP ids): three new paths, so three verdict lines in the default
      // case mode, where a ping's later packets are counted with its first.
      assert.equal((await labExec(lab.prefix, '10.233.101.222', ['sh', '-c', 'for i in 1 2 3; do ping -n -c 1 -W 1 10.233.101.224 || exit 1; done'])).code, 0);
      const printedRequests = () => trace.stdout().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((v) => v.dst === '10.233.101.224');
      await waitUntil(() => printedRequests().length >= 3 && got.filter((m) => m.verdict?.dst === '10.233.101.224').length >= 3, 'the verdicts on stdout and on the API', 15000);
      // The terminal and the API saw the same packets, with the same verdicts.
      const apiRequests = got.filter((m) => m.verdict?.dst === '10.233.101.224').map((m) => `${m.verdict!.fingerprint} MATCHED=${m.verdict!.verdict === 1}`);
      const printed = printedRequests().map((v) => `${v.fingerprint} MATCHED=${v.verdict === 'MATCHED'}`);
      assert.deepEqual(apiRequests.sort(), printed.sort());
      stream.cancel();
    } finally {
      client.close();
      const code = await stopProcess(trace.proc);
      assert.equal(code, 0, trace.stderr());
    }

    const quiet = start(['trace', '--no-ui', '--netns', netns, '--listen', `unix:${sock}`, '--no-api', '--duration', '3']);
    await waitUntil(() => quiet.proc.exitCode !== null, 'the --no-api trace to end', 30000);
    assert.equal(quiet.proc.exitCode, 0, quiet.stderr());
    assert.doesNotMatch(quiet.stderr(), /API on/);
    assert.equal(fs.existsSync(sock), false);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

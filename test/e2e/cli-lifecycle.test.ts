// A clean lifecycle, with the real CLI on a real lab node: Ctrl-C in a terminal stops `serve` and
// `trace --no-ui` without a false alarm and leaves no helper process behind; a one-shot trace (--count,
// --duration) opens no API unless asked; --count ends a --flows run; `serve --pid-file` names the
// process to signal; and started through npx, calitrace stops when the process the shell knows is killed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withLab } from '../helpers/lab';
import { startPing } from '../helpers/path-lab';
import { POD_A, POD_B } from '../helpers/path-fixtures';
import { stopProcess, waitUntil } from '../helpers/api';
import { PtyScreen } from '../helpers/tui-pty';
import { labExec, LabInfo } from '../../src/lab';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'bin', 'calitrace.js');
const STOPPED = /stopped: .*lost: 0 in kernel, 0 in pipe, 0 by slow subscribers, 0 loader restarts/;

function node1(lab: LabInfo): string {
  return lab.nodes.find((n) => n.id === 'node1')!.netns;
}

/** Processes (pids) whose command line names the namespace: the loader, ip monitor, ip -batch. */
function helpersIn(netns: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmd.includes(netns) && pid !== String(process.pid)) found.push(`${pid} ${cmd.join(' ')}`);
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function run(file: string, args: string[]): { proc: ChildProcess; stdout: () => string; stderr: () => string } {
  const proc = spawn(file, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (err += d));
  return { proc, stdout: () => out, stderr: () => err };
}

function exited(proc: ChildProcess): Promise<number | null> {
  return proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve(proc.exitCode) : new Promise((r) => proc.once('exit', (c) => r(c)));
}

async function noHelpersLeft(netns: string): Promise<void> {
  await waitUntil(() => helpersIn(netns).length === 0, `no helper process left in ${netns}: ${helpersIn(netns).join('; ')}`, 10000);
}

test('Ctrl-C in a terminal stops serve and trace --no-ui cleanly: exit 0, no false alarm, nothing left running', { timeout: 180_000 }, async () => {
  await withLab(async (lab) => {
    const netns = node1(lab);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-lifecycle-'));
    try {
      for (const args of [
        ['serve', '--netns', netns, '--listen', `unix:${path.join(dir, 'serve.sock')}`],
        ['trace', '--no-ui', '--netns', netns, '--listen', `unix:${path.join(dir, 'trace.sock')}`],
      ]) {
        const screen = new PtyScreen(process.execPath, [BIN, ...args], { cols: 400, rows: 50 });
        try {
          await screen.waitForText('API on unix:', 30_000);
          assert.equal((await labExec(lab.prefix, POD_A, ['ping', '-c', '2', '-i', '0.2', POD_B])).code, 0);
          if (args[0] === 'trace') await screen.waitForText(/MATCHED/, 10_000);
          assert.ok(helpersIn(netns).length >= 2, `the loader and ip monitor run: ${helpersIn(netns).join('; ')}`);
          screen.press('\x03'); // the terminal sends SIGINT to the whole foreground process group
          const exit = await screen.exited;
          assert.equal(exit.exitCode, 0, screen.raw);
          assert.doesNotMatch(screen.raw, /ip monitor exited|loader restarted|no longer live/, `${args[0]}: ${screen.raw}`);
          assert.match(screen.raw, STOPPED, `${args[0]}: ${screen.raw}`);
          await noHelpersLeft(netns);
        } finally {
          await screen.kill();
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('one-shot traces open no API unless asked; --count ends a --flows run', { timeout: 180_000 }, async () => {
  await withLab(async (lab) => {
    const netns = node1(lab);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-oneshot-'));
    const ping = startPing(lab.prefix, POD_A, POD_B, 0.1);
    try {
      // --count: no API (not even an attempt on the default port).
      const counted = run(process.execPath, [BIN, 'trace', '--no-ui', '--count', '2', '--netns', netns, '--src', POD_A]);
      assert.equal(await exited(counted.proc), 0, counted.stderr());
      assert.equal(counted.stdout().trim().split('\n').length, 2);
      assert.doesNotMatch(counted.stderr(), /API on|not serving the API/, counted.stderr());
      assert.match(counted.stderr(), /stopped: 2 printed; /);

      // --duration with an API option: asked for, so served.
      const sock = path.join(dir, 'api.sock');
      const asked = run(process.execPath, [BIN, 'trace', '--no-ui', '--duration', '2', '--netns', netns, '--listen', `unix:${sock}`]);
      assert.equal(await exited(asked.proc), 0, asked.stderr());
      assert.match(asked.stderr(), /API on unix:/, asked.stderr());

      // --flows --count 2: two flow lines, then it ends by itself.
      const flows = run(process.execPath, [BIN, 'trace', '--no-ui', '--flows', '--count', '2', '--netns', netns, '--src', POD_A, '--proto', 'icmp']);
      const timer = setTimeout(() => flows.proc.kill('SIGKILL'), 30_000);
      const code = await exited(flows.proc);
      clearTimeout(timer);
      assert.equal(code, 0, `--flows --count 2 must end on its own: ${flows.stderr()}`);
      const lines = flows.stdout().trim().split('\n');
      assert.equal(lines.length, 2, flows.stdout());
      for (const l of lines) assert.match(l, /flow active\s+icmp\s+10\.233\.101\.222 <> 10\.233\.101\.224 \| \d+ pkts/);
      await noHelpersLeft(netns);
    } finally {
      await ping.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('serve --pid-file names the process; started through npx, killing what the shell knows stops calitrace', { timeout: 180_000 }, async () => {
  await withLab(async (lab) => {
    const netns = node1(lab);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-pidfile-'));
    try {
      // Directly: `kill $(cat FILE)`.
      const pidFile = path.join(dir, 'serve.pid');
      const serve = run(process.execPath, [BIN, 'serve', '--netns', netns, '--listen', `unix:${path.join(dir, 'a.sock')}`, '--pid-file', pidFile]);
      await waitUntil(() => fs.existsSync(pidFile) || serve.proc.exitCode !== null, 'the pid file', 30_000);
      assert.equal(Number(fs.readFileSync(pidFile, 'utf8').trim()), serve.proc.pid);
      process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGTERM');
      assert.equal(await exited(serve.proc), 0, serve.stderr());
      assert.match(serve.stderr(), STOPPED);
      assert.equal(fs.existsSync(pidFile), false, 'the pid file is removed at the stop');
      await noHelpersLeft(netns);

      // Through npx: npm → sh → node. The shell's $! is npm's pid; killing it must stop calitrace too.
      const npxFile = path.join(dir, 'npx.pid');
      const npx = run(path.join(path.dirname(process.execPath), 'npx'), ['calitrace', 'serve', '--netns', netns, '--listen', `unix:${path.join(dir, 'b.sock')}`, '--pid-file', npxFile]);
      try {
        await waitUntil(() => fs.existsSync(npxFile) || npx.proc.exitCode !== null, 'the pid file of serve under npx', 60_000);
        const real = Number(fs.readFileSync(npxFile, 'utf8').trim());
        assert.notEqual(real, npx.proc.pid, 'under npx the tracer is not the process the shell started');
        npx.proc.kill('SIGTERM');
        await waitUntil(() => !alive(real), 'calitrace serve (under npx) to stop after npm was killed', 15_000);
        await waitUntil(() => /stopped: /.test(npx.stderr()), 'its last line', 5_000).catch(() => undefined);
        assert.equal(fs.existsSync(npxFile), false, 'it stopped through its own stop (the pid file is gone)');
        await noHelpersLeft(netns);
      } finally {
        await stopProcess(npx.proc);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// `calitrace demo`: docs/explain.md's story, live, in one command. Builds the lab (or reuses it), runs the
// collector + API for node1, sends the lab's traffic (same node, across nodes, into the
// blackhole) and opens the UI on it. Quitting stops the traffic and the collector and removes the lab
// this command created.
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Command, parseCommandArgs, UsageError } from './command';
import { DEFAULT_PREFIX, labDown, labExecArgv, labStatus, labUp, nodeNetns, validatePrefix } from '../lab';
import { waitForApi } from '../tui/wait-api';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'calitrace.js');

/** Three stories (docs/explain.md), all from pod 10.233.101.222 on node1. */
export const DEMO_FLOWS = [
  { name: 'same-node', from: '10.233.101.222', to: '10.233.101.224' },
  { name: 'cross-node', from: '10.233.101.222', to: '10.233.100.130' },
  { name: 'blackholed', from: '10.233.101.222', to: '10.233.101.230' },
];

const HELP = `Usage: calitrace demo [--prefix P] [--keep-lab] [--interval S] [--no-color]

Builds the built-in two-node Calico lab in network namespaces (never touching the host's own network),
starts the tracer + API for node1 (ems203-w2) and opens the terminal UI on it, with traffic flowing from
pod 10.233.101.222:
  same node   → 10.233.101.224   (the /32 route wins: MATCHED, cali11299111064 → caliaa479e31ff6)
  cross node  → 10.233.100.130   (VXLAN: MATCHED, cali11299111064 → vxlan.calico → ens3)
  blackholed  → 10.233.101.230   (in the block, no pod: EXPECTED_DROP by the IPAM-block blackhole)
Select a flow and press enter to see why. q quits: the traffic and the tracer stop, and the lab is
removed unless it existed before or --keep-lab is given. Needs root (namespaces, BPF).

Options:
  --prefix P      lab namespace prefix (default $CALITRACE_LAB_PREFIX, else '${DEFAULT_PREFIX}'; a lab already up under it is reused and kept)
  --keep-lab      leave the lab up after quitting (remove it later with: calitrace lab down --prefix P)
  --interval S    seconds between packets of each flow (default 0.5)
  --no-color      no colours; verdicts are always written as words
  -h, --help      this help

EXAMPLES
  npm run demo                       # set-up, build, then this command
  calitrace demo
  calitrace demo --prefix mydemo --keep-lab
  calitrace lab down --prefix mydemo
`;

function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'lab + tracer + UI with pod traffic flowing (same node, to node2, into the blackhole), in one command',
  help: HELP,
  async run(argv) {
    const { values } = parseCommandArgs(
      'demo',
      argv,
      { prefix: { type: 'string' }, 'keep-lab': { type: 'boolean' }, interval: { type: 'string' }, 'no-color': { type: 'boolean' } },
      false,
    );
    const prefix = values.prefix ?? (process.env.CALITRACE_LAB_PREFIX || DEFAULT_PREFIX);
    try {
      validatePrefix(prefix);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const interval = values.interval === undefined ? 0.5 : Number(values.interval);
    if (!(interval >= 0.2 && interval <= 60)) throw new UsageError(`--interval takes seconds from 0.2 to 60, got '${values.interval}'`);
    if (process.getuid && process.getuid() !== 0) {
      throw new UsageError('the demo builds network namespaces and loads BPF programs: run it as root (sudo npm run demo)');
    }
    if (!process.stdout.isTTY || !process.stdin.isTTY) {
      throw new UsageError('the demo shows a terminal UI: run it in a terminal (stdin and stdout a tty)');
    }

    const existed = (await labStatus({ prefix }).catch(() => undefined))?.exists === true;
    const log = (m: string) => process.stdout.write(`demo: ${m}\n`);
    const sock = `/run/calitrace-demo-${prefix}.sock`;
    const server = `unix:${sock}`;
    const children: ChildProcess[] = [];
    let serverProc: ChildProcess | null = null;
    let serverLog = '';
    // Ctrl-C or SIGTERM while setting up (before the UI owns the keyboard) or while cleaning up: finish
    // the step in progress, then clean up what was made, instead of dying with namespaces left behind.
    let interrupted = false;
    const onSignal = () => {
      if (!interrupted) log('interrupted: cleaning up…');
      interrupted = true;
    };
    const checkInterrupted = () => {
      if (interrupted) throw new UsageError('interrupted; the lab and the tracer it started were cleaned up');
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      log(existed ? `reusing the lab '${prefix}' (it stays up afterwards)` : `building the lab '${prefix}' in network namespaces…`);
      await labUp({ prefix });
      checkInterrupted();
      const netns = nodeNetns(prefix, 'node1');
      if (existsSync(sock)) rmSync(sock);
      log(`starting the tracer + API for node1 (${netns}) on ${server}…`);
      serverProc = spawn(process.execPath, [BIN, 'serve', '--netns', netns, '--listen', server], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const keep = (d: Buffer) => {
        serverLog = (serverLog + d.toString()).slice(-4000);
      };
      serverProc.stdout!.on('data', keep);
      serverProc.stderr!.on('data', keep);
      const srv = serverProc;
      await waitForApi(server, 30_000, () =>
        interrupted ? 'interrupted' : srv.exitCode !== null ? `the tracer exited (code ${srv.exitCode}):\n${serverLog}` : undefined,
      ).catch((err: Error) => {
        checkInterrupted();
        throw err;
      });
      log('starting traffic: same node, across nodes, into the blackhole…');
      for (const f of DEMO_FLOWS) {
        const argv2 = labExecArgv(prefix, f.from, ['ping', '-n', '-q', '-i', String(interval), '-W', '1', f.to]);
        children.push(spawn(argv2[0], argv2.slice(1), { stdio: 'ignore' }));
      }
      checkInterrupted();
      // The UI restores the terminal on SIGTERM itself; while it runs, Ctrl-C is a key, not a signal.
      process.off('SIGTERM', onSignal);
      try {
        const { runUi } = await import('../tui/run'); // loaded only when drawn
        await runUi({ server, noColor: values['no-color'] === true || !!process.env.NO_COLOR });
      } finally {
        process.on('SIGTERM', onSignal);
      }
    } finally {
      await Promise.all(children.map((c) => stopChild(c, 2000)));
      if (serverProc) await stopChild(serverProc, 5000);
      if (existsSync(sock)) rmSync(sock, { force: true });
      if (!existed && !values['keep-lab']) {
        log(`removing the lab '${prefix}'…`);
        await labDown({ prefix });
      } else {
        log(`the lab '${prefix}' is still up; remove it with: calitrace lab down --prefix ${prefix}`);
      }
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    log('done');
    return 0;
  },
};

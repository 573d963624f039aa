// Integration-test harness for the path engine: the real collector (live route model + BPF loader) in a
// lab node, every verdict and flow update recorded, and waits with deadlines (never fixed sleeps).
import { spawn, ChildProcess } from 'node:child_process';
import { startCollector, RunningCollector } from '../../src/collector/start';
import { labExecArgv, nodeNetns, LabInfo } from '../../src/lab';
import { labPodDirectory } from '../../src/pods';
import type { FlowSummary, PacketVerdict } from '../../src/path/types';
import type { ModelChangeEvent } from '../../src/routing/types';
import type { CollectorCounters } from '../../src/collector/types';
import type { CaptureMode } from '../../src/capture/capture';

export interface PathHarness {
  rc: RunningCollector;
  verdicts: PacketVerdict[];
  flows: Map<string, FlowSummary>;
  routeChanges: ModelChangeEvent[];
  /** Every periodic counters event. */
  counters: CollectorCounters[];
  errors: Error[];
  /** The first verdict (already seen or coming) that satisfies `pred`. */
  waitVerdict(pred: (v: PacketVerdict) => boolean, timeoutMs: number, what: string): Promise<PacketVerdict>;
  waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void>;
  /** Every verdict so far, one line each, for assertion messages. */
  dump(filter?: (v: PacketVerdict) => boolean): string;
}

export async function withNodeCollector<T>(
  lab: LabInfo,
  fn: (h: PathHarness) => Promise<T>,
  node = 'node1',
  opts: { patterns?: string[]; mode?: CaptureMode } = {},
): Promise<T> {
  // The lab's names and nodes, as `calitrace trace` on a lab node has them: evidence for the causes.
  const knownNodes = new Set(lab.nodes.map((n) => n.underlayIp));
  const rc = await startCollector({
    netns: nodeNetns(lab.prefix, node),
    flowUpdateMs: 50,
    patterns: opts.patterns,
    mode: opts.mode,
    pods: labPodDirectory(lab.prefix, 0),
    nodeName: lab.nodes.find((n) => n.id === node)?.name,
    knownNodes: () => knownNodes,
  });
  const verdicts: PacketVerdict[] = [];
  const flows = new Map<string, FlowSummary>();
  const routeChanges: ModelChangeEvent[] = [];
  const errors: Error[] = [];
  const counters: CollectorCounters[] = [];
  rc.collector.on('verdict', (v) => verdicts.push(v));
  rc.collector.on('counters', (c) => counters.push(c));
  rc.collector.on('flow', (f) => flows.set(f.key, f));
  rc.collector.on('route', (c) => routeChanges.push(c));
  rc.collector.on('error', (e) => errors.push(e));
  const waitUntil = async (cond: () => boolean, timeoutMs: number, what: string): Promise<void> => {
    const until = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const dump = (filter?: (v: PacketVerdict) => boolean) =>
    verdicts
      .filter(filter ?? (() => true))
      .map((v) => `${v.verdict} ${v.src}>${v.dst} [${v.observed.map((h) => `${h.iface}:${h.dir}`).join(' ')}] pred [${v.predicted.join(' ')}] ${v.warnings.join(',')} — ${v.reason}`)
      .join('\n');
  const h: PathHarness = {
    rc,
    verdicts,
    flows,
    routeChanges,
    counters,
    errors,
    waitUntil,
    dump,
    async waitVerdict(pred, timeoutMs, what) {
      let found: PacketVerdict | undefined;
      await waitUntil(() => (found = verdicts.find(pred)) !== undefined, timeoutMs, what).catch((err: Error) => {
        throw new Error(`${err.message}\nverdicts so far:\n${dump() || '(none)'}`);
      });
      return found!;
    },
  };
  try {
    return await fn(h);
  } finally {
    await rc.stop();
  }
}

/** A ping running in the background inside a lab pod (or node) until stop(). */
export interface BackgroundPing {
  stop(): Promise<string>;
}

export function startPing(prefix: string, from: string, to: string, intervalS = 0.05): BackgroundPing {
  const argv = labExecArgv(prefix, from, ['ping', '-n', '-i', String(intervalS), '-W', '1', to]);
  const child: ChildProcess = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const closed = new Promise<void>((r) => child.on('close', () => r()));
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await closed;
      return out;
    },
  };
}

/** Runs a command in a lab target and fails with its output if it fails. */
export async function mustExec(lab: LabInfo, target: string, argv: string[]): Promise<string> {
  const { labExec } = await import('../../src/lab');
  const r = await labExec(lab.prefix, target, argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} in ${target} failed (${r.code}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

/**
 * One TCP conversation between two lab pods: `server` echoes one message on `port` (in the background,
 * for at most `lifetimeS`), `client` connects to `addr:connectPort` (retrying while the server starts)
 * and sends `text`. Resolves with what came back.
 */
export async function tcpEcho(lab: LabInfo, o: { server: string; port: number; client: string; addr: string; connectPort: number; text: string; lifetimeS?: number }): Promise<string> {
  await mustExec(lab, o.server, ['sh', '-c', `timeout ${o.lifetimeS ?? 10} python3 -c '${[
    'import socket',
    's = socket.socket()',
    's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
    `s.bind(("", ${o.port}))`,
    's.listen()',
    'c, a = s.accept()',
    'c.sendall(c.recv(100))',
    'c.close()',
  ].join('\n')}' > /dev/null 2>&1 &`]);
  return mustExec(lab, o.client, ['python3', '-c', [
    'import socket, time',
    'for i in range(50):',
    '    try:',
    `        s = socket.create_connection(("${o.addr}", ${o.connectPort}), timeout=1)`,
    '        break',
    '    except OSError:',
    '        time.sleep(0.1)',
    `s.sendall(b"${o.text}")`,
    'print(s.recv(100).decode())',
    's.close()',
  ].join('\n')]);
}

/** A tc filter on `dev`'s ingress that sends packets for `dst` out of the uplink instead (mirred redirect). */
export async function redirectToUplink(lab: LabInfo, dev: string, dst: string): Promise<void> {
  await mustExec(lab, 'node1', ['sh', '-c',
    `tc qdisc show dev ${dev} | grep -q clsact || tc qdisc add dev ${dev} clsact; ` +
    `tc filter add dev ${dev} ingress protocol ip prio 1 u32 match ip dst ${dst}/32 action mirred egress redirect dev ens3`]);
}

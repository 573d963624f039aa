// Test helpers for the capture integration tests: a capture in a lab node's namespace with an event log
// that can be waited on (deadline polling, never fixed sleeps), and small real-traffic generators.
import { labExec, nodeNetns, LabInfo } from '../../src/lab';
import { startCapture, Capture, CaptureOptions, GapInfo } from '../../src/capture/capture';
import type { TraceEvent } from '../../src/capture/event';
import type { LinkEvent, LoaderError } from '../../src/capture/decode';

export class EventLog {
  readonly events: TraceEvent[] = [];
  readonly links: { at: number; link: LinkEvent }[] = [];
  readonly gaps: GapInfo[] = [];
  readonly loaderErrors: LoaderError[] = [];
  readonly errors: Error[] = [];

  constructor(cap: Capture) {
    cap.on('event', (ev: TraceEvent) => this.events.push(ev));
    cap.on('link', (link: LinkEvent) => this.links.push({ at: Date.now(), link }));
    cap.on('gap', (g: GapInfo) => this.gaps.push(g));
    cap.on('loader-error', (e: LoaderError) => this.loaderErrors.push(e));
    cap.on('error', (e: Error) => this.errors.push(e));
  }

  where(pred: (ev: TraceEvent) => boolean): TraceEvent[] {
    return this.events.filter(pred);
  }

  /** Polls until `check` returns a value (not undefined), or fails after the deadline with `what`. */
  async until<T>(what: string, check: () => T | undefined, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = check();
      if (v !== undefined) return v;
      if (this.errors.length) throw new Error(`capture failed while waiting for ${what}: ${this.errors[0].message}`);
      if (Date.now() > deadline) {
        const recent = this.events.slice(-15).map((e) => `${e.kind} ${e.iface} ${e.dir} ${e.src}>${e.dst} p${e.proto} ${e.sport}>${e.dport} fp ${e.fingerprint}`);
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${this.events.length} events, last:\n  ${recent.join('\n  ')}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Waits until at least `n` events match. */
  waitFor(what: string, pred: (ev: TraceEvent) => boolean, n = 1, timeoutMs = 5000): Promise<TraceEvent[]> {
    return this.until(what, () => {
      const m = this.where(pred);
      return m.length >= n ? m : undefined;
    }, timeoutMs);
  }
}

/** A capture in node1's (or another node's) namespace, ready (initial interfaces attached), stopped afterwards. */
export async function withCapture<T>(
  lab: LabInfo,
  opts: CaptureOptions & { node?: 'node1' | 'node2' },
  fn: (cap: Capture, log: EventLog) => Promise<T>,
): Promise<T> {
  const cap = startCapture({ netns: nodeNetns(lab.prefix, opts.node ?? 'node1'), ...opts });
  const log = new EventLog(cap);
  try {
    await Promise.race([
      cap.ready(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('capture not ready within 15 s')), 15000).unref()),
    ]);
    return await fn(cap, log);
  } finally {
    await cap.stop();
  }
}

export async function must(lab: LabInfo, target: string, argv: string[], timeoutMs = 15000): Promise<string> {
  const r = await labExec(lab.prefix, target, argv, { timeoutMs });
  if (r.code !== 0) throw new Error(`${argv.join(' ')} in ${target} exited ${r.code}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

export function ping(lab: LabInfo, from: string, to: string, count = 1): Promise<string> {
  return must(lab, from, ['ping', '-n', '-c', String(count), '-i', '0.05', '-W', '1', to]);
}

/** Pings that are expected to go unanswered (drops): ping's exit status is ignored. */
export async function pingNoReply(lab: LabInfo, from: string, to: string, count = 1): Promise<void> {
  await labExec(lab.prefix, from, ['ping', '-n', '-c', String(count), '-i', '0.05', '-W', '1', to], { timeoutMs: 10000 });
}

/** One UDP datagram from a fixed source port. */
export function udpSend(lab: LabInfo, from: string, to: string, sport: number, dport: number, payload = 'calitrace'): Promise<string> {
  const code =
    `import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('${from}',${sport}));` +
    `s.sendto(${JSON.stringify(payload)}.encode(),('${to}',${dport}))`;
  return must(lab, from, ['python3', '-c', code]);
}

/** One TCP connection (SYN, data, FIN) from a fixed source port to a one-shot listener in the `to` pod. */
export async function tcpExchange(lab: LabInfo, from: string, to: string, sport: number, dport: number): Promise<void> {
  const server =
    `import socket,sys;l=socket.socket();l.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);l.bind(('${to}',${dport}));` +
    `l.listen(1);print('listening',flush=True);l.settimeout(10);c,_=l.accept();c.recv(100);c.sendall(b'pong');c.close()`;
  const srv = labExec(lab.prefix, to, ['python3', '-c', server], { timeoutMs: 15000 });
  const client =
    `import socket,time\nfor i in range(200):\n  try:\n    s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('${from}',${sport}));` +
    `s.connect(('${to}',${dport}));break\n  except ConnectionRefusedError:\n    s.close();time.sleep(0.02)\n` +
    `s.sendall(b'ping');s.recv(100);s.close()`;
  await must(lab, from, ['python3', '-c', client]);
  const r = await srv;
  if (r.code !== 0) throw new Error(`tcp listener in ${to} failed: ${r.stderr}`);
}

// Test helpers for the gRPC API: a real server on localhost:0 fed through its ObserveFeed, real clients,
// and lab-shaped verdicts to publish when the hub itself is what a test exercises.
import { spawn, ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { ObserveFeed } from '../../src/api/feed';
import { ApiBackend, ApiServer, ApiServerOptions, startApiServer } from '../../src/api/server';
import { VERSION } from '../../src/util/version';
import { CalitraceClient, ClientOptions, ObserveMessage, ObserveStream } from '../../src/api/client';
import type { HubOptions } from '../../src/hub/hub';
import type { PacketVerdict, Verdict } from '../../src/path/types';

/** The status side of a server that runs without a capture (API-only tests). */
export function noCaptureBackend(): ApiBackend {
  return { version: VERSION, mode: () => 'none', interfaces: () => [], counters: () => ({}) };
}

export interface TestApi {
  feed: ObserveFeed;
  api: ApiServer;
  client(o?: Partial<ClientOptions>): CalitraceClient;
  close(): Promise<void>;
}

export async function startTestApi(
  opts: Partial<Omit<ApiServerOptions, 'feed'>> & { hub?: HubOptions; node?: string } = {},
): Promise<TestApi> {
  const feed = new ObserveFeed({ node: opts.node ?? 'ems203-w2', hub: opts.hub });
  const api = await startApiServer({ listen: 'localhost:0', backend: noCaptureBackend(), warn: () => {}, ...opts, feed });
  const clients: CalitraceClient[] = [];
  return {
    feed,
    api,
    client: (o = {}) => {
      const c = new CalitraceClient({ server: api.address, ...o });
      clients.push(c);
      return c;
    },
    close: async () => {
      for (const c of clients) c.close();
      await api.close();
    },
  };
}

let seq = 0;
/** A verdict shaped like the lab's traffic (pod 222 → somewhere). */
export function verdict(dst: string, v: Verdict, extra: Partial<PacketVerdict> = {}): PacketVerdict {
  seq++;
  return {
    fingerprint: seq.toString(16).padStart(16, '0'),
    timeMs: Date.now(),
    family: 4,
    proto: 1,
    src: '10.233.101.222',
    dst,
    sport: 0,
    dport: 0,
    verdict: v,
    reason: `test verdict ${seq}`,
    warnings: [],
    observed: [{ iface: 'cali11299111064', dir: 'ingress', timeNs: 1 }],
    predicted: [],
    ...extra,
  };
}

/** Reads until `n` messages arrived (or the stream ended), failing after the deadline. */
export async function collect(stream: ObserveStream, n: number, deadlineMs = 10000): Promise<ObserveMessage[]> {
  const out: ObserveMessage[] = [];
  const timer = setTimeout(() => stream.cancel(), deadlineMs);
  try {
    for await (const m of stream) {
      out.push(m);
      if (out.length >= n) break;
    }
  } finally {
    clearTimeout(timer);
  }
  if (out.length < n) throw new Error(`expected ${n} messages within ${deadlineMs} ms, got ${out.length}`);
  return out;
}

/** Everything a non-follow stream sends until the server ends it. */
export async function all(stream: ObserveStream, deadlineMs = 10000): Promise<ObserveMessage[]> {
  const out: ObserveMessage[] = [];
  const timer = setTimeout(() => stream.cancel(), deadlineMs);
  try {
    for await (const m of stream) out.push(m);
  } finally {
    clearTimeout(timer);
  }
  return out;
}

/** Polls `pred` until it holds; throws with `what` after the deadline. */
export async function waitUntil(pred: () => boolean | Promise<boolean>, what: string, deadlineMs = 10000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Ends a child process a test started: SIGTERM (after SIGCONT, so one the test froze can act on it), SIGKILL
 * if it is still there 10 s later. Resolves with its exit code (null when a signal ended it).
 */
export async function stopProcess(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  proc.kill('SIGCONT');
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

/** `calitrace serve ARGS…` from this build, its stdout and stderr together. */
export function startServe(args: string[]): { proc: ChildProcess; output: () => string } {
  const bin = path.resolve(__dirname, '..', '..', '..', 'bin', 'calitrace.js');
  const proc = spawn(process.execPath, [bin, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  return { proc, output: () => out };
}

/** Keeps reading a follow stream into the returned array until the stream is cancelled (the test's assertions say what was missing). */
export function recordStream(stream: ObserveStream): ObserveMessage[] {
  const got: ObserveMessage[] = [];
  void (async () => {
    try {
      for await (const m of stream) got.push(m);
    } catch {
      /* cancelled at the end */
    }
  })();
  return got;
}

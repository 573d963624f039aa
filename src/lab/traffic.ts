// Named flows between lab pods: ping (ICMP), TCP and UDP (iperf3), at a chosen packet rate and duration.
// Each flow runs inside the sending pod's namespace, so the traffic never leaves the lab.
import { spawn } from 'node:child_process';
import { labExecArgv, resolveTarget } from './exec';
import { run } from './run';

export type FlowKind = 'ping' | 'tcp' | 'udp';

export interface FlowSpec {
  name: string;
  kind: FlowKind;
  /** Sending pod (IP or namespace/name) or node (node1, node2). */
  from: string;
  /** Destination IP; for tcp/udp it must be a lab pod or node IP reachable inside the lab. */
  to: string;
  /** Packets per second (default 10). */
  rate?: number;
  /** Seconds (default 2). */
  durationS?: number;
  /** Payload bytes per packet (default 64). */
  size?: number;
  /** tcp/udp: destination port (default 5201 + flow index). */
  port?: number;
  /** tcp/udp: fixed source port, so the flow's 5-tuple is known in advance. */
  sport?: number;
  /** tcp/udp: server side (pod IP, namespace/name or node) when `to` is not itself a pod IP. */
  serverAt?: string;
}

export interface FlowResult {
  name: string;
  kind: FlowKind;
  from: string;
  to: string;
  dport?: number;
  sport?: number;
  /** 'packets' for ping and udp; 'bytes' for tcp (a byte stream has no packet count of its own). */
  unit: 'packets' | 'bytes';
  sent: number;
  received: number;
  ok: boolean;
  /** True when the flow was stopped through TrafficOptions.signal before its duration was up. */
  interrupted?: boolean;
  detail: string;
}

export interface TrafficOptions {
  prefix: string;
  flows: FlowSpec[];
  /** Stops every flow early; the results then count what was sent until then. */
  signal?: AbortSignal;
}

/** Parses ping's summary line: "5 packets transmitted, 4 received, 20% packet loss, time 4005ms". */
export function parsePingSummary(text: string): { sent: number; received: number } | undefined {
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(text);
  return m ? { sent: Number(m[1]), received: Number(m[2]) } : undefined;
}

function check(flow: FlowSpec): Required<Pick<FlowSpec, 'rate' | 'durationS' | 'size'>> {
  const rate = flow.rate ?? 10;
  const durationS = flow.durationS ?? 2;
  const size = flow.size ?? 64;
  if (!(rate > 0)) throw new Error(`flow ${flow.name}: rate must be > 0 packets/s`);
  if (!(durationS > 0)) throw new Error(`flow ${flow.name}: duration must be > 0 s`);
  if (!(size >= 16 && size <= 1400)) throw new Error(`flow ${flow.name}: size must be 16..1400 bytes`);
  return { rate, durationS, size };
}

async function runPing(prefix: string, flow: FlowSpec, signal?: AbortSignal): Promise<FlowResult> {
  const { rate, durationS, size } = check(flow);
  const count = Math.max(1, Math.round(rate * durationS));
  const interval = (1 / rate).toFixed(3);
  const r = await run(labExecArgv(prefix, flow.from, ['ping', '-n', '-q', '-i', interval, '-c', String(count), '-s', String(size), '-W', '1', flow.to]), { signal });
  const summary = parsePingSummary(r.stdout);
  return {
    name: flow.name, kind: 'ping', from: flow.from, to: flow.to, unit: 'packets',
    sent: summary?.sent ?? 0, received: summary?.received ?? 0, interrupted: !!signal?.aborted,
    ok: !!summary && summary.received === summary.sent && summary.sent > 0,
    detail: (r.stdout.trim().split('\n').slice(-2).join(' ') || r.stderr.trim()),
  };
}

async function waitListening(netns: string, port: number, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const r = await run(['ip', 'netns', 'exec', netns, 'ss', '-Htlnp', `sport = :${port}`]);
    if (r.stdout.includes('iperf3')) return;
    if (Date.now() > until) throw new Error(`iperf3 server on port ${port} in ${netns} did not start within ${deadlineMs} ms`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

interface IperfJson {
  error?: string;
  end?: {
    sum?: { packets?: number; lost_packets?: number; bytes?: number };
    sum_sent?: { bytes?: number };
    sum_received?: { bytes?: number };
  };
}

function parseIperf(stdout: string, stderr: string, code: number): IperfJson {
  try {
    return JSON.parse(stdout) as IperfJson;
  } catch {
    return { error: stderr.trim() || `iperf3 exited ${code}` };
  }
}

/** iperf3 reports "interrupt"/"the client has terminated" when a flow is stopped early, with the sums so far. */
function stoppedEarly(json: IperfJson): boolean {
  return !!json.error && /client has terminated/.test(json.error) && !!json.end;
}

async function runIperf(prefix: string, flow: FlowSpec, index: number, signal?: AbortSignal): Promise<FlowResult> {
  const { rate, durationS, size } = check(flow);
  const dport = flow.port ?? 5201 + index;
  const serverNetns = resolveTarget(prefix, flow.serverAt ?? flow.to);
  // The server's own report is the truth for "received": the client cannot know UDP loss.
  const server = spawn('ip', ['netns', 'exec', serverNetns, 'iperf3', '-s', '-1', '-J', '-B', flow.to, '-p', String(dport)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let serverOut = '';
  let serverErr = '';
  server.stdout.setEncoding('utf8').on('data', (d: string) => (serverOut += d));
  server.stderr.setEncoding('utf8').on('data', (d: string) => (serverErr += d));
  const serverDone = new Promise<number>((res) => server.on('close', (code) => res(code ?? 1)));
  const base = { name: flow.name, kind: flow.kind, from: flow.from, to: flow.to, dport, sport: flow.sport };
  const unit: FlowResult['unit'] = flow.kind === 'udp' ? 'packets' : 'bytes';
  try {
    await waitListening(serverNetns, dport, 5000);
    const bitrate = Math.max(1, Math.round(rate * size * 8));
    const args = ['iperf3', '-c', flow.to, '-p', String(dport), '-t', String(Math.max(1, Math.round(durationS))), '-b', String(bitrate), '-l', String(size), '-J'];
    if (flow.kind === 'udp') args.push('-u');
    if (flow.sport) args.push('--cport', String(flow.sport));
    const r = await run(labExecArgv(prefix, flow.from, args), { timeoutMs: (durationS + 15) * 1000, signal });
    const client = parseIperf(r.stdout, r.stderr, r.code);
    // The server ends on its own once the client is gone; give it a moment to write its report.
    const killer = setTimeout(() => server.kill('SIGKILL'), 3000);
    const serverCode = await serverDone;
    clearTimeout(killer);
    const srv = parseIperf(serverOut, serverErr, serverCode);
    const interrupted = stoppedEarly(client);
    if ((client.error && !interrupted) || !client.end) {
      return { ...base, unit, sent: 0, received: 0, ok: false, detail: client.error ?? 'iperf3 gave no result' };
    }
    let sent: number;
    let received: number;
    if (flow.kind === 'udp') {
      sent = client.end.sum?.packets ?? 0;
      received = srv.end?.sum ? (srv.end.sum.packets ?? 0) - (srv.end.sum.lost_packets ?? 0) : 0;
    } else {
      sent = client.end.sum_sent?.bytes ?? 0;
      received = srv.end?.sum_received?.bytes ?? client.end.sum_received?.bytes ?? 0;
    }
    const what = flow.kind === 'udp' ? 'datagrams' : 'bytes';
    return {
      ...base, unit, sent, received, interrupted,
      ok: sent > 0 && received === sent,
      detail: `${sent} ${what} sent, ${received} received${interrupted ? ' (stopped early)' : ''}`,
    };
  } finally {
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGTERM');
    await serverDone;
  }
}

/** Runs all flows at once and resolves when every one has finished, with counts per flow. */
export async function runTraffic(opts: TrafficOptions): Promise<FlowResult[]> {
  const names = new Set<string>();
  for (const f of opts.flows) {
    if (names.has(f.name)) throw new Error(`two flows are named '${f.name}': give each flow its own name`);
    names.add(f.name);
    check(f);
    resolveTarget(opts.prefix, f.from);
  }
  return Promise.all(opts.flows.map((f, i) => (f.kind === 'ping' ? runPing(opts.prefix, f, opts.signal) : runIperf(opts.prefix, f, i, opts.signal))));
}

/**
 * Parses a command-line flow: NAME=KIND:FROM:TO[:PORT], e.g. "web=tcp:10.233.101.222:10.233.100.130:8080"
 * (colons rather than an arrow, so it needs no shell quoting). FROM may be a pod IP, namespace/pod or node;
 * rate, duration and size come from the caller's defaults.
 */
export function parseFlowArg(text: string, defaults: Pick<FlowSpec, 'rate' | 'durationS' | 'size'> = {}): FlowSpec {
  const m = /^([A-Za-z0-9_.-]+)=(ping|tcp|udp):([^\s:]+):([0-9.]+)(?::(\d{1,5}))?$/.exec(text);
  if (!m) {
    throw new Error(`flow '${text}' is not NAME=KIND:FROM:TO[:PORT] (KIND ping|tcp|udp), e.g. web=tcp:10.233.101.222:10.233.100.130:8080`);
  }
  const [, name, kind, from, to, port] = m;
  if (port && kind === 'ping') throw new Error(`flow '${text}': ping has no port; drop ':${port}'`);
  const flow: FlowSpec = { name, kind: kind as FlowKind, from, to, ...defaults };
  if (port) {
    const p = Number(port);
    if (p < 1 || p > 65535) throw new Error(`flow '${text}': port must be 1..65535`);
    flow.port = p;
  }
  return flow;
}

export function formatFlowResults(results: FlowResult[]): string {
  const lines = results.map((r) => {
    const ports = r.dport ? `:${r.dport}` : '';
    return `${r.ok ? 'ok  ' : 'FAIL'} ${r.name.padEnd(12)} ${r.kind.padEnd(4)} ${r.from} -> ${r.to}${ports}  sent ${r.sent} ${r.unit}, received ${r.received}  (${r.detail})`;
  });
  return lines.join('\n') + '\n';
}

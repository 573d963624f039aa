// Benchmark: events/s the API delivers to 1 and to 10 subscribers, and publish → subscriber latency
// p50/p99, over real gRPC on loopback with the subscribers in another process. Baseline, measured in
// the same run: a bare grpc-js stream writing pre-encoded messages with the same flow control (no hub,
// no filters, no conversion), i.e. the transport's own ceiling.
//
//   node dist/scripts/bench-api.js [--seconds S]
//   node dist/scripts/bench-api.js --lab [--rounds 3] [--seconds 5] [--rate 100000]   (see bench-api-lab.ts)
//
// The latency figure is from publish (the collector handing a verdict to the hub) to the subscriber
// having decoded it; each item carries process.hrtime at publish in Packet.time_ns (CLOCK_MONOTONIC,
// the same clock as the kernel's bpf_ktime_get_ns, shared by both processes).
import { spawn, ChildProcess } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import * as readline from 'node:readline';
import { ObserveFeed } from '../src/api/feed';
import { startApiServer } from '../src/api/server';
import { VERSION } from '../src/util/version';
import { CalitraceClient } from '../src/api/client';
import { calitrace, calitraceServiceDefinition } from '../src/api/proto';
import type { TraceEvent } from '../src/capture/event';
import { labMain } from './bench-api-lab';

const nowNs = () => Number(process.hrtime.bigint());

function event(i: number): TraceEvent {
  return {
    kind: 'packet', timeNs: nowNs(), wallMs: Date.now(), ifindex: 7, iface: 'cali11299111064', dir: 'ingress', len: 98, family: 4, proto: 1,
    src: '10.233.101.222', dst: '10.233.101.224', sport: 0, dport: 0, tcpFlags: 0, icmpType: 8, icmpCode: 0, icmpId: 4242, icmpSeq: i & 0xffff,
    ipId: i & 0xffff, ttl: 64, mark: 0, fingerprint: (0x1234567800000000 + i).toString(16).padStart(16, '0'), natFingerprint: i + 1,
  };
}

// ---------------------------------------------------------------------------------------------------
// Subscriber process: opens N follow streams, counts items and latencies, reports JSON on 'stop'.

interface SubscriberReport {
  received: number[];
  lost: number[];
  latenciesUs: number[];
  /** CPU seconds the subscriber process used during the phase. */
  cpuS: number;
}

async function subscriber(address: string, streams: number, batch: number): Promise<void> {
  const client = new CalitraceClient({ server: address });
  const report: SubscriberReport = { received: Array(streams).fill(0), lost: Array(streams).fill(0), latenciesUs: [], cpuS: 0 };
  let cpu0 = process.cpuUsage();
  let measure = false;
  for (let s = 0; s < streams; s++) {
    const stream = client.observe({ follow: true, batch });
    void (async () => {
      try {
        for await (const m of stream) {
          if (m.item === 'lost') report.lost[s] += Number(m.lost!.count);
          else {
            report.received[s]++;
            // Sampled on the first stream only (keeps the report small).
            if (measure && s === 0 && m.packet && m.packet.timeNs) report.latenciesUs.push((nowNs() - Number(m.packet.timeNs)) / 1000);
          }
        }
      } catch {
        /* the server went away: the report says what arrived */
      }
    })();
  }
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line === 'reset') {
      report.received.fill(0);
      report.lost.fill(0);
      report.latenciesUs = [];
      measure = true;
      cpu0 = process.cpuUsage();
      process.stdout.write('ok\n');
    } else if (line === 'stop') {
      const cpu = process.cpuUsage(cpu0);
      report.cpuS = (cpu.user + cpu.system) / 1e6;
      // A pipe write is asynchronous: exit once it is flushed.
      process.stdout.write(JSON.stringify(report) + '\n', () => process.exit(0));
    }
  }
}

class Child {
  private readonly lines: string[] = [];
  private waiter: ((l: string) => void) | undefined;
  readonly proc: ChildProcess;
  constructor(address: string, streams: number, batch = 256) {
    this.proc = spawn(process.execPath, [__filename, '--subscriber', address, String(streams), String(batch)], { stdio: ['pipe', 'pipe', 'inherit'] });
    readline.createInterface({ input: this.proc.stdout! }).on('line', (l) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(l);
      } else this.lines.push(l);
    });
  }
  ask(cmd: string): Promise<string> {
    this.proc.stdin!.write(cmd + '\n');
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((r) => (this.waiter = r));
  }
}

// ---------------------------------------------------------------------------------------------------
// Publisher side

const tick = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 20000;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface Result {
  label: string;
  /** CPU use (cores) of the server and of the subscriber process during the phase. */
  serverCpu?: number;
  clientCpu?: number;
  perSubscriber: number;
  total: number;
  lostPct: number;
  p50?: number;
  p99?: number;
  samples?: number;
}

/** Saturation: publish as fast as the event loop allows for `seconds`; what arrives is the delivered rate. */
/** Items the hub dropped for these subscribers (the server's count: notices may still be in flight). */
function hubLost(feed: ObserveFeed): number {
  return feed.hub.subscriberStats().reduce((a, s) => a + s.lost, 0);
}

async function saturate(feed: ObserveFeed, child: Child, seconds: number, label: string, batch = 256): Promise<Result> {
  await child.ask('reset');
  const lost0 = hubLost(feed);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let i = 0;
  while (performance.now() - t0 < seconds * 1000) {
    for (let k = 0; k < batch; k++) feed.packet(event(i++));
    await tick();
  }
  await sleep(300); // let queued items arrive (counted as delivered, they were)
  return finish(feed, child, label, t0, lost0, cpu0);
}

async function finish(feed: ObserveFeed, child: Child, label: string, t0: number, lost0: number, cpu0: NodeJS.CpuUsage): Promise<Result> {
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const lost = hubLost(feed) - lost0;
  const r = JSON.parse(await child.ask('stop')) as SubscriberReport;
  const sorted = r.latenciesUs.sort((a, b) => a - b);
  const total = r.received.reduce((a, b) => a + b, 0);
  return {
    label,
    perSubscriber: total / r.received.length / elapsed,
    total: total / elapsed,
    lostPct: (100 * lost) / Math.max(1, lost + total),
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    samples: sorted.length,
    serverCpu: (cpu.user + cpu.system) / 1e6 / elapsed,
    clientCpu: r.cpuS / elapsed,
  };
}

/** Latency at a steady, sustainable rate (events/s), sampled on one subscriber. */
async function latency(feed: ObserveFeed, child: Child, seconds: number, rate: number, label: string): Promise<Result> {
  await child.ask('reset');
  const lost0 = hubLost(feed);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let i = 0;
  while (performance.now() - t0 < seconds * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    while (i < due) feed.packet(event(i++));
    await sleep(1);
  }
  await sleep(300);
  return finish(feed, child, label, t0, lost0, cpu0);
}

/** The baseline: a bare grpc-js server stream of one pre-encoded message, same drain discipline. */
async function baseline(seconds: number, streams: number): Promise<Result> {
  const bytes = calitrace.v1.ObserveResponse.encode({ seq: 1, timeMs: Date.now(), node: 'ems203-w2', packet: { interface: 'cali11299111064', src: '10.233.101.222', dst: '10.233.101.224', protocol: 1, length: 98, fingerprint: '1234567800000000' } }).finish();
  let running = true;
  let subscribers = 0;
  const server = new grpc.Server();
  server.addService(calitraceServiceDefinition, {
    Observe: async (call: grpc.ServerWritableStream<unknown, Uint8Array>) => {
      subscribers++;
      let cancelled = false;
      call.on('cancelled', () => (cancelled = true));
      while (running && !cancelled) {
        // Fresh timestamp per message would need an encode: the baseline is the pure transport.
        if (!call.write(bytes)) await new Promise((r) => call.once('drain', r));
        else if (Math.random() < 1 / 256) await tick(); // yield like the hub's publisher does
      }
      call.end();
    },
    Explain: () => undefined, GetRoutes: () => undefined, Status: () => undefined,
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  const child = new Child(`127.0.0.1:${port}`, streams);
  await waitFor(() => subscribers === streams, 'baseline subscribers');
  await child.ask('reset');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const cpu = process.cpuUsage(cpu0);
  const r = JSON.parse(await child.ask('stop')) as SubscriberReport;
  const elapsed = (performance.now() - t0) / 1000;
  running = false;
  server.forceShutdown();
  const total = r.received.reduce((a, b) => a + b, 0);
  return { label: `baseline: bare grpc-js stream, ${streams} subscriber(s)`, perSubscriber: total / streams / elapsed, total: total / elapsed, lostPct: 0, serverCpu: (cpu.user + cpu.system) / 1e6 / elapsed, clientCpu: r.cpuS / elapsed };
}

async function hubRun(streams: number, seconds: number, batch: number): Promise<Result[]> {
  const feed = new ObserveFeed({ node: 'ems203-w2', hub: { historyCapacity: 10000, queueCapacity: 4096 } });
  const api = await startApiServer({ listen: '127.0.0.1:0', feed, backend: { version: VERSION, mode: () => 'bench', interfaces: () => [], counters: () => ({}) } });
  const out: Result[] = [];
  try {
    const how = batch > 1 ? `batch ${batch}` : 'unbatched';
    let child = new Child(api.address, streams, batch);
    await waitFor(() => feed.hub.stats().subscribers === streams, 'subscribers');
    out.push(await saturate(feed, child, seconds, `hub → ${streams} subscriber(s), ${how}, saturated`));
    for (const rate of [1000, 10000]) {
      child.proc.kill();
      await waitFor(() => feed.hub.stats().subscribers === 0, 'subscribers to leave');
      child = new Child(api.address, streams, batch);
      await waitFor(() => feed.hub.stats().subscribers === streams, 'subscribers');
      out.push(await latency(feed, child, seconds, rate, `hub → ${streams} subscriber(s), ${how}, at ${rate}/s`));
    }
    child.proc.kill();
  } finally {
    await api.close();
  }
  return out;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--subscriber') return subscriber(args[1], Number(args[2]), Number(args[3]));
  // Packet → subscriber latency on a lab, through the real CLI (issue 10's target): scripts/bench-api-lab.ts.
  if (args.includes('--lab')) {
    await labMain();
    process.exit(0);
  }
  const seconds = args[0] === '--seconds' ? Number(args[1]) : 3;
  const os = require('node:os') as typeof import('node:os');
  console.log(`bench-api: ${seconds} s per phase, subscribers in a separate process, loopback TCP, Node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)}`);
  const results: Result[] = [];
  for (const streams of [1, 10]) {
    results.push(await baseline(seconds, streams));
    results.push(...(await hubRun(streams, seconds, 1)));
    results.push(...(await hubRun(streams, seconds, 256)));
  }
  const fmt = (n: number | undefined, d = 0) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(d));
  // On a shared machine the scheduler decides how much CPU each side gets: events per CPU-second of the
  // server is the figure that does not depend on the neighbours.
  const perCpu = (r: Result) => (r.serverCpu ? r.total / r.serverCpu : undefined);
  console.log('\n| phase | events/s per subscriber | events/s all subscribers | lost % | latency p50 µs | p99 µs | server CPU (cores) | subscriber CPU | delivered per server CPU-s |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) console.log(`| ${r.label} | ${fmt(r.perSubscriber)} | ${fmt(r.total)} | ${fmt(r.lostPct, 1)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.serverCpu, 2)} | ${fmt(r.clientCpu, 2)} | ${fmt(perCpu(r))} |`);
  const base1 = results.find((r) => r.label.includes('baseline') && r.label.includes(' 1 '))!;
  const hub1 = results.find((r) => r.label === 'hub → 1 subscriber(s), batch 256, saturated')!;
  const base10 = results.find((r) => r.label.includes('baseline') && r.label.includes(' 10 '))!;
  const hub10 = results.find((r) => r.label === 'hub → 10 subscriber(s), batch 256, saturated')!;
  console.log(`\nhub (batch 256) / baseline, delivered events/s: 1 subscriber ${(hub1.total / base1.total).toFixed(2)}, 10 subscribers ${(hub10.total / base10.total).toFixed(2)}`);
  console.log(`hub (batch 256) / baseline, delivered per server CPU-second: 1 subscriber ${(perCpu(hub1)! / perCpu(base1)!).toFixed(2)}, 10 subscribers ${(perCpu(hub10)! / perCpu(base10)!).toFixed(2)}`);
  console.log(`load average at the end: ${os.loadavg()[0].toFixed(1)}`);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

// Benchmark (issue 10): packet → gRPC subscriber latency at ~100 k pps, end to end on a fresh lab.
//
//   node dist/scripts/bench-api.js --lab [--rounds 3] [--seconds 5] [--rate 100000] [--probe-rate 500] [--no-stages]
//     [--modes case,packet] [--windows 0,65536] [--types ui|all] [--compare-cli DIR] [--profile DIR] [--verbose]
//
// Per round, interleaved:
//   case     `calitrace serve --netns <node1>` (the real CLI, its default case mode) while iperf3 sends UDP
//            64-byte datagrams pod → pod through node1 at --rate, and a probe in the same pod opens
//            --probe-rate new UDP flows a second (one datagram each). In case mode only the first packet
//            of a case gets a verdict line (the iperf3 flow has one per run): "a packet" is the first
//            packet of a case, and the probes are what gives enough of them for a p99. Flow items (the
//            per-flow counts) are timed too, against the flow's last packet (Flow.last_ms, ms precision).
//   packet   `calitrace serve --netns <node1> --mode packet` with the same iperf3 flow; the subscriber asks
//            for the verdicts of the iperf3 flow only (a per-packet selection: every packet a line).
//   stages   (unless --no-stages) the same two chains in a child of this script instead of the CLI, with
//            the kernel → user-space hand-over and the judging timed inside the process, so the total
//            splits into where the time goes. Same subscriber, same socket kind.
// The subscriber is CalitraceClient in its own process, over a unix socket, batch 256 (what observe asks);
// in case mode it asks what the UI asks (verdicts, flows, route changes), or with --types all every item.
//
// Clocks: the kernel stamps each hook record with bpf_ktime_get_ns (CLOCK_MONOTONIC). The subscriber
// converts it to wall time with wall − monotonic measured in its own process at start: it spins on
// Date.now() (CLOCK_REALTIME, ms) until the millisecond changes and takes process.hrtime (CLOCK_MONOTONIC)
// on both sides of the change (brackets wider than 20 µs rejected; median of 5). Receive wall time is hrtime at the gRPC
// message's arrival plus the same offset, so latency = receive wall − (kernel ns + offset). One machine,
// one pair of clocks: the offset cancels, unless the wall clock is stepped during the round; the report
// prints the server's own offset (Status.wall_minus_monotonic_ns) next to ours as a check.
import { spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import * as dgram from 'node:dgram';
import { labUp, labDown, randomPrefix, nodeNetns, runTraffic, labExecArgv, LabInfo, FlowResult } from '../src/lab';
import { CalitraceClient, ObserveMessage } from '../src/api/client';
import { calitrace } from '../src/api/proto';

const A = '10.233.101.222';
const B = '10.233.101.224';
const PROBE_PORT = 7001;
// The CLI as users run it (bin/calitrace.js → dist/src/cli/main.js).
const CLI = path.join(__dirname, '..', '..', 'bin', 'calitrace.js');

const hr = () => Number(process.hrtime.bigint());

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

/** CLOCK_REALTIME − CLOCK_MONOTONIC in ns, from the instant Date.now() changes its millisecond. */
export function wallMinusMonotonicNs(): number {
  const one = (): number => {
    let prev = Date.now();
    let before = hr();
    for (;;) {
      const now = Date.now();
      const after = hr();
      // A bracket wider than 20 µs means we were descheduled across the change: try the next one.
      if (now !== prev && after - before < 20_000) return now * 1e6 - (before + after) / 2;
      prev = now;
      before = after;
    }
  };
  const xs = [one(), one(), one(), one(), one()].sort((a, b) => a - b);
  return xs[2];
}

export interface LatencySummary {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

function summarise(xs: number[]): LatencySummary {
  const s = Float64Array.from(xs).sort();
  const at = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN);
  return { n: s.length, p50: at(50), p99: at(99), max: s.length ? s[s.length - 1] : NaN };
}

/** Event-loop lag: how late a 1 ms timer fires, i.e. how long ready work waits for the process to run. */
function loopLag(): { stop(): LatencySummary } {
  const lag: number[] = [];
  let due = performance.now() + 1;
  const t = setInterval(() => {
    const now = performance.now();
    lag.push(now - due);
    due = now + 1;
  }, 1);
  return {
    stop() {
      clearInterval(t);
      return summarise(lag);
    },
  };
}

// ---- subscriber process -------------------------------------------------------------------------

interface SubscriberReport {
  offsetNs: number;
  serverOffsetNs: number;
  /** Latency in ms per class: probe / iperf verdicts (first hop's kernel time), flows (last_ms). */
  classes: Record<string, LatencySummary>;
  items: number;
  messages: number;
  lost: Record<string, number>;
  firstMs: number;
  lastMs: number;
}

async function subscriberMain(address: string, requestJson: string, iperfPort: number, window: number): Promise<void> {
  const client = new CalitraceClient({ server: address, flowControlWindow: window || undefined });
  await client.waitForReady(10_000);
  const status = await client.status();
  const offsetNs = wallMinusMonotonicNs();
  const samples: Record<string, number[]> = {};
  const lost: Record<string, number> = {};
  let items = 0;
  let messages = 0;
  let firstMs = 0;
  let lastMs = 0;
  const add = (cls: string, ms: number) => (samples[cls] ??= []).push(ms);
  const stream = client.observe(JSON.parse(requestJson) as calitrace.v1.IObserveRequest);
  stream.call.on('data', (m: ObserveMessage) => {
    const recvWallNs = hr() + offsetNs;
    messages++;
    const list = m.batch.length > 0 ? (m.batch as ObserveMessage[]) : [m];
    for (const it of list) {
      if (it.lost) {
        const src = calitrace.v1.LostEvents.Source[it.lost.source as number] ?? String(it.lost.source);
        lost[src] = (lost[src] ?? 0) + Number(it.lost.count);
        continue;
      }
      items++;
      if (!firstMs) firstMs = recvWallNs / 1e6;
      lastMs = recvWallNs / 1e6;
      if (it.verdict) {
        const v = it.verdict;
        let first = Infinity;
        for (const h of v.observed ?? []) first = Math.min(first, Number(h.timeNs));
        if (!Number.isFinite(first) || first === 0) continue;
        const ms = (recvWallNs - (first + offsetNs)) / 1e6;
        add(v.dport === PROBE_PORT ? 'probe verdict' : v.dport === iperfPort ? 'iperf3 verdict' : 'other verdict', ms);
      } else if (it.flow) {
        const f = it.flow;
        if (Number(f.lastMs) > 0) add(f.dport === PROBE_PORT ? 'probe flow (last_ms)' : f.dport === iperfPort ? 'iperf3 flow (last_ms)' : 'other flow (last_ms)', recvWallNs / 1e6 - Number(f.lastMs));
      }
    }
  });
  stream.call.on('error', () => undefined);
  const lag = loopLag();
  process.stdout.write(`READY\n`);
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line !== 'stop') continue;
    const classes: Record<string, LatencySummary> = {};
    for (const [k, xs] of Object.entries(samples)) classes[k] = summarise(xs);
    classes['subscriber event-loop lag'] = lag.stop();
    const report: SubscriberReport = { offsetNs, serverOffsetNs: Number(status.wallMinusMonotonicNs), classes, items, messages, lost, firstMs, lastMs };
    stream.cancel();
    process.stdout.write(JSON.stringify(report) + '\n', () => process.exit(0));
  }
}

// ---- probe: new UDP flows from the sending pod (runs inside its namespace) ------------------------

async function probeMain(to: string, port: number, rate: number, seconds: number): Promise<void> {
  const t0 = performance.now();
  let i = 0;
  let sent = 0;
  const payload = Buffer.alloc(32);
  while (performance.now() - t0 < seconds * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    while (i < due) {
      // A new source port each time: a new flow, so a new case and its own verdict line.
      const sport = 20000 + (i % 40000);
      i++;
      const s = dgram.createSocket('udp4');
      s.on('error', () => s.close());
      s.bind(sport, () => s.send(payload, port, to, () => {
        sent++;
        s.close();
      }));
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  await new Promise((r) => setTimeout(r, 200));
  process.stdout.write(`SENT ${sent}\n`);
}

// ---- stages: the serve chain in a child of this script, timed inside ------------------------------

async function stageServerMain(netns: string, mode: string, listen: string, iperfPort: number): Promise<void> {
  const { startCollector } = await import('../src/collector/start');
  const { serveCollector } = await import('../src/session/api');
  const running = await startCollector({ netns, mode: mode as 'case' | 'packet' });
  const api = await serveCollector(running, { listen, security: { insecure: false }, hub: { maxSubscribers: 8, historyCapacity: 10000, queueCapacity: 4096 } }, { netns, mode });
  const rec: Record<string, number[]> = {};
  const add = (cls: string, ms: number) => (rec[cls] ??= []).push(ms);
  const cls = (dport: number) => (dport === PROBE_PORT ? 'probe' : dport === iperfPort ? 'iperf3' : undefined);
  // Registered after the feed's own listeners: these see each record and verdict once the API has it.
  running.capture.on('event', (ev: { kind: string; proto: number; dport: number; timeNs: number; dir: string }) => {
    const c = ev.kind === 'packet' && ev.proto === 17 && ev.dir === 'ingress' ? cls(ev.dport) : undefined;
    if (c) add(`${c}: kernel → decoded record (first hook)`, (hr() - ev.timeNs) / 1e6);
  });
  running.collector.on('verdict', (v) => {
    const c = v.proto === 17 ? cls(v.dport) : undefined;
    if (!c) return;
    let first = Infinity;
    for (const h of v.observed) first = Math.min(first, h.timeNs);
    add(`${c}: kernel → verdict published`, (hr() - first) / 1e6);
    // The last hook: what is left after it is the correlator's decision to close the packet.
    let last = 0;
    for (const h of v.observed) last = Math.max(last, h.timeNs);
    add(`${c}: last hook → verdict published`, (hr() - last) / 1e6);
  });
  // The gRPC pump encodes an item when it takes it out of the subscriber's hub queue to write it (once,
  // for all subscribers): timing that call splits the hub queue from the transport behind it.
  const feed = api.feed;
  const encode = feed.encode.bind(feed);
  // And how much encoding one event-loop turn does (items, ms from the first to the last encode before
  // the loop gets to its check phase): the work the capture's pipe reader waits behind.
  const burstItems: number[] = [];
  const burstMs: number[] = [];
  let inBurst = 0;
  let burstStart = 0;
  let burstLast = 0;
  feed.encode = (item) => {
    if (inBurst === 0) {
      burstStart = hr();
      setImmediate(() => {
        burstItems.push(inBurst);
        burstMs.push((burstLast - burstStart) / 1e6);
        inBurst = 0;
      });
    }
    inBurst++;
    burstLast = hr();
    const v = item.value.type === 'VERDICT' ? item.value.message.verdict : undefined;
    const c = v && v.protocol === 17 ? cls(v.dport ?? 0) : undefined;
    if (c) {
      let first = Infinity;
      for (const h of v!.observed ?? []) first = Math.min(first, Number(h.timeNs));
      add(`${c}: kernel → taken from the hub queue`, (hr() - first) / 1e6);
    }
    return encode(item);
  };
  const lag = loopLag();
  process.stdout.write(`READY\n`);
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  const out: Record<string, LatencySummary> = {};
  for (const [k, xs] of Object.entries(rec)) out[k] = summarise(xs);
  out['serve event-loop lag (1 ms timer)'] = lag.stop();
  // Not latencies: items encoded in one turn (n = turns), and the span of that encoding in ms.
  out['pump: items encoded per turn (count)'] = summarise(burstItems);
  out['pump: encoding span per turn'] = summarise(burstMs);
  await api.close();
  await running.stop();
  process.stdout.write(`STAGES ${JSON.stringify(out)}\n`, () => process.exit(0));
}

// ---- parent -------------------------------------------------------------------------------------

function lines(proc: ChildProcess, stream: 'stdout' | 'stderr'): { text: () => string; waitFor: (re: RegExp, ms: number, what: string) => Promise<RegExpExecArray> } {
  let text = '';
  proc[stream]!.setEncoding('utf8').on('data', (d: string) => (text += d));
  return {
    text: () => text,
    waitFor: (re, ms, what) =>
      new Promise((resolve, reject) => {
        const deadline = Date.now() + ms;
        const t = setInterval(() => {
          const m = re.exec(text);
          if (m) {
            clearInterval(t);
            resolve(m);
          } else if (proc.exitCode !== null || Date.now() > deadline) {
            clearInterval(t);
            reject(new Error(`${what}: ${text.slice(-800)}`));
          }
        }, 20);
      }),
  };
}

/** CPU seconds of a process and its direct children (the serve and its BPF loader). */
function cpuTree(pid: number): number {
  const one = (p: number): number => {
    try {
      const f = fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      return 0;
    }
  };
  let kids: number[] = [];
  try {
    kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    /* gone */
  }
  return one(pid) + kids.reduce((a, k) => a + one(k), 0);
}

/**
 * From /proc/<pid>/task/<tid>/schedstat: ns each thread ran, and ns it was runnable but waiting for a
 * CPU. `main` is serve's event-loop thread (what a verdict waits on); `all` adds its other threads and
 * the loader's.
 */
function schedTree(pid: number): { mainRunNs: number; mainWaitNs: number; allWaitNs: number } {
  const read = (p: number, tid: number): [number, number] => {
    try {
      const [run, wait] = fs.readFileSync(`/proc/${p}/task/${tid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
      return [run, wait];
    } catch {
      return [0, 0];
    }
  };
  const tasks = (p: number): number[] => {
    try {
      return fs.readdirSync(`/proc/${p}/task`).map(Number);
    } catch {
      return [];
    }
  };
  let kids: number[] = [];
  try {
    kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    /* gone */
  }
  const [mainRunNs, mainWaitNs] = read(pid, pid);
  let allWaitNs = 0;
  for (const p of [pid, ...kids]) for (const t of tasks(p)) allWaitNs += read(p, t)[1];
  return { mainRunNs, mainWaitNs, allWaitNs };
}

/** Jiffies (all, idle) of the whole machine, from /proc/stat: idle share over a round says how starved it was. */
function cpuJiffies(): { all: number; idle: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { all: f.reduce((a, b) => a + b, 0), idle: f[3] + f[4] };
}

/**
 * --profile DIR: every server (the CLI's serve, the compared CLI's, the stage server) writes a V8 CPU
 * profile into DIR/<how>-<mode>/ (open it in Chrome's DevTools).
 */
function profile(how: How, mode: string): string[] {
  const dir = arg('profile', '');
  return dir ? ['--cpu-prof', '--cpu-prof-dir', path.join(dir, `${how}-${mode}`)] : [];
}

interface RunResult {
  label: string;
  iperf: FlowResult;
  probesSent?: number;
  report: SubscriberReport;
  status: calitrace.v1.StatusResponse;
  stages?: Record<string, LatencySummary>;
  serveCpuS: number;
  /** Over the traffic and the 2 s after it: serve's event-loop thread ran / waited runnable for a CPU (s). */
  sched: { mainRunS: number; mainWaitS: number; allWaitS: number };
  /** Share of the machine's CPU time that was idle during the traffic (0..1). */
  idle: number;
  serverLog: string;
}

type How = 'cli' | 'compare' | 'stages';

async function runOnce(lab: LabInfo, mode: 'case' | 'packet', how: How, window: number, seconds: number, rate: number, probeRate: number, port: number): Promise<RunResult> {
  const netns = nodeNetns(lab.prefix, 'node1');
  const sock = path.join(os.tmpdir(), `ct-bench-api-${lab.prefix}-${port}.sock`);
  fs.rmSync(sock, { force: true });
  const listen = `unix:${sock}`;
  // --compare-cli DIR: another build's CLI (DIR/bin/calitrace.js), e.g. the commit before a fix.
  const cli = how === 'compare' ? path.join(arg('compare-cli', ''), 'bin', 'calitrace.js') : CLI;
  // --serve-nice N: the server (and the loader it starts, which inherits it) at nice N, e.g. -10: how much of
  // the tail is the server waiting for a CPU that iperf3 and the softirqs keep busy.
  const nice = arg('serve-nice', '');
  const serverArgv = how !== 'stages'
    ? [...profile(how, mode), cli, 'serve', '--netns', netns, '--listen', listen, '--metrics-addr', 'off', '--mode', mode]
    : [...profile(how, mode), __filename, '--stage-server', netns, mode, listen, String(port)];
  const server = nice
    ? spawn('nice', ['-n', nice, process.execPath, ...serverArgv], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, serverArgv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = lines(server, 'stdout');
  const err = lines(server, 'stderr');
  const closed = new Promise<void>((r) => server.on('close', () => r()));
  let sub: ChildProcess | undefined;
  try {
    if (how !== 'stages') await err.waitFor(/API on /, 30_000, 'calitrace serve did not start');
    else await out.waitFor(/READY/, 30_000, 'the stage server did not start');
    // Case mode: what the UI asks (verdict lines, flow counts, route changes; loss notices always come),
    // or with --types all everything (hook records too). Packet mode: the iperf3 flow's verdicts.
    const request: calitrace.v1.IObserveRequest = { follow: true, batch: 256 };
    if (arg('types', 'ui') === 'ui') request.allow = [{ eventType: [2 /* VERDICT */, 3 /* FLOW */, 4 /* ROUTE_CHANGE */] }];
    if (mode === 'packet') request.allow = [{ sourceIp: [A], destinationIp: [B], protocol: ['udp'], destinationPort: [port], eventType: [2 /* VERDICT */] }];
    sub = spawn(process.execPath, [__filename, '--subscriber', listen, JSON.stringify(request), String(port), String(window)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const subOut = lines(sub, 'stdout');
    await subOut.waitFor(/READY/, 20_000, 'the subscriber did not connect');
    const client = new CalitraceClient({ server: listen });
    for (let i = 0; i < 100 && (await client.status()).subscribers.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    const cpu0 = cpuTree(server.pid!);
    const s0 = schedTree(server.pid!);
    const j0 = cpuJiffies();
    const traffic = runTraffic({ prefix: lab.prefix, flows: [{ name: 'bench', kind: 'udp', from: A, to: B, rate, durationS: seconds, size: 64, port }] });
    let probe: Promise<number> | undefined;
    if (mode === 'case' && probeRate > 0) {
      const [cmd, ...argv] = labExecArgv(lab.prefix, A, [process.execPath, __filename, '--probe', B, String(PROBE_PORT), String(probeRate), String(seconds)]);
      const p = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
      const po = lines(p, 'stdout');
      probe = po.waitFor(/SENT (\d+)/, (seconds + 20) * 1000, 'the probe did not finish').then((m) => Number(m[1]));
    }
    const [iperf] = await traffic;
    const j1 = cpuJiffies();
    const idle = (j1.idle - j0.idle) / Math.max(1, j1.all - j0.all);
    const probesSent = probe ? await probe : undefined;
    // Case mode hands over its counts every 200 ms (loader CASES frames) and publishes flow updates every
    // 250 ms: 2 s lets the last of them, and anything queued, arrive.
    await new Promise((r) => setTimeout(r, 2000));
    const serveCpuS = cpuTree(server.pid!) - cpu0;
    const s1 = schedTree(server.pid!);
    const sched = { mainRunS: (s1.mainRunNs - s0.mainRunNs) / 1e9, mainWaitS: (s1.mainWaitNs - s0.mainWaitNs) / 1e9, allWaitS: (s1.allWaitNs - s0.allWaitNs) / 1e9 };
    const status = await client.status();
    client.close();
    sub.stdin!.write('stop\n');
    const rep = await subOut.waitFor(/^\{.*\}$/m, 20_000, 'no report from the subscriber');
    const report = JSON.parse(rep[0]) as SubscriberReport;
    server.kill('SIGTERM');
    let stages: Record<string, LatencySummary> | undefined;
    if (how === 'stages') stages = JSON.parse((await out.waitFor(/STAGES (.*)\n/, 30_000, 'no stage report'))[1]) as Record<string, LatencySummary>;
    await closed;
    const serverLog = err.text().trim();
    const win = window ? `, client window ${(window / 1024).toFixed(0)} KiB` : '';
    const what = { cli: 'calitrace serve', compare: `calitrace serve from ${arg('compare-cli', '')}`, stages: 'stages' }[how];
    return { label: `${mode} (${what}${win})`, iperf, probesSent, report, status, stages, serveCpuS, sched, idle, serverLog };
  } finally {
    sub?.kill();
    if (server.exitCode === null) server.kill('SIGKILL');
    fs.rmSync(sock, { force: true });
  }
}

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
const uptime = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function printRun(r: RunResult, seconds: number): void {
  const rep = r.report;
  const c = r.status.counters;
  const other = (k: string) => Number(c?.other?.[k] ?? 0);
  console.log(`  ${r.label}: iperf3 sent ${r.iperf.sent} (${(r.iperf.sent / seconds).toFixed(0)}/s), server received ${r.iperf.received}${r.probesSent !== undefined ? `; probes sent ${r.probesSent}` : ''}; serve CPU ${f2(r.serveCpuS)} s (serve + loader); machine idle ${(r.idle * 100).toFixed(0)} % during the traffic`);
  // Time runnable but not running: how long serve's work waited for a CPU, whatever the code did.
  console.log(`    serve's event-loop thread ran ${f2(r.sched.mainRunS)} s and waited ${f2(r.sched.mainWaitS)} s runnable for a CPU (all its threads and the loader's: ${f2(r.sched.allWaitS)} s waiting)`);
  console.log(
    `    subscriber: ${rep.items} items in ${rep.messages} messages (${(rep.items / seconds).toFixed(0)} items/s over the traffic's ${seconds} s); ` +
      `offsets wall−mono client ${(rep.offsetNs / 1e6).toFixed(3)} ms vs server ${(rep.serverOffsetNs / 1e6).toFixed(3)} ms (Δ ${((rep.offsetNs - rep.serverOffsetNs) / 1e3).toFixed(0)} µs)`,
  );
  console.log(
    `    loss: kernel ${Number(c?.lostKernel ?? 0)}, pipe ${Number(c?.lostPipe ?? 0)}, collector ${Number(c?.lostCollector ?? 0)}, hub→subscribers ${Number(c?.lostSubscribers ?? 0)}; ` +
      `notices at the subscriber ${JSON.stringify(rep.lost)}; judged ${other('packets')}, verdicts published ${other('verdicts_published')}`,
  );
  for (const [k, s] of Object.entries(rep.classes)) console.log(`    ${k.padEnd(24)} n ${String(s.n).padStart(7)}  p50 ${f1(s.p50).padStart(8)} ms  p99 ${f1(s.p99).padStart(8)} ms  max ${f1(s.max).padStart(8)} ms`);
  if (r.stages) for (const [k, s] of Object.entries(r.stages)) console.log(`      stage ${k.padEnd(44)} n ${String(s.n).padStart(7)}  p50 ${f2(s.p50).padStart(8)} ms  p99 ${f2(s.p99).padStart(8)} ms  max ${f2(s.max).padStart(8)} ms`);
  // What the server said on stderr (start-up, warnings, its loss line), when --verbose.
  if (r.serverLog && process.argv.includes('--verbose')) for (const l of r.serverLog.split('\n')) console.log(`    serve: ${l}`);
}

export async function labMain(): Promise<void> {
  const rounds = Number(arg('rounds', '3'));
  const seconds = Number(arg('seconds', '5'));
  const rate = Number(arg('rate', '100000'));
  const probeRate = Number(arg('probe-rate', '500'));
  const stages = !process.argv.includes('--no-stages');
  console.log(`bench-api --lab: ${os.cpus().length} CPUs, Node ${process.version}, load average ${uptime()}; ${rounds} rounds × ${seconds} s; iperf3 UDP 64-byte ${A} → ${B} at ${rate} pps asked; case-mode probes ${probeRate} new flows/s; case-mode subscriber asks ${arg('types', 'ui') === 'ui' ? 'verdicts, flows, route changes (as the UI)' : 'every item'}`);
  const lab = await labUp({ prefix: randomPrefix() });
  const all: Record<string, RunResult[]> = {};
  let port = 5601;
  try {
    console.log(`lab ${lab.prefix}`);
    await runTraffic({ prefix: lab.prefix, flows: [{ name: 'warm', kind: 'udp', from: A, to: B, rate: 10000, durationS: 1, size: 64, port: port++ }] });
    const modes = arg('modes', 'case,packet').split(',') as ('case' | 'packet')[];
    // --windows 0,4194304: each run once per client HTTP/2 window (0: the client's default).
    const windows = arg('windows', '0').split(',').map(Number);
    const hows: How[] = ['cli'];
    if (arg('compare-cli', '')) hows.push('compare');
    if (stages) hows.push('stages');
    const plan: ['case' | 'packet', How, number][] = [];
    for (const how of hows) for (const m of modes) for (const w of windows) plan.push([m, how, w]);
    for (let r = 1; r <= rounds; r++) {
      console.log(`\nround ${r}, load average ${uptime()}`);
      // Every other round in reverse order, so no variant always runs first (the load drifts).
      for (const [mode, how, window] of r % 2 === 0 ? [...plan].reverse() : plan) {
        const res = await runOnce(lab, mode, how, window, seconds, rate, probeRate, port++);
        (all[res.label] ??= []).push(res);
        printRun(res, seconds);
      }
    }
  } finally {
    await labDown({ prefix: lab.prefix });
  }
  console.log(`\nsummary over ${rounds} rounds (load average now ${uptime()}): min / median of each round's figure`);
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const mm = (xs: number[], f: (n: number) => string) => `${f(Math.min(...xs))} / ${f(med(xs))}`;
  for (const [label, rs] of Object.entries(all)) {
    const classes = new Set(rs.flatMap((r) => Object.keys(r.report.classes)));
    console.log(`  ${label}: items/s ${mm(rs.map((r) => r.report.items / seconds), (n) => n.toFixed(0))}; iperf3 pps ${mm(rs.map((r) => r.iperf.sent / seconds), (n) => n.toFixed(0))}; kernel lost ${mm(rs.map((r) => Number(r.status.counters?.lostKernel ?? 0)), (n) => n.toFixed(0))}; serve CPU ${mm(rs.map((r) => r.serveCpuS), f2)} s; event-loop thread waiting for a CPU ${mm(rs.map((r) => r.sched.mainWaitS), f2)} s`);
    for (const k of classes) {
      const got = rs.map((r) => r.report.classes[k]).filter((s): s is LatencySummary => !!s);
      console.log(`    ${k.padEnd(24)} p50 ${mm(got.map((s) => s.p50), f1)} ms; p99 ${mm(got.map((s) => s.p99), f1)} ms; max ${mm(got.map((s) => s.max), f1)} ms (n per round ${got.map((s) => s.n).join(', ')})`);
    }
  }
}

if (require.main === module) {
  const a = process.argv.slice(2);
  const done = (p: Promise<void>) => p.catch((e) => {
    console.error(`bench-api-lab: ${e instanceof Error ? e.stack : e}`);
    process.exit(1);
  });
  if (a[0] === '--subscriber') done(subscriberMain(a[1], a[2], Number(a[3]), Number(a[4])));
  else if (a[0] === '--probe') done(probeMain(a[1], Number(a[2]), Number(a[3]), Number(a[4])));
  else if (a[0] === '--stage-server') done(stageServerMain(a[1], a[2], a[3], Number(a[4])));
  else done(labMain().then(() => process.exit(0)));
}

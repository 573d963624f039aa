// calitrace next to its peers, all figures from one run on a fresh lab: interleaved rounds of
//   none            no tracer
//   tcpdump-w       tcpdump -i any -w /dev/null        (copies every packet, decodes nothing)
//   tcpdump-nn      tcpdump -i any -nn > /dev/null     (decodes and prints every packet)
//   calitrace       the collector in packet mode (a record per packet and hop, judged in user space;
//                   what `--mode packet` asks for) — --mode picks another
//   calitrace-case  the collector in case mode, the default of trace and serve (every packet counted
//                   per path in the kernel, judged once per path in user space)
//   selection       the collector with a per-packet selection of the iperf3 flow (--src/--dst/--port),
//                   paced at --selection-pps (default 50 000) as the target asks
// each under iperf3 UDP 64-byte, unlimited rate, pod → pod through node1 (10.233.101.222 → .224), plus one
// round through VXLAN to node2 (→ 10.233.100.130). Per run: pod pps and the ratio to "none" of the same
// round, the tool's loss, the CPU seconds of the tool's processes and CPU per forwarded packet, and for
// calitrace the verdict counts of the iperf3 flow next to the datagrams iperf3's server received and the
// packets the receiving pod's eth0 took in (what node1 delivered: the server's count is lower when its
// socket buffer overflows, inside the pod). --help prints this.
//
// The collector runs in a child process of this script (so its CPU is its own, not the traffic driver's);
// its CPU is that process plus the BPF loader it spawns.
//
//   node dist/scripts/bench-peers.js [--seconds 5] [--rounds 2] [--selection-pps 50000] [--mode packet]
//                                    [--only calitrace-case,tcpdump-w] [--no-vxlan]
//                                    [--alt-loader old=/tmp/old/bpf/.output/calitrace-loader,...]
// --alt-loader adds, per NAME=PATH, a row case-NAME: case mode with another build of the loader (and its BPF
// programs), run in the same rounds as calitrace-case, so a change to the kernel side is measured against
// older builds under the same load.
//                                    [--prog-stats]
// --prog-stats measures, for the calitrace rows, the kernel time of the loader's BPF programs under the
// real traffic (calitrace-bench --prog-stats-of: BPF_ENABLE_STATS held by a file descriptor for the run,
// never the sysctl). The statistics cost every BPF program two clock reads per run meanwhile, so those
// rows' pod pps carry that too.
// --only keeps the listed rows (the no-tracer row always runs: every ratio is to it); --no-vxlan skips the
// VXLAN round.
import { spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { labUp, labDown, labExec, randomPrefix, nodeNetns, runTraffic, LabInfo } from '../src/lab';
import { startCollector } from '../src/collector/start';
import type { CaptureMode } from '../src/capture/capture';
import { parseFilter } from '../src/capture/filter';
import type { FlowSummary, VerdictCounts } from '../src/path/types';

const A = '10.233.101.222';
const B = '10.233.101.224';
const WEB_0 = '10.233.100.130';
const UNLIMITED = 5_000_000; // pps asked of iperf3: far above what one core can send

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

/** --alt-loader NAME=PATH,...: row name (case-NAME) → loader path. */
function altLoaders(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const item of arg('alt-loader', '').split(',').filter(Boolean)) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new Error(`--alt-loader: NAME=PATH expected, got ${item}`);
    rows.set(`case-${item.slice(0, eq)}`, item.slice(eq + 1));
  }
  return rows;
}

/** CPU seconds (user + system) of a process so far, from /proc/PID/stat; 0 once it is gone. */
function cpuSeconds(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100)
  } catch {
    return 0;
  }
}

// ---- the collector child ------------------------------------------------------------------------

interface ChildResult {
  lostKernel: number;
  lostPipe: number;
  received: number;
  packets: number;
  verdictLines: number;
  flows: { key: string; proto: number; dport: number; sport: number; src: string; dst: string; verdicts: VerdictCounts; packets: number }[];
  cpuSelf: number;
  cpuLoader: number;
}

async function childMain(): Promise<void> {
  const netns = arg('netns', '');
  const mode = arg('mode', 'packet') as CaptureMode;
  const sel = arg('select', '');
  const filter = sel ? parseFilter(JSON.parse(sel) as Record<string, string>) : undefined;
  const loaderPath = arg('loader', '') || undefined;
  const rc = await startCollector({ netns, mode, filter, loaderPath });
  let verdictLines = 0;
  rc.collector.on('verdict', () => verdictLines++);
  process.stdout.write(`READY ${rc.capture.loaderPid}\n`);
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await rc.capture.requestStats().catch(() => undefined);
  await new Promise((r) => setTimeout(r, 400)); // let the last windows close
  const cpuLoader = cpuSeconds(rc.capture.loaderPid!);
  await rc.stop();
  const c = rc.collector.counters();
  const flows = rc.collector.flows().map((f: FlowSummary) => ({
    key: f.key, proto: f.proto, dport: f.forward.dport, sport: f.forward.sport, src: f.forward.src, dst: f.forward.dst,
    verdicts: f.forward.verdicts, packets: f.forward.packets,
  }));
  const result: ChildResult = {
    lostKernel: c.lostKernel, lostPipe: c.lostPipe, received: c.received, packets: c.packets, verdictLines, flows,
    cpuSelf: cpuSeconds(process.pid), cpuLoader,
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

// ---- tools --------------------------------------------------------------------------------------

interface Tool {
  /** Pids whose CPU counts. */
  pids(): number[];
  /** Stops it; what it reports. */
  stop(): Promise<{ loss: string; lossCount: number; extra?: ChildResult }>;
}

function waitFor(proc: ChildProcess, pattern: RegExp, ms: number, what: string, out: () => string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      const m = pattern.exec(out());
      if (m) {
        clearInterval(t);
        resolve(m);
      } else if (proc.exitCode !== null || Date.now() > deadline) {
        clearInterval(t);
        reject(new Error(`${what}: ${out().slice(-500)}`));
      }
    }, 20);
    const deadline = Date.now() + ms;
  });
}

async function startTcpdump(netns: string, args: string[]): Promise<Tool> {
  const proc = spawn('ip', ['netns', 'exec', netns, 'tcpdump', '-i', 'any', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  await waitFor(proc, /listening on/, 10_000, 'tcpdump did not start', () => err);
  const closed = new Promise<void>((r) => proc.on('close', () => r()));
  return {
    pids: () => [proc.pid!],
    async stop() {
      proc.kill('SIGINT');
      await closed;
      const dropped = /(\d+) packets? dropped by kernel/.exec(err);
      const captured = /(\d+) packets? captured/.exec(err);
      const n = dropped ? Number(dropped[1]) : 0;
      return { loss: `${n} dropped by kernel${captured ? ` of ${Number(captured[1]) + n}` : ''}`, lossCount: n };
    },
  };
}

interface ProgStat {
  name: string;
  runs: number;
  ns: number;
}

/** calitrace-bench --prog-stats-of PID: started before the traffic; stop() returns what ran meanwhile. */
async function startProgStats(pid: number): Promise<{ stop(): Promise<ProgStat[]> }> {
  const bench = `${__dirname}/../../bpf/.output/calitrace-bench`;
  const proc = spawn(bench, ['--prog-stats-of', String(pid)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await waitFor(proc, /READY/, 10_000, 'calitrace-bench --prog-stats-of did not start', () => out);
  return {
    async stop() {
      proc.kill('SIGINT');
      const m = await waitFor(proc, /^(\{.*\})$/m, 10_000, 'no statistics from calitrace-bench', () => out);
      return (JSON.parse(m[1]) as { programs: ProgStat[] }).programs;
    },
  };
}

async function startCalitrace(netns: string, mode: string, select?: Record<string, string>, loader?: string): Promise<Tool> {
  const args = [__filename, '--child', '--netns', netns, '--mode', mode];
  if (select) args.push('--select', JSON.stringify(select));
  if (loader) args.push('--loader', loader);
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const m = await waitFor(proc, /READY (\d+)/, 30_000, 'the collector did not start', () => out);
  const loaderPid = Number(m[1]);
  const closed = new Promise<void>((r) => proc.on('close', () => r()));
  return {
    pids: () => [proc.pid!, loaderPid],
    async stop() {
      proc.kill('SIGTERM');
      const r = await waitFor(proc, /RESULT (.*)\n/, 30_000, 'no result from the collector', () => out);
      await closed;
      const res = JSON.parse(r[1]) as ChildResult;
      return { loss: `${res.lostKernel} kernel / ${res.lostPipe} pipe`, lossCount: res.lostKernel + res.lostPipe, extra: res };
    },
  };
}

// ---- runs ---------------------------------------------------------------------------------------

/**
 * Packets the receiving pod's eth0 took in: what node1 delivered to the pod, counted by the pod's side of
 * the veth. iperf3's server counts less when its socket buffer overflows (inside the pod, beyond the node's
 * hooks); this counter also has iperf3's few control-connection packets.
 */
async function podRx(lab: LabInfo, ip: string): Promise<number> {
  const r = await labExec(lab.prefix, ip, ['cat', '/sys/class/net/eth0/statistics/rx_packets']);
  const n = Number(r.stdout.trim());
  if (r.code !== 0 || !Number.isFinite(n)) throw new Error(`cannot read ${ip}'s eth0 counter: ${r.stderr.trim()}`);
  return n;
}

interface RunResult {
  tool: string;
  pps: number;
  sent: number;
  received: number;
  podReceived: number;
  loss: string;
  cpu: number;
  flow?: { verdicts: VerdictCounts; packets: number };
  verdictLines?: number;
  judged?: number;
  progs?: ProgStat[];
}

async function runOnce(lab: LabInfo, tool: string, to: string, rate: number, seconds: number, port: number): Promise<RunResult> {
  const netns = nodeNetns(lab.prefix, 'node1');
  const mode = arg('mode', 'packet');
  let t: Tool | undefined;
  if (tool === 'tcpdump-w') t = await startTcpdump(netns, ['-w', '/dev/null']);
  else if (tool === 'tcpdump-nn') t = await startTcpdump(netns, ['-nn']);
  else if (tool === 'calitrace') t = await startCalitrace(netns, mode);
  else if (tool === 'calitrace-case') t = await startCalitrace(netns, 'case');
  else if (altLoaders().has(tool)) t = await startCalitrace(netns, 'case', undefined, altLoaders().get(tool));
  else if (tool === 'selection') t = await startCalitrace(netns, 'packet', { src: A, dst: to, proto: 'udp', port: String(port) });
  // CPU from just before the traffic to the tool's stop (a tool's last work is draining what it holds).
  const pids = t?.pids() ?? [];
  const stats = process.argv.includes('--prog-stats') && pids.length === 2 ? await startProgStats(pids[1]) : undefined;
  const cpu0 = pids.map(cpuSeconds);
  const rx0 = await podRx(lab, to);
  const [r] = await runTraffic({ prefix: lab.prefix, flows: [{ name: 'bench', kind: 'udp', from: A, to, rate, durationS: seconds, size: 64, port }] });
  const podReceived = (await podRx(lab, to)) - rx0;
  if (r.sent === 0) throw new Error(`iperf3 did not run: ${r.detail}`);
  const cpuEnd = pids.map(cpuSeconds); // tcpdump: before it is stopped (its /proc entry goes with it)
  const progs = await stats?.stop();
  const stopped = t ? await t.stop() : undefined;
  let cpu = 0;
  pids.forEach((_, i) => (cpu += cpuEnd[i] - cpu0[i]));
  // The collector reports its own and its loader's CPU after draining what the run left in flight.
  if (stopped?.extra) cpu = stopped.extra.cpuSelf - cpu0[0] + (stopped.extra.cpuLoader - cpu0[1]);
  const out: RunResult = { tool, pps: r.received / seconds, sent: r.sent, received: r.received, podReceived, loss: stopped?.loss ?? '-', cpu, progs };
  const x = stopped?.extra;
  if (x) {
    const f = x.flows.find((fl) => fl.proto === 17 && fl.dport === port && fl.dst === to);
    if (f) out.flow = { verdicts: f.verdicts, packets: f.packets };
    out.verdictLines = x.verdictLines;
    out.judged = x.packets;
  }
  return out;
}

function fmtVerdicts(v: VerdictCounts): string {
  return Object.entries(v).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
}

async function main(): Promise<void> {
  const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
  const seconds = Number(arg('seconds', '5'));
  const rounds = Number(arg('rounds', '2'));
  const selectionPps = Number(arg('selection-pps', '50000'));
  console.log(`machine: ${os.cpus().length} CPUs, load average ${load()} (uptime: ${fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]} s)`);
  for (const [row, path] of altLoaders()) console.log(`${row} row: case mode with the loader ${path}`);
  console.log(`calitrace row: ${arg('mode', 'packet')} mode; calitrace-case row: case mode (the default of trace and serve); ${seconds} s per run; selection paced at ${selectionPps} pps`);
  const lab = await labUp({ prefix: randomPrefix() });
  let port = 5501;
  const allTools = ['none', 'tcpdump-w', 'tcpdump-nn', 'calitrace', 'calitrace-case', 'selection'];
  allTools.splice(allTools.indexOf('calitrace-case') + 1, 0, ...altLoaders().keys());
  const only = arg('only', '').split(',').filter(Boolean);
  const unknown = only.filter((t) => !allTools.includes(t));
  if (unknown.length) throw new Error(`--only: unknown row ${unknown.join(', ')} (rows: ${allTools.join(', ')})`);
  // The case-NAME rows go with calitrace-case: they are that row with other loaders.
  const kept = (t: string) => t === 'none' || only.includes(t) || (altLoaders().has(t) && only.includes('calitrace-case'));
  const tools = only.length ? allTools.filter(kept) : allTools;
  const summary: Record<string, { ratio: number[]; cpuPerPkt: number[]; kernelPerPkt: number[] }> = {};
  const matchedVsPod: Record<string, number[]> = {};
  // Interrupted (Ctrl-C, or a reader such as `| head` gone): the lab and what runs in it go first.
  let aborting = false;
  const abort = (why: string) => {
    if (aborting) return;
    aborting = true;
    process.stderr.write(`bench-peers: ${why}: removing lab ${lab.prefix}\n`);
    void labDown({ prefix: lab.prefix }).finally(() => process.exit(130));
  };
  process.once('SIGINT', () => abort('interrupted'));
  process.once('SIGTERM', () => abort('terminated'));
  process.stdout.on('error', (err: NodeJS.ErrnoException) => abort(err.code === 'EPIPE' ? 'standard output closed' : err.message));
  try {
    console.log(`lab ${lab.prefix}: iperf3 UDP 64-byte ${A} → ${B} through node1 (and one round → ${WEB_0} through VXLAN)`);
    await runTraffic({ prefix: lab.prefix, flows: [{ name: 'warm', kind: 'udp', from: A, to: B, rate: 10000, durationS: 1, size: 64, port: port++ }] });
    const plan: { round: string; to: string }[] = [];
    for (let i = 1; i <= rounds; i++) plan.push({ round: `${i}`, to: B });
    if (!process.argv.includes('--no-vxlan')) plan.push({ round: 'vxlan', to: WEB_0 });
    for (const { round, to } of plan) {
      console.log(`\nround ${round} (→ ${to}), load average ${load()}`);
      let base = 0;
      for (const tool of tools) {
        const rate = tool === 'selection' ? selectionPps : UNLIMITED;
        const r = await runOnce(lab, tool, to, rate, seconds, port++);
        if (tool === 'none') base = r.pps;
        const ratio = r.pps / base;
        const perPkt = r.received ? (r.cpu / r.received) * 1e6 : 0;
        if (tool !== 'none' && tool !== 'selection') {
          const s = (summary[tool] ??= { ratio: [], cpuPerPkt: [], kernelPerPkt: [] });
          s.ratio.push(ratio);
          s.cpuPerPkt.push(perPkt);
          if (r.progs) s.kernelPerPkt.push(r.progs.reduce((n, p) => n + p.ns, 0) / r.sent);
        }
        let line = `  ${tool.padEnd(14)} ${r.pps.toFixed(0).padStart(7)} pps (${(r.sent / seconds).toFixed(0)} sent/s)`;
        if (tool !== 'none') {
          line += `  ${tool === 'selection' ? 'paced' : `ratio ${ratio.toFixed(2)}`}  loss ${r.loss}  CPU ${r.cpu.toFixed(2)} s = ${((r.cpu / seconds) * 100).toFixed(0)} % of a core, ${perPkt.toFixed(2)} µs/packet`;
        }
        console.log(line);
        if (r.progs) {
          // Every hook run counts, the iperf3 datagrams' and anything else the node carried meanwhile.
          const total = r.progs.reduce((n, p) => n + p.ns, 0);
          const each = r.progs.filter((p) => p.runs > 0).map((p) => `${p.name} ${p.runs} runs × ${(p.ns / p.runs).toFixed(0)} ns`);
          console.log(`             kernel: ${each.join(', ') || 'no runs'}; ${(total / r.sent).toFixed(0)} ns per datagram sent`);
        }
        if (r.judged !== undefined) {
          const matched = r.flow?.verdicts.MATCHED ?? 0;
          const diff = r.received ? ((matched - r.received) / r.received) * 100 : 0;
          // iperf3's client counts what it sent, its server what reached its socket: a datagram node1
          // forwarded (MATCHED) can still die in the receiving pod's full socket buffer. And iperf3 opens
          // a UDP test with one datagram of its own that neither count includes.
          const podDiff = r.podReceived ? ((matched - r.podReceived) / r.podReceived) * 100 : 0;
          console.log(
            `             iperf3 flow: ${r.flow ? fmtVerdicts(r.flow.verdicts) : 'not seen'}; iperf3 sent ${r.sent}, server received ${r.received}; ` +
              `MATCHED − received = ${matched - r.received} (${diff.toFixed(2)} %), MATCHED − sent = ${matched - r.sent}; ` +
              `the pod's eth0 received ${r.podReceived} packets, MATCHED − that = ${matched - r.podReceived} (${podDiff.toFixed(3)} %); ` +
              `packets judged ${r.judged}, verdict lines ${r.verdictLines}`,
          );
          const s = (matchedVsPod[tool] ??= []);
          s.push(Math.abs(podDiff));
        }
      }
    }
    console.log(`\nsummary (load average now ${load()}): min / median over the ${rounds} pod→pod rounds${plan.length > rounds ? ' and the VXLAN round' : ''}`);
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    for (const [tool, s] of Object.entries(summary)) {
      console.log(
        `  ${tool.padEnd(14)} ratio to no tracer min ${Math.min(...s.ratio).toFixed(2)} median ${med(s.ratio).toFixed(2)}; ` +
          `CPU/packet min ${Math.min(...s.cpuPerPkt).toFixed(2)} median ${med(s.cpuPerPkt).toFixed(2)} µs` +
          (s.kernelPerPkt.length ? `; BPF per datagram min ${Math.min(...s.kernelPerPkt).toFixed(0)} median ${med(s.kernelPerPkt).toFixed(0)} ns` : '') +
          (matchedVsPod[tool] ? `; |MATCHED − pod eth0| max ${Math.max(...matchedVsPod[tool]).toFixed(3)} %` : ''),
      );
    }
  } finally {
    await labDown({ prefix: lab.prefix });
  }
}

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  // The usage is the comment at the top of the source.
  const src = fs.readFileSync(require.resolve('../../scripts/bench-peers.ts'), 'utf8');
  const usage = src.split('\n').filter((l, i, all) => all.slice(0, i + 1).every((x) => x.startsWith('//')));
  process.stdout.write(usage.map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
} else if (process.argv.includes('--child')) {
  childMain().catch((err) => {
    process.stderr.write(`bench-peers child: ${err instanceof Error ? err.stack : err}\n`);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    console.error(`bench-peers: ${err instanceof Error ? err.message : err}`);
    process.exitCode = 1;
  });
}

// The cost of `calitrace trace --write` (pcapng) on the built-in lab: pod→pod UDP pps (iperf3, 64-byte
// payloads, unlimited rate) with no tracer, with `trace --no-ui` (verdicts, output to /dev/null), and with
// the same trace plus `--write FILE` at the default snaplen — interleaved round by round so all three see
// the same machine load. Prints each round, the min/median, the ratios, and the load average.
//
//   node dist/scripts/bench-write.js [--seconds 5] [--rounds 3] [--snaplen 128]
import { spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { labUp, labDown, randomPrefix, nodeNetns, runTraffic, LabInfo } from '../src/lab';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'calitrace.js');

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

async function pps(lab: LabInfo, seconds: number, port: number): Promise<number> {
  const [r] = await runTraffic({
    prefix: lab.prefix,
    flows: [{ name: 'bench', kind: 'udp', from: '10.233.101.222', to: '10.233.101.224', rate: 10_000_000, durationS: seconds, size: 64, port }],
  });
  if (r.sent === 0) throw new Error(`iperf3 did not run: ${r.detail}`);
  return r.received / seconds;
}

async function withTrace<T>(lab: LabInfo, write: string | undefined, snaplen: number, fn: () => Promise<T>): Promise<{ value: T; summary: string }> {
  const args = [BIN, 'trace', '--no-ui', '--no-api', '--netns', nodeNetns(lab.prefix, 'node1'), '-o', 'json'];
  if (write) args.push('--write', write, '--snaplen', String(snaplen));
  const proc: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const deadline = Date.now() + 30000;
  while (!/judging/.test(err)) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`trace did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 500)); // the writer's line comes after the start line
  try {
    const value = await fn();
    return { value, summary: '' };
  } finally {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGINT');
    await exited;
    const lines = err.trim().split('\n');
    const last = lines.filter((l) => /packets judged|wrote \d+ packet blocks/.test(l)).map((l) => l.replace('calitrace trace: ', '  '));
    process.stdout.write(last.join('\n') + '\n');
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const seconds = arg('seconds', 5);
  const rounds = arg('rounds', 3);
  const snaplen = arg('snaplen', 128);
  const prefix = randomPrefix();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-bench-write-'));
  console.log(`bench-write: ${new Date().toISOString()} ${os.cpus().length} CPUs, load ${load()}; ${rounds} rounds of ${seconds} s, snaplen ${snaplen}`);
  const lab = await labUp({ prefix });
  const res = { none: [] as number[], trace: [] as number[], write: [] as number[] };
  try {
    let port = 5301;
    for (let round = 1; round <= rounds; round++) {
      if (round === 1) await pps(lab, 1, port++); // warm-up: proxy ARP, page cache
      const none = await pps(lab, seconds, port++);
      const traced = (await withTrace(lab, undefined, snaplen, () => pps(lab, seconds, port++))).value;
      const file = path.join(dir, `round${round}.pcapng`);
      const written = (await withTrace(lab, file, snaplen, () => pps(lab, seconds, port++))).value;
      const size = fs.statSync(file).size;
      fs.rmSync(file);
      res.none.push(none);
      res.trace.push(traced);
      res.write.push(written);
      console.log(`round ${round}: no tracer ${Math.round(none)} pps, trace ${Math.round(traced)} pps, trace --write ${Math.round(written)} pps (${(size / 1e6).toFixed(1)} MB written); load ${load()}`);
    }
  } finally {
    await labDown({ prefix }).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const fmt = (xs: number[]) => `min ${Math.round(Math.min(...xs))} median ${Math.round(median(xs))} pps`;
  console.log(`no tracer:       ${fmt(res.none)}`);
  console.log(`trace:           ${fmt(res.trace)}  (median ratio to no tracer ${(median(res.trace) / median(res.none)).toFixed(3)})`);
  console.log(`trace --write:   ${fmt(res.write)}  (median ratio to no tracer ${(median(res.write) / median(res.none)).toFixed(3)}, to trace ${(median(res.write) / median(res.trace)).toFixed(3)})`);
  const perRound = res.write.map((w, i) => w / res.trace[i]);
  console.log(`per-round ratio trace --write / trace: ${perRound.map((r) => r.toFixed(3)).join(' ')} (median ${median(perRound).toFixed(3)})`);
  console.log(`load at end: ${load()}`);
}

main().catch((err) => {
  console.error(`bench-write: ${(err as Error).message}`);
  process.exit(1);
});

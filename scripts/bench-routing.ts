// Route prediction throughput at 100, 10k and 100k routes on one core.
//   node dist/scripts/bench-routing.js [--seconds S] [--sizes 100,10000,100000]
// Tables look like a big Calico node: pod /32s on cali interfaces, /26 VXLAN blocks of other nodes, the
// node's IPAM-block blackholes, connected subnets, a default route. Measured in the same run:
//   decide    the per-packet fast path (rule walk + longest-prefix lookup + input-path checks)
//   predict   the full prediction (+ candidates, rule trace, Calico meaning, VXLAN outer header)
//   lean      predict(…, {detail: false}): a complete Prediction without candidates and rule trace
//   baseline  a naive predictor: a linear scan of every route for the longest match
// and the compile time of the lookup structure (paid once per model change).
import { compile } from '../src/routing/fib';
import { decide, predict } from '../src/routing/predict';
import { parseRouteLine } from '../src/routing/paste';
import { parsePrefix, parseAddr, prefixContains, Prefix } from '../src/routing/addr';
import { ruleFromJson } from '../src/routing/iproute-json';
import type { Link, Query, Route, RoutingState } from '../src/routing/types';

const secondsArg = process.argv.indexOf('--seconds');
const SECONDS = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 1;
const sizesArg = process.argv.indexOf('--sizes');
const SIZES = sizesArg > 0 ? process.argv[sizesArg + 1].split(',').map(Number) : [100, 10_000, 100_000];

let seed = 12345;
function rand(): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 4294967296;
}
const ip = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

export function buildState(n: number): { state: RoutingState; queries: Query[] } {
  const lines: string[] = ['default via 172.27.71.254 dev ens3 proto static', '172.27.71.0/24 dev ens3 proto kernel scope link src 172.27.71.11'];
  const links: Link[] = [
    { ifindex: 2, name: 'ens3', mtu: 1500, up: true, carrier: true, kind: 'veth', forwarding4: true, rpFilter: 0 },
    { ifindex: 3, name: 'vxlan.calico', mtu: 1450, up: true, carrier: true, kind: 'vxlan', forwarding4: true, rpFilter: 0, vxlan: { vni: 4096, port: 4789, local: '172.27.71.11', dev: 'ens3', learning: false } },
  ];
  const base = (10 << 24) | (233 << 16); // 10.233.0.0/16 pod CIDR
  const pods: string[] = [];
  // One own block per 64 pods (blackhole), the rest as remote /26 blocks over VXLAN.
  const podCount = Math.floor(n * 0.6);
  const blocks = Math.max(1, Math.ceil(podCount / 60));
  for (let b = 0; b < blocks; b++) lines.push(`blackhole ${ip((base + b * 64) >>> 0)}/26 proto 80`);
  for (let i = 0; i < podCount; i++) {
    const addr = ip((base + Math.floor(i / 60) * 64 + 2 + (i % 60)) >>> 0);
    const dev = `cali${i.toString(16).padStart(11, '0')}`;
    pods.push(addr);
    lines.push(`${addr} dev ${dev} scope link`);
    links.push({ ifindex: 10 + i, name: dev, mtu: 1450, up: true, carrier: true, kind: 'veth', forwarding4: true, rpFilter: 0 });
  }
  const remote = n - lines.length;
  for (let r = 0; r < remote; r++) {
    const block = ((base + (blocks + r) * 64) >>> 0) % 2 ** 32;
    lines.push(`${ip(block)}/26 via ${ip(block)} dev vxlan.calico onlink`);
  }
  const routes = lines.map((l) => parseRouteLine(l)!).slice(0, n) as Route[];
  const state: RoutingState = {
    links,
    addresses: [{ family: 4, ifname: 'ens3', address: '172.27.71.11', prefixLen: 24, scope: 'global' }],
    routes,
    rules: [
      { priority: 0, src: 'all', table: 'local' },
      { priority: 32766, src: 'all', table: 'main' },
      { priority: 32767, src: 'all', table: 'default' },
    ].map((o) => ruleFromJson(o, 4)),
    neighbours: [],
    fdb: [],
    complete: { rules: true, neighbours: true, fdb: true, links: true },
  };
  const queries: Query[] = [];
  for (let i = 0; i < 4096; i++) {
    const src = pods[Math.floor(rand() * pods.length)] ?? '10.233.0.2';
    const kind = rand();
    // Destinations: local pods, remote blocks, empty block addresses (blackhole), the internet (default).
    const dst =
      kind < 0.4 ? pods[Math.floor(rand() * pods.length)] ?? '10.233.0.3' : kind < 0.8 ? ip((base + Math.floor(rand() * (blocks + remote)) * 64 + 5) >>> 0) : kind < 0.9 ? ip((base + 63) >>> 0) : `8.8.${Math.floor(rand() * 255)}.8`;
    queries.push({ src, dst, iif: `cali${Math.floor(rand() * Math.max(1, podCount)).toString(16).padStart(11, '0')}` });
  }
  // Queries arrive as text (a batch line, a decoded packet): flat strings, as JSON.parse makes them (template
  // literals would leave V8 cons-strings, slow to hash and compare on every Map lookup).
  // The live model's state comes from JSON.parse too: round-trip it for the same flat strings.
  return { state: JSON.parse(JSON.stringify(state)) as RoutingState, queries: JSON.parse(JSON.stringify(queries)) as Query[] };
}

/**
 * Runs fn over the queries for about SECONDS of this process's CPU time; returns operations per CPU-second.
 * CPU time, not wall time, because the machine is shared: time spent descheduled is not the predictor's.
 * (Node runs the loop on one thread; GC helper threads' CPU is included, so the figure is conservative.)
 */
function measure(queries: Query[], fn: (q: Query) => unknown): number {
  // Warm-up (JIT) before the clock starts.
  for (let k = 0; k < 3; k++) for (let i = 0; i < queries.length; i++) fn(queries[i]);
  let ops = 0;
  let sink = 0;
  const c0 = process.cpuUsage();
  const budget = SECONDS * 1e6;
  let used = 0;
  while (used < budget) {
    for (let i = 0; i < queries.length; i++) if (fn(queries[i])) sink++;
    ops += queries.length;
    const c = process.cpuUsage(c0);
    used = c.user + c.system;
  }
  if (sink < 0) console.log(sink);
  return ops / (used / 1e6);
}

function naivePredictor(state: RoutingState): (q: Query) => Route | undefined {
  const compiled: { p: Prefix; r: Route }[] = state.routes.map((r) => ({ p: parsePrefix(r.dst)!, r }));
  return (q) => {
    const a = parseAddr(q.dst)!;
    let best: { p: Prefix; r: Route } | undefined;
    for (const c of compiled) if (prefixContains(c.p, a) && (!best || c.p.len > best.p.len || (c.p.len === best.p.len && c.r.metric < best.r.metric))) best = c;
    return best?.r;
  };
}

const fmt = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M/s` : `${(x / 1e3).toFixed(1)} k/s`);

function main(): void {
  console.log(`bench-routing: node ${process.version}, ${SECONDS} CPU-second(s) per measurement, rates per CPU-second of one thread; load average ${require('node:os').loadavg().map((x: number) => x.toFixed(1)).join(' ')}`);
  console.log('routes   compile    decide (fast path)   predict (full)   lean predict   baseline (linear scan)   decide/baseline');
  for (const n of SIZES) {
    const { state, queries } = buildState(n);
    const c0 = process.hrtime.bigint();
    const fib = compile(state);
    const compileMs = Number(process.hrtime.bigint() - c0) / 1e6;
    // Sanity: every query gets a decision, and the fast path agrees with the full prediction.
    for (const q of queries.slice(0, 200)) if (decide(fib, q).decision !== predict(state, q).decision) throw new Error(`fast path and predict disagree on ${JSON.stringify(q)}`);
    const fast = measure(queries, (q) => decide(fib, q).decision);
    const full = measure(queries.slice(0, n >= 100_000 ? 512 : 4096), (q) => predict(state, q).decision);
    const lean = measure(queries, (q) => predict(state, q, { detail: false }).decision);
    const naive = naivePredictor(state);
    const base = measure(queries.slice(0, n >= 10_000 ? 64 : 4096), (q) => naive(q));
    console.log(`${String(state.routes.length).padStart(6)}   ${compileMs.toFixed(1).padStart(6)} ms   ${fmt(fast).padStart(12)}         ${fmt(full).padStart(12)}   ${fmt(lean).padStart(12)}      ${fmt(base).padStart(12)}           ${(fast / base).toFixed(0)}x`);
  }
}

if (require.main === module) main();

// The kernel is the judge: in a private network namespace, build random routing tables and rules, then ask
// both the kernel (`ip route get` and `ip route get fibmatch`, in batch mode) and the predictor the same
// thousands of questions, and compare decisions, not errnos. A refusal says only an errno, and one errno
// stands for several decisions; so every question is asked again of a twin namespace (test/helpers/
// route-twin.ts) where each cause of refusal is taken away in a way the answer shows: the refusing route
// the kernel matched, its table, the rule that led there, or that nothing but a martian check is left.
// Coverage of every decision and rule selector is counted from what the kernel (real and twin) answered,
// never from the predictor's labels. Zero disagreements allowed. The random seed is printed; replay with
//   CALITRACE_SEED=<seed> node --test dist/test/integration/routing-differential.test.js
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dumpState } from '../../src/routing/sources';
import { predict } from '../../src/routing/predict';
import { routeFromJson } from '../../src/routing/iproute-json';
import type { Family, KernelErrno, Prediction, Query, RoutingState } from '../../src/routing/types';
import { RouteTwin, RuleOfTable } from '../helpers/route-twin';

/** mulberry32: small, seedable, good enough to pick test cases. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const seed = process.env.CALITRACE_SEED ? Number(process.env.CALITRACE_SEED) : randomBytes(4).readUInt32LE(0);
const rand = rng(seed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const chance = (p: number): boolean => rand() < p;
const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));

const NS_BASE = `ctrd-${randomBytes(3).toString('hex')}`;
/** The current round's namespace: each round gets a fresh one (a flush leaves IPv6 local routes behind). */
let NS = NS_BASE;

function ip(args: string[], input?: string, ns = NS): { stdout: string; stderr: string; status: number } {
  const r = spawnSync('ip', ['-n', ns, ...args], { input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

function must(args: string[], ns = NS): void {
  execFileSync('ip', ['-n', ns, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

function sysctl(key: string, value: string, ns = NS): void {
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `${key}=${value}`]);
}

/** The multipath hash seed, the same in the namespace and its twin so both pick the same next hop. */
const HASH_SEED = '20251206';

// --- the namespace: three veth pairs, all ends up, addresses on the 'a' ends ---
const PAIRS = [0, 1, 2];
const A = PAIRS.map((i) => `v${i}a`);
const B = PAIRS.map((i) => `v${i}b`);
const LOCAL4 = PAIRS.map((i) => `10.0.${i}.1`);
const LOCAL6 = PAIRS.map((i) => `fd00:0:0:${i}::1`);

/** Links, addresses and sysctls of a namespace that exists (the real one, or its twin). */
function setupNamespace(ns: string, round: number): void {
  must(['link', 'set', 'lo', 'up'], ns);
  for (const i of PAIRS) {
    must(['link', 'add', A[i], 'type', 'veth', 'peer', 'name', B[i]], ns);
    must(['link', 'set', A[i], 'up'], ns);
    // Round 1 runs with v1b down: v1a loses carrier and its routes are flagged linkdown (still used, as
    // ignore_routes_with_linkdown is 0 by default).
    if (!(round === 1 && i === 1)) must(['link', 'set', B[i], 'up'], ns);
    must(['addr', 'add', `${LOCAL4[i]}/24`, 'dev', A[i]], ns);
    must(['-6', 'addr', 'add', `${LOCAL6[i]}/64`, 'dev', A[i], 'nodad'], ns);
  }
  sysctl('net.ipv4.conf.all.forwarding', '1', ns);
  sysctl('net.ipv6.conf.all.forwarding', '1', ns);
  // One interface that does not forward: the input path must answer EHOSTUNREACH from it.
  sysctl(`net.ipv4.conf.${B[2]}.forwarding`, '0', ns);
  spawnSync('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `net.ipv4.fib_multipath_hash_seed=${HASH_SEED}`]);
}

// --- random routing state ---
const TABLES = ['main', '100', '101', '102', '200'];
const V4_SPACE = [10, 11, 12];

function v4Prefix(space: readonly number[] = V4_SPACE): string {
  const len = pick([8, 12, 16, 16, 20, 24, 24, 26, 28, 32, 32]);
  const a = pick(space);
  const w = ((a << 24) | (int(0, 3) << 16) | (int(0, 3) << 8) | int(0, 255)) >>> 0;
  const m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const n = (w & m) >>> 0;
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${len}`;
}

function v6Prefix(): string {
  const len = pick([32, 48, 56, 64, 64, 96, 128]);
  const g = [0xfd10 + int(0, 2), int(0, 3), int(0, 3), int(0, 3), 0, 0, 0, int(0, 15)];
  // Mask in 16-bit groups.
  const out = g.map((x, i) => {
    const bits = Math.max(0, Math.min(16, len - 16 * i));
    return bits === 0 ? 0 : x & ((0xffff << (16 - bits)) & 0xffff);
  });
  return `${out.map((x) => x.toString(16)).join(':')}/${len}`;
}

function gateway4(): { via: string; dev: string; onlink: boolean } {
  const i = int(0, 2);
  if (chance(0.25)) return { via: `192.168.${int(0, 9)}.${int(1, 254)}`, dev: A[i], onlink: true };
  return { via: `10.0.${i}.${int(2, 250)}`, dev: A[i], onlink: false };
}

function gateway6(): { via: string; dev: string; onlink: boolean } {
  const i = int(0, 2);
  if (chance(0.25)) return { via: `fd99::${int(1, 999).toString(16)}`, dev: A[i], onlink: true };
  return { via: `fd00:0:0:${i}::${int(2, 999).toString(16)}`, dev: A[i], onlink: false };
}

function routeLine(family: Family): string {
  const table = pick(TABLES);
  const kind = rand();
  // Local and broadcast routes stay out of 10/8, where the gateways live: a gateway that resolves through a
  // local route when it is added loses its gateway (nh scope host), a detail of insertion time the dump hides.
  const localish = kind >= 0.88 && kind < 1 && family === 4;
  const prefix = chance(0.04) && !localish ? 'default' : family === 4 ? v4Prefix(localish ? [11, 12] : V4_SPACE) : v6Prefix();
  const metric = pick([0, 0, 10, 100, 1024]);
  const tos = family === 4 && chance(0.08) ? ' tos 0x10' : '';
  const tail = ` table ${table} metric ${metric}`;
  const gw = family === 4 ? gateway4 : gateway6;
  const f = family === 4 ? '-4' : '-6';
  // Some routes name the source address to prefer (one of the node's addresses, not necessarily the device's).
  const src = chance(0.2) ? ` src ${family === 4 ? pick(LOCAL4) : pick(LOCAL6)}` : '';
  if (kind < 0.35) {
    const g = gw();
    return `${f} route add ${prefix}${tos} via ${g.via} dev ${g.dev}${g.onlink ? ' onlink' : ''}${src}${tail}`;
  }
  if (kind < 0.5) return `${f} route add ${prefix}${tos} dev ${pick(A)}${src}${tail}`;
  if (kind < 0.6) {
    const hops = [gw(), gw(), ...(chance(0.3) ? [gw()] : [])];
    return `${f} route add ${prefix}${tos}${tail} ${hops.map((h) => `nexthop via ${h.via} dev ${h.dev}${h.onlink ? ' onlink' : ''} weight ${int(1, 3)}`).join(' ')}`;
  }
  if (kind < 0.68) return `${f} route add blackhole ${prefix}${tos}${tail}`;
  if (kind < 0.74) return `${f} route add unreachable ${prefix}${tos}${tail}`;
  if (kind < 0.8) return `${f} route add prohibit ${prefix}${tos}${tail}`;
  if (kind < 0.88) return `${f} route add throw ${prefix}${tos}${tail}`;
  if (kind < 0.94) return `${f} route add local ${prefix}${tos} dev ${pick(A)}${tail}`;
  if (family === 4) return `${f} route add broadcast ${prefix}${tos} dev ${pick(A)}${tail}`;
  return `${f} route add ${prefix} dev ${pick(A)}${tail}`;
}

function ruleLine(family: Family, prio: number, laterPrios: number[]): string {
  const sel: string[] = [];
  const f = family === 4 ? '-4' : '-6';
  const prefix = () => (family === 4 ? v4Prefix() : v6Prefix());
  if (chance(0.3)) sel.push('from', prefix());
  if (chance(0.3)) sel.push('to', prefix());
  if (chance(0.25)) sel.push('iif', pick([...A, ...B, 'lo']));
  if (chance(0.05)) sel.push('oif', pick(A));
  if (chance(0.25)) sel.push('fwmark', pick(['0x1', '0x1/0xff', '0x10/0xf0', '0x100']));
  if (family === 4 && chance(0.1)) sel.push('tos', '0x10');
  if (chance(0.12)) {
    sel.push('ipproto', pick(['tcp', 'udp']));
    if (chance(0.5)) sel.push('dport', pick(['80', '1000-2000']));
    if (chance(0.3)) sel.push('sport', pick(['53', '30000-40000']));
  }
  if (chance(0.05)) sel.push('uidrange', pick(['0-0', '100-200']));
  if (sel.length > 0 && chance(0.15)) sel.unshift('not');
  let action: string;
  const a = rand();
  if (a < 0.55) {
    action = `lookup ${pick(TABLES)}`;
    if (chance(0.2)) action += ` suppress_prefixlength ${pick([0, 8, 16, 24])}`;
  } else if (a < 0.68 && laterPrios.length > 0) action = `goto ${pick(laterPrios)}`;
  else if (a < 0.74) action = 'nop';
  else if (sel.length === 0 || (sel.length === 1 && sel[0] === 'not')) action = `lookup ${pick(TABLES)}`; // a catch-all drop rule would hide everything after it
  else if (a < 0.82) action = 'blackhole';
  else if (a < 0.9) action = 'unreachable';
  else action = 'prohibit';
  return `${f} rule add pref ${prio} ${sel.join(' ')} ${action}`;
}

function randomState(): string[] {
  const lines: string[] = [];
  for (const family of [4, 6] as Family[]) {
    for (let i = 0; i < (family === 4 ? 420 : 260); i++) lines.push(routeLine(family));
    const prios = Array.from(new Set(Array.from({ length: 14 }, () => int(12, 32000)))).sort((a, b) => a - b);
    prios.forEach((p, i) => lines.push(ruleLine(family, p, [...prios.slice(i + 1), 32766])));
    // Fixed corner: marks that reach the (empty) default table directly, or through a throw route, so every
    // run also sees ENETUNREACH as "no route" and as "thrown".
    const f = family === 4 ? '-4' : '-6';
    const all = family === 4 ? '0.0.0.0/0' : '::/0';
    lines.push(`${f} rule add pref 1 fwmark 0x7777 goto 32767`);
    lines.push(`${f} route add throw ${all} table 250`);
    lines.push(`${f} rule add pref 2 fwmark 0x7778 lookup 250`);
    lines.push(`${f} rule add pref 3 fwmark 0x7778 goto 32767`);
    lines.push(...cornerLines(family));
  }
  return lines;
}

// Fixed corners, one per rule selector, reached only by questions with their own mark (CORNER_MARK), so
// that every run puts each selector before the kernel at its boundaries (uid 100 and 200 of 100-200,
// ports 1000 and 2000 of 1000-2000, …) whatever the random rules are. Each looks up a table of its own.
const CORNER_MARK = { uid: 0x7781, ports: 0x7782, oif: 0x7783, iif: 0x7784, tos: 0x7785, not: 0x7786, suppress: 0x7787 };
const CORNER = {
  4: { not: '10.99.0.0/16', near: '10.99.0.0/24', inside: '10.99.0.5' },
  6: { not: 'fd77::/32', near: 'fd77::/64', inside: 'fd77::5' },
};

function cornerLines(family: Family): string[] {
  const f = family === 4 ? '-4' : '-6';
  const all = family === 4 ? '0.0.0.0/0' : '::/0';
  const c = CORNER[family];
  const m = CORNER_MARK;
  return [
    `${f} route add ${all} dev ${A[0]} table 300`,
    `${f} route add ${all} dev ${A[1]} table 301`,
    `${f} route add ${all} dev ${A[0]} table 302`,
    `${f} route add ${c.near} dev ${A[2]} table 302`,
    `${f} rule add pref 4 fwmark 0x${m.uid.toString(16)} uidrange 100-200 lookup 300`,
    `${f} rule add pref 5 fwmark 0x${m.ports.toString(16)} ipproto udp sport 1000-2000 dport 53 lookup 300`,
    `${f} rule add pref 6 fwmark 0x${m.oif.toString(16)} oif ${A[1]} lookup 301`,
    `${f} rule add pref 7 fwmark 0x${m.iif.toString(16)} iif ${B[0]} lookup 300`,
    ...(family === 4 ? [`${f} rule add pref 8 fwmark 0x${m.tos.toString(16)} tos 0x10 lookup 300`] : []),
    // Only the `not` corner's own questions reach pref 10: everything else jumps over it.
    `${f} rule add pref 9 not fwmark 0x${m.not.toString(16)} goto 11`,
    `${f} rule add pref 10 not to ${c.not} lookup 300`,
    `${f} rule add pref 11 fwmark 0x${m.suppress.toString(16)} lookup 302 suppress_prefixlength 16`,
  ];
}

/** Questions for the corners, each selector on both sides of its boundaries. */
function cornerQueries(family: Family, prefixes: string[]): Query[] {
  const dst = () => (prefixes.length > 0 ? randomHostIn(pick(prefixes)) : family === 4 ? '10.1.2.3' : 'fd10::3');
  const src = () => (family === 4 ? randomHostIn(v4Prefix()) : randomHostIn(v6Prefix()));
  const m = CORNER_MARK;
  const c = CORNER[family];
  const qs: Query[] = [];
  for (const uid of [0, 99, 100, 150, 200, 201, 1000]) qs.push({ dst: dst(), mark: m.uid, uid });
  for (const [sport, dport] of [[999, 53], [1000, 53], [1500, 53], [2000, 53], [2001, 53], [1500, 54]]) qs.push({ dst: dst(), mark: m.ports, ipproto: 17, sport, dport });
  qs.push({ dst: dst(), mark: m.ports, ipproto: 6, sport: 1500, dport: 53 });
  for (let i = 0; i < 3; i++) qs.push({ dst: dst(), mark: m.oif, oif: A[1] }, { dst: dst(), mark: m.oif });
  for (let i = 0; i < 3; i++) qs.push({ dst: dst(), mark: m.iif, iif: B[0], src: src() }, { dst: dst(), mark: m.iif, iif: B[2], src: src() });
  if (family === 4) for (let i = 0; i < 3; i++) qs.push({ dst: dst(), mark: m.tos, tos: 0x10 }, { dst: dst(), mark: m.tos });
  for (let i = 0; i < 3; i++) qs.push({ dst: dst(), mark: m.not }, { dst: c.inside, mark: m.not });
  for (let i = 0; i < 3; i++) qs.push({ dst: dst(), mark: m.suppress }, { dst: c.inside, mark: m.suppress });
  if (family === 4) for (const q of qs) q.ipproto ??= 17;
  return qs;
}

// --- questions ---
function randomHostIn(prefix: string): string {
  const [addr, lenText] = prefix.split('/');
  const len = Number(lenText);
  if (!addr.includes(':')) {
    const parts = addr.split('.').map(Number);
    const base = ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
    const hostBits = 32 - len;
    const host = hostBits === 0 ? 0 : Math.floor(rand() * 2 ** Math.min(hostBits, 31));
    const n = (base | host) >>> 0;
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  // IPv6: randomise the last 16-bit group when the prefix leaves it free, else keep the prefix address.
  if (len <= 112) return addr.endsWith('::') ? `${addr}${int(1, 0xfffe).toString(16)}` : addr.replace(/:0$/, `:${int(1, 0xfffe).toString(16)}`);
  return addr;
}

function randomQuery(family: Family, prefixes: string[]): Query {
  const q: Query = { dst: '' };
  const inside = prefixes.length > 0 && chance(0.8);
  if (inside) q.dst = randomHostIn(pick(prefixes));
  else q.dst = family === 4 ? randomHostIn(v4Prefix()) : randomHostIn(v6Prefix());
  if (family === 4 && chance(0.05)) q.dst = pick(LOCAL4);
  if (family === 6 && chance(0.05)) q.dst = pick(LOCAL6);
  const input = chance(0.5);
  if (input) {
    q.iif = pick([...A, ...B]);
    q.src = chance(0.1) ? (family === 4 ? pick(LOCAL4) : pick(LOCAL6)) : family === 4 ? randomHostIn(v4Prefix()) : randomHostIn(v6Prefix());
  } else if (chance(0.4)) {
    q.src = family === 4 ? pick(LOCAL4) : pick(LOCAL6);
  } else if (family === 4 && chance(0.05)) {
    q.src = '10.12.0.9'; // not an address of this node: the output path must refuse it
  }
  if (chance(0.35)) q.mark = pick([0x1, 0x11, 0x10, 0x100, 0x2]);
  if (family === 4 && chance(0.15)) q.tos = 0x10;
  if (chance(0.15)) {
    q.ipproto = pick([6, 17]);
    q.dport = pick([80, 1500, 443]);
    q.sport = pick([53, 35000, 1234]);
  }
  if (!input && chance(0.05)) q.uid = pick([0, 150, 1000]);
  // `ip route get` assumes UDP for IPv4 when no ipproto is given; say it explicitly so both sides see the same.
  if (family === 4 && q.ipproto === undefined) q.ipproto = 17;
  return q;
}

// Multicast: groups joined by a socket held open in the namespace (see joinGroups), others not.
const JOINED: [string, string][] = [['239.7.7.7', A[0]], ['239.7.7.8', B[1]], ['224.0.0.251', A[2]]];
const GROUPS = ['224.0.0.1', '224.0.0.22', '224.0.0.251', '239.7.7.7', '239.7.7.8', '239.255.255.250', '255.255.255.255'];

/** A process in the namespace that joins JOINED and keeps the memberships until its stdin closes. */
function joinGroups(): ReturnType<typeof spawn> {
  const py = [
    'import socket, struct, sys',
    'socks = []',
    `for group, dev in ${JSON.stringify(JOINED)}:`,
    '    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    '    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack("4s4si", socket.inet_aton(group), socket.inet_aton("0.0.0.0"), socket.if_nametoindex(dev)))',
    '    socks.append(s)',
    'print("joined", flush=True)',
    'sys.stdin.read()',
  ].join('\n');
  return spawn('ip', ['netns', 'exec', NS, 'python3', '-c', py], { stdio: ['pipe', 'pipe', 'inherit'] });
}

function multicastQuery(): Query {
  const q: Query = { dst: pick(GROUPS), ipproto: pick([17, 17, 6]) };
  if (chance(0.7)) {
    q.iif = pick([...A, ...B]);
    q.src = chance(0.1) ? '0.0.0.0' : chance(0.1) ? pick(LOCAL4) : randomHostIn(v4Prefix());
  } else if (chance(0.5)) q.src = pick(LOCAL4);
  return q;
}

function getArgs(q: Query): string {
  const p = [q.dst];
  if (q.src) p.push('from', q.src);
  if (q.iif) p.push('iif', q.iif);
  if (q.oif) p.push('oif', q.oif);
  if (q.mark !== undefined) p.push('mark', `0x${q.mark.toString(16)}`);
  if (q.tos !== undefined) p.push('tos', `0x${q.tos.toString(16)}`);
  if (q.ipproto !== undefined) p.push('ipproto', q.ipproto === 6 ? 'tcp' : 'udp');
  if (q.sport !== undefined) p.push('sport', String(q.sport));
  if (q.dport !== undefined) p.push('dport', String(q.dport));
  if (q.uid !== undefined) p.push('uid', String(q.uid));
  return p.join(' ');
}

const ERRNO_TEXT: Record<string, KernelErrno> = {
  'Invalid argument': 'EINVAL',
  'No route to host': 'EHOSTUNREACH',
  'Permission denied': 'EACCES',
  'Network is unreachable': 'ENETUNREACH',
  'Invalid cross-device link': 'EXDEV',
};

type KernelAnswer = { ok: true; json: Record<string, unknown> } | { ok: false; errno: KernelErrno | string };

/** Runs `ip -b` with -force: stdout has one JSON line per success, stderr names failed line numbers. */
function kernelBatch(lines: string[], ns = NS): KernelAnswer[] {
  const r = ip(['-j', '-force', '-b', '-'], lines.join('\n') + '\n', ns);
  const failed = new Map<number, string>();
  let lastMsg = '';
  for (const l of r.stderr.split('\n')) {
    const m = /^Command failed -:(\d+)/.exec(l);
    if (m) failed.set(Number(m[1]), lastMsg);
    else if (l.trim()) lastMsg = l.replace(/^RTNETLINK answers: /, '').replace(/^Error: /, '').trim();
  }
  const outs = r.stdout.split('\n').filter((l) => l.trim());
  const answers: KernelAnswer[] = [];
  let k = 0;
  for (let i = 0; i < lines.length; i++) {
    const msg = failed.get(i + 1);
    if (msg !== undefined) answers.push({ ok: false, errno: ERRNO_TEXT[msg] ?? msg });
    else {
      const arr = JSON.parse(outs[k++]) as Record<string, unknown>[];
      answers.push({ ok: true, json: arr[0] });
    }
  }
  assert.equal(k, outs.length, 'every JSON line of ip -b is accounted for');
  return answers;
}


/** Interfaces with IPv4 forwarding off (see setupNamespace). */
const FORWARDING_OFF = new Set([B[2]]);
const forwardingOff = (q: Query): boolean => !!q.iif && FORWARDING_OFF.has(q.iif) && !q.dst.includes(':');
const REFUSING_ROUTE = new Set(['blackhole', 'unreachable', 'prohibit']);
/** The errno `ip route get` gives for each refusing decision on the path that takes it. */
const ROUTE_ERRNO: Record<string, KernelErrno> = { blackhole: 'EINVAL', unreachable: 'EHOSTUNREACH', prohibit: 'EACCES' };
const ACTION_ERRNO: Record<string, KernelErrno> = { blackhole: 'EINVAL', unreachable: 'ENETUNREACH', prohibit: 'EACCES' };

/** The kernel's decision for one question, as the real namespace and its twin showed it. */
interface KernelDecision {
  decision: string;
  /** Table of the deciding route, in the real namespace's numbering. */
  table?: number;
  route?: { dst: string; metric: number; tos: number };
  /** Priority of the rule that decided (lookup or rule action); undefined when no rule did. */
  rulePref?: number;
  /** How the twin showed it, for messages. */
  how: string;
  /** The twin could not tell (see classifyRefusal). */
  unwitnessed?: boolean;
}

function isV4Multicast(a: string): boolean {
  const first = Number(a.split('.')[0]);
  return !a.includes(':') && first >= 224 && first <= 239;
}

function famFlag(f: Family): '-4' | '-6' {
  return f === 4 ? '-4' : '-6';
}

/** The rule and original route behind a twin answer that came from a copy of a table. */
function witnessed(twin: RouteTwin, family: Family, a: KernelAnswer): { w: RuleOfTable; r: ReturnType<typeof routeFromJson>; type?: string } | undefined {
  if (!a.ok) return undefined;
  const r = routeFromJson(a.json, family);
  const w = twin.ruleOfTable(famFlag(family), r.table);
  const type = w.kind === 'lookup' ? twin.originalRoute(famFlag(family), w.table, r.dst, r.tos, r.metric)?.type : undefined;
  return { w, r, type };
}

/**
 * A refusal, explained by the twin (a: refusing routes and rule actions made visible, forwarding on, local
 * sources accepted, a last rule for "no route"; opened: the answers of the suppress_prefixlength rules
 * opened one at a time, where they came from that rule; c: throw routes visible too). Multicast on the
 * input path is judged by the kernel's membership list instead.
 */
function classifyRefusal(
  twin: RouteTwin,
  q: Query,
  family: Family,
  errno: string,
  a: KernelAnswer,
  opened: NonNullable<ReturnType<typeof witnessed>>[],
  c: KernelAnswer,
  members: Set<string>,
): KernelDecision {
  if (q.iif && family === 4 && isV4Multicast(q.dst)) {
    // The kernel checks the incoming interface's memberships (its own list, `ip maddr`) before anything
    // else; a member refuses only a source that fails validation.
    return members.has(`${q.iif} ${q.dst}`)
      ? { decision: 'martian', how: `${q.iif} is a member of ${q.dst} (ip maddr), so the source was refused` }
      : { decision: 'multicast_not_joined', how: `${q.iif} is not a member of ${q.dst} (ip maddr)` };
  }
  // Forwarding off on the incoming interface: the kernel answers EHOSTUNREACH for anything it does not
  // deliver locally, whatever route or rule it met (the twin, forwarding on, shows which).
  if (errno === 'EHOSTUNREACH' && forwardingOff(q)) return { decision: 'forwarding_disabled', how: `forwarding is off on ${q.iif}` };
  const wa = witnessed(twin, family, a);
  if (wa) {
    const { w, r, type } = wa;
    if (w.kind === 'action') return { decision: w.action, rulePref: w.pref, how: `rule ${w.pref}'s action (twin table ${r.table})` };
    if (w.kind === 'lookup' && type && REFUSING_ROUTE.has(type)) {
      return { decision: type, table: w.table, route: { dst: r.dst, metric: r.metric, tos: r.tos }, rulePref: w.pref, how: `${type} ${r.dst} metric ${r.metric} in table ${w.table} via rule ${w.pref}` };
    }
    if (w.kind === 'no-route') {
      const wc = witnessed(twin, family, c);
      if (wc?.w.kind === 'lookup' && wc.type === 'throw') {
        return { decision: 'throw', table: wc.w.table, route: { dst: wc.r.dst, metric: wc.r.metric, tos: wc.r.tos }, rulePref: wc.w.pref, how: `throw ${wc.r.dst} in table ${wc.w.table} (rule ${wc.w.pref}), then no rule found a route` };
      }
      return { decision: 'no_route', how: 'no rule found a route (the twin answered from its last rule, and from no throw route)' };
    }
    // An ordinary route, refused after it: source validation on the input path (the twin accepts local
    // sources, the real kernel does not).
    if (q.iif && (errno === 'EINVAL' || errno === 'EXDEV') && (w.kind === 'lookup' || w.kind === 'local')) {
      return { decision: 'martian', how: `refused after the ordinary route ${r.dst} (table ${r.table}) that the twin, accepting local sources, answers` };
    }
    return { decision: 'unexplained', how: `the twin answered ${r.text} table ${r.table} (${w.kind}${type ? `, originally ${type}` : ''})`, unwitnessed: true };
  }
  // The twin refused too. A refusing route behind a suppress_prefixlength rule shows once that rule alone
  // is opened; anything else is refused without a route: a martian.
  const wb = opened.find((x) => x.type && REFUSING_ROUTE.has(x.type) && x.w.kind === 'lookup');
  if (wb && wb.w.kind === 'lookup') {
    return { decision: wb.type!, table: wb.w.table, route: { dst: wb.r.dst, metric: wb.r.metric, tos: wb.r.tos }, rulePref: wb.w.pref, how: `${wb.type} ${wb.r.dst} in table ${wb.w.table} via rule ${wb.w.pref} (suppress_prefixlength)` };
  }
  return { decision: 'martian', how: `refused by the twin too (${a.ok ? '' : a.errno}), where no route, rule, forwarding or group can refuse` };
}

/** The errno a kernel decision must come with (a check of the twin's reading against the real answer). */
function errnoOf(k: KernelDecision, q: Query): string[] | undefined {
  if (k.decision === 'forwarding_disabled') return ['EHOSTUNREACH'];
  if (k.route && REFUSING_ROUTE.has(k.decision)) return [forwardingOff(q) ? 'EHOSTUNREACH' : ROUTE_ERRNO[k.decision]];
  if (k.rulePref !== undefined && ACTION_ERRNO[k.decision]) return [forwardingOff(q) ? 'EHOSTUNREACH' : ACTION_ERRNO[k.decision]];
  if (k.decision === 'throw' || k.decision === 'no_route') return [forwardingOff(q) ? 'EHOSTUNREACH' : 'ENETUNREACH'];
  if (k.decision === 'multicast_not_joined') return ['EINVAL'];
  if (k.decision === 'martian') return ['EINVAL', 'EXDEV', 'ENETUNREACH'];
  return undefined;
}

function predictedRulePref(p: Prediction): number | undefined {
  const m = /^(\d+):/.exec(p.rule ?? '');
  return m ? Number(m[1]) : undefined;
}

/** Same prefix, whatever its spelling (fd10:0:0:0::/64 and fd10::/64). */
function samePrefix(a: string, b: string, family: Family): boolean {
  const x = routeFromJson({ dst: a, type: 'unicast' }, family).dst;
  const y = routeFromJson({ dst: b, type: 'unicast' }, family).dst;
  return x === y;
}

function describe(q: Query, p: Prediction): string {
  return `ip -n ${NS} route get ${getArgs(q)} → predicted ${p.decision}${p.errno ? ` (${p.errno})` : ''} ${p.route ?? ''} table ${p.table ?? '-'} rule '${p.rule ?? '-'}' via ${JSON.stringify(p.nexthops.map((n) => `${n.gateway ?? ''}@${n.dev ?? ''}`))}`;
}

/** The selectors of a rule, from the kernel's own listing (`ip -j rule show`). */
function selectorsOf(rule: Record<string, unknown>): string[] {
  const s: string[] = [];
  if (rule.src !== undefined && rule.src !== 'all') s.push('from');
  if (rule.dst !== undefined && rule.dst !== 'all') s.push('to');
  for (const k of ['iif', 'oif', 'fwmark', 'tos', 'ipproto']) if (rule[k] !== undefined) s.push(k);
  if (rule.sport !== undefined || rule.sport_start !== undefined) s.push('sport');
  if (rule.dport !== undefined || rule.dport_start !== undefined) s.push('dport');
  if (rule.uid_start !== undefined) s.push('uidrange');
  if ('not' in rule) s.push('not');
  if (rule.suppress_prefixlen !== undefined) s.push('suppress_prefixlength');
  return s;
}

test(`routing predictor agrees with the kernel on random tables (seed ${seed})`, { timeout: 240_000 }, async () => {
  console.log(`routing-differential: seed ${seed} (replay: CALITRACE_SEED=${seed}), namespace ${NS}`);
  let joiner: ReturnType<typeof spawn> | undefined;
  let twin: RouteTwin | undefined;
  try {
    let lastState: RoutingState | undefined;
    let refusals = 0;
    let kernelMultipath = 0;
    let suppressed = 0;
    let prefsrcCompared = 0;
    const byKernelDecision: Record<string, number> = {};
    /** Per rule selector: questions the kernel decided through a rule that has it. */
    const bySelector: Record<string, number> = {};
    const unwitnessed: string[] = [];
    const disagreements: string[] = [];
    const witnessProblems: string[] = [];
    for (let round = 0; round < 3; round++) {
      // Stop at the first round that disagrees, so a kept namespace (CALITRACE_KEEP_NS=1) shows its state.
      if (disagreements.length > 0 || witnessProblems.length > 0) break;
      if (round > 0 && process.env.CALITRACE_KEEP_NS !== '1') spawnSync('ip', ['netns', 'del', NS]);
      joiner?.stdin?.end();
      joiner?.kill();
      NS = `${NS_BASE}-r${round}`;
      execFileSync('ip', ['netns', 'add', NS]);
      setupNamespace(NS, round);
      joiner = joinGroups();
      await new Promise<void>((resolve, reject) => {
        joiner!.stdout!.once('data', () => resolve());
        joiner!.once('exit', (code) => reject(new Error(`the group-joining helper exited (code ${code})`)));
      });
      // What the kernel refuses to add (duplicates, bad gateways) simply is not there: the model is read back.
      const lines = randomState();
      for (const f of ['-4', '-6']) {
        const mine = lines.filter((l) => l.startsWith(`${f} `)).map((l) => l.slice(3));
        ip([f, '-force', '-b', '-'], mine.join('\n') + '\n');
      }
      const state = await dumpState(NS);
      if (round === 1) lastState = state;
      const customRules = state.rules.length > 5;
      const members = new Set<string>();
      for (const l of JSON.parse(ip(['-j', 'maddr', 'show']).stdout) as { ifname: string; maddr?: { family?: string; address?: string }[] }[]) {
        for (const m of l.maddr ?? []) if (m.family === 'inet') members.add(`${l.ifname} ${m.address}`);
      }
      const kernelRules = new Map<string, Record<string, unknown>>();
      for (const f of ['-4', '-6'] as const) {
        for (const r of JSON.parse(ip(['-j', f, 'rule', 'show']).stdout) as Record<string, unknown>[]) kernelRules.set(`${f} ${String(r.priority)}`, r);
      }
      // The twin: built from the same commands, checked to hold the same tables.
      twin?.destroy();
      twin = new RouteTwin({
        name: `${NS}-t${round}`,
        setup: (ns) => setupNamespace(ns, round),
        dev: 'wit0',
        routeLines: lines.filter((l) => / route /.test(l)),
        ruleLines: lines.filter((l) => / rule /.test(l)),
        groups: GROUPS.filter((g) => g !== '255.255.255.255'),
        interfaces: [...A, ...B],
      });
      await twin.build();
      assert.deepEqual(twin.differencesFrom(NS), [], `the twin holds the real namespace's routes (round ${round})`);
      assert.deepEqual(twin.checkCopies(), [], `the twin's table copies hold what the tables hold (round ${round})`);
      twin.stage('refusing');
      console.log(`routing-differential: round ${round}: ${state.routes.length} routes, ${state.rules.length} rules`);
      const queries: Query[] = [];
      for (const family of [4, 6] as Family[]) {
        // Link-local and loopback IPv6 destinations follow per-interface rules this test does not model.
        const prefixes = state.routes
          .filter((r) => r.family === family && r.table !== 255 && !r.dst.startsWith('fe80:') && r.dst !== '::1/128')
          .map((r) => r.dst);
        for (let i = 0; i < (family === 4 ? 1400 : 700); i++) {
          const q = randomQuery(family, prefixes);
          if (i % 100 === 0) q.mark = i % 200 === 0 ? 0x7777 : 0x7778;
          queries.push(q);
        }
        queries.push(...cornerQueries(family, prefixes));
      }
      for (let i = 0; i < 150; i++) queries.push(multicastQuery());
      const plain = kernelBatch(queries.map((q) => `route get ${getArgs(q)}`));
      const fibmatch = kernelBatch(queries.map((q) => `route get fibmatch ${getArgs(q)}`));
      const fmLines = queries.map((q) => `route get fibmatch ${getArgs(q)}`);
      const twinA = kernelBatch(fmLines, twin.ns);
      // Each suppress_prefixlength rule opened in turn, then throw routes made visible (with every
      // suppress_prefixlength in place: a suppressed answer lets the walk go on, as a throw does).
      const opened: { rule: ReturnType<RouteTwin['suppressRules']>[number]; answers: KernelAnswer[] }[] = [];
      for (const rule of twin.suppressRules()) {
        twin.openSuppress(rule, true);
        opened.push({ rule, answers: kernelBatch(fmLines, twin.ns) });
        twin.openSuppress(rule, false);
      }
      twin.stage('throw');
      const twinC = kernelBatch(fmLines, twin.ns);
      queries.forEach((q, i) => {
        const p = predict(state, q);
        const k = plain[i];
        const fm = fibmatch[i];
        const fam = p.family;
        const f = famFlag(fam);
        // Suppression the kernel did: without suppress_prefixlength the twin decides at a rule that has it,
        // with an ordinary route, where with it the decision came from elsewhere.
        const wa = witnessed(twin!, fam, twinA[i]);
        // What each opened rule answered, when the answer came from that very rule.
        const atOpened = opened
          .filter((o) => o.rule.family === f)
          .map((o) => ({ rule: o.rule, w: witnessed(twin!, fam, o.answers[i]) }))
          .filter((x) => x.w?.w.kind === 'lookup' && x.w.w.pref === x.rule.pref);
        if (atOpened.some((x) => x.w!.type && !REFUSING_ROUTE.has(x.w!.type) && !(wa?.w.kind === 'lookup' && wa.w.pref === x.rule.pref))) suppressed++;
        let kd: KernelDecision;
        if (!k.ok) {
          refusals++;
          kd = classifyRefusal(twin!, q, fam, k.errno, twinA[i], atOpened.map((x) => x.w!), twinC[i], members);
          if (kd.unwitnessed) {
            unwitnessed.push(`${describe(q, p)}; kernel: ${k.errno}; ${kd.how}`);
            return;
          }
          const expected = errnoOf(kd, q);
          if (expected && !expected.includes(k.errno)) witnessProblems.push(`${describe(q, p)}; kernel ${k.errno} but the twin says ${kd.decision} (${kd.how})`);
        } else {
          const kType = String(k.json.type ?? 'unicast');
          kd = { decision: kType, how: 'answered' };
          if (fm.ok && p.matched) {
            // The rule: the twin answers the same route from the copy its rule looks up.
            if (!wa || wa.r.dst !== routeFromJson(fm.json, fam).dst || wa.r.metric !== routeFromJson(fm.json, fam).metric) {
              witnessProblems.push(`${describe(q, p)}; kernel fibmatch ${JSON.stringify(fm.json)} but the twin ${twinA[i].ok ? JSON.stringify((twinA[i] as { json: unknown }).json) : (twinA[i] as { errno: string }).errno}`);
              return;
            }
            if (wa.w.kind === 'lookup' || wa.w.kind === 'action') kd.rulePref = wa.w.pref;
            else if (wa.w.kind === 'local') kd.rulePref = 0;
          }
          const hops = fm.ok ? fm.json.nexthops : undefined;
          if (Array.isArray(hops) && hops.length > 1) kernelMultipath++;
        }
        byKernelDecision[kd.decision] = (byKernelDecision[kd.decision] ?? 0) + 1;
        if (kd.rulePref !== undefined) for (const sel of selectorsOf(kernelRules.get(`${f} ${kd.rulePref}`) ?? {})) bySelector[sel] = (bySelector[sel] ?? 0) + 1;

        if (!k.ok) {
          // Multipath where some next hops fail source validation: the kernel's hash decides which answer.
          const multipathRefusal = kd.decision === 'martian' && p.decision === 'unicast' && p.refusedVia?.errno === k.errno;
          if (p.decision !== kd.decision && !multipathRefusal) {
            disagreements.push(`${describe(q, p)}; kernel: ${k.errno}, ${kd.decision}: ${kd.how}`);
            return;
          }
          if (kd.table !== undefined && kd.decision !== 'throw' && (p.table !== kd.table || !p.matched || !samePrefix(p.matched.dst, kd.route!.dst, fam) || p.matched.metric !== kd.route!.metric || p.matched.tos !== kd.route!.tos)) {
            disagreements.push(`${describe(q, p)}; kernel: ${kd.how}`);
            return;
          }
          if (kd.rulePref !== undefined && kd.decision !== 'throw' && predictedRulePref(p) !== kd.rulePref) {
            disagreements.push(`${describe(q, p)}; kernel: decided by rule ${kd.rulePref} (${kd.how})`);
          }
          return;
        }
        if (p.errno) {
          disagreements.push(`${describe(q, p)}; kernel: ${JSON.stringify(k.json)}`);
          return;
        }
        const kType = kd.decision;
        if (kType !== p.decision) {
          disagreements.push(`${describe(q, p)}; kernel type ${kType}: ${JSON.stringify(k.json)}`);
          return;
        }
        // Decided without a route (a joined group on the input path, multicast sent from the source's device):
        // fibmatch has nothing to show; the device is the answer.
        if (!p.matched) {
          if (k.json.dev !== p.dev) disagreements.push(`${describe(q, p)}; kernel dev ${String(k.json.dev)}, predicted ${p.dev}`);
          return;
        }
        // The matched route: fibmatch returns the FIB entry itself.
        if (!fm.ok) {
          disagreements.push(`${describe(q, p)}; fibmatch refused: ${fm.errno}`);
          return;
        }
        const kr = routeFromJson(fm.json, p.family);
        const m = p.matched!;
        // Without custom rules the kernel merges the local table into main and fibmatch reports table 254.
        const kTable = kr.table === 254 && m.table === 255 && !customRules ? 255 : kr.table;
        // Output multicast/broadcast: fibmatch reports the answer's type on the (unicast) route that chose the device.
        const mType = (p.decision === 'multicast' || p.decision === 'broadcast') && m.type === 'unicast' ? p.decision : m.type;
        if (kr.dst !== m.dst || kTable !== m.table || kr.type !== mType || kr.metric !== m.metric || kr.tos !== m.tos) {
          disagreements.push(`${describe(q, p)}; kernel fibmatch: ${kr.text} table ${kr.table} metric ${kr.metric}`);
          return;
        }
        if (kd.rulePref !== undefined && predictedRulePref(p) !== kd.rulePref) {
          disagreements.push(`${describe(q, p)}; kernel: decided by rule ${kd.rulePref}`);
          return;
        }
        // The preferred source of a locally sent packet: the route's, when it names one (read from the
        // kernel's JSON, not through the model's parser).
        const routeSrc = typeof fm.json.prefsrc === 'string' ? fm.json.prefsrc : undefined;
        if (!q.iif && !q.src && routeSrc) {
          prefsrcCompared++;
          if (k.json.prefsrc !== routeSrc || m.prefsrc !== routeSrc) {
            disagreements.push(`${describe(q, p)}; kernel source ${String(k.json.prefsrc)} from route src ${routeSrc}, predicted route src ${m.prefsrc ?? '-'}`);
            return;
          }
        }
        // The next hop the kernel picked must be one of the predicted ones.
        if (kType === 'unicast') {
          const kDev = k.json.dev as string | undefined;
          const kGw = k.json.gateway as string | undefined;
          const hit = p.nexthops.some((n) => n.dev === kDev && (n.gateway ?? undefined) === kGw);
          if (!hit) disagreements.push(`${describe(q, p)}; kernel next hop ${kGw ?? '-'} dev ${kDev}`);
        } else if (kType === 'multicast' && !q.iif) {
          // Sent to the group's MAC out of a device the route offers; no gateway.
          const kDev = k.json.dev as string | undefined;
          if (!p.nexthops.some((n) => n.dev === kDev) || k.json.gateway !== undefined) disagreements.push(`${describe(q, p)}; kernel dev ${kDev} gateway ${String(k.json.gateway)}`);
        }
      });
    }
    const linkdown = lastState?.routes.filter((r) => r.flags.includes('linkdown') || r.nexthops.some((n) => n.flags.includes('linkdown'))).length ?? 0;
    console.log(
      `routing-differential: ${refusals} refused by the kernel, ${kernelMultipath} answered by multipath routes, ${suppressed} suppressed by a rule, ${prefsrcCompared} preferred sources compared, ${linkdown} linkdown routes in round 1; ` +
        `kernel decisions ${JSON.stringify(byKernelDecision)}; deciding rules' selectors ${JSON.stringify(bySelector)}; ${unwitnessed.length} refusals the twin could not explain, ${witnessProblems.length} witness problems, ${disagreements.length} disagreements`,
    );
    for (const d of unwitnessed.slice(0, 5)) console.log(`  UNWITNESSED ${d}`);
    for (const d of witnessProblems.slice(0, 10)) console.log(`  WITNESS ${d}`);
    for (const d of disagreements.slice(0, 25)) console.log(`  DISAGREE ${d}`);
    assert.equal(witnessProblems.length, 0, `the twin's reading of a refusal matches the real errno (seed ${seed}); first: ${witnessProblems[0]}`);
    assert.equal(disagreements.length, 0, `predictor and kernel disagree (seed ${seed}); first: ${disagreements[0]}`);
    // A refusal the twin cannot explain is left out of the comparison; it takes a chain of suppress rules
    // in front of a refusing route. Rare, and never most of them.
    assert.ok(unwitnessed.length * 200 <= refusals, `at most 0.5 % of ${refusals} refusals unexplained by the twin: ${unwitnessed.length}; first: ${unwitnessed[0]}`);
    for (const d of ['unicast', 'local', 'broadcast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'no_route', 'martian', 'forwarding_disabled', 'multicast', 'multicast_not_joined']) {
      assert.ok((byKernelDecision[d] ?? 0) > 0, `the kernel decided '${d}' at least once: ${JSON.stringify(byKernelDecision)}`);
    }
    for (const sel of ['from', 'to', 'iif', 'oif', 'fwmark', 'tos', 'ipproto', 'sport', 'dport', 'uidrange', 'not', 'suppress_prefixlength']) {
      assert.ok((bySelector[sel] ?? 0) > 0, `the kernel decided through a rule with '${sel}': ${JSON.stringify(bySelector)}`);
    }
    assert.ok(suppressed > 0, 'the kernel suppressed a route by suppress_prefixlength');
    assert.ok(prefsrcCompared > 0, "the kernel answered a route's preferred source");
    assert.ok(kernelMultipath > 0, 'the kernel answered from multipath routes');
  } finally {
    joiner?.stdin?.end();
    joiner?.kill();
    if (process.env.CALITRACE_KEEP_NS === '1') {
      twin?.stopJoining();
      console.log(`routing-differential: kept namespaces ${NS} and ${twin?.ns} (CALITRACE_KEEP_NS=1); remove them with: ip netns del …`);
    } else {
      twin?.destroy();
      spawnSync('ip', ['netns', 'del', NS]);
    }
  }
});

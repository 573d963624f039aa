// The kernel is the judge: in a private network namespace, build random routing tables and rules, then ask
// both the kernel (`ip route get` and `ip route get fibmatch`, in batch mode) and the predictor the same
// thousands of questions. Zero disagreements allowed. The random seed is printed; replay a failure with
//   CALITRACE_SEED=<seed> node --test dist/test/integration/routing-differential.test.js
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dumpState } from '../../src/routing/sources';
import { predict } from '../../src/routing/predict';
import { routeFromJson } from '../../src/routing/iproute-json';
import type { Family, KernelErrno, Prediction, Query } from '../../src/routing/types';

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

const NS = `ctrd-${randomBytes(3).toString('hex')}`;

function ip(args: string[], input?: string): { stdout: string; stderr: string; status: number } {
  const r = spawnSync('ip', ['-n', NS, ...args], { input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

function must(args: string[]): void {
  execFileSync('ip', ['-n', NS, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

function sysctl(key: string, value: string): void {
  execFileSync('ip', ['netns', 'exec', NS, 'sysctl', '-q', '-w', `${key}=${value}`]);
}

// --- the namespace: three veth pairs, all ends up, addresses on the 'a' ends ---
const PAIRS = [0, 1, 2];
const A = PAIRS.map((i) => `v${i}a`);
const B = PAIRS.map((i) => `v${i}b`);
const LOCAL4 = PAIRS.map((i) => `10.0.${i}.1`);
const LOCAL6 = PAIRS.map((i) => `fd00:0:0:${i}::1`);

function buildNamespace(): void {
  execFileSync('ip', ['netns', 'add', NS]);
  must(['link', 'set', 'lo', 'up']);
  for (const i of PAIRS) {
    must(['link', 'add', A[i], 'type', 'veth', 'peer', 'name', B[i]]);
    must(['link', 'set', A[i], 'up']);
    must(['link', 'set', B[i], 'up']);
    must(['addr', 'add', `${LOCAL4[i]}/24`, 'dev', A[i]]);
    must(['-6', 'addr', 'add', `${LOCAL6[i]}/64`, 'dev', A[i], 'nodad']);
  }
  sysctl('net.ipv4.conf.all.forwarding', '1');
  sysctl('net.ipv6.conf.all.forwarding', '1');
  // One interface that does not forward: the input path must answer EHOSTUNREACH from it.
  sysctl(`net.ipv4.conf.${B[2]}.forwarding`, '0');
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
  if (kind < 0.35) {
    const g = gw();
    return `${f} route add ${prefix}${tos} via ${g.via} dev ${g.dev}${g.onlink ? ' onlink' : ''}${tail}`;
  }
  if (kind < 0.5) return `${f} route add ${prefix}${tos} dev ${pick(A)}${tail}`;
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
    const prios = Array.from(new Set(Array.from({ length: 14 }, () => int(10, 32000)))).sort((a, b) => a - b);
    prios.forEach((p, i) => lines.push(ruleLine(family, p, [...prios.slice(i + 1), 32766])));
    // Fixed corner: marks that reach the (empty) default table directly, or through a throw route, so every
    // run also sees ENETUNREACH as "no route" and as "thrown".
    const f = family === 4 ? '-4' : '-6';
    const all = family === 4 ? '0.0.0.0/0' : '::/0';
    lines.push(`${f} rule add pref 1 fwmark 0x7777 goto 32767`);
    lines.push(`${f} route add throw ${all} table 250`);
    lines.push(`${f} rule add pref 2 fwmark 0x7778 lookup 250`);
    lines.push(`${f} rule add pref 3 fwmark 0x7778 goto 32767`);
  }
  return lines;
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
function kernelBatch(lines: string[]): KernelAnswer[] {
  const r = ip(['-j', '-force', '-b', '-'], lines.join('\n') + '\n');
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

function describe(q: Query, p: Prediction): string {
  return `ip -n ${NS} route get ${getArgs(q)} → predicted ${p.decision}${p.errno ? ` (${p.errno})` : ''} ${p.route ?? ''} via ${JSON.stringify(p.nexthops.map((n) => `${n.gateway ?? ''}@${n.dev ?? ''}`))}`;
}

test(`routing predictor agrees with the kernel on random tables (seed ${seed})`, { timeout: 120_000 }, async () => {
  console.log(`routing-differential: seed ${seed} (replay: CALITRACE_SEED=${seed}), namespace ${NS}`);
  let joiner: ReturnType<typeof spawn> | undefined;
  try {
    buildNamespace();
    joiner = joinGroups();
    await new Promise<void>((resolve, reject) => {
      joiner!.stdout!.once('data', () => resolve());
      joiner!.once('exit', (code) => reject(new Error(`the group-joining helper exited (code ${code})`)));
    });
    let compared = 0;
    let lastState: Awaited<ReturnType<typeof dumpState>> | undefined;
    let errors = 0;
    let multipath = 0;
    const byDecision: Record<string, number> = {};
    const disagreements: string[] = [];
    for (let round = 0; round < 3; round++) {
      // Stop at the first round that disagrees, so a kept namespace (CALITRACE_KEEP_NS=1) shows its state.
      if (disagreements.length > 0) break;
      if (round > 0) {
        // Fresh tables and rules for the next round.
        for (const f of ['-4', '-6']) {
          for (const t of [...TABLES, '250']) ip([f, 'route', 'flush', 'table', t]);
          const rules = JSON.parse(ip(['-j', f, 'rule', 'show']).stdout) as { priority: number }[];
          for (const r of rules) if (![0, 32766, 32767].includes(r.priority)) ip([f, 'rule', 'del', 'pref', String(r.priority)]);
        }
        for (const i of PAIRS) {
          must(['addr', 'flush', 'dev', A[i]]);
          must(['addr', 'add', `${LOCAL4[i]}/24`, 'dev', A[i]]);
          must(['-6', 'addr', 'add', `${LOCAL6[i]}/64`, 'dev', A[i], 'nodad']);
        }
      }
      // What the kernel refuses to add (duplicates, bad gateways) simply is not there: the model is read back.
      // Round 1 runs with v1b down: v1a loses carrier and its routes are flagged linkdown (still used, as
      // ignore_routes_with_linkdown is 0 by default).
      must(['link', 'set', B[1], round === 1 ? 'down' : 'up']);
      const lines = randomState();
      for (const f of ['-4', '-6']) {
        const mine = lines.filter((l) => l.startsWith(`${f} `)).map((l) => l.slice(3));
        ip([f, '-force', '-b', '-'], mine.join('\n') + '\n');
      }
      const state = await dumpState(NS);
      if (round === 1) lastState = state;
      const customRules = state.rules.length > 5;
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
      }
      for (let i = 0; i < 150; i++) queries.push(multicastQuery());
      const plain = kernelBatch(queries.map((q) => `route get ${getArgs(q)}`));
      const fibmatch = kernelBatch(queries.map((q) => `route get fibmatch ${getArgs(q)}`));
      queries.forEach((q, i) => {
        const p = predict(state, q);
        const k = plain[i];
        const fm = fibmatch[i];
        compared++;
        byDecision[p.decision] = (byDecision[p.decision] ?? 0) + 1;
        if (!k.ok) {
          errors++;
          // Multipath where some next hops fail source validation: the kernel's hash decides which answer.
          if (p.errno !== k.errno && p.refusedVia?.errno !== k.errno) disagreements.push(`${describe(q, p)}; kernel: ${k.errno}`);
          return;
        }
        if (p.errno) {
          disagreements.push(`${describe(q, p)}; kernel: ${JSON.stringify(k.json)}`);
          return;
        }
        const kType = String(k.json.type ?? 'unicast');
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
        // The next hop the kernel picked must be one of the predicted ones.
        if (kType === 'unicast') {
          if (p.nexthops.length > 1) multipath++;
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
    console.log(`routing-differential: ${compared} cases compared, ${errors} refused by the kernel, ${multipath} multipath, ${linkdown} linkdown routes in round 1, decisions ${JSON.stringify(byDecision)}, ${disagreements.length} disagreements`);
    for (const d of disagreements.slice(0, 25)) console.log(`  DISAGREE ${d}`);
    assert.equal(disagreements.length, 0, `predictor and kernel disagree (seed ${seed}); first: ${disagreements[0]}`);
    assert.ok(compared >= 6000, 'thousands of cases compared');
    for (const d of ['unicast', 'local', 'blackhole', 'unreachable', 'prohibit', 'martian', 'forwarding_disabled', 'multicast', 'multicast_not_joined']) {
      assert.ok((byDecision[d] ?? 0) > 0, `the random tables exercised decision '${d}'`);
    }
    assert.ok((byDecision.no_route ?? 0) > 0 && (byDecision.throw ?? 0) > 0, 'ENETUNREACH both as no route and as thrown');
    assert.ok(multipath > 0, 'the random tables exercised multipath');
  } finally {
    joiner?.stdin?.end();
    joiner?.kill();
    if (process.env.CALITRACE_KEEP_NS === '1') console.log(`routing-differential: kept namespace ${NS} (CALITRACE_KEEP_NS=1); remove it with: ip netns del ${NS}`);
    else spawnSync('ip', ['netns', 'del', NS]);
  }
});

// A compiled copy of the routing state, shaped for the lookup the kernel does: per table and family,
// buckets of routes by prefix length (longest first), each a hash map from masked destination to the routes
// of that prefix in the kernel's order (tos descending, then metric ascending). Rules are kept in priority
// order with goto targets resolved, as fib_rules_lookup() walks them.

import type { CalicoRole, Family, Link, Nexthop, OuterHeader, Route, RoutingState, Rule, RuleStep } from './types';
import { mask32, parsePrefix, parseV4, parseV6, Prefix } from './addr';

export interface CRoute {
  route: Route;
  src?: Prefix;
  /** Next hops still usable (not dead). */
  alive: Nexthop[];
  // Copies of what the per-packet lookup reads, so it touches one object per route (cache-friendly).
  tos: number;
  /** blackhole/unreachable/prohibit/throw/nat: answers at once, no next hop needed. */
  answersAtOnce: boolean;
  /** No next hop at all (e.g. a local route dumped without dev). */
  noNexthops: boolean;
  /** Device of the first live next hop. */
  dev0?: string;
  /** Filled on first use by predict(): Calico meaning, VXLAN egress, outer header (same for every packet). */
  cache?: { calico?: CalicoRole; vxlan?: boolean; outer?: OuterHeader };
}

interface Bucket {
  len: number;
  masks: number[];
  map: Map<number | string, CRoute[]>;
}

interface CTable {
  id: number;
  b4: Bucket[];
  b6: Bucket[];
  /** Unicast default routes per family (the output path's fib_select_default considers them all). */
  defaults4: number;
  defaults6: number;
}

interface CRule {
  rule: Rule;
  src?: Prefix;
  dst?: Prefix;
  /** goto: index of the first rule whose priority equals the target (-1 when unresolved). */
  targetIndex: number;
  /** No selector at all (e.g. the default rules): matches every flow without looking. */
  matchesAll: boolean;
}

/** The flow as the kernel's flowi: words of addresses, interface names, selectors. */
export interface Flow {
  family: Family;
  dst: number[];
  src?: number[];
  /** 'lo' on the output path, as the kernel sets LOOPBACK_IFINDEX. */
  iif: string;
  oif?: string;
  mark: number;
  tos: number;
  ipproto: number;
  sport: number;
  dport: number;
  uid: number;
}

export type LookupKind = 'route' | 'rule-action' | 'none';

export interface LookupResult {
  /** 'route': a route decided (maybe an error type); 'rule-action': a rule's blackhole/unreachable/prohibit; 'none': ENETUNREACH. */
  kind: LookupKind;
  route?: CRoute;
  rule?: Rule;
  table?: number;
  /** A throw route was met on the way (the ENETUNREACH is then "thrown"). */
  threw?: CRoute;
  nexthops: Nexthop[];
}

export const INVALID_UID = 0xffffffff;
const ZERO = [0, 0, 0, 0];

function keyOf(w: number[], masks: number[], family: Family): number | string {
  if (family === 4) return (w[0] & masks[0]) >>> 0;
  return `${(w[0] & masks[0]) >>> 0},${(w[1] & masks[1]) >>> 0},${(w[2] & masks[2]) >>> 0},${(w[3] & masks[3]) >>> 0}`;
}

function masksFor(family: Family, len: number): number[] {
  return family === 4 ? [mask32(len)] : [0, 1, 2, 3].map((i) => mask32(len - 32 * i));
}

function containsWords(p: Prefix, w: number[]): boolean {
  for (let i = 0; i < p.w.length; i++) {
    const m = mask32(p.len - 32 * i);
    if (m === 0) return true;
    if (((w[i] & m) >>> 0) !== p.w[i]) return false;
  }
  return true;
}

export function addrWords(text: string, family: Family): number[] | undefined {
  if (family === 4) {
    const v = parseV4(text);
    return Number.isNaN(v) ? undefined : [v];
  }
  return parseV6(text);
}

const DEFAULT_RULES: Record<Family, string[]> = {
  4: ['0: from all lookup local', '32766: from all lookup main', '32767: from all lookup default'],
  6: ['0: from all lookup local', '32766: from all lookup main'],
};

export class Fib {
  readonly tables = new Map<number, CTable>();
  readonly rules: Record<Family, CRule[]> = { 4: [], 6: [] };
  readonly links = new Map<string, Link>();
  readonly local4 = new Set<number>();
  readonly local6 = new Set<string>();
  /** Rules differ from the three defaults: the kernel then validates sources with a full reverse lookup. */
  readonly customRules: Record<Family, boolean> = { 4: false, 6: false };
  /**
   * Some rule selects on ipproto/ports and is not bound to `iif lo`: only then does the kernel dissect the
   * packet for the reverse lookup of source validation (fib_rule_requires_fldissect), which then carries the
   * protocol and swapped ports; otherwise that lookup has neither.
   */
  readonly portRules: Record<Family, boolean> = { 4: false, 6: false };
  /** 'ifname|address words' of every joined multicast group; undefined when the groups are not known. */
  private readonly groups?: Set<string>;

  constructor(readonly state: RoutingState) {
    for (const l of state.links) this.links.set(l.name, l);
    if (state.memberships) {
      this.groups = new Set();
      for (const m of state.memberships) {
        const w = addrWords(m.group, m.family);
        if (w) this.groups.add(`${m.ifname}|${w.join(',')}`);
      }
    }
    for (const a of state.addresses) {
      const w = addrWords(a.address, a.family);
      if (!w) continue;
      if (a.family === 4) this.local4.add(w[0]);
      else this.local6.add(w.join(','));
    }
    for (const r of state.routes) this.addRoute(r);
    for (const t of this.tables.values()) {
      for (const buckets of [t.b4, t.b6]) {
        buckets.sort((a, b) => b.len - a.len);
        for (const b of buckets) for (const list of b.map.values()) list.sort(kernelOrder);
      }
    }
    for (const family of [4, 6] as Family[]) {
      const rules = state.rules.filter((r) => r.family === family).sort((a, b) => a.priority - b.priority);
      this.rules[family] = rules.map((rule) => ({
        rule,
        src: rule.src ? parsePrefix(rule.src, family) : undefined,
        dst: rule.dst ? parsePrefix(rule.dst, family) : undefined,
        targetIndex: rule.action === 'goto' ? rules.findIndex((t) => t.priority === rule.target) : -1,
        matchesAll:
          !rule.not && !rule.src && !rule.dst && rule.iif === undefined && rule.oif === undefined && rule.fwmark === undefined && !rule.l3mdev &&
          !rule.uidrange && !rule.tos && rule.ipproto === undefined && !rule.sport && !rule.dport,
      }));
      const texts = rules.map((r) => r.text);
      this.customRules[family] = texts.join('\n') !== DEFAULT_RULES[family].join('\n');
      this.portRules[family] = rules.some((r) => (r.ipproto !== undefined || r.sport || r.dport) && r.iif !== 'lo');
    }
  }

  private addRoute(r: Route): void {
    let t = this.tables.get(r.table);
    if (!t) {
      t = { id: r.table, b4: [], b6: [], defaults4: 0, defaults6: 0 };
      this.tables.set(r.table, t);
    }
    const p = parsePrefix(r.dst, r.family);
    if (!p) return;
    const buckets = r.family === 4 ? t.b4 : t.b6;
    let b = buckets.find((x) => x.len === p.len);
    if (!b) {
      b = { len: p.len, masks: masksFor(r.family, p.len), map: new Map() };
      buckets.push(b);
    }
    const key = keyOf(p.w, b.masks, r.family);
    let list = b.map.get(key);
    if (!list) b.map.set(key, (list = []));
    const alive = r.nexthops.filter((nh) => !nh.flags.includes('dead'));
    list.push({
      route: r,
      src: r.src ? parsePrefix(r.src, r.family) : undefined,
      alive,
      tos: r.tos,
      answersAtOnce: !['unicast', 'local', 'broadcast', 'anycast', 'multicast'].includes(r.type),
      noNexthops: r.nexthops.length === 0,
      dev0: alive[0]?.dev,
    });
    if (p.len === 0 && r.type === 'unicast') {
      if (r.family === 4) t.defaults4++;
      else t.defaults6++;
    }
  }

  isLocal(family: Family, w: number[]): boolean {
    return family === 4 ? this.local4.has(w[0]) : this.local6.has(w.join(','));
  }

  /** Whether the interface has joined the multicast group (ip_check_mc_rcu); undefined when groups are unknown. */
  joined(ifname: string, w: number[]): boolean | undefined {
    return this.groups?.has(`${ifname}|${w.join(',')}`);
  }

  tableDefaults(table: number, family: Family): number {
    const t = this.tables.get(table);
    return t ? (family === 4 ? t.defaults4 : t.defaults6) : 0;
  }

  /**
   * fib_table_lookup(): longest prefix first; within a prefix the first route whose tos fits; error types
   * (blackhole, unreachable, prohibit, throw) answer at once; a unicast route needs a live next hop (and the
   * bound oif), otherwise the lookup backtracks to shorter prefixes.
   */
  lookupTable(tableId: number, f: Flow): CRoute | undefined {
    const t = this.tables.get(tableId);
    if (!t) return undefined;
    const v4 = f.family === 4;
    const buckets = v4 ? t.b4 : t.b6;
    const d0 = f.dst[0];
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i];
      const list = b.map.get(v4 ? (d0 & b.masks[0]) >>> 0 : keyOf(f.dst, b.masks, 6));
      if (list === undefined) continue;
      for (let j = 0; j < list.length; j++) {
        const c = list[j];
        if (c.tos !== 0 && c.tos !== f.tos) continue;
        if (c.src !== undefined && !containsWords(c.src, f.src ?? ZERO)) continue;
        if (c.answersAtOnce) return c;
        if (c.alive.length === 0) {
          if (c.noNexthops) return c;
          continue;
        }
        if (f.oif !== undefined && !c.alive.some((nh) => nh.dev === f.oif)) continue;
        return c;
      }
    }
    return undefined;
  }

  private ruleMatches(c: CRule, f: Flow): boolean {
    if (c.matchesAll) return true;
    const r = c.rule;
    let ok = true;
    if (r.iif !== undefined && r.iif !== f.iif) ok = false;
    else if (r.oif !== undefined && r.oif !== f.oif) ok = false;
    else if (r.fwmark !== undefined && ((((r.fwmark ^ f.mark) & (r.fwmask ?? 0xffffffff)) >>> 0) !== 0)) ok = false;
    else if (r.l3mdev) ok = false; // no VRFs modelled: an l3mdev rule only matches flows bound to a VRF device
    else if (r.uidrange && (f.uid < r.uidrange[0] || f.uid > r.uidrange[1])) ok = false;
    else if (c.src && !containsWords(c.src, f.src ?? ZERO)) ok = false;
    else if (c.dst && !containsWords(c.dst, f.dst)) ok = false;
    else if (r.tos !== 0 && r.tos !== f.tos) ok = false;
    else if (r.ipproto !== undefined && r.ipproto !== f.ipproto) ok = false;
    else if (r.sport && (f.sport < r.sport[0] || f.sport > r.sport[1])) ok = false;
    else if (r.dport && (f.dport < r.dport[0] || f.dport > r.dport[1])) ok = false;
    return r.not ? !ok : ok;
  }

  /** fib_rules_lookup(): the rule walk. `trace` collects a step per rule looked at (explain only). */
  lookup(f: Flow, trace?: RuleStep[]): LookupResult {
    const rules = this.rules[f.family];
    let threw: CRoute | undefined;
    for (let i = 0; i < rules.length; i++) {
      let c = rules[i];
      for (;;) {
        if (!this.ruleMatches(c, f)) {
          if (trace) trace.push({ priority: c.rule.priority, rule: c.rule.text, matched: false, outcome: 'no match' });
          break;
        }
        if (c.rule.action === 'goto') {
          if (c.targetIndex < 0) {
            if (trace) trace.push({ priority: c.rule.priority, rule: c.rule.text, matched: true, outcome: 'goto target missing: skipped' });
            break;
          }
          if (trace) trace.push({ priority: c.rule.priority, rule: c.rule.text, matched: true, outcome: `goto ${c.rule.target}` });
          i = c.targetIndex;
          c = rules[i];
          continue;
        }
        if (c.rule.action === 'nop') {
          if (trace) trace.push({ priority: c.rule.priority, rule: c.rule.text, matched: true, outcome: 'nop' });
          break;
        }
        if (c.rule.action !== 'lookup') {
          if (trace) trace.push({ priority: c.rule.priority, rule: c.rule.text, matched: true, outcome: `rule action ${c.rule.action}` });
          return { kind: 'rule-action', rule: c.rule, nexthops: [], threw };
        }
        const table = c.rule.table ?? 254;
        const hit = this.lookupTable(table, f);
        if (!hit) {
          if (trace) trace.push({ priority: c.rule.priority, rule: c.rule.text, matched: true, outcome: `table ${table}: no route` });
          break;
        }
        const rt = hit.route;
        if (rt.type === 'throw') {
          threw = hit;
          if (trace) trace.push({ priority: c.rule.priority, rule: c.rule.text, matched: true, outcome: `table ${table}: throw route ${rt.text}: continue with the next rule` });
          break;
        }
        const isError = rt.type === 'blackhole' || rt.type === 'unreachable' || rt.type === 'prohibit';
        if (!isError && c.rule.suppressPrefixlen !== undefined && rt.prefixLen <= c.rule.suppressPrefixlen) {
          if (trace) trace.push({ priority: c.rule.priority, rule: c.rule.text, matched: true, outcome: `table ${table}: ${rt.text} suppressed (prefix length ${rt.prefixLen} <= ${c.rule.suppressPrefixlen})` });
          break;
        }
        if (!isError && c.rule.suppressIfgroup !== undefined) {
          const dev = hit.alive[0]?.dev;
          const group = dev ? this.links.get(dev)?.group : undefined;
          if (group === c.rule.suppressIfgroup) {
            if (trace) trace.push({ priority: c.rule.priority, rule: c.rule.text, matched: true, outcome: `table ${table}: ${rt.text} suppressed (interface group ${group})` });
            break;
          }
        }
        if (trace) trace.push({ priority: c.rule.priority, rule: c.rule.text, matched: true, outcome: `table ${table}: ${rt.text}` });
        const nexthops = f.oif !== undefined ? hit.alive.filter((nh) => nh.dev === f.oif) : hit.alive;
        return { kind: 'route', route: hit, rule: c.rule, table, nexthops, threw };
      }
    }
    return { kind: 'none', nexthops: [], threw };
  }

  /** Every route of every table that contains the destination (for the explanation), longest first. */
  containing(family: Family, dst: number[]): CRoute[] {
    const out: CRoute[] = [];
    for (const t of this.tables.values()) {
      for (const b of family === 4 ? t.b4 : t.b6) {
        const list = b.map.get(keyOf(dst, b.masks, family));
        if (list) out.push(...list);
      }
    }
    return out.sort((a, b) => b.route.prefixLen - a.route.prefixLen || kernelOrder(a, b));
  }
}

function kernelOrder(a: CRoute, b: CRoute): number {
  const ra = a.route;
  const rb = b.route;
  return (
    (b.src?.len ?? 0) - (a.src?.len ?? 0) || (ra.family === 4 ? rb.tos - ra.tos : 0) || ra.metric - rb.metric
  );
}

const cache = new WeakMap<RoutingState, Fib>();

/** The compiled form of a state, built once per state object (the live model swaps the object on change). */
export function compile(state: RoutingState): Fib {
  let fib = cache.get(state);
  if (!fib) {
    fib = new Fib(state);
    cache.set(state, fib);
  }
  return fib;
}

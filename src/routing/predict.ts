// The kernel's route decision for a query, predicted from the model with the kernel's semantics:
// ip_route_output_key_hash_rcu() (no iif: a locally generated packet) and ip_route_input_slow() (with iif:
// a forwarded packet, including martian checks, forwarding and reverse-path source validation), both over
// fib_rules_lookup() + fib_table_lookup() (see fib.ts). IPv6 follows the same rule walk and table lookup.

import type {
  Candidate,
  Link,
  Decision,
  Family,
  KernelErrno,
  Nexthop,
  OuterHeader,
  Prediction,
  Query,
  RouteModel,
  RoutingState,
} from './types';
import { compile, CRoute, Fib, Flow, INVALID_UID, LookupResult, addrWords } from './fib';
import { familyOf, formatV4, parseV4 } from './addr';
import { calicoRole, isVxlanDev } from './calico';

/** The decision alone: what the fast path (per packet) needs. */
export interface CoreAnswer {
  family: Family;
  decision: Decision;
  errno?: KernelErrno;
  result?: LookupResult;
  /** Why a martian / refusal happened, when it is not the route itself. */
  note?: string;
  /** Multipath next hops the kernel would refuse if its hash picked them (source validation). */
  refused?: { nexthops: Nexthop[]; errno: KernelErrno };
  /** The device, for decisions the kernel makes without a route (multicast). */
  dev?: string;
}

const ERROR_OF: Partial<Record<Decision, KernelErrno>> = {
  blackhole: 'EINVAL',
  unreachable: 'EHOSTUNREACH',
  prohibit: 'EACCES',
  throw: 'ENETUNREACH',
  no_route: 'ENETUNREACH',
  martian: 'EINVAL',
  forwarding_disabled: 'EHOSTUNREACH',
  multicast_not_joined: 'EINVAL',
};

export class QueryError extends Error {}

function stateOf(m: RouteModel | RoutingState): RoutingState {
  return 'state' in m && typeof (m as RouteModel).load === 'function' ? (m as RouteModel).state : (m as RoutingState);
}

function flowOf(q: Query, family: Family, dst: number[], src: number[] | undefined): Flow {
  return {
    family,
    dst,
    src,
    iif: q.iif ?? 'lo',
    oif: q.oif,
    mark: q.mark ?? 0,
    tos: q.tos ?? 0,
    ipproto: q.ipproto ?? 0,
    sport: q.sport ?? 0,
    dport: q.dport ?? 0,
    // Input path: IPv4 rebuilds the flow with flowi4_uid = sock_net_uid(net, NULL) (0, root); IPv6 keeps the
    // query's flow, whose uid is INVALID_UID. Output path: the caller's uid (root for `ip route get`).
    uid: q.iif ? (family === 4 ? 0 : INVALID_UID) : q.uid ?? 0,
  };
}

/** Turns a failed lookup into the kernel's decision and errno. */
function failed(family: Family, res: LookupResult): CoreAnswer {
  if (res.kind === 'rule-action') {
    const a = res.rule!.action;
    const decision = a as Decision;
    return { family, decision, errno: a === 'unreachable' ? 'ENETUNREACH' : ERROR_OF[decision], result: res };
  }
  if (res.kind === 'none') {
    const decision: Decision = res.threw ? 'throw' : 'no_route';
    return { family, decision, errno: 'ENETUNREACH', result: res };
  }
  const t = res.route!.route.type as Decision;
  return { family, decision: t, errno: ERROR_OF[t], result: res };
}

function isErrorResult(res: LookupResult): boolean {
  if (res.kind !== 'route') return true;
  const t = res.route!.route.type;
  return t === 'blackhole' || t === 'unreachable' || t === 'prohibit';
}

function v4Class(a: number): 'multicast' | 'lbcast' | 'zeronet' | 'loopback' | 'ok' {
  if (a === 0xffffffff) return 'lbcast';
  if (a >>> 28 === 0xe) return 'multicast';
  if (a >>> 24 === 0) return 'zeronet';
  if (a >>> 24 === 127) return 'loopback';
  return 'ok';
}

/**
 * fib_validate_source(): the reverse lookup of the source from the incoming interface's point of view.
 * Returns undefined when the source is acceptable, else the errno.
 */
function validateSource(fib: Fib, q: Query, f: Flow, oifDev: string | undefined, link: Link | undefined, revSrc: number[] = f.dst): KernelErrno | undefined {
  const inDev = q.iif!;
  const rpf = link?.rpFilter ?? 0;
  const src = f.src!;
  // Fast path of the kernel: no rp_filter, and not a hairpin that could send redirects.
  if (rpf === 0 && inDev !== oifDev && !fib.customRules[f.family]) {
    return fib.isLocal(f.family, src) ? 'EINVAL' : undefined;
  }
  const portsKept = fib.portRules[f.family];
  const rev: Flow = {
    family: f.family,
    dst: src,
    src: revSrc,
    iif: oifDev ?? 'lo',
    mark: 0,
    tos: f.tos,
    ipproto: portsKept ? f.ipproto : 0,
    sport: portsKept ? f.dport : 0,
    dport: portsKept ? f.sport : 0,
    uid: 0,
  };
  const res = fib.lookup(rev);
  if (isErrorResult(res)) return rpf ? 'EXDEV' : undefined;
  const t = res.route!.route.type;
  if (t !== 'unicast') return 'EINVAL';
  if (res.nexthops.some((nh) => nh.dev === inDev)) return undefined;
  const hasAddr = fib.state.addresses.some((a) => a.family === 4 && a.ifname === inDev);
  if (!hasAddr) return rpf ? 'EXDEV' : undefined;
  if (rpf === 1) return 'EXDEV';
  return undefined;
}

/** The decision for a query, without the explanation's extras. Throws QueryError for unusable input. */
export function decide(fib: Fib, q: Query): CoreAnswer {
  // IPv4 first without a family probe: the per-packet path is mostly IPv4.
  const d4 = parseV4(q.dst);
  const family: Family | undefined = Number.isNaN(d4) ? familyOf(q.dst) : 4;
  if (!family) throw new QueryError(`'${q.dst}' is not an IP address`);
  // A dotted text that is no IPv4 address (10.0.0.300) has family 4 but no words.
  const dst = family === 4 ? (Number.isNaN(d4) ? undefined : [d4]) : addrWords(q.dst, family);
  if (!dst) throw new QueryError(`'${q.dst}' is not an IP address`);
  let src: number[] | undefined;
  const s4 = family === 4 && q.src !== undefined ? parseV4(q.src) : NaN;
  if (!Number.isNaN(s4)) src = [s4];
  else if (q.src !== undefined) {
    if (!familyOf(q.src)) throw new QueryError(`'${q.src}' is not an IP address`);
    if (familyOf(q.src) !== family) throw new QueryError(`source ${q.src} and destination ${q.dst} are not the same IP family`);
    src = addrWords(q.src, family);
    if (!src) throw new QueryError(`'${q.src}' is not an IP address`);
  }
  const inLink = q.iif !== undefined ? fib.links.get(q.iif) : undefined;
  if (q.iif !== undefined && inLink === undefined && fib.state.complete.links) {
    throw new QueryError(`no interface '${q.iif}' in this namespace (see: ip link)`);
  }
  const f = flowOf(q, family, dst, src);
  return family === 4 ? decideV4(fib, q, f, inLink) : decideV6(fib, q, f);
}

function decideV4(fib: Fib, q: Query, f: Flow, link: Link | undefined): CoreAnswer {
  const family = 4;
  const s = f.src ? f.src[0] : 0;
  const d = f.dst[0];
  if (q.iif === undefined) {
    // Output path: a given source must be one of this node's addresses.
    if (f.src) {
      const c = v4Class(s);
      if (c === 'multicast' || c === 'lbcast' || c === 'zeronet') return { family, decision: 'martian', errno: 'EINVAL', note: `source ${q.src} is not a unicast address` };
      // The kernel answers ENETUNREACH here (rth = ERR_PTR(-ENETUNREACH) before the __ip_dev_find() check).
      // From a paste only the addresses its routes name (`src`) are known; it says so among its unknowns.
      if ((fib.state.complete.addresses ?? fib.state.complete.links) && !fib.isLocal(4, f.src)) return { family, decision: 'martian', errno: 'ENETUNREACH', note: `source ${q.src} is not an address of this node` };
    }
    const dcOut = v4Class(d);
    // A multicast or limited-broadcast packet with a source address goes out of the device that owns the
    // source, without a route lookup (ip_route_output_key_hash_rcu's "special hack").
    if (f.src && (dcOut === 'multicast' || dcOut === 'lbcast')) {
      const owner = fib.state.addresses.find((a) => a.family === 4 && a.address === q.src)?.ifname;
      if (owner) return { family, decision: dcOut === 'multicast' ? 'multicast' : 'broadcast', dev: owner };
    }
    const res = fib.lookup(f);
    if (res.kind !== 'route' || isErrorResult(res)) return failed(family, res);
    // __mkroute_output(): the route only picks the device; the address class sets the type.
    if (dcOut === 'multicast' && res.route!.route.type === 'unicast') return { family, decision: 'multicast', result: res };
    if (dcOut === 'lbcast' && res.route!.route.type === 'unicast') return { family, decision: 'broadcast', result: res };
    return { family, decision: res.route!.route.type as Decision, result: res };
  }
  const sc = v4Class(s);
  const dc = v4Class(d);
  // ip_route_input_rcu(): a multicast destination never reaches the route lookup.
  if (dc === 'multicast') return multicastInputV4(fib, q, f, link, s, sc);
  // Input path (ip_route_input_slow).
  if (sc === 'multicast' || sc === 'lbcast') return { family, decision: 'martian', errno: 'EINVAL', note: 'martian source (multicast or broadcast)' };
  if (dc === 'lbcast' || (s === 0 && d === 0)) {
    // brd_input: delivered here (dev lo) once the source passes validation (against destination 0.0.0.0).
    const bad = s !== 0 ? validateSource(fib, q, f, undefined, link, [0]) : undefined;
    if (bad) return { family, decision: 'martian', errno: bad, note: `source ${q.src} fails source validation on ${q.iif}` };
    return { family, decision: 'broadcast', note: 'limited broadcast', dev: 'lo' };
  }
  if (sc === 'zeronet') return { family, decision: 'martian', errno: 'EINVAL', note: `martian source ${formatV4(s)} (give a source address with 'from')` };
  // 0.0.0.0/8 destinations are routed like any other on current kernels (no martian check for them).
  if (dc === 'loopback') return { family, decision: 'martian', errno: 'EINVAL', note: 'martian destination (loopback) ' };
  if (sc === 'loopback') return { family, decision: 'martian', errno: 'EINVAL', note: 'martian source (loopback)' };
  const forwarding = link?.forwarding4 ?? true;
  const res = fib.lookup(f);
  if (res.kind !== 'route' || isErrorResult(res)) {
    if (!forwarding) return { family, decision: 'forwarding_disabled', errno: 'EHOSTUNREACH', result: res, note: `forwarding is off on ${q.iif}` };
    return failed(family, res);
  }
  const type = res.route!.route.type;
  if (type === 'broadcast') {
    // brd_input: the source is validated too (against destination 0.0.0.0).
    const bad = s !== 0 ? validateSource(fib, q, f, undefined, link, [0]) : undefined;
    if (bad) return { family, decision: 'martian', errno: bad, result: res, note: `source ${q.src} fails source validation on ${q.iif}` };
    return { family, decision: 'broadcast', result: res };
  }
  if (type === 'local') {
    const bad = validateSource(fib, q, f, undefined, link);
    if (bad) return { family, decision: 'martian', errno: bad, result: res, note: `source ${q.src} fails source validation on ${q.iif}` };
    return { family, decision: 'local', result: res };
  }
  if (!forwarding) return { family, decision: 'forwarding_disabled', errno: 'EHOSTUNREACH', result: res, note: `forwarding is off on ${q.iif}` };
  if (type !== 'unicast') return { family, decision: 'martian', errno: 'EINVAL', result: res, note: `martian destination (route type ${type})` };
  // Source validation uses the egress device of the next hop the kernel picks; with multipath over several
  // devices the answer can depend on the hash, so each device is checked.
  if (res.nexthops.length <= 1) {
    const bad = validateSource(fib, q, f, res.route!.dev0, link);
    if (!bad) return { family, decision: 'unicast', result: res };
    const why = bad === 'EXDEV' ? 'reverse-path filter' : 'martian source';
    return { family, decision: 'martian', errno: bad, result: res, note: `source ${q.src} refused on ${q.iif} (${why})` };
  }
  const verdicts = new Map<string | undefined, KernelErrno | undefined>();
  for (const nh of res.nexthops) if (!verdicts.has(nh.dev)) verdicts.set(nh.dev, validateSource(fib, q, f, nh.dev, link));
  const pass = res.nexthops.filter((nh) => !verdicts.get(nh.dev));
  const fail = res.nexthops.filter((nh) => verdicts.get(nh.dev));
  if (fail.length > 0) {
    const bad = verdicts.get(fail[0].dev)!;
    const why = bad === 'EXDEV' ? 'reverse-path filter' : 'martian source';
    if (pass.length === 0) return { family, decision: 'martian', errno: bad, result: res, note: `source ${q.src} refused on ${q.iif} (${why})` };
    return {
      family,
      decision: 'unicast',
      result: { ...res, nexthops: pass },
      refused: { nexthops: fail, errno: bad },
      note: `multipath: if the kernel's hash picks ${fail.map((n) => n.dev).join('/')}, source ${q.src} is refused (${why}, ${bad})`,
    };
  }
  return { family, decision: 'unicast', result: res };
}

/**
 * ip_check_mc_rcu() + ip_route_input_mc(): the packet is accepted only when the incoming interface has joined
 * the group (we do not model multicast routing: a node running a multicast router would forward others too).
 */
function multicastInputV4(fib: Fib, q: Query, f: Flow, link: Link | undefined, s: number, sc: ReturnType<typeof v4Class>): CoreAnswer {
  const family = 4;
  const group = formatV4(f.dst[0]);
  const known = fib.joined(q.iif!, f.dst);
  // Every IPv4 interface is in 224.0.0.1 (all hosts); other groups are unknown without `ip maddr`.
  const joined = known ?? f.dst[0] === ALL_HOSTS;
  if (!joined) return notJoined(4, q.iif!, group, known);
  const localMc = f.dst[0] >>> 8 === 0xe00000; // 224.0.0.0/24: link-local control (IGMP, OSPF, …)
  if (sc === 'zeronet') {
    if (!localMc && f.ipproto !== 2) return { family, decision: 'martian', errno: 'EINVAL', note: `martian source ${formatV4(s)} for multicast group ${group}` };
    return { family, decision: 'multicast', dev: 'lo' };
  }
  if (sc === 'multicast' || sc === 'lbcast') return { family, decision: 'martian', errno: 'EINVAL', note: 'martian source (multicast or broadcast)' };
  if (sc === 'loopback') return { family, decision: 'martian', errno: 'EINVAL', note: 'martian source (loopback)' };
  const bad = validateSource(fib, q, f, undefined, link, [0]);
  if (bad) return { family, decision: 'martian', errno: bad, note: `source ${q.src} fails source validation on ${q.iif}` };
  return { family, decision: 'multicast', dev: 'lo' };
}

const ALL_HOSTS = 0xe0000001;

/** A group the incoming interface has not joined (`known` undefined: the group lists are not known). */
function notJoined(family: Family, iif: string, group: string, known: boolean | undefined): CoreAnswer {
  const note =
    known === undefined
      ? `multicast group ${group}: whether ${iif} joined it is not known here (see \`ip maddr show dev ${iif}\`); assumed not`
      : `${iif} has not joined multicast group ${group} (\`ip maddr show dev ${iif}\`), so the kernel discards it${family === 4 ? ' before routing' : ''}`;
  // IPv6 has no errno: `ip -6 route get` answers the ff00::/8 multicast route; the membership check
  // (ip6_mc_input) comes after that lookup.
  return family === 4 ? { family, decision: 'multicast_not_joined', errno: 'EINVAL', note } : { family, decision: 'multicast_not_joined', note };
}

function decideV6(fib: Fib, q: Query, f: Flow): CoreAnswer {
  // ip6_mc_input(): a multicast destination is delivered only when the incoming interface joined the group.
  if (q.iif !== undefined && f.dst[0] >>> 24 === 0xff) {
    const known = fib.joined(q.iif, f.dst);
    // ff02::1 (all nodes) is joined by every IPv6 interface.
    const joined = known ?? (f.dst[0] === 0xff020000 && f.dst[1] === 0 && f.dst[2] === 0 && f.dst[3] === 1);
    if (!joined) return notJoined(6, q.iif, q.dst, known);
    return { family: 6, decision: 'multicast', dev: 'lo' };
  }
  const res = fib.lookup(f);
  if (res.kind !== 'route' || isErrorResult(res)) return failed(6, res);
  return { family: 6, decision: res.route!.route.type as Decision, result: res };
}

/** The full prediction: decision, matched route, next hops, candidates, Calico meaning, VXLAN outer header. */
export interface PredictOptions {
  /**
   * false: skip what only a reader needs (the candidates in every table and the rule trace); the decision,
   * route, next hops, Calico meaning, VXLAN outer header and egress path are the same. For per-packet use.
   */
  detail?: boolean;
}

export function predict(model: RouteModel | RoutingState, q: Query, opts: PredictOptions = {}): Prediction {
  const detail = opts.detail !== false;
  const state = stateOf(model);
  const fib = compile(state);
  const ans = decide(fib, q);
  const res = ans.result;
  const c = res?.kind === 'route' ? res.route : undefined;
  const p: Prediction = {
    query: q,
    family: ans.family,
    decision: ans.decision,
    errno: ans.errno,
    table: res?.table,
    route: c?.route.text,
    matched: c?.route,
    rule: res?.rule?.text,
    nexthops: [],
    candidates: [],
    rulesWalked: [],
    calico: c ? ((c.cache ??= {}).calico ??= calicoRole(c.route, fib.links)) : undefined,
    egressPath: [],
    warnings: [],
    refusedVia: ans.refused,
  };
  if (ans.note) p.warnings!.push(ans.note);
  // Re-walk with a trace for the explanation (cheap next to a human reading it).
  const dst = addrWords(q.dst, ans.family)!;
  if (detail) fib.lookup(flowOf(q, ans.family, dst, q.src ? addrWords(q.src, ans.family) : undefined), p.rulesWalked);
  const routeDecided = ans.decision === 'unicast' || ans.decision === 'local' || ans.decision === 'broadcast' || ans.decision === 'anycast' || ans.decision === 'multicast';
  if (c && routeDecided) {
    let nhs = res!.nexthops;
    // Output path, several default routes in the table: the kernel's fib_select_default() picks among them
    // by neighbour state, so every default route's next hops are possible.
    // (fib_select_path() skips it for a socket bound to a device: the lookup already kept that device's hop.)
    if (!q.iif && !q.oif && c.route.prefixLen === 0 && c.route.type === 'unicast' && fib.tableDefaults(c.route.table, ans.family) > 1) {
      nhs = fib
        .containing(ans.family, dst)
        .filter((x) => x.route.table === c.route.table && x.route.prefixLen === 0 && x.route.type === 'unicast')
        .flatMap((x) => x.alive);
      p.warnings!.push('several default routes in this table: the kernel picks one by neighbour reachability');
    }
    p.nexthops = nhs;
    // Delivered here: the kernel's answer names lo (`ip route get 10.0.0.255 iif eth0` says `dev lo`).
    if (ans.decision === 'local' || (ans.decision === 'broadcast' && q.iif)) p.dev = 'lo';
    else if ((ans.decision === 'multicast' || ans.decision === 'broadcast') && !q.iif) {
      // Sent out of the route's device (the sender's, when it named one: q.oif) to the group's (or
      // everyone's) MAC: no gateway. IPv6 as IPv4: MLD reports and neighbour solicitations leave too.
      p.dev = nhs[0]?.dev;
      p.egressPath = p.dev ? [p.dev] : [];
    } else {
      p.dev = nhs[0]?.dev;
      p.gateway = nhs.length === 1 ? nhs[0].gateway : undefined;
    }
    if (ans.decision === 'unicast') {
      p.egressPath = p.dev ? [p.dev] : [];
      const cache = (c.cache ??= {});
      if (nhs.length === 1 && (cache.vxlan ??= isVxlanDev(c.dev0, fib.links)) && nhs[0] === c.alive[0]) {
        // The chain gateway → neighbour → FDB → underlay is the same for every packet of this route.
        // (A copy: a consumer editing its prediction must not edit the cache.)
        if (nhs[0].gateway) p.outer = { ...(cache.outer ??= outerHeader(fib, nhs[0], q)) };
        else p.outer = outerHeader(fib, nhs[0], q);
        if (p.outer.underlayDev) p.egressPath = [p.dev!, p.outer.underlayDev];
        else {
          // A broken chain (no VTEP neighbour or FDB entry) still means the packet is meant to leave through
          // the device the VXLAN device sends on: so a drop inside the VXLAN device is the node's, not beyond it.
          const under = vxlanUnderlay(fib, p.dev!);
          if (under) p.egressPath = [p.dev!, under];
        }
        const mtuNote = mtuWarning(fib, q, p.outer);
        if (mtuNote) p.warnings!.push(mtuNote);
      }
    }
  }
  // Decided without a route: a joined group delivered here (dev lo, as `ip route get … iif` shows), or
  // multicast sent from the device that owns the source.
  if (!c && ans.dev) {
    p.dev = ans.dev;
    if (!q.iif) p.egressPath = [ans.dev];
  }
  if (detail) p.candidates = candidatesOf(fib, ans.family, dst, c, p.rulesWalked);
  if (!state.complete.rules) {
    p.unknowns = [
      'ip rules: a pasted `ip route` has no rules, so only the main table was consulted (as with the default rules)',
      'neighbours and the VXLAN FDB: the outer header of a VXLAN packet (remote node IP) cannot be derived',
      'interface state (up/down, MTU, forwarding, rp_filter): assumed up, forwarding on, rp_filter off',
      'the local table (addresses of this node): a destination that is a node address is not recognised as local',
      `the node's addresses: only those the routes name with \`src\` (${state.addresses.map((a) => a.address).join(', ') || 'none in this paste'}); a SRC that is none of them is taken as not an address of this node`,
      'multicast group memberships (`ip maddr`): a multicast packet is assumed not joined, except all-hosts 224.0.0.1 / ff02::1',
    ];
  }
  return p;
}

function candidatesOf(fib: Fib, family: Family, dst: number[], chosen: CRoute | undefined, walked: Prediction['rulesWalked']): Candidate[] {
  const consulted = new Set<number>();
  for (const s of walked) {
    const m = /^table (\S+):/.exec(s.outcome);
    if (m) consulted.add(Number(m[1]));
  }
  const all = fib.containing(family, dst);
  return all.map((x) => {
    const r = x.route;
    let verdict: Candidate['verdict'] = 'shadowed';
    let reason = '';
    if (x === chosen) {
      verdict = 'selected';
      reason = `longest matching prefix (/${r.prefixLen}) in table ${r.table}`;
    } else if (!consulted.has(r.table)) {
      verdict = 'not-consulted';
      reason = `table ${r.table} was not consulted: no rule led to it before a decision`;
    } else if (chosen && chosen.route.table === r.table) {
      if (r.prefixLen < chosen.route.prefixLen) reason = `less specific (/${r.prefixLen}) than the selected /${chosen.route.prefixLen}`;
      else if (r.tos !== 0 && r.tos !== (chosen.route.tos ?? 0)) reason = `tos 0x${r.tos.toString(16)} does not match the packet`;
      else if (r.prefixLen === chosen.route.prefixLen && r.metric > chosen.route.metric) reason = `same prefix, higher metric (${r.metric} > ${chosen.route.metric})`;
      else if (x.alive.length === 0 && r.nexthops.length > 0) reason = 'all next hops are dead';
      else reason = 'not selected';
    } else if (chosen) {
      reason = `table ${r.table} was consulted, but table ${chosen.route.table} decided (${r.prefixLen > chosen.route.prefixLen ? 'rule order, not prefix length, picks the table' : 'earlier rule'})`;
      verdict = 'skipped';
    } else {
      reason = 'no decision from this route';
      verdict = 'skipped';
    }
    return { route: r.text, table: r.table, prefixLen: r.prefixLen, metric: r.metric, type: r.type, calico: calicoRole(r, fib.links), verdict, reason };
  });
}

/** gateway → neighbour (MAC) → FDB (remote VTEP IP) → underlay route → outer header. */
export function outerHeader(fib: Fib, nh: Nexthop, q: Query): OuterHeader {
  const dev = nh.dev!;
  const link = fib.links.get(dev);
  const vx = link?.vxlan;
  const out: OuterHeader = { vxlanDev: dev, vni: vx?.vni, dstPort: vx?.port, overhead: 50, missing: [] };
  if (!vx) out.missing.push(`no VXLAN details for ${dev} (ip -d link show ${dev})`);
  const target = nh.gateway ?? q.dst;
  const neigh = fib.state.neighbours.find((n) => n.dev === dev && n.dst === target);
  if (!neigh?.lladdr) {
    out.missing.push(`no neighbour entry for ${target} on ${dev} (Calico adds a permanent one per remote VTEP)`);
    return out;
  }
  out.innerDstMac = neigh.lladdr;
  const fdb = fib.state.fdb.find((e) => e.dev === dev && e.mac.toLowerCase() === neigh.lladdr!.toLowerCase() && e.dst);
  if (!fdb?.dst) {
    out.missing.push(`no FDB entry for ${neigh.lladdr} on ${dev} (bridge fdb show dev ${dev})`);
    return out;
  }
  out.dst = fdb.dst;
  if (fdb.vni) out.vni = fdb.vni;
  if (fdb.port) out.dstPort = fdb.port;
  if (fdb.dst.includes(':')) out.overhead = 70;
  const under = decide(fib, { dst: fdb.dst, src: vx?.local });
  const ur = under.result?.kind === 'route' ? under.result : undefined;
  if (!ur || under.decision !== 'unicast') {
    out.missing.push(`no underlay route to ${fdb.dst} (${under.decision})`);
    out.src = vx?.local;
    return out;
  }
  const unh = ur.nexthops[0];
  out.underlayDev = unh?.dev;
  out.underlayGateway = unh?.gateway;
  out.underlayRoute = ur.route!.route.text;
  out.src = vx?.local ?? ur.route!.route.prefsrc ?? fib.state.addresses.find((a) => a.ifname === unh?.dev && a.family === (fdb.dst!.includes(':') ? 6 : 4))?.address;
  out.underlayMtu = unh?.dev ? fib.links.get(unh.dev)?.mtu : undefined;
  return out;
}

/** The device a VXLAN device sends its outer packets on: its `dev`, else the owner of its `local` address. */
function vxlanUnderlay(fib: Fib, dev: string): string | undefined {
  const vx = fib.links.get(dev)?.vxlan;
  if (!vx) return undefined;
  if (vx.dev) return vx.dev;
  return vx.local ? fib.state.addresses.find((a) => a.address === vx.local)?.ifname : undefined;
}

function mtuWarning(fib: Fib, q: Query, o: OuterHeader): string | undefined {
  if (o.underlayMtu === undefined) return undefined;
  const inner = (q.iif ? fib.links.get(q.iif)?.mtu : undefined) ?? fib.links.get(o.vxlanDev)?.mtu;
  if (inner === undefined) return undefined;
  if (inner + o.overhead > o.underlayMtu) {
    return `MTU: a full-size ${inner}-byte packet from ${q.iif ?? o.vxlanDev} becomes ${inner + o.overhead} bytes with VXLAN (+${o.overhead}), more than ${o.underlayDev}'s MTU ${o.underlayMtu}: it will be fragmented or dropped (Calico sets pod and vxlan.calico MTU to underlay − ${o.overhead})`;
  }
  return undefined;
}

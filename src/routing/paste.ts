// Reads routes a user pasted: `ip route` text (as typed on a node, with prompts, blank lines, notes and
// repeated blocks tolerated) or `ip -j route` JSON. A paste has no rules, neighbours, FDB or link state;
// the resulting state says so (complete.* = false) and the prediction lists what cannot be known.

import type { Nexthop, Route, RouteType, RoutingState } from './types';
import { formatRoute, routeFromJson, tableId } from './iproute-json';
import { parsePrefix, formatPrefix } from './addr';

const TYPES = new Set(['unicast', 'local', 'broadcast', 'anycast', 'multicast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat']);
const VALUE_KEYS = new Set(['from', 'tos', 'dsfield', 'via', 'dev', 'table', 'proto', 'scope', 'src', 'metric', 'mtu', 'advmss', 'weight', 'pref', 'realm', 'realms', 'expires', 'hoplimit', 'initcwnd', 'initrwnd', 'rtt', 'rttvar', 'features', 'quickack', 'congctl', 'nhid', 'encap', 'window', 'fastopen_no_cookie', 'ttl-propagate', 'cwnd', 'ssthresh', 'reordering', 'lock']);
const FLAGS = new Set(['onlink', 'pervasive', 'linkdown', 'dead', 'offload', 'trap', 'notify', 'rt_offload', 'rt_trap']);

export interface PasteResult {
  state: RoutingState;
  /** Lines that were not routes (kept so the user can see what was skipped). */
  ignored: string[];
  /** How many route lines were repeats of an earlier one (a block pasted twice). */
  duplicates: number;
}

function looksLikeRouteStart(tok: string): boolean {
  if (TYPES.has(tok) || tok === 'default') return true;
  return parsePrefix(tok) !== undefined;
}

/** Parses one `ip route` line (with its `nexthop` continuation tokens). Undefined when it is not a route. */
export function parseRouteLine(line: string, table = 254): Route | undefined {
  const toks = line.trim().split(/\s+/).filter(Boolean);
  if (toks.length === 0 || !looksLikeRouteStart(toks[0])) return undefined;
  let i = 0;
  let type: RouteType = 'unicast';
  if (TYPES.has(toks[0])) type = toks[i++] as RouteType;
  const dstTok = toks[i++];
  if (dstTok === undefined) return undefined;
  let family: 4 | 6 = dstTok.includes(':') ? 6 : 4;
  const r: Partial<Route> & { nexthops: Nexthop[]; flags: string[] } = { type, tos: 0, metric: 0, protocol: 'boot', table, nexthops: [], flags: [] };
  let scope: string | undefined;
  let cur: Nexthop | undefined;
  const single: Nexthop = { weight: 1, onlink: false, flags: [] };
  for (; i < toks.length; i++) {
    const t = toks[i];
    const v = toks[i + 1];
    if (t === 'nexthop') {
      cur = { weight: 1, onlink: false, flags: [] };
      r.nexthops.push(cur);
      continue;
    }
    const nh = cur ?? single;
    if (FLAGS.has(t)) {
      nh.flags.push(t);
      if (t === 'onlink') nh.onlink = true;
      continue;
    }
    if (!VALUE_KEYS.has(t)) return undefined; // prose that happens to start with an address
    i++;
    if (v === undefined) return undefined;
    switch (t) {
      case 'via':
        if (v === 'inet' || v === 'inet6') {
          nh.gateway = toks[++i];
        } else nh.gateway = v;
        if (nh.gateway?.includes(':')) family = 6;
        break;
      case 'dev':
        nh.dev = v;
        break;
      case 'weight':
        nh.weight = Number(v) || 1;
        break;
      case 'from':
        r.src = v;
        break;
      case 'tos':
      case 'dsfield':
        r.tos = Number(v) || parseInt(v, 16) || 0;
        break;
      case 'table':
        r.table = tableId(v);
        break;
      case 'proto':
        r.protocol = v;
        break;
      case 'scope':
        scope = v;
        break;
      case 'src':
        r.prefsrc = v;
        break;
      case 'metric':
        r.metric = Number(v) || 0;
        break;
      default:
        break; // mtu, pref, … do not change the lookup
    }
  }
  if (r.nexthops.length === 0 && (single.gateway || single.dev)) r.nexthops.push(single);
  const p = parsePrefix(dstTok, family);
  if (!p) return undefined;
  const route: Route = {
    family: p.family,
    type,
    table: r.table ?? table,
    dst: formatPrefix(p),
    prefixLen: p.len,
    src: r.src,
    tos: r.tos ?? 0,
    metric: r.metric ?? (p.family === 6 ? 1024 : 0),
    protocol: r.protocol ?? 'boot',
    scope: scope ?? (type === 'local' ? 'host' : 'global'),
    prefsrc: r.prefsrc,
    nexthops: r.nexthops,
    flags: r.nexthops.length === 1 ? r.nexthops[0].flags : [],
    text: '',
  };
  route.text = formatRoute(route);
  return route;
}

function addressesNamedBy(routes: Route[]): RoutingState['addresses'] {
  const seen = new Map<string, RoutingState['addresses'][number]>();
  for (const r of routes) {
    if (!r.prefsrc || seen.has(r.prefsrc)) continue;
    const dev = r.nexthops[0]?.dev;
    if (!dev) continue;
    seen.set(r.prefsrc, { family: r.family, ifname: dev, address: r.prefsrc, prefixLen: r.family === 4 ? 32 : 128, scope: 'global' });
  }
  return [...seen.values()];
}

export function parsePastedRoutes(text: string): PasteResult {
  const trimmed = text.trim();
  const routes: Route[] = [];
  const ignored: string[] = [];
  let duplicates = 0;
  const seen = new Set<string>();
  const add = (r: Route): void => {
    const key = `${r.table} ${r.text}`;
    if (seen.has(key)) {
      duplicates++;
      return;
    }
    seen.add(key);
    routes.push(r);
  };
  if (trimmed.startsWith('[')) {
    for (const o of JSON.parse(trimmed) as Record<string, unknown>[]) add(routeFromJson(o));
  } else {
    // Join `nexthop` continuation lines (multipath) onto their route line first.
    const lines: string[] = [];
    for (const raw of text.split(/\r?\n/)) {
      if (/^\s+nexthop\s/.test(raw) && lines.length > 0) lines[lines.length - 1] += ` ${raw.trim()}`;
      else lines.push(raw);
    }
    for (const line of lines) {
      if (line.trim() === '') continue;
      const r = parseRouteLine(line);
      if (r) add(r);
      else ignored.push(line);
    }
  }
  if (routes.length === 0) {
    throw new Error('no routes found in the paste: expected `ip route` lines (e.g. "10.233.101.224 dev caliaa479e31ff6 scope link") or `ip -j route` JSON');
  }
  // What a pasted main table implies: the default rules, and links named by the routes (assumed up).
  const devs = new Set(routes.flatMap((r) => r.nexthops.map((n) => n.dev).filter((d): d is string => !!d)));
  const state: RoutingState = {
    links: [...devs].map((name, i) => ({ ifindex: i + 2, name, mtu: 1500, up: true, carrier: true, kind: /^vxlan/.test(name) ? 'vxlan' : undefined, forwarding4: true, forwarding6: true, rpFilter: 0 })),
    // The only addresses a paste shows are the preferred sources of its routes (`… scope link src 172.27.71.11`).
    addresses: addressesNamedBy(routes),
    routes,
    rules: [4, 6].flatMap((f) =>
      [
        [0, 255],
        [32766, 254],
        [32767, 253],
      ].map(([priority, table]) => ({
        family: f as 4 | 6,
        priority,
        not: false,
        tos: 0,
        l3mdev: false,
        action: 'lookup' as const,
        table,
        text: `${priority}: from all lookup ${table === 255 ? 'local' : table === 254 ? 'main' : 'default'}`,
      })),
    ),
    neighbours: [],
    fdb: [],
    complete: { rules: false, neighbours: false, fdb: false, links: false, addresses: true },
  };
  return { state, ignored, duplicates };
}


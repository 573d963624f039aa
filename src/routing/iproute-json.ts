// Converts iproute2's JSON (`ip -j -d route|rule|link|addr|neigh|netconf`, `bridge -j fdb`) into the model's
// types, and prints routes and rules back the way `ip route` / `ip rule` do (the explanation quotes them).

import { protocolByName } from '../vocabulary';
import type { Address, FdbEntry, Family, Link, Membership, Neighbour, Nexthop, Route, RouteType, Rule, RuleAction } from './types';
import { parsePrefix, formatPrefix } from './addr';

type J = Record<string, unknown>;

const TABLE_IDS: Record<string, number> = { local: 255, main: 254, default: 253, unspec: 0 };
const TABLE_NAMES: Record<number, string> = { 255: 'local', 254: 'main', 253: 'default' };

export function tableId(v: unknown): number {
  if (v === undefined || v === null) return 254;
  const s = String(v);
  if (s in TABLE_IDS) return TABLE_IDS[s];
  const n = Number(s);
  return Number.isFinite(n) ? n : 254;
}

export function tableName(id: number): string {
  return TABLE_NAMES[id] ?? String(id);
}

export function ipprotoNumber(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  const s = String(v).toLowerCase();
  const named = protocolByName(s);
  if (named !== undefined) return named;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

function num(v: unknown, fallback = 0): number {
  if (v === undefined || v === null) return fallback;
  const n = typeof v === 'number' ? v : Number(String(v));
  return Number.isFinite(n) ? n : fallback;
}

function strs(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String) : [];
}

function nexthopOf(o: J): Nexthop {
  const flags = strs(o.flags);
  return {
    gateway: typeof o.gateway === 'string' ? o.gateway : undefined,
    dev: typeof o.dev === 'string' ? o.dev : undefined,
    weight: num(o.weight, 1),
    onlink: flags.includes('onlink'),
    flags,
  };
}

/** One element of `ip -j [-d] route show table all`. */
export function routeFromJson(o: J, familyHint?: Family): Route {
  const type = (typeof o.type === 'string' ? o.type : 'unicast') as RouteType;
  const dstText = String(o.dst ?? 'default');
  const nhGw = Array.isArray(o.nexthops) ? String((o.nexthops as J[])[0]?.gateway ?? '') : '';
  const family: Family =
    dstText.includes(':') || 'pref' in o || String(o.gateway ?? '').includes(':') || nhGw.includes(':')
      ? 6
      : dstText === 'default' && familyHint
        ? familyHint
        : 4;
  const p = parsePrefix(dstText, family);
  if (!p) throw new Error(`cannot parse route destination '${dstText}'`);
  const nexthops: Nexthop[] = Array.isArray(o.nexthops)
    ? (o.nexthops as J[]).map(nexthopOf)
    : o.gateway !== undefined || (o.dev !== undefined && !['blackhole', 'unreachable', 'prohibit', 'throw'].includes(type))
      ? [nexthopOf(o)]
      : [];
  const tos = typeof o.tos === 'string' ? parseInt(o.tos, 16) || 0 : num(o.tos);
  const route: Route = {
    family,
    type,
    table: tableId(o.table),
    dst: formatPrefix(p),
    prefixLen: p.len,
    src: typeof o.from === 'string' && o.from !== 'default' ? o.from : undefined,
    tos,
    metric: num(o.metric),
    protocol: String(o.protocol ?? 'boot'),
    scope: String(o.scope ?? (type === 'local' ? 'host' : 'global')),
    prefsrc: typeof o.prefsrc === 'string' ? o.prefsrc : undefined,
    nexthops,
    flags: strs(o.flags),
    text: '',
  };
  route.text = formatRoute(route);
  return route;
}

/** `ip route` text for a route: `[type] dst [tos] [via gw] [dev d] [table t] [proto p] [scope s] [src a] [metric m] [flags]`. */
export function formatRoute(r: Route, opts: { showMainTable?: boolean } = {}): string {
  const parts: string[] = [];
  if (r.type !== 'unicast') parts.push(r.type);
  const host = r.family === 4 ? 32 : 128;
  const addr = r.dst.slice(0, r.dst.indexOf('/'));
  parts.push(r.prefixLen === 0 ? 'default' : r.prefixLen === host ? addr : r.dst);
  if (r.src) parts.push('from', r.src);
  if (r.tos) parts.push('tos', `0x${r.tos.toString(16)}`);
  if (r.nexthops.length === 1) {
    const nh = r.nexthops[0];
    if (nh.gateway) parts.push('via', nh.gateway);
    if (nh.dev && !(r.family === 6 && ['blackhole', 'unreachable', 'prohibit', 'throw'].includes(r.type))) parts.push('dev', nh.dev);
  }
  if (r.table !== 254 || opts.showMainTable) parts.push('table', tableName(r.table));
  if (r.protocol !== 'boot' && r.protocol !== '3') parts.push('proto', r.protocol);
  const defaultScope = r.type === 'local' ? 'host' : 'global';
  if (r.scope !== 'global' && !(r.type === 'local' && r.scope === defaultScope && r.family === 6)) parts.push('scope', r.scope);
  if (r.prefsrc) parts.push('src', r.prefsrc);
  if (r.metric || r.family === 6) parts.push('metric', String(r.metric));
  if (r.nexthops.length === 1) parts.push(...r.nexthops[0].flags.filter((f) => f !== 'pervasive'));
  else parts.push(...r.flags);
  if (r.nexthops.length > 1) {
    for (const nh of r.nexthops) {
      parts.push('nexthop');
      if (nh.gateway) parts.push('via', nh.gateway);
      if (nh.dev) parts.push('dev', nh.dev);
      parts.push('weight', String(nh.weight), ...nh.flags);
    }
  }
  return parts.join(' ');
}

/** One element of `ip -j -4|-6 rule show`. */
export function ruleFromJson(o: J, family: Family): Rule {
  let action: RuleAction = 'lookup';
  if (o.goto !== undefined) action = 'goto';
  else if (o.action === 'nop' || o.nop !== undefined) action = 'nop';
  else if (o.action === 'blackhole' || o.action === 'unreachable' || o.action === 'prohibit') action = o.action;
  const pfx = (addr: unknown, len: unknown): string | undefined => {
    if (addr === undefined || addr === 'all') return undefined;
    const a = String(addr);
    const max = a.includes(':') ? 128 : 32;
    return `${a}/${len === undefined ? max : num(len)}`;
  };
  const range = (single: unknown, start: unknown, end: unknown): [number, number] | undefined => {
    if (single !== undefined) return [num(single), num(single)];
    if (start !== undefined) return [num(start), num(end, num(start))];
    return undefined;
  };
  const hex = (v: unknown): number | undefined => (v === undefined ? undefined : typeof v === 'number' ? v : Number(String(v)));
  const rule: Rule = {
    family,
    priority: num(o.priority),
    not: 'not' in o,
    src: pfx(o.src, o.srclen),
    dst: pfx(o.dst, o.dstlen),
    iif: typeof o.iif === 'string' ? o.iif : undefined,
    oif: typeof o.oif === 'string' ? o.oif : undefined,
    fwmark: hex(o.fwmark),
    fwmask: o.fwmark !== undefined ? hex(o.fwmask) ?? 0xffffffff : undefined,
    tos: typeof o.tos === 'string' ? Number(o.tos) || 0 : num(o.tos),
    ipproto: ipprotoNumber(o.ipproto),
    sport: range(o.sport, o.sport_start, o.sport_end),
    dport: range(o.dport, o.dport_start, o.dport_end),
    uidrange: o.uid_start !== undefined ? [num(o.uid_start), num(o.uid_end)] : undefined,
    l3mdev: 'l3mdev' in o,
    action,
    table: action === 'lookup' ? tableId(o.table) : undefined,
    target: action === 'goto' ? num(o.goto) : undefined,
    suppressPrefixlen: o.suppress_prefixlen !== undefined ? num(o.suppress_prefixlen) : undefined,
    suppressIfgroup: o.suppress_ifgroup !== undefined ? num(o.suppress_ifgroup) : undefined,
    text: '',
  };
  rule.text = formatRule(rule);
  return rule;
}

export function formatRule(r: Rule): string {
  const p: string[] = [`${r.priority}:`];
  if (r.not) p.push('not');
  p.push('from', r.src ?? 'all');
  if (r.dst) p.push('to', r.dst);
  if (r.tos) p.push('tos', `0x${r.tos.toString(16)}`);
  if (r.fwmark !== undefined) p.push('fwmark', `0x${r.fwmark.toString(16)}${r.fwmask !== 0xffffffff ? `/0x${(r.fwmask ?? 0).toString(16)}` : ''}`);
  if (r.iif) p.push('iif', r.iif);
  if (r.oif) p.push('oif', r.oif);
  if (r.uidrange) p.push('uidrange', `${r.uidrange[0]}-${r.uidrange[1]}`);
  if (r.ipproto !== undefined) p.push('ipproto', String(r.ipproto));
  if (r.sport) p.push('sport', r.sport[0] === r.sport[1] ? String(r.sport[0]) : `${r.sport[0]}-${r.sport[1]}`);
  if (r.dport) p.push('dport', r.dport[0] === r.dport[1] ? String(r.dport[0]) : `${r.dport[0]}-${r.dport[1]}`);
  if (r.l3mdev) p.push('lookup [l3mdev-table]');
  if (r.action === 'lookup') p.push('lookup', tableName(r.table ?? 254));
  else if (r.action === 'goto') p.push('goto', String(r.target));
  else p.push(r.action);
  if (r.suppressPrefixlen !== undefined) p.push('suppress_prefixlength', String(r.suppressPrefixlen));
  if (r.suppressIfgroup !== undefined) p.push('suppress_ifgroup', String(r.suppressIfgroup));
  return p.join(' ');
}

/** One element of `ip -j -d link show`. */
export function linkFromJson(o: J): Link {
  const flags = strs(o.flags);
  const info = (o.linkinfo ?? {}) as J;
  const data = (info.info_data ?? {}) as J;
  const kind = typeof info.info_kind === 'string' ? info.info_kind : undefined;
  const link: Link = {
    ifindex: num(o.ifindex),
    name: String(o.ifname),
    kind,
    mtu: num(o.mtu, 1500),
    up: flags.includes('UP'),
    carrier: flags.includes('LOWER_UP'),
    mac: typeof o.address === 'string' ? o.address : undefined,
    master: typeof o.master === 'string' ? o.master : undefined,
    linkIndex: o.link_index !== undefined ? num(o.link_index) : undefined,
    linkNetnsid: typeof o.link_netnsid === 'number' ? o.link_netnsid : undefined,
    group: typeof o.group === 'number' ? o.group : o.group === 'default' ? 0 : undefined,
  };
  if (kind === 'vxlan') {
    link.vxlan = {
      vni: num(data.id),
      port: num(data.port, 8472),
      local: typeof data.local === 'string' ? data.local : typeof data.local6 === 'string' ? data.local6 : undefined,
      dev: typeof data.link === 'string' ? data.link : undefined,
      learning: data.learning !== false,
    };
  }
  return link;
}

/** `ip -j addr show`: one entry per address. */
export function addressesFromJson(list: J[]): Address[] {
  const out: Address[] = [];
  for (const l of list) {
    for (const a of (l.addr_info ?? []) as J[]) {
      if (a.family !== 'inet' && a.family !== 'inet6') continue;
      out.push({
        family: a.family === 'inet' ? 4 : 6,
        ifname: String(l.ifname),
        address: String(a.local),
        prefixLen: num(a.prefixlen),
        scope: String(a.scope ?? 'global'),
        broadcast: typeof a.broadcast === 'string' ? a.broadcast : undefined,
      });
    }
  }
  return out;
}

export function neighbourFromJson(o: J): Neighbour {
  const dst = String(o.dst);
  return {
    family: dst.includes(':') ? 6 : 4,
    dst,
    dev: String(o.dev),
    lladdr: typeof o.lladdr === 'string' ? o.lladdr : undefined,
    state: strs(o.state),
  };
}

export function fdbFromJson(o: J): FdbEntry {
  return {
    mac: String(o.mac),
    dev: String(o.ifname ?? o.dev),
    dst: typeof o.dst === 'string' ? o.dst : undefined,
    vni: o.vni !== undefined ? num(o.vni) : undefined,
    port: o.port !== undefined ? num(o.port) : undefined,
    state: String(o.state ?? ''),
    flags: strs(o.flags),
  };
}

/** `ip -j maddr show`: the IP multicast groups of each interface (link-layer entries are left out). */
export function membershipsFromJson(list: J[]): Membership[] {
  const out: Membership[] = [];
  for (const l of list) {
    for (const m of (l.maddr ?? []) as J[]) {
      if (m.family !== 'inet' && m.family !== 'inet6') continue;
      out.push({ family: m.family === 'inet' ? 4 : 6, ifname: String(l.ifname), group: String(m.address) });
    }
  }
  return out;
}

/** Applies `ip -j netconf show` (per-interface forwarding / rp_filter) onto links. */
export function applyNetconf(links: Link[], list: J[]): { all4Forwarding?: boolean; allRpFilter?: number } {
  const rp = (v: unknown): number => (v === 'strict' ? 1 : v === 'loose' ? 2 : typeof v === 'number' ? v : 0);
  const byName = new Map(links.map((l) => [l.name, l]));
  const out: { all4Forwarding?: boolean; allRpFilter?: number } = {};
  for (const c of list) {
    const name = String(c.interface);
    if (name === 'all' && c.family === 'inet') {
      out.all4Forwarding = c.forwarding === true;
      out.allRpFilter = rp(c.rp_filter);
    }
    const l = byName.get(name);
    if (!l) continue;
    if (c.family === 'inet') {
      l.forwarding4 = c.forwarding === true;
      l.rpFilter = rp(c.rp_filter);
    } else if (c.family === 'inet6') l.forwarding6 = c.forwarding === true;
  }
  return out;
}

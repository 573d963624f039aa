// The filter language shared by `calitrace observe`, the API's Observe filters and the UI's `/` filter.
// A FlowFilter has the same fields as the proto's calitrace.v1.Filter (camelCase, enum values as their
// names), so a parsed text filter goes on the wire unchanged and a wire filter is validated here.
// Semantics (as hubble's): values within one field are ORed, fields within one filter are ANDed; an item
// passes when it matches any allow filter (or there is none) and no deny filter.
import { isIP } from 'node:net';

// NODE and STITCHED come from a relay only (node up/down, one packet's path across two nodes).
export const EVENT_TYPES = ['PACKET', 'VERDICT', 'FLOW', 'ROUTE_CHANGE', 'LOST', 'NODE', 'STITCHED'] as const;
export const VERDICTS = ['MATCHED', 'DIVERGED', 'DROPPED', 'EXPECTED_DROP', 'INCOMPLETE', 'STALE_MODEL'] as const;
export const DIRECTIONS = ['INGRESS', 'EGRESS', 'DROP'] as const;
export type EventTypeName = (typeof EVENT_TYPES)[number];
export type VerdictName = (typeof VERDICTS)[number];
export type DirectionName = (typeof DIRECTIONS)[number];

export interface FlowFilter {
  sourceIp?: string[];
  destinationIp?: string[];
  ip?: string[];
  sourcePod?: string[];
  destinationPod?: string[];
  pod?: string[];
  namespace?: string[];
  sourceNamespace?: string[];
  destinationNamespace?: string[];
  interface?: string[];
  direction?: DirectionName[];
  verdict?: VerdictName[];
  protocol?: string[];
  port?: number[];
  sourcePort?: number[];
  destinationPort?: number[];
  node?: string[];
  eventType?: EventTypeName[];
}

export interface FilterSet {
  allow: FlowFilter[];
  deny: FlowFilter[];
}

/** What a filter is matched against: the hub's view of one published item. */
export interface FilterSubject {
  type: EventTypeName;
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  proto?: number;
  srcPod?: { namespace: string; name: string };
  dstPod?: { namespace: string; name: string };
  interfaces?: string[];
  directions?: DirectionName[];
  verdict?: VerdictName;
  node?: string;
}

/** An invalid filter; the message says what is wrong and what would be right. */
export class FilterError extends Error {}

const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58, 'ipv6-icmp': 58, sctp: 132, gre: 47, esp: 50 };

/** Text keys (and their aliases) → FlowFilter field. */
const KEYS: Record<string, keyof FlowFilter> = {
  src: 'sourceIp', source: 'sourceIp', from: 'sourceIp', 'src-ip': 'sourceIp', 'from-ip': 'sourceIp',
  dst: 'destinationIp', destination: 'destinationIp', to: 'destinationIp', 'dst-ip': 'destinationIp', 'to-ip': 'destinationIp',
  ip: 'ip', host: 'ip', addr: 'ip',
  'src-pod': 'sourcePod', 'from-pod': 'sourcePod', 'dst-pod': 'destinationPod', 'to-pod': 'destinationPod', pod: 'pod',
  ns: 'namespace', namespace: 'namespace', 'src-ns': 'sourceNamespace', 'from-namespace': 'sourceNamespace',
  'dst-ns': 'destinationNamespace', 'to-namespace': 'destinationNamespace',
  iface: 'interface', interface: 'interface', dev: 'interface', if: 'interface',
  dir: 'direction', direction: 'direction',
  verdict: 'verdict',
  proto: 'protocol', protocol: 'protocol',
  port: 'port', sport: 'sourcePort', 'src-port': 'sourcePort', 'from-port': 'sourcePort',
  dport: 'destinationPort', 'dst-port': 'destinationPort', 'to-port': 'destinationPort',
  node: 'node', type: 'eventType', event: 'eventType',
};

/** Field → canonical text key, for formatFilterSet(). */
const CANONICAL_KEY: Record<keyof FlowFilter, string> = {
  sourceIp: 'src', destinationIp: 'dst', ip: 'ip', sourcePod: 'src-pod', destinationPod: 'dst-pod', pod: 'pod',
  namespace: 'ns', sourceNamespace: 'src-ns', destinationNamespace: 'dst-ns', interface: 'iface', direction: 'dir',
  verdict: 'verdict', protocol: 'proto', port: 'port', sourcePort: 'sport', destinationPort: 'dport', node: 'node',
  eventType: 'type',
};

const HELP = "write key=value (or key:value) terms, e.g. 'src=10.233.101.222 proto=tcp verdict=DROPPED'";

/**
 * Parses a text filter: whitespace-separated `key=value` terms (also `key:value`), ANDed into one filter;
 * comma-separated values are ORed; the word `or` starts another allow filter; each term prefixed with `!`
 * is a deny filter of its own (`!dst=X !port=53` drops both). Bare IPs/CIDRs, protocol names and verdict names are accepted without a key.
 * An empty text is an empty set (everything passes).
 */
export function parseFilterText(text: string): FilterSet {
  const allow: FlowFilter[] = [];
  const deny: FlowFilter[] = [];
  let current: FlowFilter = {};
  for (const token of text.trim().split(/\s+/).filter(Boolean)) {
    if (token.toLowerCase() === 'or' || token === '|' || token === '||') {
      if (isEmpty(current)) throw new FilterError(`'${token}' needs a filter on both sides; ${HELP}`);
      allow.push(current);
      current = {};
      continue;
    }
    const negated = token.startsWith('!');
    const term = negated ? token.slice(1) : token;
    if (negated) {
      const one: FlowFilter = {};
      addTerm(one, term, token);
      deny.push(one);
    } else addTerm(current, term, token);
  }
  if (!isEmpty(current)) allow.push(current);
  else if (allow.length > 0) throw new FilterError(`a filter ends with 'or'; ${HELP}`);
  return { allow, deny };
}

function addTerm(into: FlowFilter, term: string, token: string): void {
  const m = /^([a-zA-Z-]+)[=:](.*)$/.exec(term);
  if (!m) {
    addBare(into, term, token);
    return;
  }
  const key = m[1].toLowerCase();
  const field = KEYS[key];
  if (!field) {
    throw new FilterError(`unknown filter key '${m[1]}' in '${token}'; known keys: ${Object.keys(CANONICAL_KEY_BY_TEXT).join(', ')}`);
  }
  const values = m[2].split(',').filter((v) => v !== '');
  if (values.length === 0) throw new FilterError(`'${token}' has no value; ${HELP}`);
  // src=/dst= take pods as well as IPs: a value that is not an address is taken as a pod name.
  for (const v of values) {
    let target = field;
    if ((field === 'sourceIp' || field === 'destinationIp' || field === 'ip') && !meantAsAddress(v)) {
      target = field === 'sourceIp' ? 'sourcePod' : field === 'destinationIp' ? 'destinationPod' : 'pod';
    }
    pushValue(into, target, normaliseValue(target, v));
  }
}

const CANONICAL_KEY_BY_TEXT = Object.fromEntries(Object.values(CANONICAL_KEY).map((k) => [k, true]));

function addBare(into: FlowFilter, word: string, token: string): void {
  const lower = word.toLowerCase();
  const upper = word.toUpperCase();
  if (looksLikeAddress(word)) pushValue(into, 'ip', normaliseValue('ip', word));
  else if (lower in PROTOCOLS) pushValue(into, 'protocol', lower);
  else if ((VERDICTS as readonly string[]).includes(upper)) pushValue(into, 'verdict', upper);
  else if (lower === 'ingress' || lower === 'egress') pushValue(into, 'direction', upper);
  else throw new FilterError(`cannot read '${token}': not key=value, an IP/CIDR, a protocol or a verdict; ${HELP}`);
}

function pushValue(into: FlowFilter, field: keyof FlowFilter, value: string | number): void {
  const list = (into[field] ??= []) as (string | number)[];
  if (!list.includes(value)) list.push(value);
}

function isEmpty(f: FlowFilter): boolean {
  return Object.values(f).every((v) => v === undefined || (Array.isArray(v) && v.length === 0));
}

/** Digits and dots, or hex with colons (a mistyped address is an error, not a pod name). */
function meantAsAddress(v: string): boolean {
  return /^[0-9.]+(\/.*)?$/.test(v) || /^[0-9a-fA-F]*:[0-9a-fA-F:.]*(\/.*)?$/.test(v);
}

function looksLikeAddress(v: string): boolean {
  return isIP(v.split('/')[0]) !== 0;
}

/** Checks and canonicalises one value for a field; throws FilterError with the reason. */
function normaliseValue(field: keyof FlowFilter, v: string | number): string | number {
  const s = String(v);
  switch (field) {
    case 'sourceIp':
    case 'destinationIp':
    case 'ip':
      parseCidr(s); // validates
      return s;
    case 'port':
    case 'sourcePort':
    case 'destinationPort': {
      if (!/^\d+$/.test(s) || Number(s) > 65535) throw new FilterError(`port '${s}' is not a number from 0 to 65535`);
      return Number(s);
    }
    case 'protocol': {
      const lower = s.toLowerCase();
      if (lower in PROTOCOLS) return lower;
      if (/^\d+$/.test(s) && Number(s) <= 255) return s;
      throw new FilterError(`protocol '${s}' is unknown; use tcp, udp, icmp, icmpv6, sctp or a number 0-255`);
    }
    case 'verdict': {
      const upper = s.toUpperCase();
      if ((VERDICTS as readonly string[]).includes(upper)) return upper;
      throw new FilterError(`verdict '${s}' is unknown; use one of ${VERDICTS.join(', ')}`);
    }
    case 'direction': {
      const upper = s.toUpperCase();
      if ((DIRECTIONS as readonly string[]).includes(upper)) return upper;
      throw new FilterError(`direction '${s}' is unknown; use ingress, egress or drop`);
    }
    case 'eventType': {
      const upper = s.toUpperCase().replace(/-/g, '_');
      const alias: Record<string, EventTypeName> = { PACKETS: 'PACKET', VERDICTS: 'VERDICT', FLOWS: 'FLOW', ROUTE: 'ROUTE_CHANGE', ROUTES: 'ROUTE_CHANGE', ROUTE_CHANGES: 'ROUTE_CHANGE' };
      const name = alias[upper] ?? upper;
      if ((EVENT_TYPES as readonly string[]).includes(name)) return name;
      throw new FilterError(`event type '${s}' is unknown; use packet, verdict, flow, route_change or lost`);
    }
    default:
      if (s === '') throw new FilterError(`an empty value for '${CANONICAL_KEY[field]}' matches nothing; remove it`);
      return s;
  }
}

/**
 * Validates and canonicalises a filter that came from elsewhere (the wire): every value is checked as
 * parseFilterText checks it. Unknown enum values (0 / UNSPECIFIED) are rejected with the reason.
 */
export function normaliseFilter(f: FlowFilter): FlowFilter {
  const out: FlowFilter = {};
  for (const field of Object.keys(CANONICAL_KEY) as (keyof FlowFilter)[]) {
    const values = f[field] as (string | number)[] | undefined;
    if (!values || values.length === 0) continue;
    for (const v of values) pushValue(out, field, normaliseValue(field, v));
  }
  return out;
}

/** Renders a filter set back into the text language (round-trips through parseFilterText). */
export function formatFilterSet(set: FilterSet): string {
  const one = (f: FlowFilter, prefix: string) =>
    (Object.keys(CANONICAL_KEY) as (keyof FlowFilter)[])
      .filter((k) => (f[k]?.length ?? 0) > 0)
      .map((k) => `${prefix}${CANONICAL_KEY[k]}=${(f[k] as (string | number)[]).join(',')}`)
      .join(' ');
  const parts = set.allow.map((f) => one(f, '')).filter(Boolean);
  const deny = set.deny.map((f) => one(f, '!')).filter(Boolean);
  return [parts.join(' or '), ...deny].filter(Boolean).join(' ');
}

// ---------------------------------------------------------------------------------------------------
// Matching

interface Cidr {
  family: 4 | 6;
  bits: bigint;
  mask: bigint;
}

function addressBits(addr: string): { family: 4 | 6; bits: bigint } | undefined {
  const fam = isIP(addr);
  if (fam === 4) {
    const p = addr.split('.').map(Number);
    return { family: 4, bits: BigInt(((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0) };
  }
  if (fam === 6) {
    let a = addr;
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
    if (v4) {
      const p = v4[1].split('.').map(Number);
      a = a.slice(0, -v4[1].length) + ((p[0] << 8) | p[1]).toString(16) + ':' + ((p[2] << 8) | p[3]).toString(16);
    }
    const [head, tail] = a.split('::');
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    let bits = 0n;
    for (const g of groups) bits = (bits << 16n) | BigInt(parseInt(g, 16));
    return { family: 6, bits };
  }
  return undefined;
}

export function parseCidr(text: string): Cidr {
  const [addr, len, extra] = text.split('/');
  const a = addressBits(addr);
  if (!a || extra !== undefined) throw new FilterError(`'${text}' is not an IP address or CIDR (e.g. 10.233.101.222 or 10.233.100.0/24)`);
  const width = a.family === 4 ? 32 : 128;
  let prefix = width;
  if (len !== undefined) {
    if (!/^\d+$/.test(len) || Number(len) > width) throw new FilterError(`'${text}': the prefix length must be 0-${width}`);
    prefix = Number(len);
  }
  const all = (1n << BigInt(width)) - 1n;
  const mask = prefix === 0 ? 0n : (all >> BigInt(width - prefix)) << BigInt(width - prefix);
  return { family: a.family, bits: a.bits & mask, mask };
}

// Item addresses repeat a lot (one flow, many packets): remember their parsed form, boundedly.
const addressCache = new Map<string, { family: 4 | 6; bits: bigint } | null>();
function cachedAddress(addr: string): { family: 4 | 6; bits: bigint } | null {
  let v = addressCache.get(addr);
  if (v === undefined) {
    v = addressBits(addr) ?? null;
    if (addressCache.size > 10000) addressCache.clear();
    addressCache.set(addr, v);
  }
  return v;
}

function inAny(cidrs: Cidr[], addr: string | undefined): boolean {
  if (!addr) return false;
  const a = cachedAddress(addr);
  if (!a) return false;
  return cidrs.some((c) => c.family === a.family && (a.bits & c.mask) === c.bits);
}

function podMatches(patterns: string[], pod: { namespace: string; name: string } | undefined): boolean {
  if (!pod) return false;
  const full = `${pod.namespace}/${pod.name}`;
  return patterns.some((p) => {
    const target = p.includes('/') ? full : pod.name;
    return p.endsWith('*') ? target.startsWith(p.slice(0, -1)) : target === p;
  });
}

function nameMatches(patterns: string[], names: (string | undefined)[]): boolean {
  return names.some((n) => n !== undefined && patterns.some((p) => (p.endsWith('*') ? n.startsWith(p.slice(0, -1)) : n === p)));
}

type Predicate = (s: FilterSubject) => boolean;

function compileOne(raw: FlowFilter): Predicate {
  const f = normaliseFilter(raw);
  const checks: Predicate[] = [];
  if (f.eventType) { const set = new Set(f.eventType); checks.push((s) => set.has(s.type)); }
  if (f.sourceIp) { const c = f.sourceIp.map(parseCidr); checks.push((s) => inAny(c, s.src)); }
  if (f.destinationIp) { const c = f.destinationIp.map(parseCidr); checks.push((s) => inAny(c, s.dst)); }
  if (f.ip) { const c = f.ip.map(parseCidr); checks.push((s) => inAny(c, s.src) || inAny(c, s.dst)); }
  if (f.sourcePod) { const p = f.sourcePod; checks.push((s) => podMatches(p, s.srcPod)); }
  if (f.destinationPod) { const p = f.destinationPod; checks.push((s) => podMatches(p, s.dstPod)); }
  if (f.pod) { const p = f.pod; checks.push((s) => podMatches(p, s.srcPod) || podMatches(p, s.dstPod)); }
  if (f.namespace) { const n = new Set(f.namespace); checks.push((s) => n.has(s.srcPod?.namespace ?? '\0') || n.has(s.dstPod?.namespace ?? '\0')); }
  if (f.sourceNamespace) { const n = new Set(f.sourceNamespace); checks.push((s) => n.has(s.srcPod?.namespace ?? '\0')); }
  if (f.destinationNamespace) { const n = new Set(f.destinationNamespace); checks.push((s) => n.has(s.dstPod?.namespace ?? '\0')); }
  if (f.interface) { const p = f.interface; checks.push((s) => nameMatches(p, s.interfaces ?? [])); }
  if (f.direction) { const d = new Set(f.direction); checks.push((s) => (s.directions ?? []).some((x) => d.has(x))); }
  if (f.verdict) { const v = new Set(f.verdict); checks.push((s) => s.verdict !== undefined && v.has(s.verdict)); }
  if (f.protocol) {
    const nums = new Set(f.protocol.map((p) => PROTOCOLS[p] ?? Number(p)));
    checks.push((s) => s.proto !== undefined && nums.has(s.proto));
  }
  if (f.port) { const p = new Set(f.port); checks.push((s) => (s.sport !== undefined && p.has(s.sport)) || (s.dport !== undefined && p.has(s.dport))); }
  if (f.sourcePort) { const p = new Set(f.sourcePort); checks.push((s) => s.sport !== undefined && p.has(s.sport)); }
  if (f.destinationPort) { const p = new Set(f.destinationPort); checks.push((s) => s.dport !== undefined && p.has(s.dport)); }
  if (f.node) { const p = f.node; checks.push((s) => nameMatches(p, [s.node])); }
  return (s) => checks.every((c) => c(s));
}

/** Compiles allow/deny lists into one predicate; throws FilterError for an invalid filter. */
export function compileFilterSet(set: FilterSet): Predicate {
  const allow = set.allow.map(compileOne);
  const deny = set.deny.map(compileOne);
  if (allow.length === 0 && deny.length === 0) return () => true;
  return (s) => (allow.length === 0 || allow.some((p) => p(s))) && !deny.some((p) => p(s));
}

/**
 * The event types a filter set can let through, or undefined for all: lets a publisher skip building the
 * subject of an item no allow filter could want (e.g. every hook event for a verdicts-only subscriber).
 */
export function acceptedTypes(set: FilterSet): Set<EventTypeName> | undefined {
  if (set.allow.length === 0 || set.allow.some((f) => !f.eventType || f.eventType.length === 0)) return undefined;
  return new Set(set.allow.flatMap((f) => normaliseFilter({ eventType: f.eventType }).eventType ?? []));
}

// The user's filter (CLI flags or API fields) in one validated shape, and its rendering as the words of
// the loader's `filter` stdin command / `--filter` argument (docs/protocol.md). Mistakes are rejected
// with a message that says what to type instead.
import { formatPrefix, parsePrefix } from '../routing/addr';
import { PROTOCOL_CHOICES, protocolNumber } from '../vocabulary';

export interface Cidr {
  family: 4 | 6;
  /** Network address bytes (4 or 16), host bits cleared. */
  addr: Uint8Array;
  prefixLen: number;
  /** Canonical text, e.g. '10.233.101.192/26'. */
  text: string;
}

export interface FilterSpec {
  src?: Cidr;
  dst?: Cidr;
  /** IP protocol number (inner packet). */
  proto?: number;
  /** Matches either source or destination port. */
  port?: number;
}

export class FilterError extends Error {}

export function parseProto(text: string): number {
  const n = protocolNumber(text);
  if (n === undefined) throw new FilterError(`unknown protocol '${text}': use ${PROTOCOL_CHOICES}`);
  return n;
}

export function parsePort(text: string): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1 || Number(text) > 65535) {
    throw new FilterError(`bad port '${text}': use a number 1-65535`);
  }
  return Number(text);
}

/** Accepts 'A.B.C.D', 'A.B.C.D/N', an IPv6 address with or without '/N'. Host bits are cleared. */
export function parseCidr(text: string): Cidr {
  const bad = () =>
    new FilterError(`bad address '${text}': use an IPv4 or IPv6 address or CIDR, e.g. 10.233.101.222/32 or fd00::/64`);
  const t = text.trim();
  // A zone ('%eth0') names a link, not an address the kernel filter can compare.
  if (t.includes('%') || t.split('/').length > 2 || t === 'default' || t === 'all') throw bad();
  const lenText = t.split('/')[1];
  if (lenText !== undefined && !/^\d{1,3}$/.test(lenText)) throw bad();
  const prefix = parsePrefix(t);
  if (!prefix) throw bad();
  const addr = new Uint8Array(prefix.family === 4 ? 4 : 16);
  prefix.w.forEach((word, i) => {
    for (let b = 0; b < 4; b++) addr[i * 4 + b] = (word >>> (24 - 8 * b)) & 0xff;
  });
  return { family: prefix.family, addr, prefixLen: prefix.len, text: formatPrefix(prefix) };
}

export interface FilterFlags {
  src?: string;
  dst?: string;
  proto?: string;
  port?: string;
}

/** CLI/API text → FilterSpec. Empty flags give an empty spec (trace everything). */
export function parseFilter(flags: FilterFlags): FilterSpec {
  const spec: FilterSpec = {};
  if (flags.src !== undefined) spec.src = parseCidr(flags.src);
  if (flags.dst !== undefined) spec.dst = parseCidr(flags.dst);
  if (flags.proto !== undefined) spec.proto = parseProto(flags.proto);
  if (flags.port !== undefined) spec.port = parsePort(flags.port);
  if (spec.src && spec.dst && spec.src.family !== spec.dst.family) {
    throw new FilterError(`--src ${spec.src.text} and --dst ${spec.dst.text} are different IP families: a packet cannot match both`);
  }
  return spec;
}

export function describeFilter(spec: FilterSpec): string {
  const parts: string[] = [];
  if (spec.src) parts.push(`src ${spec.src.text}`);
  if (spec.dst) parts.push(`dst ${spec.dst.text}`);
  if (spec.proto !== undefined) parts.push(`proto ${spec.proto}`);
  if (spec.port !== undefined) parts.push(`port ${spec.port}`);
  return parts.length ? parts.join(' and ') : 'everything';
}

/** The spec as words of the loader's `filter` command (docs/protocol.md); empty = trace everything. */
export function filterWords(spec: FilterSpec): string[] {
  const words: string[] = [];
  if (spec.src) words.push('src', spec.src.text);
  if (spec.dst) words.push('dst', spec.dst.text);
  if (spec.proto !== undefined) words.push('proto', String(spec.proto));
  if (spec.port !== undefined) words.push('port', String(spec.port));
  return words;
}

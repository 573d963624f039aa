// The user's filter (CLI flags or API fields) in one validated shape, and its rendering as the words of
// the loader's `filter` stdin command / `--filter` argument (docs/protocol.md). Mistakes are rejected
// with a message that says what to type instead.

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

const PROTO_NAMES: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58, icmp6: 58, sctp: 132 };

export function parseProto(text: string): number {
  const t = text.trim().toLowerCase();
  if (t in PROTO_NAMES) return PROTO_NAMES[t];
  if (/^\d+$/.test(t) && Number(t) <= 255) return Number(t);
  throw new FilterError(`unknown protocol '${text}': use tcp, udp, icmp, icmpv6 or a number 0-255`);
}

export function parsePort(text: string): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1 || Number(text) > 65535) {
    throw new FilterError(`bad port '${text}': use a number 1-65535`);
  }
  return Number(text);
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i]) || Number(parts[i]) > 255) return undefined;
    out[i] = Number(parts[i]);
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const items = s.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (i === items.length - 1 && item.includes('.')) {
        const v4 = parseIpv4(item);
        if (!v4) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return undefined;
        out.push(parseInt(item, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return undefined;
  const all = [...head, ...new Array(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

/** Accepts 'A.B.C.D', 'A.B.C.D/N', an IPv6 address with or without '/N'. Host bits are cleared. */
export function parseCidr(text: string): Cidr {
  const [addrText, lenText, extra] = text.trim().split('/');
  const bad = () =>
    new FilterError(`bad address '${text}': use an IPv4 or IPv6 address or CIDR, e.g. 10.233.101.222/32 or fd00::/64`);
  if (extra !== undefined) throw bad();
  const v4 = parseIpv4(addrText);
  const addr = v4 ?? parseIpv6(addrText);
  if (!addr) throw bad();
  const family: 4 | 6 = v4 ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  let prefixLen = max;
  if (lenText !== undefined) {
    if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) throw bad();
    prefixLen = Number(lenText);
  }
  for (let bit = prefixLen; bit < max; bit++) addr[bit >> 3] &= ~(0x80 >> (bit & 7));
  const text2 = family === 4 ? Array.from(addr).join('.') : formatV6(addr);
  return { family, addr, prefixLen, text: `${text2}/${prefixLen}` };
}

function formatV6(b: Uint8Array): string {
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i] << 8) | b[i + 1]).toString(16));
  return g.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::');
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

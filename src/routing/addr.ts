// IP address arithmetic for the predictor: IPv4 as one unsigned 32-bit number, IPv6 as four of them.
// Hand-rolled (no net.BlockList) because the predictor parses millions of addresses per second.

import type { Family } from './types';

/** An address in words: IPv4 uses w[0] only. */
export interface Addr {
  family: Family;
  w: number[];
}

export function familyOf(text: string): Family | undefined {
  if (text.includes(':')) return 6;
  if (text.includes('.')) return 4;
  return undefined;
}

/** Parses dotted-quad IPv4 to an unsigned number; NaN when invalid. */
export function parseV4(text: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part > 255) return NaN;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      digits++;
      if (digits > 3) return NaN;
    } else return NaN;
  }
  if (dots !== 3 || digits === 0 || part > 255) return NaN;
  return value * 256 + part;
}

/** Parses IPv6 (with '::' and an optional embedded IPv4 tail) into four 32-bit words; undefined if invalid. */
export function parseV6(text: string): number[] | undefined {
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseV4(p);
        if (Number.isNaN(v4)) return undefined;
        out.push(Math.floor(v4 / 65536), v4 % 65536);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return undefined;
  let all: number[];
  if (halves.length === 2) {
    const fill = 8 - head.length - tail.length;
    if (fill < 1) return undefined;
    all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  } else {
    if (head.length !== 8) return undefined;
    all = head;
  }
  return [0, 1, 2, 3].map((i) => all[2 * i] * 65536 + all[2 * i + 1]);
}

export function parseAddr(text: string): Addr | undefined {
  const f = familyOf(text);
  if (f === 4) {
    const v = parseV4(text);
    return Number.isNaN(v) ? undefined : { family: 4, w: [v] };
  }
  if (f === 6) {
    const w = parseV6(text);
    return w ? { family: 6, w } : undefined;
  }
  return undefined;
}

/**
 * Whether the sender, not the routing table, names the device a packet to `dst` leaves through: a
 * multicast group (IP_MULTICAST_IF / IPV6_MULTICAST_IF, or the device the group was joined on — MLD
 * reports, neighbour solicitations, router solicitations) or an IPv6 link-local address (its scope id,
 * `fe80::1%eth0`). Every device has its own `fe80::/64` and `multicast ff00::/8` route, so the table's
 * first one says nothing about which of them a node-sent packet takes.
 */
export function senderNamesDevice(dst: string): boolean {
  const colon = dst.indexOf(':');
  if (colon < 0) {
    const first = parseInt(dst, 10);
    return first >= 224 && first <= 239;
  }
  // The first group must have four digits: ff00::/8 and fe80::/10 are about its top bits ('ff::' is 0x00ff).
  if (colon !== 4) return false;
  const g = parseInt(dst.slice(0, 4), 16);
  return g >= 0xff00 || (g & 0xffc0) === 0xfe80;
}

export function formatV4(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** RFC 5952 text (longest zero run compressed). */
export function formatV6(w: number[]): string {
  const g: number[] = [];
  for (const x of w) g.push(Math.floor(x / 65536), x % 65536);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function formatAddr(a: Addr): string {
  return a.family === 4 ? formatV4(a.w[0]) : formatV6(a.w);
}

/** Network mask of a 32-bit word for `len` bits (0..32), unsigned. */
export function mask32(len: number): number {
  if (len <= 0) return 0;
  if (len >= 32) return 0xffffffff;
  return (0xffffffff << (32 - len)) >>> 0;
}

/** Masks an address to a prefix length (returns a new word array). */
export function maskWords(w: number[], len: number): number[] {
  return w.map((x, i) => (x & mask32(len - 32 * i)) >>> 0);
}

export interface Prefix {
  family: Family;
  w: number[];
  len: number;
}

/** Parses 'a.b.c.d/len', 'a.b.c.d' (host), 'default', 'x::/len'. `family` is needed for 'default'. */
export function parsePrefix(text: string, family?: Family): Prefix | undefined {
  if (text === 'default' || text === 'all') {
    const f = family ?? 4;
    return { family: f, w: f === 4 ? [0] : [0, 0, 0, 0], len: 0 };
  }
  const slash = text.indexOf('/');
  const addrText = slash >= 0 ? text.slice(0, slash) : text;
  const a = parseAddr(addrText);
  if (!a) return undefined;
  const max = a.family === 4 ? 32 : 128;
  const len = slash >= 0 ? Number(text.slice(slash + 1)) : max;
  if (!Number.isInteger(len) || len < 0 || len > max) return undefined;
  return { family: a.family, w: maskWords(a.w, len), len };
}

export function prefixContains(p: Prefix, a: Addr): boolean {
  if (p.family !== a.family) return false;
  for (let i = 0; i < p.w.length; i++) {
    const m = mask32(p.len - 32 * i);
    if (m === 0) return true;
    if (((a.w[i] & m) >>> 0) !== p.w[i]) return false;
  }
  return true;
}

export function formatPrefix(p: Prefix): string {
  const a = formatAddr({ family: p.family, w: p.w });
  return `${a}/${p.len}`;
}

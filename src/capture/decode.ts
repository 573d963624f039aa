// Wire records and control frames → typed values. Every offset comes from wire.ts (mirroring
// bpf/event.h). A record is read field by field with Buffer.readUInt*LE straight from the frame bytes:
// no slices, no BigInt, no intermediate objects; addresses are formatted from lookup tables and the
// common IPv4 ones are cached, anomaly lists are shared per bitmask. decodeRecord() can fill a caller's
// TraceEvent in place, so a consumer that does not keep events decodes with no allocation beyond the
// strings it asks for.
import type { TraceEvent, KernelView, TunnelInfo } from './event';
import {
  ANOMALY_BITS,
  ACK,
  Dir,
  ERROR,
  CASES_HDR,
  CASE_ENTRY,
  EVENTS_HDR,
  FIB_RESULT_NAMES,
  HELLO,
  Kind,
  LINK,
  LINK_HOW_NAMES,
  LINK_STATE_NAMES,
  LinkRole,
  STATS,
  PART,
  PARTS_BYTES,
  PARTS_KNOWN,
  REC,
  REC_BASE_SIZE,
  REC_CASE,
  REC_COUNTS,
  REC_DROP,
  REC_FIB,
  REC_IP6,
  REC_TUN,
  readI64,
  readU64,
} from './wire';

const DEC = Array.from({ length: 256 }, (_, i) => String(i));

/** Bounded cache of formatted IPv4 addresses keyed by their u32 value: pod traffic repeats a few. */
const V4_CACHE_MAX = 4096;
const v4Cache = new Map<number, string>();

export function formatIpv4(buf: Buffer, off: number): string {
  const key = buf.readUInt32BE(off);
  let s = v4Cache.get(key);
  if (s === undefined) {
    s = DEC[buf[off]] + '.' + DEC[buf[off + 1]] + '.' + DEC[buf[off + 2]] + '.' + DEC[buf[off + 3]];
    if (v4Cache.size >= V4_CACHE_MAX) v4Cache.clear();
    v4Cache.set(key, s);
  }
  return s;
}

/** RFC 5952 text: lower-case hex, no leading zeros, the longest run (≥ 2) of zero groups as '::'. */
export function formatIpv6(buf: Buffer, off: number): string {
  let bestStart = -1;
  let bestLen = 0;
  let runStart = -1;
  for (let g = 0; g < 8; g++) {
    const zero = buf[off + 2 * g] === 0 && buf[off + 2 * g + 1] === 0;
    if (zero) {
      if (runStart < 0) runStart = g;
      const len = g - runStart + 1;
      if (len > bestLen) {
        bestLen = len;
        bestStart = runStart;
      }
    } else runStart = -1;
  }
  if (bestLen < 2) bestStart = -1;
  let s = '';
  for (let g = 0; g < 8; g++) {
    if (g === bestStart) {
      s += g === 0 ? '::' : ':';
      g += bestLen - 1;
      continue;
    }
    s += ((buf[off + 2 * g] << 8) | buf[off + 2 * g + 1]).toString(16);
    if (g < 7) s += ':';
  }
  return s;
}

export function formatAddr(family: number, buf: Buffer, off: number): string {
  if (family === 4) return formatIpv4(buf, off);
  if (family === 6) return formatIpv6(buf, off);
  return '';
}

const HEX_CODE = Array.from({ length: 16 }, (_, i) => i.toString(16).charCodeAt(0));

/**
 * The u64 at `off` as 16 hex digits, most significant first (the value, not the byte order). Built in
 * one call as one flat string: the correlator and the case book key maps by it, and a string joined
 * from pieces is a chain that each first lookup has to copy flat before it can hash it.
 */
export function formatU64Hex(buf: Buffer, off: number): string {
  const h = HEX_CODE;
  const b7 = buf[off + 7], b6 = buf[off + 6], b5 = buf[off + 5], b4 = buf[off + 4];
  const b3 = buf[off + 3], b2 = buf[off + 2], b1 = buf[off + 1], b0 = buf[off];
  return String.fromCharCode(
    h[b7 >> 4], h[b7 & 15], h[b6 >> 4], h[b6 & 15], h[b5 >> 4], h[b5 & 15], h[b4 >> 4], h[b4 & 15],
    h[b3 >> 4], h[b3 & 15], h[b2 >> 4], h[b2 & 15], h[b1 >> 4], h[b1 & 15], h[b0 >> 4], h[b0 & 15],
  );
}

const anomalyCache = new Map<number, readonly string[]>();
const NO_ANOMALIES: readonly string[] = Object.freeze([]);

/** Anomaly bitmask → names; one frozen array per distinct mask, shared by every event. */
export function anomalyNames(mask: number): readonly string[] {
  if (mask === 0) return NO_ANOMALIES;
  let names = anomalyCache.get(mask);
  if (!names) {
    const list: string[] = [];
    let known = 0;
    for (const [bit, name] of ANOMALY_BITS) {
      known |= bit;
      if (mask & bit) list.push(name);
    }
    if (mask & ~known) list.push(`unknown_0x${(mask & ~known).toString(16)}`);
    names = Object.freeze(list);
    anomalyCache.set(mask, names);
  }
  return names;
}

export function fibResultName(code: number): string {
  return FIB_RESULT_NAMES[code] ?? `code_${code}`;
}

// ---- control frames ----------------------------------------------------------------------------

export interface Hello {
  version: number;
  recordSize: number;
  features: number;
  ncpus: number;
  pid: number;
  realtimeOffsetNs: number;
  mode: 'packet' | 'flow' | 'case';
  netnsIno: number;
  kernelRelease: string;
  /** enum skb_drop_reason value → name (SKB_DROP_REASON_ prefix stripped), from the kernel's BTF. */
  dropReasons: Map<number, string>;
}

export class DecodeError extends Error {}

function need(len: number, min: number, what: string): void {
  if (len < min) throw new DecodeError(`${what} frame too short: ${len} bytes, need at least ${min}`);
}

export function decodeHello(buf: Buffer, off: number, len: number): Hello {
  need(len, HELLO.size, 'HELLO');
  const relLen = buf.readUInt16LE(off + HELLO.kernelReleaseLen);
  const count = buf.readUInt32LE(off + HELLO.reasonCount);
  const end = off + len;
  let p = off + HELLO.size;
  if (p + relLen > end) throw new DecodeError('HELLO frame: kernel release runs past the frame');
  const kernelRelease = buf.toString('utf8', p, p + relLen);
  p += relLen;
  const dropReasons = new Map<number, string>();
  for (let i = 0; i < count; i++) {
    if (p + 6 > end) throw new DecodeError(`HELLO frame: drop reason ${i} of ${count} runs past the frame`);
    const value = buf.readUInt32LE(p);
    const nameLen = buf.readUInt16LE(p + 4);
    if (p + 6 + nameLen > end) throw new DecodeError(`HELLO frame: drop reason ${i} name runs past the frame`);
    dropReasons.set(value, buf.toString('latin1', p + 6, p + 6 + nameLen));
    p += 6 + nameLen;
  }
  return {
    version: buf.readUInt16LE(off + HELLO.protocolVersion),
    recordSize: buf.readUInt16LE(off + HELLO.recordSize),
    features: buf.readUInt32LE(off + HELLO.features),
    ncpus: buf.readUInt32LE(off + HELLO.ncpus),
    pid: buf.readUInt32LE(off + HELLO.pid),
    realtimeOffsetNs: readI64(buf, off + HELLO.realtimeOffsetNs),
    mode: (['packet', 'flow', 'case'] as const)[buf.readUInt32LE(off + HELLO.mode)] ?? 'packet',
    netnsIno: buf.readUInt32LE(off + HELLO.netnsIno),
    kernelRelease,
    dropReasons,
  };
}

export interface LoaderStats {
  tsNs: number;
  eventsSent: number;
  framesSent: number;
  rbFailTotal: number;
  pktsSeen: number;
  pktsMatched: number;
  dropsSeen: number;
  flowRecords: number;
  linksAttached: number;
  rbFailPerCpu: number[];
}

export function decodeStats(buf: Buffer, off: number, len: number): LoaderStats {
  need(len, STATS.size, 'STATS');
  const ncpus = buf.readUInt32LE(off + STATS.ncpus);
  const perCpu: number[] = [];
  for (let i = 0; i < ncpus && STATS.size + 8 * (i + 1) <= len; i++) perCpu.push(readU64(buf, off + STATS.size + 8 * i));
  return {
    tsNs: readU64(buf, off + STATS.tsNs),
    eventsSent: readU64(buf, off + STATS.eventsSent),
    framesSent: readU64(buf, off + STATS.framesSent),
    rbFailTotal: readU64(buf, off + STATS.rbFailTotal),
    pktsSeen: readU64(buf, off + STATS.pktsSeen),
    pktsMatched: readU64(buf, off + STATS.pktsMatched),
    dropsSeen: readU64(buf, off + STATS.dropsSeen),
    flowRecords: readU64(buf, off + STATS.flowRecords),
    linksAttached: readU64(buf, off + STATS.linksAttached),
    rbFailPerCpu: perCpu,
  };
}

export interface LinkEvent {
  ifindex: number;
  name: string;
  state: 'detached' | 'attached' | 'failed';
  how: 'none' | 'tcx' | 'tc';
  /** Matched an attach pattern. */
  pattern: boolean;
  /** vxlan.calico's underlay device. */
  uplink: boolean;
}

export function decodeLink(buf: Buffer, off: number, len: number): LinkEvent {
  need(len, LINK.size, 'LINK');
  const nameLen = buf.readUInt16LE(off + LINK.nameLen);
  if (LINK.size + nameLen > len) throw new DecodeError('LINK frame: name runs past the frame');
  const role = buf[off + LINK.role];
  return {
    ifindex: buf.readUInt32LE(off + LINK.ifindex),
    name: buf.toString('utf8', off + LINK.size, off + LINK.size + nameLen),
    state: LINK_STATE_NAMES[buf[off + LINK.state]] ?? 'failed',
    how: LINK_HOW_NAMES[buf[off + LINK.how]] ?? 'none',
    pattern: (role & LinkRole.PATTERN) !== 0,
    uplink: (role & LinkRole.UPLINK) !== 0,
  };
}

export interface LoaderError {
  errno: number;
  fatal: boolean;
  message: string;
}

export function decodeError(buf: Buffer, off: number, len: number): LoaderError {
  need(len, ERROR.size, 'ERROR');
  const msgLen = Math.min(buf.readUInt16LE(off + ERROR.msgLen), len - ERROR.size);
  return {
    errno: buf.readInt32LE(off + ERROR.err),
    fatal: buf[off + ERROR.fatal] === 1,
    message: buf.toString('utf8', off + ERROR.size, off + ERROR.size + msgLen),
  };
}

export interface Ack {
  status: number;
  line: string;
  message: string;
}

export function decodeAck(buf: Buffer, off: number, len: number): Ack {
  need(len, ACK.size, 'ACK');
  const lineLen = buf.readUInt16LE(off + ACK.lineLen);
  const msgLen = buf.readUInt16LE(off + ACK.msgLen);
  if (ACK.size + lineLen + msgLen > len) throw new DecodeError('ACK frame: text runs past the frame');
  const p = off + ACK.size;
  return {
    status: buf.readInt32LE(off + ACK.status),
    line: buf.toString('utf8', p, p + lineLen),
    message: buf.toString('utf8', p + lineLen, p + lineLen + msgLen),
  };
}

// ---- event records -----------------------------------------------------------------------------

/** What a record needs from earlier frames to become a TraceEvent. */
export interface DecodeContext {
  /** ifindex → interface name, from LINK frames (kept after detach: records may still be in flight). */
  linkNames: Map<number, string>;
  /** From HELLO. */
  dropReasons: Map<number, string>;
  realtimeOffsetNs: number;
}

export function newDecodeContext(): DecodeContext {
  return { linkNames: new Map(), dropReasons: new Map(), realtimeOffsetNs: 0 };
}

/**
 * Calls `each(buf, recordOffset, recordSize)` for every record of an EVENTS payload; returns the count.
 * Records are back to back, each as long as its own `size` field: a frame whose records do not tile it
 * exactly is refused (no silent garbage from a misaligned walk).
 */
export function forEachRecord(buf: Buffer, off: number, len: number, each: (buf: Buffer, recordOff: number, recordSize: number) => void): number {
  need(len, EVENTS_HDR.size, 'EVENTS');
  const count = buf.readUInt32LE(off + EVENTS_HDR.count);
  const base = buf.readUInt32LE(off + EVENTS_HDR.baseSize);
  if (base !== REC_BASE_SIZE) {
    throw new DecodeError(`EVENTS frame: record base of ${base} bytes, this collector knows ${REC_BASE_SIZE}: rebuild the loader and the collector from one checkout`);
  }
  const end = off + len;
  let p = off + EVENTS_HDR.size;
  for (let i = 0; i < count; i++) {
    if (p + REC_BASE_SIZE > end) throw new DecodeError(`EVENTS frame: record ${i} of ${count} starts ${p - off} bytes in, past the ${len}-byte frame`);
    const size = buf.readUInt16LE(p + REC.size);
    if (size < REC_BASE_SIZE || p + size > end) {
      throw new DecodeError(`EVENTS frame: record ${i} of ${count} says it is ${size} bytes: ${size < REC_BASE_SIZE ? `less than its ${REC_BASE_SIZE}-byte base` : `it runs past the ${len}-byte frame`}`);
    }
    each(buf, p, size);
    p += size;
  }
  if (p !== end) throw new DecodeError(`EVENTS frame: ${end - p} bytes left after its ${count} records`);
  return count;
}

/** Case mode: one CASES frame — the packets counted per hop case in one finished epoch. */
export interface CaseCounts {
  epoch: number;
  /** The last frame of this epoch. */
  last: boolean;
  /** Case id (16 hex digits) → packets and bytes that passed that hop case. */
  entries: { caseId: string; packets: number; bytes: number }[];
}

export function decodeCases(buf: Buffer, off: number, len: number): CaseCounts {
  need(len, CASES_HDR.size, 'CASES');
  const count = buf.readUInt32LE(off + CASES_HDR.count);
  const size = buf.readUInt32LE(off + CASES_HDR.entrySize);
  if (size < CASE_ENTRY.size || CASES_HDR.size + count * size > len) {
    throw new DecodeError(`CASES frame: ${count} entries of ${size} bytes do not fit in ${len} bytes`);
  }
  const entries: CaseCounts['entries'] = [];
  for (let i = 0, p = off + CASES_HDR.size; i < count; i++, p += size) {
    entries.push({ caseId: formatU64Hex(buf, p + CASE_ENTRY.caseId), packets: readU64(buf, p + CASE_ENTRY.packets), bytes: readU64(buf, p + CASE_ENTRY.bytes) });
  }
  return { epoch: buf.readUInt32LE(off + CASES_HDR.epoch), last: buf.readUInt32LE(off + CASES_HDR.last) === 1, entries };
}

const KIND_NAMES: Record<number, TraceEvent['kind']> = { [Kind.PACKET]: 'packet', [Kind.FLOW]: 'flow', [Kind.DROP]: 'drop' };

/**
 * A new event with every field in place (the optional ones undefined), in the order decodeRecord fills
 * them: it is allocated once at its full size and every event shares one shape. An object grown field by
 * field would be reallocated as it grows (about 1 KB of garbage per event) and come in several shapes
 * (with or without kernel, tunnel, drop fields), which makes every reader of events slower.
 */
function newEvent(): TraceEvent {
  return {
    kind: 'packet',
    timeNs: 0,
    wallMs: 0,
    ifindex: 0,
    iface: '',
    dir: 'ingress',
    len: 0,
    family: 4,
    proto: 0,
    src: '',
    dst: '',
    sport: 0,
    dport: 0,
    tcpFlags: 0,
    icmpType: 0,
    icmpCode: 0,
    icmpId: 0,
    icmpSeq: 0,
    ipId: 0,
    ttl: 0,
    mark: 0,
    fingerprint: '',
    natFingerprint: 0,
    kernel: undefined,
    tunnel: undefined,
    dropReason: undefined,
    dropReasonName: undefined,
    packets: undefined,
    bytes: undefined,
    anomalies: undefined,
    caseId: undefined,
    prevCase: undefined,
    epoch: undefined,
    vlan: undefined,
  };
}

/** Record size for every value of the parts byte: base + the parts' sizes; 0 when a bit is unknown. */
const SIZE_OF_PARTS: Uint16Array = (() => {
  const t = new Uint16Array(256);
  for (let set = 0; set <= PARTS_KNOWN; set++) t[set] = REC_BASE_SIZE + PARTS_BYTES[set];
  return t;
})();
/** The parts whose presence a record's kind and family decide. */
const REQUIRED_MASK = PART.IP6 | PART.COUNTS | PART.DROP;
const IP6_BYTES = PARTS_BYTES[PART.IP6];
const FIB_BYTES = PARTS_BYTES[PART.FIB];
const TUN_BYTES = PARTS_BYTES[PART.TUN];
const CASE_BYTES = PARTS_BYTES[PART.CASE];
const COUNTS_BYTES = PARTS_BYTES[PART.COUNTS];

/** Why a record's parts do not fit its kind, family or size. */
function partsProblem(kind: number, family: number, parts: number, size: number): string {
  if (parts & ~PARTS_KNOWN) return `unknown parts 0x${(parts & ~PARTS_KNOWN).toString(16)}`;
  if (size !== REC_BASE_SIZE + PARTS_BYTES[parts]) return `size ${size} but its parts 0x${parts.toString(16)} make ${REC_BASE_SIZE + PARTS_BYTES[parts]}`;
  if ((family === 6) !== ((parts & PART.IP6) !== 0)) return `family ${family} ${family === 6 ? 'without' : 'with'} the IPv6 addresses part`;
  if ((kind === Kind.FLOW) !== ((parts & PART.COUNTS) !== 0)) return `kind ${kind} ${kind === Kind.FLOW ? 'without' : 'with'} the counts part`;
  if ((kind === Kind.DROP) !== ((parts & PART.DROP) !== 0)) return `kind ${kind} ${kind === Kind.DROP ? 'without' : 'with'} the drop part`;
  return 'no inconsistency found';
}

/**
 * Decodes the record at buf[off] into `into` (or a new object). Optional fields absent from this
 * record are set to undefined on a reused target (no delete: keeps the object's shape stable);
 * kernel/tunnel sub-objects of a reused target are refilled. A record whose size, parts, kind and family
 * disagree is refused with a DecodeError. `recordSize`, when given (forEachRecord's), must equal the
 * record's own size field.
 */
export function decodeRecord(buf: Buffer, off: number, ctx: DecodeContext, into?: TraceEvent, recordSize?: number): TraceEvent {
  const size = buf.readUInt16LE(off + REC.size);
  const parts = buf[off + REC.parts];
  const kind = buf[off + REC.kind];
  const family = buf[off + REC.family];
  // One table read checks size against parts (an unknown bit expects 0: never a size), one comparison
  // checks the parts a kind and a family require.
  if (size !== SIZE_OF_PARTS[parts] || (recordSize !== undefined && recordSize !== size) ||
      (parts & REQUIRED_MASK) !== ((family === 6 ? PART.IP6 : 0) | (kind === Kind.FLOW ? PART.COUNTS : 0) | (kind === Kind.DROP ? PART.DROP : 0))) {
    const why = recordSize !== undefined && recordSize !== size && size === SIZE_OF_PARTS[parts] ? `its size field says ${size}, the frame gave it ${recordSize} bytes` : partsProblem(kind, family, parts, size);
    throw new DecodeError(`inconsistent event record: ${why}`);
  }
  const ev = into ?? newEvent();
  const tsNs = readU64(buf, off + REC.tsNs);
  const ifindex = buf.readUInt32LE(off + REC.ifindex);
  ev.kind = KIND_NAMES[kind] ?? 'packet';
  ev.timeNs = tsNs;
  ev.wallMs = (tsNs + ctx.realtimeOffsetNs) / 1e6;
  ev.ifindex = ifindex;
  ev.iface = ifindex === 0 ? '' : (ctx.linkNames.get(ifindex) ?? `if${ifindex}`);
  ev.dir = buf[off + REC.dir] === Dir.EGRESS ? 'egress' : 'ingress';
  ev.len = buf.readUInt32LE(off + REC.len);
  ev.family = family as 4 | 6; // 0 for a non-IP frame (the anomalies say why it was reported)
  ev.proto = buf[off + REC.proto];
  ev.sport = buf.readUInt16LE(off + REC.sport);
  ev.dport = buf.readUInt16LE(off + REC.dport);
  ev.tcpFlags = buf[off + REC.tcpFlags];
  ev.icmpType = buf[off + REC.icmpType];
  ev.icmpCode = buf[off + REC.icmpCode];
  ev.icmpId = buf.readUInt16LE(off + REC.icmpId);
  ev.icmpSeq = buf.readUInt16LE(off + REC.icmpSeq);
  ev.ipId = buf.readUInt32LE(off + REC.ipId);
  ev.ttl = buf[off + REC.ttl];
  ev.mark = buf.readUInt32LE(off + REC.mark);
  ev.fingerprint = formatU64Hex(buf, off + REC.fingerprint);
  ev.natFingerprint = buf.readUInt32LE(off + REC.natFp);

  // The parts follow the base in the order of their bits.
  let p = off + REC_BASE_SIZE;
  if (parts & PART.IP6) {
    ev.src = formatIpv6(buf, p + REC_IP6.src);
    ev.dst = formatIpv6(buf, p + REC_IP6.dst);
    p += IP6_BYTES;
  } else if (family === 4) {
    ev.src = formatIpv4(buf, off + REC.src4);
    ev.dst = formatIpv4(buf, off + REC.dst4);
  } else {
    ev.src = '';
    ev.dst = '';
  }

  if (parts & PART.FIB) {
    const k: KernelView = ev.kernel ?? ({} as KernelView);
    const fib = buf[p + REC_FIB.result];
    const fibIf = buf.readUInt32LE(p + REC_FIB.ifindex);
    const nhFamily = buf[p + REC_FIB.nexthopFamily];
    k.result = fib;
    k.resultName = fibResultName(fib);
    k.ifindex = fibIf;
    const name = fibIf === 0 ? undefined : ctx.linkNames.get(fibIf);
    if (name !== undefined) k.iface = name;
    else if (k.iface !== undefined) k.iface = undefined;
    if (nhFamily === 4 || nhFamily === 6) k.nexthop = formatAddr(nhFamily, buf, p + REC_FIB.nexthop);
    else if (k.nexthop !== undefined) k.nexthop = undefined;
    ev.kernel = k;
    p += FIB_BYTES;
  } else if (ev.kernel) ev.kernel = undefined;

  if (parts & PART.TUN) {
    const t: TunnelInfo = ev.tunnel ?? ({} as TunnelInfo);
    const tunFamily = buf[p + REC_TUN.family];
    t.outerSrc = formatAddr(tunFamily, buf, p + REC_TUN.src);
    t.outerDst = formatAddr(tunFamily, buf, p + REC_TUN.dst);
    t.vni = buf.readUInt32LE(p + REC_TUN.vni);
    t.udpSport = buf.readUInt16LE(p + REC_TUN.sport);
    t.udpDport = buf.readUInt16LE(p + REC_TUN.dport);
    ev.tunnel = t;
    p += TUN_BYTES;
  } else if (ev.tunnel) ev.tunnel = undefined;

  if (parts & PART.CASE) {
    ev.caseId = formatU64Hex(buf, p + REC_CASE.caseId);
    ev.prevCase = formatU64Hex(buf, p + REC_CASE.prevCase);
    ev.epoch = buf.readUInt32LE(p + REC_CASE.epoch);
    p += CASE_BYTES;
  } else if (ev.caseId !== undefined) {
    ev.caseId = undefined;
    ev.prevCase = undefined;
    ev.epoch = undefined;
  }

  if (parts & PART.COUNTS) {
    ev.packets = readU64(buf, p + REC_COUNTS.packets);
    ev.bytes = readU64(buf, p + REC_COUNTS.bytes);
    p += COUNTS_BYTES;
  } else if (ev.packets !== undefined) {
    ev.packets = undefined;
    ev.bytes = undefined;
  }

  if (parts & PART.DROP) {
    const reason = buf.readUInt32LE(p + REC_DROP.reason);
    ev.dropReason = reason;
    ev.dropReasonName = ctx.dropReasons.get(reason) ?? `reason_${reason}`;
  } else if (ev.dropReason !== undefined) {
    ev.dropReason = undefined;
    ev.dropReasonName = undefined;
  }

  const anomalies = buf.readUInt32LE(off + REC.anomalies);
  if (anomalies !== 0) ev.anomalies = anomalyNames(anomalies) as string[];
  else if (ev.anomalies) ev.anomalies = undefined;

  const vlan = buf.readUInt16LE(off + REC.vlan);
  if (vlan !== 0) ev.vlan = vlan;
  else if (ev.vlan !== undefined) ev.vlan = undefined;
  return ev;
}

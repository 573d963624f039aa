// SNAP frames (bpf/snap.h, docs/protocol.md "SNAP"): the first --snaplen bytes of traced packets, for
// pcapng. Offsets mirror bpf/snap.h; a snapshot pairs with the event record of the same hook run by
// fingerprint + ts_ns (+ ifindex and direction).
import { DecodeContext, formatU64Hex } from './decode';
import { readU64 } from './wire';

export const SNAP_FRAME_TYPE = 8;
export const SNAP_HDR_SIZE = 32;
export const SNAP_FRAME_HDR_SIZE = 16;
export const SNAP_MAX = 512;
export const SNAP_DEFAULT = 128;

/** Byte offsets inside one snapshot header (struct ct_snap). */
export const SNAP = { tsNs: 0, fingerprint: 8, ifindex: 16, wireLen: 20, capLen: 24, dir: 26, link: 27, dropReason: 28 } as const;
/** Byte offsets inside the frame payload's header (struct ct_snap_frame). */
export const SNAP_FRAME = { count: 0, snaplen: 4, lostTotal: 8 } as const;

export type SnapLink = 'ethernet' | 'raw';

export interface Snapshot {
  /** Kernel monotonic ns: the same value as the event record of this hook run. */
  timeNs: number;
  fingerprint: string;
  ifindex: number;
  iface: string;
  dir: 'ingress' | 'egress' | 'drop';
  /** 'ethernet': the frame from its Ethernet header (tc hooks); 'raw': from the IP header (drops). */
  link: SnapLink;
  /** The packet's length at this hook (from the first byte snapped). */
  wireLen: number;
  /** The bytes captured (a copy, ≤ snaplen). */
  data: Buffer;
  dropReason?: number;
  dropReasonName?: string;
}

export interface SnapFrame {
  snaplen: number;
  /** Snapshots the kernel could not queue, running total for this loader instance. */
  lostTotal: number;
  snapshots: Snapshot[];
}

export class SnapFormatError extends Error {}

const DIRS = ['ingress', 'egress', 'drop'] as const;

/** Decodes one SNAP frame payload; the packet bytes are copied (the frame buffer is reused). */
export function decodeSnapFrame(buf: Buffer, off: number, len: number, ctx: DecodeContext): SnapFrame {
  if (len < SNAP_FRAME_HDR_SIZE) throw new SnapFormatError(`SNAP frame of ${len} bytes is shorter than its ${SNAP_FRAME_HDR_SIZE}-byte header`);
  const count = buf.readUInt32LE(off + SNAP_FRAME.count);
  const out: SnapFrame = { snaplen: buf.readUInt32LE(off + SNAP_FRAME.snaplen), lostTotal: readU64(buf, off + SNAP_FRAME.lostTotal), snapshots: [] };
  let p = off + SNAP_FRAME_HDR_SIZE;
  const end = off + len;
  for (let i = 0; i < count; i++) {
    if (p + SNAP_HDR_SIZE > end) throw new SnapFormatError(`SNAP frame says ${count} snapshots but ends after ${i}`);
    const capLen = buf.readUInt16LE(p + SNAP.capLen);
    const size = SNAP_HDR_SIZE + ((capLen + 7) & ~7);
    if (capLen > SNAP_MAX || p + size > end) throw new SnapFormatError(`snapshot ${i} of a SNAP frame claims ${capLen} bytes, beyond the frame`);
    const ifindex = buf.readUInt32LE(p + SNAP.ifindex);
    const dir = DIRS[buf[p + SNAP.dir]] ?? 'drop';
    const snap: Snapshot = {
      timeNs: readU64(buf, p + SNAP.tsNs),
      fingerprint: formatU64Hex(buf, p + SNAP.fingerprint),
      ifindex,
      iface: ifindex === 0 ? '' : (ctx.linkNames.get(ifindex) ?? `if${ifindex}`),
      dir,
      link: buf[p + SNAP.link] === 2 ? 'raw' : 'ethernet',
      wireLen: buf.readUInt32LE(p + SNAP.wireLen),
      data: Buffer.from(buf.subarray(p + SNAP_HDR_SIZE, p + SNAP_HDR_SIZE + capLen)),
    };
    if (dir === 'drop') {
      snap.dropReason = buf.readUInt32LE(p + SNAP.dropReason);
      snap.dropReasonName = ctx.dropReasons.get(snap.dropReason);
    }
    out.snapshots.push(snap);
    p += size;
  }
  return out;
}

/** The key a snapshot and its event record share. */
export function snapKey(fingerprint: string, timeNs: number, ifindex: number): string {
  return `${fingerprint}|${timeNs}|${ifindex}`;
}

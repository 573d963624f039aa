// The wire format as TypeScript sees it: every constant and byte offset of bpf/event.h, in this one
// table, so frames.ts and decode.ts never write a bare number. When event.h changes, this file changes
// with it (the golden-bytes test compares the two through the real loader's output).
//
// Integers are little-endian; addresses are network-order bytes (see event.h).

import * as layout from './generated/event-layout';

export const PROTOCOL_VERSION = 2;
/** "TCTR" on the wire: 54 43 54 52, read as a little-endian u32. */
export const FRAME_MAGIC = 0x52544354;
export const FRAME_HDR_SIZE = 16;
export const FRAME_MAX_PAYLOAD = 1 << 20;

/** struct ct_frame_hdr */
export const FRAME = { magic: 0, version: 4, type: 6, length: 8, seq: 12 } as const;

export const FrameType = {
  HELLO: 1,
  EVENTS: 2,
  STATS: 3,
  LINK: 4,
  ERROR: 5,
  ACK: 6,
  BYE: 7,
  CASES: 8,
} as const;

export const FRAME_TYPE_NAMES: Record<number, string> = {
  1: 'HELLO',
  2: 'EVENTS',
  3: 'STATS',
  4: 'LINK',
  5: 'ERROR',
  6: 'ACK',
  7: 'BYE',
  8: 'CASES',
};

/** struct ct_cases_hdr, then `count` entries of struct ct_case_entry (case_id u64, packets u64, bytes u64). */
export const CASES_HDR = { epoch: 0, count: 4, entrySize: 8, last: 12, size: 16 } as const;
export const CASE_ENTRY = { caseId: 0, packets: 8, bytes: 16, size: 24 } as const;

/** struct ct_events_hdr, then `count` records back to back, each as long as its own `size` field. */
export const EVENTS_HDR = { count: 0, baseSize: 4, size: 8 } as const;

// The record (struct ct_rec and its parts): offsets generated from the BPF object's BTF (see
// scripts/gen-event-layout.js). Part offsets count from the part's start. Copied into constants of this
// module rather than re-exported: a re-export compiles to a getter, called on every field read.
export const REC = layout.REC;
export const REC_BASE_SIZE = layout.REC_BASE_SIZE;
export const REC_MAX_SIZE = layout.REC_MAX_SIZE;
export const PART = layout.PART;
export const PARTS_KNOWN = layout.PARTS_KNOWN;
export const PART_SIZES = layout.PART_SIZES;
export const REC_IP6 = layout.REC_IP6;
export const REC_FIB = layout.REC_FIB;
export const REC_TUN = layout.REC_TUN;
export const REC_CASE = layout.REC_CASE;
export const REC_COUNTS = layout.REC_COUNTS;
export const REC_DROP = layout.REC_DROP;

/** Bytes of the parts a `parts` bit set announces, for every bit set of the known parts. */
export const PARTS_BYTES: Uint16Array = (() => {
  const t = new Uint16Array(layout.PARTS_KNOWN + 1);
  for (let set = 0; set <= PARTS_KNOWN; set++) {
    for (let i = 0; i < PART_SIZES.length; i++) if (set & (1 << i)) t[set] += PART_SIZES[i];
  }
  return t;
})();

export const Kind = { PACKET: 1, FLOW: 2, DROP: 3 } as const;
export const Dir = { INGRESS: 0, EGRESS: 1, NONE: 2 } as const;

/** enum ct_anomaly bit → the name TraceEvent.anomalies uses. */
export const ANOMALY_BITS: readonly [number, string][] = [
  [1 << 0, 'truncated'],
  [1 << 1, 'bad_ihl'],
  [1 << 2, 'fragment'],
  [1 << 3, 'ipv6_ext_limit'],
  [1 << 4, 'bad_vxlan'],
  [1 << 5, 'bad_ip_version'],
  [1 << 6, 'bad_ip_len'],
  [1 << 7, 'vlan_limit'],
  [1 << 8, 'bad_l4'],
  [1 << 9, 'non_first_fragment'],
];

/** BPF_FIB_LKUP_RET_* (include/uapi/linux/bpf.h): a kernel ABI, not a policy of ours. */
export const FIB_RESULT_NAMES: readonly string[] = [
  'success',
  'blackhole',
  'unreachable',
  'prohibit',
  'not_fwded',
  'fwd_disabled',
  'unsupp_lwt',
  'no_neigh',
  'frag_needed',
  'no_src_addr',
];

/** struct ct_hello, then kernel release bytes, then drop-reason entries {u32 value; u16 len; name}. */
export const HELLO = {
  protocolVersion: 0,
  recordSize: 2,
  features: 4,
  ncpus: 8,
  pid: 12,
  realtimeOffsetNs: 16,
  mode: 24,
  netnsIno: 28,
  reasonCount: 32,
  kernelReleaseLen: 36,
  size: 40,
} as const;

export const Feature = { TCX: 1 << 0, CLSACT: 1 << 1, DROPS: 1 << 2, FIB: 1 << 3, FLOW_MODE: 1 << 4 } as const;

/** struct ct_stats, then ncpus x u64 per-CPU ring-buffer reserve failures. */
export const STATS = {
  tsNs: 0,
  eventsSent: 8,
  framesSent: 16,
  rbFailTotal: 24,
  pktsSeen: 32,
  pktsMatched: 40,
  dropsSeen: 48,
  flowRecords: 56,
  linksAttached: 64,
  ncpus: 72,
  size: 80,
} as const;

/** struct ct_link, then name_len bytes of the name. */
export const LINK = { ifindex: 0, state: 4, how: 5, role: 6, nameLen: 8, size: 12 } as const;
export const LINK_STATE_NAMES = ['detached', 'attached', 'failed'] as const;
export const LINK_HOW_NAMES = ['none', 'tcx', 'tc'] as const;
export const LinkRole = { PATTERN: 1 << 0, UPLINK: 1 << 1 } as const;

/** struct ct_error, then msg_len bytes of text. */
export const ERROR = { err: 0, fatal: 4, msgLen: 6, size: 8 } as const;

/** struct ct_ack, then line_len bytes of the command, then msg_len bytes of text. */
export const ACK = { status: 0, lineLen: 4, msgLen: 6, size: 8 } as const;

/** A u64 field as a JS number (exact below 2^53: 104 days of ns uptime, far beyond any counter). */
export function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off + 4) * 0x100000000 + buf.readUInt32LE(off);
}

export function readI64(buf: Buffer, off: number): number {
  return buf.readInt32LE(off + 4) * 0x100000000 + buf.readUInt32LE(off);
}

// The relay's view of an ObserveResponse on the wire. Items pass through the relay as the bytes the node
// encoded: splitting a batch, reading the few header fields the merge needs (seq, time, node, which item)
// and restamping seq costs a fraction of a decode + re-encode. Protobuf merges concatenated messages
// field by field (the last value of a scalar wins), so appending `seq` and `node_seq` restamps an item.
import { Reader } from 'protobufjs/minimal';

/** ObserveResponse field numbers (proto/calitrace/v1/calitrace.proto). */
const F_SEQ = 1;
const F_TIME_MS = 2;
const F_NODE = 3;
const F_BATCH = 20;
const F_NODE_SEQ = 21;

/** The oneof `item` field numbers → the item kind. */
export const ITEM_FIELDS: Record<number, RawItemKind> = {
  10: 'packet', 11: 'verdict', 12: 'flow', 13: 'routeChange', 14: 'lost', 15: 'nodeEvent', 16: 'stitched',
};
export type RawItemKind = 'packet' | 'verdict' | 'flow' | 'routeChange' | 'lost' | 'nodeEvent' | 'stitched' | 'none';

export interface RawItem {
  /** The item's encoded ObserveResponse, as the node sent it. */
  bytes: Uint8Array;
  seq: number;
  timeMs: number;
  node: string;
  kind: RawItemKind;
}

/** Reads the header fields of one encoded (unbatched) ObserveResponse. */
export function scanItem(bytes: Uint8Array): RawItem {
  const r = Reader.create(bytes);
  const out: RawItem = { bytes, seq: 0, timeMs: 0, node: '', kind: 'none' };
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === F_SEQ && wire === 0) out.seq = toNumber(r.uint64());
    else if (field === F_TIME_MS && wire === 0) out.timeMs = toNumber(r.int64());
    else if (field === F_NODE && wire === 2) out.node = r.string();
    else {
      const kind = ITEM_FIELDS[field];
      if (kind) out.kind = kind;
      r.skipType(wire);
    }
  }
  return out;
}

/**
 * One response from a node → its items. With `batch` the response is only the repeated field 20 (the
 * server writes it that way); any other response is a single item.
 */
export function splitResponse(bytes: Uint8Array): RawItem[] {
  const r = Reader.create(bytes);
  if (r.len === 0) return [scanItem(bytes)];
  const first = r.uint32();
  if (first >>> 3 !== F_BATCH) return [scanItem(bytes)];
  const items: RawItem[] = [];
  r.pos = 0;
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === F_BATCH && (tag & 7) === 2) {
      const len = r.uint32();
      items.push(scanItem(bytes.subarray(r.pos, r.pos + len)));
      r.pos += len;
    } else r.skipType(tag & 7);
  }
  return items;
}

/** protobufjs reads 64-bit varints as numbers, or as Long objects when the long package is present. */
function toNumber(v: unknown): number {
  return typeof v === 'number' ? v : (v as { toNumber(): number }).toNumber();
}

function varint(out: number[], n: number): void {
  // Numbers up to 2^53: split so the bit operations stay in 32 bits.
  while (n > 0x7f) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

/** The item's bytes with the relay's seq and the node's own seq appended (the last value wins). */
export function restamp(bytes: Uint8Array, seq: number, nodeSeq: number): Uint8Array {
  const tail: number[] = [];
  tail.push(F_SEQ << 3);
  varint(tail, seq);
  varint(tail, (F_NODE_SEQ << 3) | 0);
  varint(tail, nodeSeq);
  const out = new Uint8Array(bytes.length + tail.length);
  out.set(bytes, 0);
  out.set(tail, bytes.length);
  return out;
}

// Builds loader frames byte by byte from the offsets written in docs/protocol.md — deliberately NOT
// from src/capture/wire.ts, so the decoder's offset table is checked against the document.

export function frame(type: number, seq: number, payload: Buffer, opts: { magic?: number; version?: number } = {}): Buffer {
  const b = Buffer.alloc(16 + payload.length);
  b.writeUInt32LE(opts.magic ?? 0x52544354, 0);
  b.writeUInt16LE(opts.version ?? 2, 4);
  b.writeUInt16LE(type, 6);
  b.writeUInt32LE(payload.length, 8);
  b.writeUInt32LE(seq, 12);
  payload.copy(b, 16);
  return b;
}

export interface RecordFields {
  tsNs?: bigint;
  fingerprint?: bigint;
  packets?: bigint;
  bytes?: bigint;
  ifindex?: number;
  len?: number;
  mark?: number;
  anomalies?: number;
  ipId?: number;
  dropReason?: number;
  fibIfindex?: number;
  vni?: number;
  kind?: number;
  dir?: number;
  family?: number;
  proto?: number;
  tcpFlags?: number;
  ttl?: number;
  icmpType?: number;
  icmpCode?: number;
  sport?: number;
  dport?: number;
  icmpId?: number;
  icmpSeq?: number;
  fibResult?: number;
  fibFamily?: number;
  tunFamily?: number;
  vlan?: number;
  tunSport?: number;
  tunDport?: number;
  natFp?: number;
  src?: number[];
  dst?: number[];
  fibNexthop?: number[];
  tunSrc?: number[];
  tunDst?: number[];
  caseId?: bigint;
  prevCase?: bigint;
  epoch?: number;
  /** Overrides of what the fields imply, to build inconsistent records. */
  parts?: number;
  size?: number;
}

/**
 * One protocol-2 record: the 72-byte base, then the parts the fields call for, in bit order — ip6 (bit 0,
 * 32 bytes) for family 6, fib (bit 1, 24) when fibResult is set and not 255, tun (bit 2, 48) when
 * tunFamily is set, case (bit 3, 24) when caseId is set, counts (bit 4, 16) for kind 2, drop (bit 5, 8)
 * for kind 3. Unspecified fields are zero.
 */
export function record(f: RecordFields): Buffer {
  const kind = f.kind ?? 1;
  const family = f.family ?? 4;
  const chunks: Buffer[] = [];
  let parts = 0;
  const base = Buffer.alloc(72);
  chunks.push(base);
  if (family === 6) {
    parts |= 1;
    const p = Buffer.alloc(32);
    Buffer.from(f.src ?? []).copy(p, 0);
    Buffer.from(f.dst ?? []).copy(p, 16);
    chunks.push(p);
  } else if (family === 4) {
    Buffer.from(f.src ?? []).copy(base, 64);
    Buffer.from(f.dst ?? []).copy(base, 68);
  }
  if (f.fibResult !== undefined && f.fibResult !== 255) {
    parts |= 2;
    const p = Buffer.alloc(24);
    p.writeUInt32LE(f.fibIfindex ?? 0, 0);
    p[4] = f.fibResult;
    p[5] = f.fibFamily ?? 0;
    Buffer.from(f.fibNexthop ?? []).copy(p, 8);
    chunks.push(p);
  }
  if (f.tunFamily) {
    parts |= 4;
    const p = Buffer.alloc(48);
    p.writeUInt32LE(f.vni ?? 0, 0);
    p.writeUInt16LE(f.tunSport ?? 0, 4);
    p.writeUInt16LE(f.tunDport ?? 0, 6);
    p[8] = f.tunFamily;
    Buffer.from(f.tunSrc ?? []).copy(p, 16);
    Buffer.from(f.tunDst ?? []).copy(p, 32);
    chunks.push(p);
  }
  if (f.caseId !== undefined) {
    parts |= 8;
    const p = Buffer.alloc(24);
    p.writeBigUInt64LE(f.caseId, 0);
    p.writeBigUInt64LE(f.prevCase ?? 0n, 8);
    p.writeUInt32LE(f.epoch ?? 0, 16);
    chunks.push(p);
  }
  if (kind === 2) {
    parts |= 16;
    const p = Buffer.alloc(16);
    p.writeBigUInt64LE(f.packets ?? 0n, 0);
    p.writeBigUInt64LE(f.bytes ?? 0n, 8);
    chunks.push(p);
  }
  if (kind === 3) {
    parts |= 32;
    const p = Buffer.alloc(8);
    p.writeUInt32LE(f.dropReason ?? 0, 0);
    chunks.push(p);
  }
  const b = Buffer.concat(chunks);
  b.writeUInt16LE(f.size ?? b.length, 0);
  b[2] = f.parts ?? parts;
  b[3] = kind;
  b[4] = f.dir ?? 0;
  b[5] = family;
  b[6] = f.proto ?? 0;
  b[7] = f.tcpFlags ?? 0;
  b.writeBigUInt64LE(f.tsNs ?? 0n, 8);
  b.writeBigUInt64LE(f.fingerprint ?? 0n, 16);
  b.writeUInt32LE(f.ifindex ?? 0, 24);
  b.writeUInt32LE(f.len ?? 0, 28);
  b.writeUInt32LE(f.mark ?? 0, 32);
  b.writeUInt32LE(f.anomalies ?? 0, 36);
  b.writeUInt32LE(f.ipId ?? 0, 40);
  b.writeUInt32LE(f.natFp ?? 0, 44);
  b[48] = f.ttl ?? 0;
  b[49] = f.icmpType ?? 0;
  b[50] = f.icmpCode ?? 0;
  b.writeUInt16LE(f.sport ?? 0, 52);
  b.writeUInt16LE(f.dport ?? 0, 54);
  b.writeUInt16LE(f.icmpId ?? 0, 56);
  b.writeUInt16LE(f.icmpSeq ?? 0, 58);
  b.writeUInt16LE(f.vlan ?? 0, 60);
  return b;
}

/** An EVENTS payload: count, base_size (72 in protocol 2), then the records back to back. */
export function eventsPayload(records: Buffer[], baseSize = 72): Buffer {
  const hdr = Buffer.alloc(8);
  hdr.writeUInt32LE(records.length, 0);
  hdr.writeUInt32LE(baseSize, 4);
  return Buffer.concat([hdr, ...records]);
}

export function helloPayload(opts: {
  realtimeOffsetNs?: bigint;
  mode?: number;
  kernelRelease?: string;
  reasons?: [number, string][];
  features?: number;
  ncpus?: number;
  pid?: number;
  netnsIno?: number;
}): Buffer {
  const rel = Buffer.from(opts.kernelRelease ?? '6.18.0');
  const fixed = Buffer.alloc(40);
  fixed.writeUInt16LE(2, 0);
  fixed.writeUInt16LE(72, 2);
  fixed.writeUInt32LE(opts.features ?? 0x1d, 4);
  fixed.writeUInt32LE(opts.ncpus ?? 2, 8);
  fixed.writeUInt32LE(opts.pid ?? 4242, 12);
  fixed.writeBigInt64LE(opts.realtimeOffsetNs ?? 0n, 16);
  fixed.writeUInt32LE(opts.mode ?? 0, 24);
  fixed.writeUInt32LE(opts.netnsIno ?? 4026531840, 28);
  const reasons = opts.reasons ?? [];
  fixed.writeUInt32LE(reasons.length, 32);
  fixed.writeUInt16LE(rel.length, 36);
  const entries = reasons.map(([value, name]) => {
    const e = Buffer.alloc(6 + name.length);
    e.writeUInt32LE(value, 0);
    e.writeUInt16LE(name.length, 4);
    e.write(name, 6, 'latin1');
    return e;
  });
  return Buffer.concat([fixed, rel, ...entries]);
}

export function linkPayload(ifindex: number, name: string, state: number, how = 1, role = 1): Buffer {
  const b = Buffer.alloc(12 + Buffer.byteLength(name));
  b.writeUInt32LE(ifindex, 0);
  b[4] = state;
  b[5] = how;
  b[6] = role;
  b.writeUInt16LE(Buffer.byteLength(name), 8);
  b.write(name, 12);
  return b;
}

export function statsPayload(f: { eventsSent: bigint; rbFailTotal: bigint; perCpu?: bigint[] }): Buffer {
  const perCpu = f.perCpu ?? [f.rbFailTotal, 0n];
  const b = Buffer.alloc(80 + 8 * perCpu.length);
  b.writeBigUInt64LE(1000n, 0);
  b.writeBigUInt64LE(f.eventsSent, 8);
  b.writeBigUInt64LE(0n, 16);
  b.writeBigUInt64LE(f.rbFailTotal, 24);
  b.writeUInt32LE(perCpu.length, 72);
  perCpu.forEach((v, i) => b.writeBigUInt64LE(v, 80 + 8 * i));
  return b;
}

export function ackPayload(status: number, line: string, message = ''): Buffer {
  const b = Buffer.alloc(8 + line.length + message.length);
  b.writeInt32LE(status, 0);
  b.writeUInt16LE(line.length, 4);
  b.writeUInt16LE(message.length, 6);
  b.write(line, 8);
  b.write(message, 8 + line.length);
  return b;
}

export const ip4 = (s: string): number[] => s.split('.').map(Number);

// Builds loader frames byte by byte from the offsets written in docs/protocol.md — deliberately NOT
// from src/capture/wire.ts, so the decoder's offset table is checked against the document.

export function frame(type: number, seq: number, payload: Buffer, opts: { magic?: number; version?: number } = {}): Buffer {
  const b = Buffer.alloc(16 + payload.length);
  b.writeUInt32LE(opts.magic ?? 0x52544354, 0);
  b.writeUInt16LE(opts.version ?? 1, 4);
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
}

/** One 176-byte record; unspecified fields are zero except fib_result (255 = no lookup). */
export function record(f: RecordFields): Buffer {
  const b = Buffer.alloc(176);
  b.writeBigUInt64LE(f.tsNs ?? 0n, 0);
  b.writeBigUInt64LE(f.fingerprint ?? 0n, 8);
  b.writeBigUInt64LE(f.packets ?? 1n, 16);
  b.writeBigUInt64LE(f.bytes ?? 0n, 24);
  b.writeUInt32LE(f.ifindex ?? 0, 32);
  b.writeUInt32LE(f.len ?? 0, 36);
  b.writeUInt32LE(f.mark ?? 0, 40);
  b.writeUInt32LE(f.anomalies ?? 0, 44);
  b.writeUInt32LE(f.ipId ?? 0, 48);
  b.writeUInt32LE(f.dropReason ?? 0, 52);
  b.writeUInt32LE(f.fibIfindex ?? 0, 56);
  b.writeUInt32LE(f.vni ?? 0, 60);
  b[64] = f.kind ?? 1;
  b[65] = f.dir ?? 0;
  b[66] = f.family ?? 4;
  b[67] = f.proto ?? 0;
  b[68] = f.tcpFlags ?? 0;
  b[69] = f.ttl ?? 0;
  b[70] = f.icmpType ?? 0;
  b[71] = f.icmpCode ?? 0;
  b.writeUInt16LE(f.sport ?? 0, 72);
  b.writeUInt16LE(f.dport ?? 0, 74);
  b.writeUInt16LE(f.icmpId ?? 0, 76);
  b.writeUInt16LE(f.icmpSeq ?? 0, 78);
  b[80] = f.fibResult ?? 255;
  b[81] = f.fibFamily ?? 0;
  b[82] = f.tunFamily ?? 0;
  b.writeUInt16LE(f.vlan ?? 0, 84);
  b.writeUInt16LE(f.tunSport ?? 0, 86);
  b.writeUInt16LE(f.tunDport ?? 0, 88);
  b.writeUInt32LE(f.natFp ?? 0, 92);
  Buffer.from(f.src ?? []).copy(b, 96);
  Buffer.from(f.dst ?? []).copy(b, 112);
  Buffer.from(f.fibNexthop ?? []).copy(b, 128);
  Buffer.from(f.tunSrc ?? []).copy(b, 144);
  Buffer.from(f.tunDst ?? []).copy(b, 160);
  return b;
}

export function eventsPayload(records: Buffer[], recordSize = 176): Buffer {
  const hdr = Buffer.alloc(8);
  hdr.writeUInt32LE(records.length, 0);
  hdr.writeUInt32LE(recordSize, 4);
  const padded = records.map((r) => (r.length < recordSize ? Buffer.concat([r, Buffer.alloc(recordSize - r.length)]) : r));
  return Buffer.concat([hdr, ...padded]);
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
  fixed.writeUInt16LE(1, 0);
  fixed.writeUInt16LE(176, 2);
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

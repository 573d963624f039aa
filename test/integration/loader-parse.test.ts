// The tc program's parser and fingerprint on exact bytes: each packet is run once through the real
// egress program in the kernel (BPF_PROG_TEST_RUN via bpf/.output/calitrace-parse; nothing attached,
// no traffic) and the record is decoded with the offsets of docs/protocol.md. Covers what a veth
// cannot deliver to a tc hook as written (in-band VLAN stacks: the kernel untags before tc ingress)
// and pins the fingerprint rules: same for the fields forwarding changes, different otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { POD_A as A, WEB_0 as B } from '../helpers/path-fixtures';

const tool = path.resolve(__dirname, '../../../bpf/.output/calitrace-parse');

const ANOM = { truncated: 1 << 0, bad_ihl: 1 << 1, fragment: 1 << 2, ipv6_ext_limit: 1 << 3, bad_vxlan: 1 << 4,
  vlan_limit: 1 << 7, bad_l4: 1 << 8 } as const;

interface Rec {
  fingerprint: string;
  anomalies: number;
  ipId: number;
  vni: number;
  family: number;
  proto: number;
  ttl: number;
  icmpType: number;
  sport: number;
  dport: number;
  icmpId: number;
  icmpSeq: number;
  tunFamily: number;
  vlan: number;
  tunDport: number;
  src: Buffer;
  dst: Buffer;
  tunSrc: Buffer;
  tunDst: Buffer;
}

/** Runs the egress program on `frame`; the records it emitted (0 or 1). */
function parse(frame: Buffer): Rec[] {
  const out = execFileSync(tool, ['--hex', frame.toString('hex')]);
  assert.equal(out.readUInt32LE(0), 0x52544354);
  assert.equal(out.readUInt16LE(6), 2, 'an EVENTS frame');
  const count = out.readUInt32LE(16);
  assert.equal(out.readUInt32LE(20), 72, 'base_size');
  const recs: Rec[] = [];
  // Protocol 2 (docs/protocol.md "EVENTS"): a 72-byte base, then the parts its `parts` bits name, in bit
  // order: ip6 (bit 0, 32 bytes), fib (bit 1, 24), tun (bit 2, 48), case (bit 3, 24), counts (16), drop (8).
  const PART_SIZES = [32, 24, 48, 24, 16, 8];
  let off = 24;
  for (let i = 0; i < count; i++) {
    const r = out.subarray(off, off + out.readUInt16LE(off));
    const parts = r[2];
    const partAt = (bit: number): number => {
      let at = 72;
      for (let b = 0; b < bit; b++) if (parts & (1 << b)) at += PART_SIZES[b];
      return at;
    };
    const src = Buffer.alloc(16);
    const dst = Buffer.alloc(16);
    if (parts & 1) {
      r.copy(src, 0, partAt(0), partAt(0) + 16);
      r.copy(dst, 0, partAt(0) + 16, partAt(0) + 32);
    } else {
      r.copy(src, 0, 64, 68);
      r.copy(dst, 0, 68, 72);
    }
    const tun = parts & 4 ? r.subarray(partAt(2), partAt(2) + 48) : Buffer.alloc(48);
    recs.push({
      fingerprint: r.readBigUInt64LE(16).toString(16).padStart(16, '0'),
      anomalies: r.readUInt32LE(36),
      ipId: r.readUInt32LE(40),
      vni: tun.readUInt32LE(0),
      family: r[5],
      proto: r[6],
      ttl: r[48],
      icmpType: r[49],
      sport: r.readUInt16LE(52),
      dport: r.readUInt16LE(54),
      icmpId: r.readUInt16LE(56),
      icmpSeq: r.readUInt16LE(58),
      tunFamily: tun[8],
      vlan: r.readUInt16LE(60),
      tunDport: tun.readUInt16LE(6),
      src,
      dst,
      tunSrc: Buffer.from(tun.subarray(16, 32)),
      tunDst: Buffer.from(tun.subarray(32, 48)),
    });
    off += r.length;
  }
  assert.equal(off, out.length, 'the records tile the frame');
  return recs;
}

function one(frame: Buffer): Rec {
  const recs = parse(frame);
  assert.equal(recs.length, 1, 'one record');
  return recs[0];
}

// --- packet builders (network byte order) ---------------------------------------------------------
const be16 = (v: number) => Buffer.from([v >> 8, v & 0xff]);
const v4 = (a: string) => Buffer.from(a.split('.').map(Number));
function v6(a: string): Buffer {
  const [head, tail] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return Buffer.concat(groups.map((g) => be16(parseInt(g, 16))));
}
function eth(type: number, opts: { vlans?: number[]; mac?: number } = {}): Buffer {
  const mac = Buffer.from([0x02, 0, 0, 0, 0, opts.mac ?? 1]);
  const tags = (opts.vlans ?? []).map((id, i, all) => Buffer.concat([be16(i === 0 && all.length > 1 ? 0x88a8 : 0x8100), be16(id)]));
  // The first tag's TPID sits in the Ethernet type field; each tag then carries the next type.
  const parts: Buffer[] = [Buffer.from('eeeeeeeeeeee', 'hex'), mac];
  if (tags.length === 0) return Buffer.concat([...parts, be16(type)]);
  parts.push(tags[0].subarray(0, 2));
  for (let i = 0; i < tags.length; i++) {
    parts.push(tags[i].subarray(2, 4));
    parts.push(i + 1 < tags.length ? tags[i + 1].subarray(0, 2) : be16(type));
  }
  return Buffer.concat(parts);
}
function ipv4(proto: number, src: string, dst: string, payload: Buffer, o: { id?: number; ttl?: number; options?: Buffer; check?: number } = {}): Buffer {
  const opt = o.options ?? Buffer.alloc(0);
  const h = Buffer.alloc(20);
  h[0] = 0x40 | ((20 + opt.length) / 4);
  h.writeUInt16BE(20 + opt.length + payload.length, 2);
  h.writeUInt16BE(o.id ?? 0x1234, 4);
  h[8] = o.ttl ?? 64;
  h[9] = proto;
  h.writeUInt16BE(o.check ?? 0, 10);
  v4(src).copy(h, 12);
  v4(dst).copy(h, 16);
  return Buffer.concat([h, opt, payload]);
}
function ipv6(next: number, src: string, dst: string, payload: Buffer, hops = 64): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60012345, 0); // flow label 0x12345
  h.writeUInt16BE(payload.length, 4);
  h[6] = next;
  h[7] = hops;
  v6(src).copy(h, 8);
  v6(dst).copy(h, 24);
  return Buffer.concat([h, payload]);
}
/** A generic 8-byte IPv6 extension header (hop-by-hop / destination options / routing). */
const ext6 = (next: number) => Buffer.from([next, 0, 1, 4, 0, 0, 0, 0]);
const udp = (sport: number, dport: number, payload: Buffer) =>
  Buffer.concat([be16(sport), be16(dport), be16(8 + payload.length), be16(0), payload]);
function tcp(sport: number, dport: number, o: { doff?: number; flags?: number } = {}): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(1000, 4);
  h[12] = (o.doff ?? 5) << 4;
  h[13] = o.flags ?? 0x02;
  return h;
}
const echo = (id: number, seq: number) => Buffer.concat([Buffer.from([8, 0, 0, 0]), be16(id), be16(seq), Buffer.alloc(56, 0x61)]);
const vxlanHdr = (vni: number) => Buffer.from([0x08, 0, 0, 0, (vni >> 16) & 0xff, (vni >> 8) & 0xff, vni & 0xff, 0]);

const ping = (o: { ttl?: number; id?: number; check?: number; mac?: number; vlans?: number[] } = {}) =>
  Buffer.concat([eth(0x0800, { mac: o.mac, vlans: o.vlans }), ipv4(1, A, B, echo(0x4242, 7), { ttl: o.ttl, id: o.id, check: o.check })]);

test('VLAN stacks in the frame: the outermost id is reported, more than two tags is an anomaly', () => {
  const two = one(ping({ vlans: [100, 200] }));
  assert.equal(two.vlan, 100);
  assert.equal(two.family, 4);
  assert.equal(two.icmpId, 0x4242);
  assert.equal(two.icmpSeq, 7);
  const three = one(ping({ vlans: [100, 200, 300] }));
  assert.ok(three.anomalies & ANOM.vlan_limit, 'vlan_limit');
  assert.equal(three.family, 0, 'nothing past the tags is claimed');
});

test('IPv4 options are skipped by IHL; a TCP data offset below 5 is bad_l4', () => {
  const opts = Buffer.from([1, 1, 1, 0]); // NOP NOP NOP EOL: IHL 6
  const r = one(Buffer.concat([eth(0x0800), ipv4(17, A, B, udp(40001, 9999, Buffer.from('payload!')), { options: opts })]));
  assert.deepEqual([r.proto, r.sport, r.dport, r.anomalies], [17, 40001, 9999, 0]);
  const bad = one(Buffer.concat([eth(0x0800), ipv4(6, A, B, tcp(40002, 80, { doff: 3 }))]));
  assert.ok(bad.anomalies & ANOM.bad_l4);
  assert.equal(bad.sport, 40002);
});

test('IPv6 extension headers: up to 6 are walked (AH included), a 7th is ipv6_ext_limit', () => {
  const S = 'fd00:10:233::222';
  const D = 'fd00:10:233::224';
  const chain = (n: number, last: Buffer, lastProto: number) => {
    const parts: Buffer[] = [];
    for (let i = 0; i < n; i++) parts.push(ext6(i + 1 < n ? 60 : lastProto));
    return ipv6(n > 0 ? 0 : lastProto, S, D, Buffer.concat([...parts, last]));
  };
  const six = one(Buffer.concat([eth(0x86dd), chain(6, udp(5353, 53, Buffer.from('12345678')), 17)]));
  assert.deepEqual([six.family, six.proto, six.sport, six.dport, six.anomalies], [6, 17, 5353, 53, 0]);
  assert.deepEqual(six.src, v6(S));
  const seven = one(Buffer.concat([eth(0x86dd), chain(7, udp(5353, 53, Buffer.from('12345678')), 17)]));
  assert.ok(seven.anomalies & ANOM.ipv6_ext_limit);
  assert.equal(seven.sport, 0, 'no ports invented past the limit');
  // AH: length in 4-byte units minus 2 (here 3 → 20 bytes), then TCP.
  const ah = Buffer.concat([Buffer.from([6, 3, 0, 0]), Buffer.alloc(16)]);
  const viaAh = one(Buffer.concat([eth(0x86dd), ipv6(51, S, D, Buffer.concat([ah, tcp(40003, 443)]))]));
  assert.deepEqual([viaAh.proto, viaAh.sport, viaAh.dport, viaAh.anomalies], [6, 40003, 443, 0]);
});

test('fingerprint: unchanged by TTL, checksum and MACs; changed by fields forwarding keeps', () => {
  const base = one(ping()).fingerprint;
  assert.equal(one(ping({ ttl: 63 })).fingerprint, base, 'TTL');
  assert.equal(one(ping({ check: 0xbeef })).fingerprint, base, 'IPv4 checksum');
  assert.equal(one(ping({ mac: 9 })).fingerprint, base, 'MAC');
  assert.equal(one(ping({ vlans: [42] })).fingerprint, base, 'VLAN tag');
  assert.notEqual(one(ping({ id: 0x9999 })).fingerprint, base, 'IPv4 id');
  const otherSeq = Buffer.concat([eth(0x0800), ipv4(1, A, B, echo(0x4242, 8))]);
  assert.notEqual(one(otherSeq).fingerprint, base, 'ICMP sequence');
});

test('VXLAN: IPv6 outer, VLAN-tagged inner frame; the record is the inner packet with the pod-side fingerprint', () => {
  const innerFrame = Buffer.concat([eth(0x0800, { vlans: [7] }), ipv4(1, A, B, echo(0x4242, 7), { ttl: 63 })]);
  const outer = Buffer.concat([
    eth(0x86dd),
    ipv6(17, 'fd00:172:27:71::11', 'fd00:172:27:71::12', udp(44319, 4789, Buffer.concat([vxlanHdr(4096), innerFrame]))),
  ]);
  const r = one(outer);
  assert.equal(r.tunFamily, 6);
  assert.deepEqual(r.tunSrc, v6('fd00:172:27:71::11'));
  assert.deepEqual(r.tunDst, v6('fd00:172:27:71::12'));
  assert.equal(r.tunDport, 4789);
  assert.equal(r.vni, 4096);
  assert.deepEqual([r.family, r.proto, r.icmpId, r.icmpSeq, r.ttl], [4, 1, 0x4242, 7, 63]);
  assert.deepEqual(r.src.subarray(0, 4), v4(A));
  assert.equal(r.vlan, 0, 'the inner tag is not the wire tag');
  assert.equal(r.fingerprint, one(ping()).fingerprint, 'same fingerprint as the packet at the pod interface');
  // The VXLAN I flag missing: the record is the outer UDP packet, no tunnel claimed.
  const noI = Buffer.concat([
    eth(0x0800),
    ipv4(17, '172.27.71.11', '172.27.71.12', udp(44319, 4789, Buffer.concat([Buffer.alloc(8), innerFrame]))),
  ]);
  const bogus = one(noI);
  assert.ok(bogus.anomalies & ANOM.bad_vxlan);
  assert.equal(bogus.tunFamily, 0);
  assert.deepEqual(bogus.src.subarray(0, 4), v4('172.27.71.11'));
  assert.equal(bogus.dport, 4789);
});

test('non-IP frames produce no record; a cut TCP header is truncated with the IP fields kept', () => {
  // (BPF_PROG_TEST_RUN refuses frames shorter than an IPv4 header; the lab's malformed-packet test
  // sends those for real.)
  const arp = Buffer.concat([eth(0x0806), Buffer.from('0001080006040001', 'hex'), Buffer.alloc(20)]);
  assert.equal(parse(arp).length, 0, 'ARP');
  const cut = one(Buffer.concat([eth(0x0800), ipv4(6, A, B, tcp(40004, 80)).subarray(0, 28)]));
  assert.ok(cut.anomalies & ANOM.truncated);
  assert.deepEqual([cut.family, cut.proto, cut.sport], [4, 6, 0]);
  assert.deepEqual(cut.dst.subarray(0, 4), v4(B));
});

// Records and control frames built from docs/protocol.md's offsets decode to the documented values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeRecord,
  decodeHello,
  decodeLink,
  decodeStats,
  decodeAck,
  decodeError,
  forEachRecord,
  formatIpv6,
  newDecodeContext,
  DecodeError,
} from '../../src/capture/decode';
import type { TraceEvent } from '../../src/capture/event';
import { record, eventsPayload, helloPayload, linkPayload, statsPayload, ackPayload, ip4 } from '../helpers/wire-builder';
import { assertDocumentedGolden, assertDocumentedGoldens, GOLDEN_SHAPES } from '../helpers/golden';

// The golden records' values, from the table in docs/protocol.md (record 2: ingress, FIB answer and gateway).
const GOLDEN = record({
  tsNs: 0x000a0b0c0d0e0f10n,
  fingerprint: 0x8877665544332211n,
  ifindex: 0x00012345,
  len: 1514,
  mark: 0xca11ca11,
  anomalies: 0x204,
  ipId: 0xbeef,
  fibIfindex: 0xabcd,
  kind: 1,
  dir: 0,
  family: 4,
  proto: 6,
  tcpFlags: 0x12,
  ttl: 63,
  icmpType: 11,
  icmpCode: 12,
  sport: 0xabcd,
  dport: 443,
  icmpId: 0x0d0e,
  icmpSeq: 0x0f10,
  fibResult: 7,
  fibFamily: 4,
  vlan: 100,
  natFp: 0x5a4b3c2d,
  src: ip4('10.233.101.222'),
  dst: ip4('10.233.100.130'),
  fibNexthop: ip4('10.233.100.128'),
});

const V6 = (hex: string): number[] => [...Buffer.from(hex, 'hex')];
const COMMON = { tsNs: 0x0000000100000002n, fingerprint: 0x0102030405060708n, ifindex: 7, len: 84, ipId: 0x1234, natFp: 0x11223344, ttl: 64 };
/** The seven golden records of docs/protocol.md, built from its tables. */
const GOLDENS = [
  record({ ...COMMON, kind: 1, dir: 1, proto: 17, sport: 40000, dport: 53, src: ip4('10.233.101.222'), dst: ip4('10.233.101.230') }),
  GOLDEN,
  record({
    ...COMMON, ifindex: 2, len: 134, kind: 1, dir: 0, proto: 6, tcpFlags: 0x10, sport: 43981, dport: 443, src: ip4('10.233.101.222'), dst: ip4('10.233.100.130'),
    fibResult: 4, tunFamily: 4, vni: 4096, tunSport: 0xc0de, tunDport: 4789, tunSrc: ip4('172.27.71.11'), tunDst: ip4('172.27.71.12'),
  }),
  record({ ...COMMON, kind: 1, dir: 1, proto: 17, src: ip4('10.233.101.222'), dst: ip4('10.233.101.230'), caseId: 0xc0ffee0011223344n, prevCase: 0x0badcafe55667788n, epoch: 0x00070809 }),
  record({ ...COMMON, fingerprint: 0n, ipId: 0, natFp: 0, kind: 2, dir: 1, proto: 17, src: ip4('10.233.101.222'), dst: ip4('10.233.101.230'), packets: 7n, bytes: 0x0000000100000203n }),
  record({ ...COMMON, kind: 3, dir: 2, proto: 17, src: ip4('10.233.101.222'), dst: ip4('10.233.101.230'), dropReason: 77 }),
  record({ ...COMMON, len: 104, ipId: 0, kind: 1, dir: 1, family: 6, proto: 58, icmpType: 128, icmpId: 0x0d0e, icmpSeq: 3, src: V6('fd00001002330101' + '000000000000' + '00de'), dst: V6('fd00001002330100' + '000000000000' + '0082') }),
];

test('the seven documented golden records decode field by field, at their documented sizes', () => {
  const ctx = newDecodeContext();
  ctx.linkNames.set(74565, 'golden-if');
  ctx.linkNames.set(43981, 'golden-fib-if');
  ctx.dropReasons.set(77, 'GOLDEN_REASON');
  const p = eventsPayload(GOLDENS);
  const events: TraceEvent[] = [];
  const sizes: number[] = [];
  forEachRecord(p, 0, p.length, (b, off, size) => {
    sizes.push(size);
    events.push(decodeRecord(b, off, ctx, undefined, size));
  });
  assert.deepEqual(sizes, GOLDEN_SHAPES.map((s) => s.size));
  assertDocumentedGoldens(events, { iface: 'golden-if', fibIface: 'golden-fib-if' });
});

test('the documented golden record decodes field by field', () => {
  const ctx = newDecodeContext();
  ctx.linkNames.set(0x12345, 'cali11299111064');
  ctx.linkNames.set(0xabcd, 'vxlan.calico');
  ctx.realtimeOffsetNs = 1_700_000_000_000_000_000;
  const ev = decodeRecord(GOLDEN, 0, ctx);
  assertDocumentedGolden(ev, { iface: 'cali11299111064', fibIface: 'vxlan.calico' });
  assert.equal(ev.wallMs, (2826896153644816 + 1_700_000_000_000_000_000) / 1e6);
});

test('flow records carry packets and bytes; u64 above 2^32 is exact', () => {
  const rec = record({ kind: 2, packets: 7n, bytes: 0x0000000100000203n, dir: 1, proto: 17 });
  const ev = decodeRecord(rec, 0, newDecodeContext());
  assert.equal(ev.kind, 'flow');
  assert.equal(ev.dir, 'egress');
  assert.equal(ev.packets, 7);
  assert.equal(ev.bytes, 4294967811);
  assert.equal(ev.kernel, undefined, 'no fib part, no kernel view');
});

test('drop records name the reason from the HELLO table; unknown ifindex is shown as ifN', () => {
  const payload = helloPayload({ reasons: [[2, 'NOT_SPECIFIED'], [3, 'NO_SOCKET'], [108, 'IP_INNOHOSTS']], realtimeOffsetNs: -5n });
  const hello = decodeHello(payload, 0, payload.length);
  const ctx = newDecodeContext();
  ctx.dropReasons = hello.dropReasons;
  const ev = decodeRecord(record({ kind: 3, dir: 2, dropReason: 2, ifindex: 31 }), 0, ctx);
  assert.equal(ev.kind, 'drop');
  assert.equal(ev.dropReason, 2);
  assert.equal(ev.dropReasonName, 'NOT_SPECIFIED');
  assert.equal(ev.iface, 'if31');
  assert.equal(decodeRecord(record({ kind: 3, dropReason: 999 }), 0, ctx).dropReasonName, 'reason_999');
});

test('HELLO decodes version, features, clock offset, kernel release and drop reasons', () => {
  const p = helloPayload({
    realtimeOffsetNs: 1764160000123456789n,
    mode: 1,
    kernelRelease: '6.18.44-fc-v782',
    reasons: [[2, 'NOT_SPECIFIED'], [5, 'TCP_CSUM']],
    ncpus: 2,
    pid: 777,
    features: 0x1d,
  });
  const h = decodeHello(p, 0, p.length);
  assert.equal(h.version, 2);
  assert.equal(h.recordSize, 72);
  assert.equal(h.features, 0x1d);
  assert.equal(h.ncpus, 2);
  assert.equal(h.pid, 777);
  assert.equal(h.mode, 'flow');
  assert.equal(h.kernelRelease, '6.18.44-fc-v782');
  assert.deepEqual([...h.dropReasons], [[2, 'NOT_SPECIFIED'], [5, 'TCP_CSUM']]);
  // i64 read as a double: exact to within the double's precision at this magnitude (256 ns).
  assert.ok(Math.abs(h.realtimeOffsetNs - 1764160000123456789) <= 256);
});

test('HELLO with a drop-reason table running past the frame is an error, not garbage', () => {
  const p = helloPayload({ reasons: [[2, 'NOT_SPECIFIED']] });
  assert.throws(() => decodeHello(p, 0, p.length - 3), /drop reason 0 name runs past the frame/);
});

test('LINK, STATS, ACK and ERROR frames decode', () => {
  const l = linkPayload(12, 'ens3', 1, 2, 2);
  assert.deepEqual(decodeLink(l, 0, l.length), { ifindex: 12, name: 'ens3', state: 'attached', how: 'tc', pattern: false, uplink: true });
  const s = statsPayload({ eventsSent: 5000000000n, rbFailTotal: 9n, perCpu: [4n, 5n] });
  const st = decodeStats(s, 0, s.length);
  assert.equal(st.eventsSent, 5000000000);
  assert.equal(st.rbFailTotal, 9);
  assert.deepEqual(st.rbFailPerCpu, [4, 5]);
  const a = ackPayload(-22, 'filter src nope', 'bad CIDR');
  assert.deepEqual(decodeAck(a, 0, a.length), { status: -22, line: 'filter src nope', message: 'bad CIDR' });
  const e = Buffer.alloc(8 + 5);
  e.writeInt32LE(-1, 0);
  e[4] = 1;
  e.writeUInt16LE(5, 6);
  e.write('oops!', 8);
  assert.deepEqual(decodeError(e, 0, e.length), { errno: -1, fatal: true, message: 'oops!' });
});

test('EVENTS records of different lengths are walked by their own size', () => {
  const p = eventsPayload([record({ ifindex: 1, ttl: 9 }), record({ ifindex: 2, ttl: 8, fibResult: 0, tunFamily: 4 }), record({ ifindex: 3, ttl: 7, kind: 3 })]);
  const seen: [number, number, number][] = [];
  const ctx = newDecodeContext();
  forEachRecord(p, 0, p.length, (b, off, size) => {
    const ev = decodeRecord(b, off, ctx, undefined, size);
    seen.push([ev.ifindex, ev.ttl, size]);
  });
  assert.deepEqual(seen, [[1, 9, 72], [2, 8, 144], [3, 7, 80]]);
});

test('EVENTS whose records do not tile the frame, or of another base size, are refused', () => {
  const p = eventsPayload([record({}), record({})]);
  assert.throws(() => forEachRecord(p, 0, p.length - 1, () => undefined), /record 1 of 2 starts 80 bytes in, past the 151-byte frame/);
  const extra = Buffer.concat([p, Buffer.alloc(8)]);
  assert.throws(() => forEachRecord(extra, 0, extra.length, () => undefined), /8 bytes left after its 2 records/);
  const short = eventsPayload([record({ size: 40 })]);
  assert.throws(() => forEachRecord(short, 0, short.length, () => undefined), /record 0 of 1 says it is 40 bytes: less than its 72-byte base/);
  const old = eventsPayload([record({})], 200);
  assert.throws(() => forEachRecord(old, 0, old.length, () => undefined), /record base of 200 bytes, this collector knows 72: rebuild/);
});

test('a record whose length or parts are inconsistent is refused with a clear error, never decoded', () => {
  const ctx = newDecodeContext();
  const refuse = (rec: Buffer, why: RegExp) => assert.throws(() => decodeRecord(rec, 0, ctx), (err: Error) => {
    assert.ok(err instanceof DecodeError, `a DecodeError, got ${err}`);
    assert.match(err.message, /^inconsistent event record: /);
    assert.match(err.message, why);
    return true;
  });
  // A fib part announced but its bytes missing: size 72, parts say 96.
  refuse(record({ parts: 0x02 }), /size 72 but its parts 0x2 make 96/);
  // The size field lies about the bytes the frame gave the record.
  const withFib = record({ fibResult: 0 });
  assert.throws(() => decodeRecord(withFib, 0, ctx, undefined, 72), /its size field says 96, the frame gave it 72 bytes/);
  refuse(record({ parts: 0x40, size: 72 }), /unknown parts 0x40/);
  refuse(record({ family: 6, parts: 0, size: 72 }), /family 6 without the IPv6 addresses part/);
  refuse(record({ family: 4, parts: 0x01, size: 104 }), /family 4 with the IPv6 addresses part/);
  refuse(record({ kind: 2, parts: 0, size: 72 }), /kind 2 without the counts part/);
  refuse(record({ kind: 1, parts: 0x20, size: 80 }), /kind 1 with the drop part/);
  refuse(record({ kind: 3, parts: 0, size: 72 }), /kind 3 without the drop part/);
  // Through the frame walker, the capture's path: the same refusal.
  const p = eventsPayload([record({}), record({ parts: 0x08, size: 72 })]);
  assert.throws(() => forEachRecord(p, 0, p.length, (b, off, size) => decodeRecord(b, off, ctx, undefined, size)), /inconsistent event record: size 72 but its parts 0x8 make 96/);
});

test('IPv6 addresses are formatted as RFC 5952 text', () => {
  const v6 = (hex: string) => Buffer.from(hex, 'hex');
  assert.equal(formatIpv6(v6('00000000000000000000000000000001'), 0), '::1');
  assert.equal(formatIpv6(v6('00000000000000000000000000000000'), 0), '::');
  assert.equal(formatIpv6(v6('fd000010023300000000000000000224'), 0), 'fd00:10:233::224');
  assert.equal(formatIpv6(v6('20010db8000000000001000000000001'), 0), '2001:db8::1:0:0:1');
  assert.equal(formatIpv6(v6('20010db8000100000001000100010001'), 0), '2001:db8:1:0:1:1:1:1', 'a single zero group is not compressed');
  assert.equal(formatIpv6(v6('fe800000000000000000000000000000'), 0), 'fe80::');
  const rec = record({ family: 6, src: [...v6('fd000010023300000000000000000222')], dst: [...v6('ff020000000000000000000000000001')] });
  const ev = decodeRecord(rec, 0, newDecodeContext());
  assert.equal(ev.family, 6);
  assert.equal(ev.src, 'fd00:10:233::222');
  assert.equal(ev.dst, 'ff02::1');
});

test('a reused target is fully rewritten: no field of the previous record survives', () => {
  const ctx = newDecodeContext();
  const target = {} as TraceEvent;
  const full = record({ anomalies: 4, vlan: 7, fibResult: 0, fibFamily: 4, fibNexthop: ip4('10.0.0.1'), tunFamily: 4, caseId: 5n, epoch: 3 });
  decodeRecord(full, 0, ctx, target);
  assert.ok(target.kernel && target.tunnel && target.anomalies && target.vlan && target.caseId);
  const plain = record({ kind: 1, dir: 1, family: 4, proto: 17, sport: 53, dport: 5353, src: ip4('1.2.3.4'), dst: ip4('5.6.7.8') });
  const again = decodeRecord(plain, 0, ctx, target);
  assert.equal(again, target);
  assert.equal(target.kernel, undefined);
  assert.equal(target.tunnel, undefined);
  assert.equal(target.anomalies, undefined);
  assert.equal(target.vlan, undefined);
  assert.equal(target.caseId, undefined);
  assert.equal(target.epoch, undefined);
  assert.equal(target.src, '1.2.3.4');
  assert.equal(target.sport, 53);
  assert.equal(target.fingerprint, '0000000000000000');
  // JSON of the reused object equals a freshly decoded one (undefined fields vanish).
  assert.deepEqual(JSON.parse(JSON.stringify(target)), JSON.parse(JSON.stringify(decodeRecord(plain, 0, ctx))));
});

test('the kernel view names the FIB egress device only when a LINK frame named it', () => {
  const ctx = newDecodeContext();
  const rec = record({ fibResult: 0, fibIfindex: 5, fibFamily: 0 });
  assert.deepEqual(decodeRecord(rec, 0, ctx).kernel, { result: 0, resultName: 'success', ifindex: 5 });
  ctx.linkNames.set(5, 'caliaa479e31ff6');
  assert.deepEqual(decodeRecord(rec, 0, ctx).kernel, { result: 0, resultName: 'success', ifindex: 5, iface: 'caliaa479e31ff6' });
  assert.equal(decodeRecord(record({ fibResult: 1 }), 0, ctx).kernel?.resultName, 'blackhole');
});

// The values docs/protocol.md documents for the golden records (`calitrace-loader --golden`, one of each
// shape), typed in from the document's table, checked the same way whether the bytes came from the real
// loader or were built from the document's offsets.
import assert from 'node:assert/strict';
import type { TraceEvent } from '../../src/capture/event';

/** Names the decode context was given for record 2's ifindex (74565) and FIB ifindex (43981). */
export interface GoldenNames {
  iface: string;
  fibIface: string;
}

/** Record 2 of the table: an ingress record with the FIB's answer and gateway, every base field distinctive. */
export function assertDocumentedGolden(ev: TraceEvent, names: GoldenNames): void {
  assert.equal(ev.kind, 'packet');
  assert.equal(ev.timeNs, 2826896153644816); // 0x000A0B0C0D0E0F10
  assert.equal(ev.fingerprint, '8877665544332211');
  assert.equal(ev.natFingerprint, 1514880045); // 0x5A4B3C2D
  assert.equal(ev.ifindex, 74565);
  assert.equal(ev.iface, names.iface);
  assert.equal(ev.len, 1514);
  assert.equal(ev.mark, 3390163473);
  assert.deepEqual(ev.anomalies, ['fragment', 'non_first_fragment']);
  assert.equal(ev.ipId, 48879);
  assert.equal(ev.dir, 'ingress');
  assert.equal(ev.family, 4);
  assert.equal(ev.proto, 6);
  assert.equal(ev.tcpFlags, 0x12);
  assert.equal(ev.ttl, 63);
  assert.equal(ev.icmpType, 11);
  assert.equal(ev.icmpCode, 12);
  assert.equal(ev.sport, 43981);
  assert.equal(ev.dport, 443);
  assert.equal(ev.icmpId, 3342);
  assert.equal(ev.icmpSeq, 3856);
  assert.equal(ev.vlan, 100);
  assert.equal(ev.src, '10.233.101.222');
  assert.equal(ev.dst, '10.233.100.130');
  assert.deepEqual(ev.kernel, { result: 7, resultName: 'no_neigh', ifindex: 43981, iface: names.fibIface, nexthop: '10.233.100.128' });
  assert.equal(ev.tunnel, undefined, 'no tun part');
  assert.equal(ev.dropReason, undefined, 'a packet record carries no drop reason');
  assert.equal(ev.packets, undefined, 'packet records do not carry flow counters');
  assert.equal(ev.caseId, undefined, 'no case part');
}

/** What the other six golden records decode to (record 2 is checked by assertDocumentedGolden). */
const COMMON: Partial<TraceEvent> = { timeNs: 4294967298, fingerprint: '0102030405060708', ifindex: 7, iface: 'if7', len: 84, ipId: 0x1234, natFingerprint: 287454020, ttl: 64, family: 4 as const, mark: 0 };
export const GOLDEN_SHAPES: { name: string; size: number; expect: Partial<TraceEvent> }[] = [
  { name: 'plain egress', size: 72, expect: { ...COMMON, kind: 'packet', dir: 'egress', proto: 17, sport: 40000, dport: 53, src: '10.233.101.222', dst: '10.233.101.230', kernel: undefined, tunnel: undefined, caseId: undefined } },
  { name: 'ingress with FIB answer and gateway', size: 96, expect: {} },
  {
    name: 'VXLAN at the uplink',
    size: 144,
    expect: {
      ...COMMON, ifindex: 2, iface: 'if2', len: 134, kind: 'packet', dir: 'ingress', proto: 6, tcpFlags: 0x10, sport: 43981, dport: 443,
      src: '10.233.101.222', dst: '10.233.100.130', kernel: { result: 4, resultName: 'not_fwded', ifindex: 0 },
      tunnel: { outerSrc: '172.27.71.11', outerDst: '172.27.71.12', vni: 4096, udpSport: 49374, udpDport: 4789 },
    },
  },
  {
    name: 'case mode first record',
    size: 96,
    expect: { ...COMMON, kind: 'packet', dir: 'egress', proto: 17, sport: 0, dport: 0, src: '10.233.101.222', dst: '10.233.101.230', caseId: 'c0ffee0011223344', prevCase: '0badcafe55667788', epoch: 460809, kernel: undefined },
  },
  {
    name: 'flow counts',
    size: 88,
    expect: { ...COMMON, fingerprint: '0000000000000000', ipId: 0, natFingerprint: 0, kind: 'flow', dir: 'egress', proto: 17, src: '10.233.101.222', dst: '10.233.101.230', packets: 7, bytes: 4294967811, caseId: undefined },
  },
  {
    name: 'drop',
    size: 80,
    expect: { ...COMMON, kind: 'drop', proto: 17, src: '10.233.101.222', dst: '10.233.101.230', dropReason: 77, dropReasonName: 'GOLDEN_REASON', packets: undefined },
  },
  {
    name: 'IPv6',
    size: 104,
    expect: { ...COMMON, len: 104, ipId: 0, family: 6, kind: 'packet', dir: 'egress', proto: 58, icmpType: 128, icmpId: 3342, icmpSeq: 3, src: 'fd00:10:233:101::de', dst: 'fd00:10:233:100::82', kernel: undefined },
  },
];

/** The seven golden records, decoded, in the document's order: names for record 2, shapes for the rest. */
export function assertDocumentedGoldens(events: TraceEvent[], names: GoldenNames): void {
  assert.equal(events.length, GOLDEN_SHAPES.length);
  GOLDEN_SHAPES.forEach((shape, i) => {
    if (i === 1) return assertDocumentedGolden(events[i], names);
    for (const [k, v] of Object.entries(shape.expect)) {
      assert.deepEqual((events[i] as unknown as Record<string, unknown>)[k], v, `record ${i + 1} (${shape.name}): ${k}`);
    }
  });
}

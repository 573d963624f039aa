// The values docs/protocol.md documents for the golden record (`calitrace-loader --golden`), checked the
// same way whether the bytes came from the real loader or were built from the document's offsets.
import assert from 'node:assert/strict';
import type { TraceEvent } from '../../src/capture/event';

/** Names the decode context was given for the record's ifindex (74565) and FIB ifindex (43981). */
export interface GoldenNames {
  iface: string;
  fibIface: string;
}

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
  assert.deepEqual(ev.tunnel, { outerSrc: '172.27.71.11', outerDst: '172.27.71.12', vni: 4096, udpSport: 49374, udpDport: 4789 });
  assert.equal(ev.dropReason, undefined, 'a packet record carries no drop reason');
  assert.equal(ev.packets, undefined, 'packet records do not carry flow counters');
  if (ev.caseId !== undefined) {
    assert.equal(ev.caseId, 'c0ffee0011223344');
    assert.equal(ev.prevCase, '0badcafe55667788');
    assert.equal(ev.epoch, 460809); // 0x00070809
  }
}

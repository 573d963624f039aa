// The case book: learning cases from records, replaying counted hops in front of a new record, and
// turning an epoch's per-case counts into packets per path end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CaseBook, sizeMarks, stamp } from '../../src/path/cases';
import { Correlator, ObservedPacket } from '../../src/path/correlate';
import { CALI_A, CALI_B, NO_POD, POD_B, SERVICE, WEB_0, ev, fp, predictCrossNode, predictSameNode } from '../helpers/path-fixtures';

const ROOT = '0000000000000000';
const IN = '00000000000000a1'; // cali A ingress
const OUT_B = '00000000000000b1'; // → cali B egress
const OUT_VX = '00000000000000c1'; // → vxlan.calico egress
const OUT_UP = '00000000000000c2'; // → ens3 egress (after vxlan.calico)
const DROP = '00000000000000d1'; // → dropped after the ingress

function learnAll(book: CaseBook): void {
  const f1 = fp();
  book.learn(ev({ t: 0, iface: CALI_A, fingerprint: f1, caseId: IN, prevCase: ROOT, epoch: 1 }), () => false);
  book.learn(ev({ t: 5, iface: CALI_B, dir: 'egress', fingerprint: f1, caseId: OUT_B, prevCase: IN, epoch: 1 }), () => true);
  const f2 = fp();
  book.learn(ev({ t: 9, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: f2, caseId: OUT_VX, prevCase: IN, epoch: 1 }), () => false);
  book.learn(ev({ t: 12, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: f2, caseId: OUT_UP, prevCase: OUT_VX, epoch: 1 }), () => true);
}

test('a record whose earlier hops were only counted gets them replayed in front of it, with its fingerprint', () => {
  const book = new CaseBook();
  learnAll(book);
  const f = fp();
  // (Its addresses are its ingress's: a case is per flow.)
  const drop = ev({ t: 50, iface: CALI_A, kind: 'drop', fingerprint: f, caseId: DROP, prevCase: IN, epoch: 2, icmpSeq: 9, ipId: 4321 });
  const { events, missing } = book.learn(drop, () => false);
  assert.equal(missing, false);
  assert.deepEqual(events.map((e) => `${e.iface}/${e.kind}/${e.dir}`), [`${CALI_A}/packet/ingress`, `${CALI_A}/drop/ingress`]);
  assert.ok(events.every((e) => e.fingerprint === f), 'one packet: one fingerprint');
  assert.ok(events[0].timeNs < events[1].timeNs, 'the replayed hop comes first');
  assert.deepEqual([events[0].icmpSeq, events[0].ipId], [9, 4321], "the replayed hop is this packet's: its sequence and IP id");
  // When the packet is open (its earlier hop was itself shipped), nothing is replayed.
  assert.equal(book.learn(drop, () => true).events.length, 1);
  // A chain with an unknown link (its first record was lost) is reported as such.
  const orphan = ev({ t: 60, iface: CALI_B, dir: 'egress', fingerprint: fp(), caseId: '00000000000000e1', prevCase: '00000000000000ee', epoch: 2 });
  assert.equal(book.learn(orphan, () => false).missing, true);
});

test('an epoch: packets per path end = passed − passed by the children; drops only reduce their parent', () => {
  const book = new CaseBook();
  learnAll(book);
  book.learn(ev({ t: 50, iface: CALI_A, kind: 'drop', dst: NO_POD, fingerprint: fp(), caseId: DROP, prevCase: IN, epoch: 2 }), () => false);
  // 1000 entered; 600 left to B, 300 to vxlan.calico of which 290 reached ens3, 40 dropped, 60 unaccounted.
  const r = book.epoch(2, [
    { caseId: IN, packets: 1000, bytes: 98000 },
    { caseId: OUT_B, packets: 600, bytes: 58800 },
    { caseId: OUT_VX, packets: 300, bytes: 29400 },
    { caseId: OUT_UP, packets: 290, bytes: 43500 },
    { caseId: DROP, packets: 40, bytes: 3920 },
    { caseId: '00000000000000f1', packets: 7, bytes: 700 },
  ]);
  const ended = Object.fromEntries(r.ended.map((t) => [t.caseId, t.packets]));
  assert.deepEqual(ended, { [IN]: 60, [OUT_B]: 600, [OUT_VX]: 10, [OUT_UP]: 290 });
  assert.equal(r.unknownPackets, 7, 'counted at a case never learnt');
  // Every packet is accounted for once: ended + drops (judged from their records) = entered.
  assert.equal(r.ended.reduce((a, t) => a + t.packets, 0) + 40, 1000);
  assert.deepEqual(book.chain(OUT_UP)!.map((e) => e.iface), [CALI_A, 'vxlan.calico', 'ens3']);
});

test('a full case book forgets its oldest cases in bulk and stays within its cap', () => {
  const book = new CaseBook({ maxCases: 64 });
  for (let i = 1; i <= 1000; i++) {
    book.learn(ev({ t: i, iface: CALI_A, fingerprint: fp(), caseId: i.toString(16).padStart(16, '0'), prevCase: ROOT, epoch: 1 }), () => false);
    assert.ok(book.size <= 64, `size ${book.size} after ${i}`);
  }
  assert.ok(book.has((1000).toString(16).padStart(16, '0')), 'the newest is kept');
  assert.ok(!book.has((1).toString(16).padStart(16, '0')), 'the oldest went');
});

test('a full case book forgets cases out of use before the ones still counted, however early those were learnt', () => {
  const book = new CaseBook({ maxCases: 64 });
  const id = (i: number) => i.toString(16).padStart(16, '0');
  // 16 cases learnt first and counted in every epoch (the kernel knows them: it never ships them again)…
  for (let i = 1; i <= 16; i++) book.learn(ev({ t: i, iface: CALI_A, fingerprint: fp(), caseId: id(i), prevCase: ROOT, epoch: 1 }), () => false);
  // …then, epoch after epoch, new cases seen once (a scan, or the kernel's full table shipping them).
  let next = 17;
  for (let epoch = 2; epoch <= 40; epoch++) {
    for (let k = 0; k < 8; k++, next++) book.learn(ev({ t: next, iface: CALI_A, fingerprint: fp(), caseId: id(next), prevCase: ROOT, epoch }), () => false);
    const r = book.epoch(epoch, Array.from({ length: 16 }, (_, i) => ({ caseId: id(i + 1), packets: 5, bytes: 500 })));
    assert.equal(r.unknownPackets, 0, `epoch ${epoch}: the cases in use are still known`);
    assert.ok(book.size <= 64);
  }
  assert.ok(!book.has(id(17)), 'a case seen once, long ago, went');
  assert.ok(book.has(id(next - 1)), 'the newest is kept');
});

test('a replayed path through NAT: each stretch of unchanged addresses is one fingerprint, the correlator pairs them', () => {
  // kube-proxy's DNAT: the packet entered to the Service address and left to the pod.
  const NAT_FP = 0x5eed;
  const book = new CaseBook();
  const f1 = fp();
  const f2 = fp();
  book.learn(ev({ t: 0, iface: CALI_A, dst: SERVICE, fingerprint: f1, natFingerprint: NAT_FP, caseId: IN, prevCase: ROOT, epoch: 1 }), () => false);
  book.learn(ev({ t: 5, iface: CALI_B, dir: 'egress', fingerprint: f2, natFingerprint: NAT_FP, caseId: OUT_B, prevCase: IN, epoch: 1 }), () => true);

  const stamped = stamp(book.chain(OUT_B)!, OUT_B);
  assert.equal(stamped[1].fingerprint, OUT_B, 'the translated stretch carries the given fingerprint');
  assert.notEqual(stamped[0].fingerprint, OUT_B, 'the untranslated stretch another');
  assert.match(stamped[0].fingerprint, /^[0-9a-f]{16}$/);
  assert.deepEqual(stamped.map((e) => e.natFingerprint), [NAT_FP, NAT_FP]);
  assert.deepEqual(stamped.map((e) => e.dst), [SERVICE, POD_B], 'the hops keep their own addresses');
  // Judged as one packet translated on the way, predicted by the address it was routed to.
  const packets: ObservedPacket[] = [];
  // The seed's answers: the pod is on this node (cali B), anything else (the Service address) leaves by VXLAN.
  const c = new Correlator({ predict: (e) => ({ prediction: e.dst === POD_B ? predictSameNode() : predictCrossNode(), generation: 1 }), onPacket: (p) => packets.push(p) });
  for (const e of stamped) c.push(e);
  c.flush();
  assert.equal(packets.length, 1);
  assert.deepEqual(packets[0].nat, { dst: { from: SERVICE, to: POD_B } });
  assert.deepEqual(packets[0].predicted?.prediction.egressPath, [CALI_B]);

  // A later packet of that path whose egress is new (another case) brings its untranslated ingress back.
  const f3 = fp();
  const late = ev({ t: 90, iface: CALI_B, dir: 'egress', fingerprint: f3, natFingerprint: NAT_FP, caseId: '00000000000000b2', prevCase: IN, epoch: 3, ttl: 1 });
  const { events } = book.learn(late, () => false);
  assert.deepEqual(events.map((e) => `${e.dst}/${e.fingerprint === f3}`), [`${SERVICE}/false`, `${POD_B}/true`]);
  assert.equal(events[1], late, 'the record itself is passed on as it came');
});

test('size marks: every MTU and what fits it inside VXLAN, as frame lengths, at most 16', () => {
  // 1500: 1514, and 1464 / 1444 inside VXLAN over IPv4 / IPv6; 1450: 1464, 1414, 1394; lo's 65536: its
  // own frame length does not fit 16 bits (no packet exceeds it), the VXLAN ones do.
  assert.deepEqual(sizeMarks([1500, 1450, 65536, 1450]), [1394, 1414, 1444, 1464, 1514, 65480, 65500]);
  assert.deepEqual(sizeMarks([]), []);
  const many = sizeMarks(Array.from({ length: 40 }, (_, i) => 1000 + i));
  assert.equal(many.length, 16);
  assert.deepEqual(many, [...many].sort((a, b) => a - b));
});

test('a late hop (after its next hop was resolved, seconds later) takes its packet back from the parent it seemed to end at', () => {
  const book = new CaseBook();
  learnAll(book);
  // Epoch 2: 5 packets entered and left by vxlan.calico; only 3 reached ens3 in time (2 wait for ARP).
  const e2 = book.epoch(2, [
    { caseId: IN, packets: 5, bytes: 490 },
    { caseId: OUT_VX, packets: 5, bytes: 490 },
    { caseId: OUT_UP, packets: 3, bytes: 444 },
  ]);
  assert.deepEqual(Object.fromEntries(e2.ended.map((t) => [t.caseId, t.packets])), { [OUT_VX]: 2, [OUT_UP]: 3 });
  // Epoch 5: the kernel counts the two late ens3 hops now (their own epoch was handed over), with one new
  // packet that went all the way.
  const e5 = book.epoch(5, [
    { caseId: IN, packets: 1, bytes: 98 },
    { caseId: OUT_VX, packets: 1, bytes: 98 },
    { caseId: OUT_UP, packets: 3, bytes: 444 },
  ]);
  assert.deepEqual(Object.fromEntries(e5.ended.map((t) => [t.caseId, t.packets])), { [OUT_VX]: -2, [OUT_UP]: 3 });
  // Epoch 6: only a late hop, its parent passed nothing: the whole correction.
  const e6 = book.epoch(6, [{ caseId: OUT_UP, packets: 1, bytes: 148 }]);
  assert.deepEqual(e6.ended.map((t) => [t.caseId, t.packets]), [[OUT_UP, 1], [OUT_VX, -1]]);
  // Over the epochs every packet ended once: 2 + 3 − 2 + 3 + 1 − 1 = 6 = the packets that entered.
  const all = [...e2.ended, ...e5.ended, ...e6.ended].reduce((a, t) => a + t.packets, 0);
  assert.equal(all, 6);
});

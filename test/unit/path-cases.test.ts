// The case book: learning cases from records, replaying counted hops in front of a new record, and
// turning an epoch's per-case counts into packets per path end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CaseBook } from '../../src/path/cases';
import { CALI_A, CALI_B, NO_POD, WEB_0, ev, fp } from '../helpers/path-fixtures';

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
  const drop = ev({ t: 50, iface: CALI_A, kind: 'drop', dst: NO_POD, fingerprint: f, caseId: DROP, prevCase: IN, epoch: 2 });
  const { events, missing } = book.learn(drop, () => false);
  assert.equal(missing, false);
  assert.deepEqual(events.map((e) => `${e.iface}/${e.kind}/${e.dir}`), [`${CALI_A}/packet/ingress`, `${CALI_A}/drop/ingress`]);
  assert.ok(events.every((e) => e.fingerprint === f), 'one packet: one fingerprint');
  assert.ok(events[0].timeNs < events[1].timeNs, 'the replayed hop comes first');
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

// Verdicts with the node's evidence at hand (its links, neighbours, FDB, rules, pods): the cause a broken
// path has on this node is named in the verdict, the way the fault tests see it in the lab — on states
// shaped like node1, each with one thing broken, predicted by the real predictor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ObservedPacket } from '../../src/path/correlate';
import type { TraceEvent } from '../../src/capture/event';
import type { RoutingState } from '../../src/routing/types';
import type { CauseEvidence } from '../../src/routing/causes';
import { predict } from '../../src/routing/predict';
import { judge } from '../../src/path/verdict';
import { CALI_A, CALI_B, NODE2_IP, POD_A, POD_B, WEB_0, NO_POD, ev, fib, fp } from '../helpers/path-fixtures';
import { POD_B_MAC, VTEP2, node1, node1WithPodRule } from '../helpers/node1-state';

const re = (s: string) => new RegExp(s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));

/** Judges the packet of `events` entering at its first event's device, predicted on `state`. */
function judged(state: RoutingState, events: TraceEvent[], over: Partial<ObservedPacket> = {}, evidence: Partial<CauseEvidence> = {}) {
  const first = events[0];
  const prediction = predict(state, { src: first.src, dst: first.dst, iif: first.iface });
  const p: ObservedPacket = {
    fingerprint: first.fingerprint,
    events,
    ingress: first,
    drop: events.find((e) => e.kind === 'drop'),
    predicted: { prediction, generation: 3 },
    closedBy: events.some((e) => e.kind === 'drop') ? 'drop' : 'complete',
    windowMs: 100,
    ...over,
  };
  return judge(p, { evidence: () => ({ state, ...evidence }) });
}

test('dropped on the VXLAN chain: the broken link is the cause, with the links before it that hold', () => {
  const noVtep = node1({ neigh: node1().neighbours.filter((n) => n.dst !== VTEP2) });
  const f = fp();
  const v = judged(noVtep, [
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f, kernel: fib('no_neigh', 'vxlan.calico', VTEP2) }),
    ev({ t: 900, iface: 'vxlan.calico', kind: 'drop', dst: WEB_0, fingerprint: f, dropReasonName: 'NEIGH_FAILED' }),
  ]);
  assert.equal(v.verdict, 'DROPPED');
  assert.match(v.reason, re(`no neighbour entry for the remote VTEP ${VTEP2} on vxlan.calico`));
  assert.match(v.reason, /`ip neigh show dev vxlan\.calico`/);
  assert.ok(v.cause && v.reason.endsWith(v.cause), 'the cause is what the reason ends with');
  assert.doesNotMatch(v.reason, /check `ip neigh` for the gateway/, 'the generic hint gives way to the cause');
  // The FDB entry missing: the VTEP's neighbour before it holds, and is said to.
  const noFdb = node1({ fdbDst: null });
  const g = fp();
  const w = judged(noFdb, [
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: g }),
    ev({ t: 900, iface: 'vxlan.calico', kind: 'drop', dst: WEB_0, fingerprint: g, dropReasonName: 'NEIGH_FAILED' }),
  ]);
  assert.equal(w.verdict, 'DROPPED');
  assert.match(w.reason, /FDB/);
  assert.match(w.reason, /\(the rest of the VXLAN chain: [^)]*10\.233\.100\.128/);
});

test('a healthy chain and still a neighbour failure: the next hop did not resolve, with the chain as it stands', () => {
  const healthy = node1();
  const f = fp();
  const v = judged(healthy, [
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f }),
    ev({ t: 900, iface: 'vxlan.calico', kind: 'drop', dst: WEB_0, fingerprint: f, dropReasonName: 'NEIGH_FAILED' }),
  ]);
  assert.equal(v.verdict, 'DROPPED');
  assert.match(v.reason, /the next hop did not resolve \[VXLAN chain: [^\]]*\]/);
  assert.match(v.reason, re(NODE2_IP));
});

test('a local pod whose neighbour entry is gone or unresolved: the entry, its state, and who programs it', () => {
  const missing = node1({ neigh: node1().neighbours.filter((n) => n.dst !== POD_B) });
  const f = fp();
  const v = judged(missing, [
    ev({ t: 0, iface: CALI_A, fingerprint: f, kernel: fib('no_neigh', CALI_B) }),
    ev({ t: 900, iface: CALI_B, kind: 'drop', fingerprint: f, dropReasonName: 'NEIGH_FAILED' }),
  ]);
  assert.equal(v.verdict, 'DROPPED');
  assert.match(v.reason, re(`the neighbour entry for ${POD_B} on ${CALI_B} is missing (Calico programs a permanent one for every local pod: check calico-node): ARP for it got no answer`));
  const stale = node1({ neigh: [...node1().neighbours.filter((n) => n.dst !== POD_B), { family: 4, dst: POD_B, dev: CALI_B, lladdr: POD_B_MAC, state: ['INCOMPLETE'] }] });
  const g = fp();
  const w = judged(stale, [
    ev({ t: 0, iface: CALI_A, fingerprint: g, kernel: fib('no_neigh', CALI_B) }),
    ev({ t: 900, iface: CALI_B, kind: 'drop', fingerprint: g, dropReasonName: 'NEIGH_FAILED' }),
  ]);
  assert.match(w.reason, re(`the neighbour entry for ${POD_B} on ${CALI_B} is INCOMPLETE`));
  // The FIB's no_neigh is enough, without a drop reason naming the neighbour: an unfinished packet.
  const h = fp();
  const u = judged(missing, [ev({ t: 0, iface: CALI_A, fingerprint: h, kernel: fib('no_neigh', CALI_B) })], { closedBy: 'window' });
  assert.equal(u.verdict, 'INCOMPLETE');
  assert.match(u.reason, re(`not seen on ${CALI_B}`));
  assert.match(u.reason, re(`the neighbour entry for ${POD_B} on ${CALI_B} is missing`));
});

test('a gateway that does not answer ARP on a plain (unencapsulated) route: no word about Calico pods', () => {
  const plain = node1({
    drop: ['10.233.100.128/26 via 10.233.100.128 dev vxlan.calico onlink'],
    add: [`10.233.100.128/26 via ${NODE2_IP} dev ens3`],
    neigh: [...node1().neighbours.filter((n) => n.dst !== NODE2_IP), { family: 4, dst: NODE2_IP, dev: 'ens3', state: ['FAILED'] }],
  });
  const f = fp();
  const v = judged(plain, [
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f }),
    ev({ t: 900, iface: 'ens3', kind: 'drop', dst: WEB_0, fingerprint: f, dropReasonName: 'NEIGH_FAILED' }),
  ]);
  assert.equal(v.verdict, 'DROPPED');
  assert.match(v.reason, re(`the neighbour entry for ${NODE2_IP} on ens3 is FAILED: ARP for it got no answer`));
  assert.doesNotMatch(v.reason, /calico-node/);
});

test('a /32 on another pod\'s interface: delivered where the route says, with what is wrong named', () => {
  const wrong = node1({ drop: [`${POD_B} dev ${CALI_B} scope link`], add: [`${POD_B} dev ${CALI_A} scope link`] });
  const f = fp();
  const v = judged(wrong, [
    ev({ t: 0, iface: 'vxlan.calico', src: WEB_0, dst: POD_B, fingerprint: f }),
    ev({ t: 5, iface: CALI_A, dir: 'egress', src: WEB_0, dst: POD_B, fingerprint: f }),
  ]);
  assert.equal(v.verdict, 'MATCHED', 'the kernel did what its routes say');
  assert.ok(v.warnings.includes('CALICO_INTENT'));
  assert.match(v.reason, re(`left via ${CALI_A} as predicted by \`${POD_B} dev ${CALI_A} scope link\`, but `));
  assert.match(v.reason, re(`belongs to ${CALI_B}`));
  assert.equal(v.cause && v.reason.includes(v.cause), true);
});

test('dropped by the IPAM-block blackhole with the evidence: why no pod has the address, after the route', () => {
  const s = node1();
  const f = fp();
  const v = judged(s, [
    ev({ t: 0, iface: CALI_A, dst: NO_POD, fingerprint: f, kernel: fib('blackhole') }),
    ev({ t: 4, iface: CALI_A, kind: 'drop', dst: NO_POD, fingerprint: f, dropReasonName: 'NOT_SPECIFIED' }),
  ]);
  assert.equal(v.verdict, 'EXPECTED_DROP');
  assert.match(v.reason, re(`${NO_POD} is in this node's IPAM block but has no /32 route, so Calico's IPAM-block blackhole \`blackhole 10.233.101.192/26 proto 80\` catches it: no pod has ${NO_POD}`));
  assert.match(v.reason, re(`the kernel dropped it at ${CALI_A} (NOT_SPECIFIED)`));
  assert.ok(v.cause?.startsWith(`no pod has ${NO_POD}`), v.cause);
});

test('refused by the reverse-path filter: its mode on the ingress device, the source, the command', () => {
  const links = node1().links.map((l) => (l.name === CALI_A ? { ...l, rpFilter: 1 } : l));
  const s = node1({ links });
  const spoofed = '10.233.100.77'; // node2's block: the route back leaves through vxlan.calico, not cali11299111064
  const f = fp();
  const v = judged(s, [
    ev({ t: 0, iface: CALI_A, src: spoofed, dst: POD_B, fingerprint: f }),
    ev({ t: 4, iface: CALI_A, kind: 'drop', src: spoofed, dst: POD_B, fingerprint: f, dropReasonName: 'IP_RPFILTER' }),
  ]);
  assert.equal(v.verdict, 'EXPECTED_DROP', v.reason);
  assert.match(v.reason, re(`the reverse-path filter, strict (rp_filter=1) on ${CALI_A}, refused source ${spoofed}`));
  assert.match(v.reason, re(`\`ip route get ${spoofed}\``));
  const loose = node1({ links: node1().links.map((l) => (l.name === CALI_A ? { ...l, rpFilter: 2 } : l)) });
  const g = fp();
  const w = judged(loose, [
    ev({ t: 0, iface: CALI_A, src: '192.0.2.1', dst: POD_B, fingerprint: g }),
    ev({ t: 4, iface: CALI_A, kind: 'drop', src: '192.0.2.1', dst: POD_B, fingerprint: g, dropReasonName: 'IP_RPFILTER' }),
  ]);
  // Loose mode on an interface without addresses (every cali*) refuses too: the kernel's source check gives up
  // on a device with no address unless the route back leaves through it (fib_validate_source's last resort).
  assert.equal(w.verdict, 'EXPECTED_DROP', w.reason);
  assert.match(w.reason, re(`the reverse-path filter, loose (rp_filter=2) on ${CALI_A}, refused source 192.0.2.1`));
});

test("against Calico's intent: a policy rule that sends pod traffic elsewhere is named on a MATCHED packet", () => {
  const ruled = node1WithPodRule();
  const f = fp();
  const v = judged(ruled, [
    ev({ t: 0, iface: CALI_A, fingerprint: f }),
    ev({ t: 5, iface: 'ens3', dir: 'egress', fingerprint: f }),
  ]);
  assert.equal(v.verdict, 'MATCHED', 'the kernel followed the rule, as predicted');
  assert.ok(v.warnings.includes('CALICO_INTENT'));
  assert.match(v.reason, /; against Calico's intent: /);
  assert.match(v.reason, /rule `100: from 10\.233\.101\.222/);
  assert.ok(v.cause && v.reason.includes(v.cause));
  // A healthy node: no intent finding, no warning.
  const g = fp();
  const ok = judged(node1(), [ev({ t: 0, iface: CALI_A, fingerprint: g }), ev({ t: 5, iface: CALI_B, dir: 'egress', fingerprint: g })]);
  assert.deepEqual(ok.warnings, []);
  assert.doesNotMatch(ok.reason, /intent/);
});

test('the pod side of the veth: an eth0 MTU above its cali is named on packets from that pod', () => {
  const s = node1();
  const f = fp();
  const v = judged(s, [ev({ t: 0, iface: CALI_A, fingerprint: f }), ev({ t: 5, iface: CALI_B, dir: 'egress', fingerprint: f })], {}, {
    podSide: (hostIf) => (hostIf === CALI_A ? { hostIf, netns: 'pod-a', name: 'eth0', mtu: 1500, mac: '02:00:00:00:00:0a', up: true } : undefined),
  });
  assert.equal(v.verdict, 'MATCHED');
  assert.ok(v.warnings.includes('CALICO_INTENT'));
  assert.match(v.reason, re(`eth0 (namespace pod-a) has MTU 1500, more than ${CALI_A}'s 1450`));
  assert.equal(POD_A, v.src);
});

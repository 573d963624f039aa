// The causes a verdict names when the node's evidence is at hand, for the cases the evidence tests leave
// out: a drop record alone (from this node or not), a /32 on another pod's interface that drops or never
// shows the packet, a drop the evidence cannot explain, a refusal that is not the reverse-path filter,
// several findings against Calico's intent at once, packets delivered to the node itself (no intent
// check), and the same flow asked again. States are shaped like the lab's node1, predicted by the real
// predictor; each assertion names the device, address, route or command the cause must carry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ObservedPacket } from '../../src/path/correlate';
import type { TraceEvent } from '../../src/capture/event';
import type { RoutingState } from '../../src/routing/types';
import type { CauseEvidence } from '../../src/routing/causes';
import { predict } from '../../src/routing/predict';
import { judge } from '../../src/path/verdict';
import { CALI_A, CALI_B, NODE1_IP, NODE2_IP, POD_A, POD_B, WEB_0, ev, fib, fp } from '../helpers/path-fixtures';
import { VTEP2, node1, node1WithPodRule } from '../helpers/node1-state';

const re = (s: string) => new RegExp(s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));

/** The packet of `events`, entering at its first event's device unless `over` says otherwise, predicted on `state`. */
function observed(state: RoutingState, events: TraceEvent[], over: Partial<ObservedPacket> = {}): ObservedPacket {
  const first = events[0];
  const ingress = 'ingress' in over ? over.ingress : first;
  const prediction = predict(state, { src: first.src, dst: first.dst, iif: ingress?.iface });
  return {
    fingerprint: first.fingerprint,
    events,
    ingress,
    drop: events.find((e) => e.kind === 'drop'),
    predicted: { prediction, generation: 5 },
    closedBy: events.some((e) => e.kind === 'drop') ? 'drop' : 'window',
    windowMs: 100,
    ...over,
  };
}

function judged(state: RoutingState, events: TraceEvent[], over: Partial<ObservedPacket> = {}, evidence: Partial<CauseEvidence> = {}, lost = 0) {
  return judge(observed(state, events, over), { evidence: () => ({ state, ...evidence }), lostEvents: () => lost });
}

/** pod A's eth0 with a larger MTU than its cali (1450 on node1): the pod-side finding on every packet from pod A. */
const bigPodMtu = (hostIf: string) => (hostIf === CALI_A ? { hostIf, netns: 'pod-a', name: 'eth0', mtu: 9000, mac: '02:00:00:00:00:0a', up: true } : undefined);

test('a drop record alone, from an address that is not this node\'s: where it died, and no judgement on a route', () => {
  const s = node1();
  const f = fp();
  const drop = ev({ t: 0, iface: '', kind: 'drop', src: '192.0.2.50', dst: POD_B, fingerprint: f, dropReasonName: 'NETFILTER_DROP' });
  const v = judged(s, [drop], { ingress: undefined }, {}, 6);
  assert.equal(v.verdict, 'INCOMPLETE');
  assert.match(v.reason, /only the kernel's drop record was seen \(NETFILTER_DROP at \?\)/);
  assert.match(v.reason, /192\.0\.2\.50 is not an address of this node/);
  assert.match(v.reason, /\(6 events were lost within a second of this packet, it may be one of them\)$/);
  assert.doesNotMatch(v.reason, /nft list ruleset|its ingress was not traced/, 'no hint for a route it may not have taken');
  // From the node's own address: the node sent it, so it is judged on its output route.
  const g = fp();
  const own = ev({ t: 0, iface: 'ens3', kind: 'drop', src: NODE1_IP, dst: NODE2_IP, fingerprint: g, dropReasonName: 'NETFILTER_DROP' });
  const w = judged(s, [own], { ingress: undefined });
  assert.equal(w.verdict, 'DROPPED');
  assert.match(w.reason, /the kernel dropped it at ens3 with reason NETFILTER_DROP, although `172\.27\.71\.0\/24 dev ens3 proto kernel scope link src 172\.27\.71\.11` predicted egress via ens3/);
  assert.match(w.reason, /`nft list ruleset`/);
  // The same drop without evidence: nothing tells where it came from, so it is judged as sent here.
  const h = fp();
  const blind = judge(observed(s, [ev({ t: 0, iface: 'ens3', kind: 'drop', src: '192.0.2.50', dst: NODE2_IP, fingerprint: h, dropReasonName: 'NETFILTER_DROP' })], { ingress: undefined }));
  assert.notEqual(blind.verdict, 'INCOMPLETE');
  assert.match(blind.reason, /the kernel dropped it at ens3/);
});

test('a /32 on another pod\'s interface: the drop there and the packet never seen there both name the pod\'s real interface', () => {
  const wrong = node1({ drop: [`${POD_B} dev ${CALI_B} scope link`], add: [`${POD_B} dev ${CALI_A} scope link`] });
  const f = fp();
  const v = judged(wrong, [
    ev({ t: 0, iface: 'vxlan.calico', src: WEB_0, dst: POD_B, fingerprint: f }),
    ev({ t: 5, iface: CALI_A, kind: 'drop', src: WEB_0, dst: POD_B, fingerprint: f, dropReasonName: 'NETFILTER_DROP' }),
  ]);
  assert.equal(v.verdict, 'DROPPED');
  assert.match(v.reason, re(`the kernel dropped it at ${CALI_A} with reason NETFILTER_DROP`));
  assert.match(v.reason, re(`the /32 \`${POD_B} dev ${CALI_A} scope link\` points at ${CALI_A}, but ${POD_B} belongs to ${CALI_B}`));
  assert.doesNotMatch(v.reason, /nft list ruleset/, 'the cause replaces the generic hint');
  assert.ok(v.cause && v.reason.endsWith(v.cause), v.cause);
  const g = fp();
  const w = judged(wrong, [ev({ t: 0, iface: 'vxlan.calico', src: WEB_0, dst: POD_B, fingerprint: g })]);
  assert.equal(w.verdict, 'INCOMPLETE');
  assert.match(w.reason, re(`not seen on ${CALI_A} (predicted by \`${POD_B} dev ${CALI_A} scope link\`) and no drop within 100 ms: the /32`));
  assert.match(w.reason, re(`belongs to ${CALI_B}`));
  assert.equal(w.cause, v.cause);
});

test('a drop the evidence does not explain keeps the kernel reason\'s hint and names no cause', () => {
  const s = node1();
  const f = fp();
  const v = judged(s, [
    ev({ t: 0, iface: CALI_A, fingerprint: f, kernel: fib('success', CALI_B) }),
    ev({ t: 5, iface: CALI_B, kind: 'drop', fingerprint: f, dropReasonName: 'TC_EGRESS' }),
  ]);
  assert.equal(v.verdict, 'DROPPED');
  assert.equal(v.cause, undefined);
  assert.match(v.reason, re(`a tc filter or eBPF program dropped it at ${CALI_B}: check \`tc filter show\``));
  // A neighbour failure towards a local pod whose entry is fine: no neighbour cause is made up.
  const g = fp();
  const w = judged(s, [
    ev({ t: 0, iface: CALI_A, fingerprint: g }),
    ev({ t: 5, iface: CALI_B, kind: 'drop', fingerprint: g, dropReasonName: 'NEIGH_FAILED' }),
  ]);
  assert.equal(w.verdict, 'DROPPED');
  assert.match(w.reason, re(`the neighbour entry for ${POD_B} on ${CALI_B} is PERMANENT (Calico programs a permanent one for every local pod: check calico-node)`));
  // No NEIGH reason and a FIB that found the neighbour: the plain hint, no neighbour sentence.
  const h = fp();
  const u = judged(s, [
    ev({ t: 0, iface: CALI_A, fingerprint: h, kernel: fib('success', CALI_B) }),
    ev({ t: 5, iface: CALI_B, kind: 'drop', fingerprint: h, dropReasonName: 'QDISC_DROP' }),
  ]);
  assert.doesNotMatch(u.reason, /neighbour entry/);
  assert.match(u.reason, /queue overflowed/);
  // Not seen on the healthy cross-node path: no chain link is blamed, the hook is.
  const k = fp();
  const x = judged(s, [ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: k })]);
  assert.equal(x.verdict, 'INCOMPLETE');
  assert.match(x.reason, /: no hook saw it there$/);
  assert.equal(x.cause, undefined);
});

test('the VXLAN chain on a drop at the uplink: the underlay neighbour that failed, and the links before it that hold', () => {
  const s = node1({ neigh: node1().neighbours.filter((n) => n.dst !== NODE2_IP) });
  const f = fp();
  const v = judged(s, [
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f }),
    ev({ t: 2, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: f }),
    ev({ t: 900, iface: 'ens3', kind: 'drop', dst: WEB_0, fingerprint: f, dropReasonName: 'NEIGH_FAILED' }),
  ]);
  assert.equal(v.verdict, 'DROPPED');
  assert.match(v.reason, re(`dropped it at ens3 after it left via vxlan.calico with reason NEIGH_FAILED`));
  assert.match(v.reason, re(`the underlay neighbour ${NODE2_IP} on ens3 is FAILED (the kernel dropped the packet there with NEIGH_FAILED`));
  assert.match(v.reason, re(`(the rest of the VXLAN chain: VTEP ${VTEP2} →`));
  assert.match(v.reason, re(`FDB 66:e2:e9:96:9f:82 → dst ${NODE2_IP}`));
  assert.match(v.cause ?? '', re(`\`ip neigh show ${NODE2_IP} dev ens3\``));
});

test('a refusal that is not the reverse-path filter: the route in words, the evidence adds nothing', () => {
  const s = node1({ add: ['blackhole 192.0.2.0/24'] });
  const send = () => {
    const f = fp();
    return judged(s, [
      ev({ t: 0, iface: CALI_A, dst: '192.0.2.9', fingerprint: f, kernel: fib('blackhole') }),
      ev({ t: 4, iface: CALI_A, kind: 'drop', dst: '192.0.2.9', fingerprint: f, dropReasonName: 'NOT_SPECIFIED' }),
    ]);
  };
  const v = send();
  assert.equal(v.verdict, 'EXPECTED_DROP');
  assert.equal(v.cause, undefined);
  assert.match(v.reason, /dropped as predicted: a blackhole route `blackhole 192\.0\.2\.0\/24` matches 192\.0\.2\.9; the kernel dropped it at cali11299111064 \(NOT_SPECIFIED\)$/);
  assert.doesNotMatch(v.reason, /reverse-path|IPAM/);
  // The next packet of the flow is told the same.
  assert.equal(send().reason, v.reason);
});

test('the IPAM-block cause is told again, the same, to the flow\'s next packet', () => {
  const s = node1();
  const blackholed = () => {
    const g = fp();
    return judged(s, [
      ev({ t: 0, iface: CALI_A, dst: '10.233.101.230', fingerprint: g, kernel: fib('blackhole') }),
      ev({ t: 4, iface: CALI_A, kind: 'drop', dst: '10.233.101.230', fingerprint: g, dropReasonName: 'NOT_SPECIFIED' }),
    ]);
  };
  const a = blackholed();
  const b = blackholed();
  assert.equal(a.verdict, 'EXPECTED_DROP');
  assert.match(a.cause ?? '', /no pod has 10\.233\.101\.230/);
  assert.equal(b.cause, a.cause);
  assert.equal(b.reason, a.reason);
});

test("several findings against Calico's intent are all said, the warning once, a cause already named kept first", () => {
  const ruled = node1WithPodRule();
  const f = fp();
  const v = judged(ruled, [ev({ t: 0, iface: CALI_A, fingerprint: f }), ev({ t: 5, iface: 'ens3', dir: 'egress', fingerprint: f })], {}, { podSide: bigPodMtu });
  assert.equal(v.verdict, 'MATCHED');
  assert.deepEqual(v.warnings, ['CALICO_INTENT']);
  assert.match(v.reason, /; against Calico's intent: .*rule `100: from 10\.233\.101\.222.*; the pod's eth0 \(namespace pod-a\) has MTU 9000, more than cali11299111064's 1450/);
  assert.match(v.cause ?? '', /rule `100: from 10\.233\.101\.222.*; the pod's eth0/);
  // A /32 on the wrong interface and a pod-side finding: the wrong /32 is the cause, the finding is added, one warning.
  const wrong = node1({ drop: [`${POD_B} dev ${CALI_B} scope link`], add: [`${POD_B} dev ${CALI_A} scope link`] });
  const g = fp();
  const w = judged(wrong, [
    ev({ t: 0, iface: CALI_A, dst: POD_B, fingerprint: g }),
    ev({ t: 5, iface: CALI_A, dir: 'egress', dst: POD_B, fingerprint: g }),
  ], {}, { podSide: bigPodMtu });
  assert.equal(w.verdict, 'MATCHED');
  assert.deepEqual(w.warnings, ['CALICO_INTENT']);
  assert.match(w.cause ?? '', re(`points at ${CALI_A}, but ${POD_B} belongs to ${CALI_B}`));
  assert.doesNotMatch(w.cause ?? '', /eth0/);
  assert.match(w.reason, /against Calico's intent: the pod's eth0 \(namespace pod-a\) has MTU 9000/);
});

test('a packet delivered to the node itself is not checked against Calico\'s intent', () => {
  const s = node1({ add: [`local ${NODE1_IP} dev ens3 table local proto kernel scope host src ${NODE1_IP}`] });
  const f = fp();
  const v = judged(s, [ev({ t: 0, iface: CALI_A, dst: NODE1_IP, fingerprint: f, kernel: fib('not_fwded') })], {}, { podSide: bigPodMtu });
  assert.equal(v.verdict, 'MATCHED', v.reason);
  assert.deepEqual(v.warnings, []);
  assert.doesNotMatch(v.reason, /intent|eth0/);
  // The same pod's packet forwarded to pod B is.
  const g = fp();
  const w = judged(s, [ev({ t: 0, iface: CALI_A, fingerprint: g }), ev({ t: 3, iface: CALI_B, dir: 'egress', fingerprint: g })], {}, { podSide: bigPodMtu });
  assert.deepEqual(w.warnings, ['CALICO_INTENT']);
  assert.match(w.reason, /MTU 9000/);
});

test('a drop record with an egress before it but no ingress is judged, not set aside as a lone drop; the node\'s second address counts as its own', () => {
  const s = node1();
  const f = fp();
  const v = judged(s, [
    ev({ t: 0, iface: CALI_B, dir: 'egress', src: '192.0.2.50', fingerprint: f }),
    ev({ t: 4, iface: CALI_B, kind: 'drop', src: '192.0.2.50', fingerprint: f, dropReasonName: 'QDISC_DROP' }),
  ], { ingress: undefined });
  assert.doesNotMatch(v.reason, /only the kernel's drop record/);
  assert.match(v.reason, /\(its ingress was not traced: it came from this node or through an interface without a hook\)/);
  // The drop-only sentence says what is not known and why.
  const g = fp();
  const alone = judged(s, [ev({ t: 0, iface: 'ens3', kind: 'drop', src: '192.0.2.50', dst: POD_B, fingerprint: g, dropReasonName: 'QDISC_DROP' })], { ingress: undefined });
  assert.match(alone.reason, /no hook saw this packet enter or leave/);
  assert.match(alone.reason, /where it came from is unknown and it is not judged against a route/);
  // vxlan.calico's own address is the node's too: a drop of a packet from it is judged as sent here.
  const two: RoutingState = { ...s, addresses: [...s.addresses, { family: 4, ifname: 'vxlan.calico', address: '10.233.101.192', prefixLen: 32, scope: 'global' }] };
  const h = fp();
  const own = judged(two, [ev({ t: 0, iface: 'ens3', kind: 'drop', src: NODE1_IP, dst: NODE2_IP, fingerprint: h, dropReasonName: 'NETFILTER_DROP' })], { ingress: undefined });
  assert.equal(own.verdict, 'DROPPED');
  const k = fp();
  const fromVtep = judged(two, [ev({ t: 0, iface: 'ens3', kind: 'drop', src: '10.233.101.192', dst: NODE2_IP, fingerprint: k, dropReasonName: 'NETFILTER_DROP' })], { ingress: undefined });
  assert.doesNotMatch(fromVtep.reason, /only the kernel's drop record/);
});

test('the reverse-path filter\'s refusal is its own cause, not dressed as the IPAM-block blackhole', () => {
  const s = node1({ links: node1().links.map((l) => (l.name === CALI_A ? { ...l, rpFilter: 1 } : l)) });
  const spoofed = '10.233.100.77';
  const f = fp();
  const v = judged(s, [
    ev({ t: 0, iface: CALI_A, src: spoofed, dst: POD_B, fingerprint: f }),
    ev({ t: 4, iface: CALI_A, kind: 'drop', src: spoofed, dst: POD_B, fingerprint: f, dropReasonName: 'IP_RPFILTER' }),
  ]);
  assert.equal(v.verdict, 'EXPECTED_DROP');
  assert.ok(v.reason.startsWith(`dropped as predicted: the reverse-path filter, strict (rp_filter=1) on ${CALI_A}, refused source ${spoofed}`), v.reason);
  assert.doesNotMatch(v.reason, /IPAM/);
});

test('a healthy VXLAN chain and a FIB that had no neighbour yet: a queue drop is not blamed on a neighbour', () => {
  const s = node1();
  const f = fp();
  const v = judged(s, [
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f, kernel: fib('no_neigh', 'vxlan.calico', VTEP2) }),
    ev({ t: 4, iface: 'vxlan.calico', kind: 'drop', dst: WEB_0, fingerprint: f, dropReasonName: 'QDISC_DROP' }),
  ]);
  assert.equal(v.verdict, 'DROPPED');
  assert.equal(v.cause, undefined);
  assert.doesNotMatch(v.reason, /neighbour entry/);
  assert.match(v.reason, /queue overflowed/);
});

test('the VXLAN chain\'s other links are listed without the broken one, in order', () => {
  const s = node1({ neigh: node1().neighbours.filter((n) => n.dst !== NODE2_IP) });
  const f = fp();
  const v = judged(s, [
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f }),
    ev({ t: 2, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: f }),
    ev({ t: 900, iface: 'ens3', kind: 'drop', dst: WEB_0, fingerprint: f, dropReasonName: 'NEIGH_FAILED' }),
  ]);
  const rest = /\(the rest of the VXLAN chain: (.*)\)$/.exec(v.reason)?.[1] ?? '';
  assert.match(rest, re(`(permanent neighbour on vxlan.calico); FDB 66:e2:e9:96:9f:82 → dst ${NODE2_IP}`));
  assert.doesNotMatch(rest, /FAILED/);
});

test('the neighbour named for a local pod is the pod\'s own entry on its interface, not another address\'s or another device\'s', () => {
  const neigh = [
    { family: 4 as const, dst: POD_B, dev: CALI_A, lladdr: '02:00:00:00:00:99', state: ['STALE'] },
    { family: 4 as const, dst: '10.233.101.250', dev: CALI_B, lladdr: '02:00:00:00:00:98', state: ['REACHABLE'] },
    { family: 4 as const, dst: POD_B, dev: CALI_B, state: ['INCOMPLETE'] },
    ...node1().neighbours.filter((n) => n.dst !== POD_B),
  ];
  const s = node1({ neigh });
  const f = fp();
  const v = judged(s, [
    ev({ t: 0, iface: CALI_A, fingerprint: f }),
    ev({ t: 900, iface: CALI_B, kind: 'drop', fingerprint: f, dropReasonName: 'NEIGH_FAILED' }),
  ]);
  assert.equal(v.verdict, 'DROPPED');
  assert.match(v.reason, re(`the neighbour entry for ${POD_B} on ${CALI_B} is INCOMPLETE`));
});

test('one prediction asked from two ingress devices: the pod-side finding follows the ingress, not the first answer', () => {
  const s = node1();
  const pred = predict(s, { src: POD_A, dst: POD_B, iif: CALI_A });
  const evidence = () => ({ state: s, podSide: bigPodMtu });
  const f = fp();
  const events = [ev({ t: 0, iface: CALI_A, fingerprint: f }), ev({ t: 3, iface: CALI_B, dir: 'egress', fingerprint: f })];
  const a = judge({ fingerprint: f, events, ingress: events[0], predicted: { prediction: pred, generation: 5 }, closedBy: 'complete', windowMs: 100 }, { evidence });
  assert.match(a.reason, /MTU 9000/);
  const g = fp();
  const out = [ev({ t: 3, iface: CALI_B, dir: 'egress', fingerprint: g })];
  const b = judge({ fingerprint: g, events: out, ingress: undefined, predicted: { prediction: pred, generation: 5 }, closedBy: 'complete', windowMs: 100 }, { evidence });
  assert.equal(b.verdict, 'MATCHED');
  assert.doesNotMatch(b.reason, /MTU 9000/);
  assert.deepEqual(b.warnings, []);
});

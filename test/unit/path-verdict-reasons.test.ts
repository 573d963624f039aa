// The verdict's reason and fields for the endings the other verdict tests leave out: a packet predicted for
// this node that left it, a FIB answer known only by ifindex, a drop between the VXLAN device and the
// uplink, records out of order, a lost egress record, the underlay's MTU taken from the links, the same
// flow's packets judged one after another. Each assertion names what a reader needs (devices, routes,
// counts, commands), built from the packet and the prediction made here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ObservedPacket } from '../../src/path/correlate';
import type { KernelView, TraceEvent } from '../../src/capture/event';
import type { Prediction } from '../../src/routing/types';
import { judge, kernelAgrees } from '../../src/path/verdict';
import { CALI_A, CALI_B, NODE1_IP, NODE2_IP, POD_A, POD_B, WEB_0, ev, fib, fp, observedPacket, predictCrossNode, predictSameNode } from '../helpers/path-fixtures';

const re = (s: string) => new RegExp(s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));

const packet = (events: TraceEvent[], prediction: Prediction | undefined, over: Partial<ObservedPacket> = {}) => observedPacket(events, prediction, over, 11);

/** Pod A → this node's own address, delivered by the local table. */
function localDelivery(over: Partial<Prediction> = {}): Prediction {
  return {
    query: { src: POD_A, dst: NODE1_IP, iif: CALI_A },
    family: 4,
    decision: 'local',
    table: 255,
    route: `local ${NODE1_IP} dev ens3 table local proto kernel scope host src ${NODE1_IP}`,
    nexthops: [],
    candidates: [],
    rulesWalked: [],
    egressPath: [],
    ...over,
  };
}

const UDP = { proto: 17, sport: 40000, dport: 5201, icmpType: 0 };

test('predicted for this node but it left: DIVERGED naming the local route and the device it left by', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: NODE1_IP, fingerprint: f }),
    ev({ t: 4, iface: 'ens3', dir: 'egress', dst: NODE1_IP, fingerprint: f }),
  ], localDelivery()));
  assert.equal(v.verdict, 'DIVERGED');
  assert.match(v.reason, re(`predicted \`local ${NODE1_IP} dev ens3 table local proto kernel scope host src ${NODE1_IP}\` predicted local delivery but it left via ens3`));
  // No route to name, only a rule: the rule is the prediction's source.
  const g = fp();
  const byRule = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: NODE1_IP, fingerprint: g }),
    ev({ t: 4, iface: 'ens3', dir: 'egress', dst: NODE1_IP, fingerprint: g }),
    ev({ t: 9, iface: 'ens3', kind: 'drop', dst: NODE1_IP, fingerprint: g, dropReasonName: 'NEIGH_FAILED' }),
  ], localDelivery({ route: undefined, rule: '0: from all lookup local' })));
  assert.equal(byRule.verdict, 'DIVERGED');
  assert.match(byRule.reason, /predicted rule `0: from all lookup local` predicted local delivery but it left via ens3; afterwards dropped beyond this node \(NEIGH_FAILED\)$/);
  // Neither a route nor a rule: the decision itself.
  const h = fp();
  const bare = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: NODE1_IP, fingerprint: h }),
    ev({ t: 4, iface: CALI_B, dir: 'egress', dst: NODE1_IP, fingerprint: h }),
  ], localDelivery({ route: undefined })));
  assert.match(bare.reason, re(`predicted the local decision predicted local delivery but it left via ${CALI_B}`));
  // Delivered here and nothing left: MATCHED, saying so.
  const k = fp();
  const here = judge(packet([ev({ t: 0, iface: CALI_A, dst: NODE1_IP, fingerprint: k })], localDelivery()));
  assert.equal(here.verdict, 'MATCHED');
  assert.match(here.reason, re(`delivered on this node as predicted: \`local ${NODE1_IP} dev ens3`));
  assert.match(here.reason, /predicted local delivery$/);
});

test('a STALE_MODEL FIB answer known by ifindex only, or by device without a next hop; the verdict keeps what the FIB said', () => {
  const f = fp();
  const byIndex: KernelView = { result: 1, resultName: 'blackhole', ifindex: 12 };
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, fingerprint: f, kernel: byIndex }),
    ev({ t: 3, iface: CALI_B, dir: 'egress', fingerprint: f }),
  ], predictSameNode()));
  assert.equal(v.verdict, 'STALE_MODEL');
  assert.match(v.reason, /the kernel FIB chose ifindex 12 \(blackhole\) but the route model \(generation 11\)/);
  assert.deepEqual(v.kernel, { result: 'blackhole' });
  assert.equal(v.generation, 11);
  // A device and no next hop: no "via".
  const g = fp();
  const direct = judge(packet([
    ev({ t: 0, iface: CALI_A, fingerprint: g, kernel: fib('success', 'ens3') }),
    ev({ t: 3, iface: 'ens3', dir: 'egress', fingerprint: g }),
  ], predictSameNode()));
  assert.equal(direct.verdict, 'STALE_MODEL');
  assert.match(direct.reason, /the kernel FIB chose ens3 \(success\) but/);
  assert.deepEqual(direct.kernel, { result: 'success', iface: 'ens3' });
  // The FIB's next hop without a device, and with one: both kept for the reader.
  const h = fp();
  const hopOnly = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: h, kernel: { result: 0, resultName: 'no_neigh', ifindex: 0, nexthop: '10.233.100.128' } }),
  ], predictCrossNode(), { closedBy: 'window' }));
  assert.deepEqual(hopOnly.kernel, { result: 'no_neigh', nexthop: '10.233.100.128' });
  const k = fp();
  const both = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: k, kernel: fib('no_neigh', 'vxlan.calico', '10.233.100.128') }),
  ], predictCrossNode(), { closedBy: 'window' }));
  assert.deepEqual(both.kernel, { result: 'no_neigh', iface: 'vxlan.calico', nexthop: '10.233.100.128' });
  assert.equal(both.verdict, 'INCOMPLETE', 'no_neigh on the predicted device agrees with the model');
});

test('the FIB answers that say nothing about the prediction are not held against it', () => {
  const cross = predictCrossNode();
  // A martian source still finds its route in a plain table lookup.
  const martian: Prediction = { ...cross, decision: 'martian', errno: 'EXDEV' } as Prediction;
  assert.equal(kernelAgrees(fib('success', 'vxlan.calico')!, martian), undefined);
  assert.equal(kernelAgrees(fib('no_neigh', 'vxlan.calico')!, martian), undefined);
  assert.equal(kernelAgrees(fib('blackhole')!, martian), false, 'a FIB refusal still disagrees with a martian prediction');
  // A success without a device cannot be compared; an answer the program does not name neither.
  assert.equal(kernelAgrees({ result: 0, resultName: 'success', ifindex: 0 }, cross), undefined);
  assert.equal(kernelAgrees({ result: 9, resultName: 'unsupported', ifindex: 0 }, cross), undefined);
  // frag_needed is a lookup that found the route: it agrees by device like success.
  assert.equal(kernelAgrees(fib('frag_needed', 'vxlan.calico')!, cross), true);
  assert.equal(kernelAgrees(fib('frag_needed', CALI_B)!, cross), false);
  assert.equal(kernelAgrees(fib('success', 'vxlan.calico')!, localDelivery()), false, 'forwarded where the model delivers locally');
  // Multipath: any next hop's device is the route's.
  const multi: Prediction = { ...cross, dev: 'vxlan.calico', egressPath: ['vxlan.calico'], nexthops: [...cross.nexthops, { dev: 'ens4', gateway: '172.28.0.1', weight: 1, onlink: false, flags: [] }] };
  assert.equal(kernelAgrees(fib('success', 'ens4')!, multi), true);
  // Each FIB refusal agrees with that refusal only.
  assert.equal(kernelAgrees(fib('unreachable')!, { ...localDelivery(), decision: 'unreachable' }), true);
  assert.equal(kernelAgrees(fib('prohibit')!, { ...localDelivery(), decision: 'blackhole' }), false);
  // "Not forwarded" agrees with any decision that does not forward, a refusing route excepted.
  for (const d of ['unicast', 'blackhole', 'unreachable', 'prohibit'] as const) {
    assert.equal(kernelAgrees(fib('not_fwded')!, { ...localDelivery(), decision: d }), false, d);
  }
  for (const d of ['local', 'throw', 'no_route', 'broadcast'] as const) {
    assert.equal(kernelAgrees(fib('not_fwded')!, { ...localDelivery(), decision: d }), true, d);
  }
});

test('dropped between the VXLAN device and the uplink: the node dropped it, after it left the first device', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f }),
    ev({ t: 3, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: f }),
    ev({ t: 6, iface: 'ens3', kind: 'drop', dst: WEB_0, fingerprint: f, dropReasonName: 'QDISC_DROP' }),
  ], predictCrossNode()));
  assert.equal(v.verdict, 'DROPPED');
  assert.match(v.reason, /the kernel dropped it at ens3 after it left via vxlan\.calico with reason QDISC_DROP, although `10\.233\.100\.128\/26 via 10\.233\.100\.128 dev vxlan\.calico onlink` predicted egress via vxlan\.calico → ens3 — a queue overflowed/);
  // Left by both devices, then dropped: beyond this node.
  const g = fp();
  const beyond = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: g }),
    ev({ t: 3, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: g }),
    ev({ t: 5, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: g }),
    ev({ t: 8, iface: 'ens3', kind: 'drop', dst: WEB_0, fingerprint: g, dropReasonName: 'QDISC_DROP' }),
  ], predictCrossNode()));
  assert.equal(beyond.verdict, 'MATCHED');
  assert.match(beyond.reason, /; afterwards dropped beyond this node \(QDISC_DROP\)$/);
  // Left by another device than the predicted first one, then dropped: not this node's drop either.
  const h = fp();
  const other = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: h }),
    ev({ t: 3, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: h }),
    ev({ t: 6, iface: 'ens3', kind: 'drop', dst: WEB_0, fingerprint: h, dropReasonName: 'QDISC_DROP' }),
  ], predictCrossNode()));
  assert.equal(other.verdict, 'DIVERGED');
  assert.match(other.reason, /left via ens3 but `10\.233\.100\.128\/26 via 10\.233\.100\.128 dev vxlan\.calico onlink` predicted vxlan\.calico → ens3; afterwards dropped beyond this node \(QDISC_DROP\)$/);
});

test('records that arrive out of order are judged in time order, with the latency from ingress to the last egress', () => {
  const f = fp();
  const inOrder = [
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f }),
    ev({ t: 3, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: f }),
    ev({ t: 12.345, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: f }),
  ];
  const shuffled = [inOrder[2], inOrder[0], inOrder[1]];
  const v = judge(packet(shuffled, predictCrossNode(), { ingress: inOrder[0] }));
  assert.equal(v.verdict, 'MATCHED');
  assert.deepEqual(v.observed.map((h) => `${h.iface}/${h.dir}`), [`${CALI_A}/ingress`, 'vxlan.calico/egress', 'ens3/egress']);
  assert.equal(v.latencyUs, 12.35);
  assert.match(v.reason, /left via vxlan\.calico → ens3 as predicted/);
  // Without an egress there is no latency.
  const g = fp();
  const none = judge(packet([ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: g })], predictCrossNode(), { closedBy: 'window' }));
  assert.equal(none.latencyUs, undefined);
  // The same records given already in order: the list handed in is read, not copied in another order.
  assert.deepEqual(judge(packet(inOrder, predictCrossNode())).observed.map((h) => h.iface), [CALI_A, 'vxlan.calico', 'ens3']);
});

test('a predicted egress seen while records were lost: the missing record is named with the loss; without loss another path', () => {
  const f = fp();
  const events = [
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f }),
    ev({ t: 5, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: f }),
  ];
  const lossy = judge(packet(events, predictCrossNode()), { lostEvents: () => 37 });
  assert.equal(lossy.verdict, 'INCOMPLETE');
  assert.match(lossy.reason, /left via ens3 as predicted by `10\.233\.100\.128\/26 via 10\.233\.100\.128 dev vxlan\.calico onlink`, but its egress record at vxlan\.calico is missing \(37 events were lost within a second of this packet, it may be one of them\)$/);
  const clean = judge(packet(events, predictCrossNode()), { lostEvents: () => 0 });
  assert.equal(clean.verdict, 'DIVERGED');
  // Both devices seen but in the other order: not a loss, another path.
  const g = fp();
  const swapped = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: g }),
    ev({ t: 3, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: g }),
    ev({ t: 5, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: g }),
  ], predictCrossNode()), { lostEvents: () => 37 });
  assert.equal(swapped.verdict, 'DIVERGED');
  assert.match(swapped.reason, /left via ens3 → vxlan\.calico but/);
  // A device the path does not have, with loss: another path too.
  const h = fp();
  const elsewhere = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: h }),
    ev({ t: 5, iface: 'ens4', dir: 'egress', dst: WEB_0, fingerprint: h }),
  ], predictCrossNode()), { lostEvents: () => 37 });
  assert.equal(elsewhere.verdict, 'DIVERGED');
  // More devices than the path: neither a prefix nor a loss.
  const k = fp();
  const longer = judge(packet([
    ev({ t: 0, iface: CALI_A, fingerprint: k }),
    ev({ t: 3, iface: CALI_B, dir: 'egress', fingerprint: k }),
    ev({ t: 5, iface: 'ens3', dir: 'egress', fingerprint: k }),
  ], predictSameNode()));
  assert.equal(longer.verdict, 'DIVERGED');
  assert.ok(longer.reason.endsWith(`left via ${CALI_B} → ens3 but \`${POD_B} dev ${CALI_B} scope link\` predicted ${CALI_B}`), longer.reason);
});

test('not seen on the predicted device while events were lost, a missing record with its loss counted', () => {
  const f = fp();
  const v = judge(packet([ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f })], predictCrossNode(), { closedBy: 'window', windowMs: 300 }), { lostEvents: () => 4 });
  assert.equal(v.verdict, 'INCOMPLETE');
  assert.match(v.reason, /^not seen on vxlan\.calico → ens3 .* and no drop within 300 ms: no hook saw it there \(4 events were lost within a second of this packet, it may be one of them\)$/);
  const g = fp();
  const quiet = judge(packet([ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: g })], predictCrossNode(), { closedBy: 'window' }));
  assert.match(quiet.reason, /: no hook saw it there$/);
  const h = fp();
  const lost = judge(packet([ev({ t: 3, iface: CALI_B, dir: 'egress', fingerprint: h })], undefined, { missing: 'ingress', ingress: undefined }), { lostEvents: () => 9 });
  assert.equal(lost.verdict, 'INCOMPLETE');
  assert.match(lost.reason, /its ingress record is missing .*\(9 events were lost within a second of this packet, it may be one of them\); observed caliaa479e31ff6\(out\)$/);
  assert.doesNotMatch(lost.reason, /not counted yet/);
});

test('the underlay MTU comes from the links when the prediction does not carry it', () => {
  const cross = predictCrossNode();
  const noMtu: Prediction = { ...cross, outer: { ...cross.outer!, underlayMtu: undefined } };
  const udp = (len: number) => {
    const f = fp();
    return judge(packet([ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f, len, ...UDP })], noMtu, { closedBy: 'window' }), {
      mtuOf: (d) => (d === 'ens3' ? 1400 : d === 'vxlan.calico' ? 1450 : undefined),
    });
  };
  // 1350 bytes of IP + 50 of VXLAN fit ens3's 1400; one more byte does not.
  assert.deepEqual(udp(14 + 1350).warnings, []);
  assert.deepEqual(udp(14 + 1351).warnings, ['MTU_EXCEEDED']);
  // No underlay device and no MTU: the VXLAN device's own MTU is the limit left.
  const bare: Prediction = { ...cross, outer: { ...cross.outer!, underlayMtu: undefined, underlayDev: undefined } };
  const judged = (len: number) => judge(packet([ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: fp(), len, ...UDP })], bare, { closedBy: 'window' }), { mtuOf: (d) => (d === 'vxlan.calico' ? 1450 : 1400) });
  assert.deepEqual(judged(14 + 1400).warnings, []);
  assert.deepEqual(judged(14 + 1451).warnings, ['MTU_EXCEEDED']);
});

test('a fragmentation drop with the egress MTU known: the size, the device, its MTU', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, fingerprint: f, len: 1514, ...UDP }),
    ev({ t: 5, iface: CALI_B, kind: 'drop', fingerprint: f, len: 1514, ...UDP, dropReasonName: 'FRAG_TOO_FAR' }),
  ], predictSameNode()), { mtuOf: (d) => (d === CALI_B ? 1450 : 1500) });
  assert.equal(v.verdict, 'DROPPED');
  assert.deepEqual(v.warnings, ['MTU_EXCEEDED']);
  assert.match(v.reason, re(`the 1500-byte packet does not fit ${CALI_B}'s MTU of 1450`));
  // Another reason with the MTU known: the reason's own hint, no MTU sentence.
  const g = fp();
  const other = judge(packet([
    ev({ t: 0, iface: CALI_A, fingerprint: g, len: 1514, ...UDP }),
    ev({ t: 5, iface: CALI_B, kind: 'drop', fingerprint: g, len: 1514, ...UDP, dropReasonName: 'QDISC_DROP' }),
  ], predictSameNode()), { mtuOf: (d) => (d === CALI_B ? 1450 : 1500) });
  assert.doesNotMatch(other.reason, /does not fit/);
  assert.match(other.reason, /queue overflowed/);
});

test('a multicast group refused on an interface the query does not name: the interface is said to be unknown', () => {
  const pred: Prediction = { ...localDelivery(), decision: 'multicast_not_joined', route: undefined, table: undefined, query: { src: POD_A, dst: '239.3.3.3' } };
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: 'ens3', src: POD_A, dst: '239.3.3.3', fingerprint: f, ...UDP }),
    ev({ t: 4, iface: 'ens3', kind: 'drop', src: POD_A, dst: '239.3.3.3', fingerprint: f, ...UDP, dropReasonName: 'NOT_SPECIFIED' }),
  ], pred));
  assert.equal(v.verdict, 'EXPECTED_DROP');
  assert.match(v.reason, /239\.3\.3\.3 is a multicast group the interface has not joined \(`ip maddr show dev the interface`\)/);
});

test('the ICMP fields go with ICMP and ICMPv6 only; the identity of the packet is the first record\'s', () => {
  const f = fp();
  const v6 = judge(packet([ev({ t: 0, iface: CALI_A, fingerprint: f, family: 6, proto: 58, src: 'fd00::1', dst: 'fd00::2', icmpType: 128, icmpCode: 0, icmpId: 9, icmpSeq: 4 })], undefined));
  assert.deepEqual(v6.icmp, { type: 128, code: 0, id: 9, seq: 4 });
  assert.equal(v6.family, 6);
  assert.equal(v6.src, 'fd00::1');
  const g = fp();
  const udp = judge(packet([ev({ t: 0, iface: CALI_A, fingerprint: g, ...UDP })], undefined));
  assert.equal(udp.icmp, undefined);
  assert.equal(udp.sport, 40000);
  assert.equal(udp.dport, 5201);
  assert.equal(udp.proto, 17);
});

test('the packets of one flow get one MATCHED sentence while what it says stays; a change is said', () => {
  const pred = predictCrossNode();
  const tunnel = (outerDst: string, vni: number) => ({ outerSrc: NODE1_IP, outerDst, vni, sport: 1, dport: 4789, family: 4 }) as never;
  const send = (over: { outerDst?: string; vni?: number; drop?: boolean; via?: string[] } = {}) => {
    const f = fp();
    const via = over.via ?? ['vxlan.calico', 'ens3'];
    const events = [ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f })];
    via.forEach((d, i) => events.push(ev({ t: 2 + i, iface: d, dir: 'egress', dst: WEB_0, fingerprint: f, tunnel: d === 'ens3' ? tunnel(over.outerDst ?? NODE2_IP, over.vni ?? 4096) : undefined })));
    if (over.drop) events.push(ev({ t: 9, iface: 'ens3', kind: 'drop', dst: WEB_0, fingerprint: f, dropReasonName: 'NO_SOCKET' }));
    return judge(packet(events, pred));
  };
  const a = send();
  const b = send();
  assert.equal(a.verdict, 'MATCHED');
  assert.equal(b.reason, a.reason);
  assert.match(a.reason, re(`encapsulated to ${NODE2_IP} (VNI 4096)`));
  // Another VNI on the same prediction: the new one is said.
  const c = send({ vni: 4097 });
  assert.match(c.reason, /\(VNI 4097\)/);
  // A drop beyond the node now: the tail is added.
  const d = send({ drop: true });
  assert.match(d.reason, /afterwards dropped beyond this node \(NO_SOCKET\)$/);
  const e = send();
  assert.doesNotMatch(e.reason, /afterwards dropped/);
  // Not encapsulated at all on the same route (no tunnel seen): nothing about encapsulation.
  const same = predictSameNode();
  const once = (tunnelIn?: boolean) => {
    const f = fp();
    return judge(packet([
      ev({ t: 0, iface: 'ens3', src: WEB_0, fingerprint: f, tunnel: tunnelIn ? tunnel(NODE1_IP, 4096) : undefined }),
      ev({ t: 1, iface: CALI_A, src: WEB_0, fingerprint: f }),
      ev({ t: 3, iface: CALI_B, dir: 'egress', src: WEB_0, fingerprint: f }),
    ], same, { ingress: undefined }));
  };
  assert.doesNotMatch(once(false).reason, /arrived encapsulated/);
  assert.match(once(true).reason, re(`arrived encapsulated from ${NODE1_IP} (VNI 4096)`));
  assert.doesNotMatch(once(false).reason, /arrived encapsulated/);
});

test('one multipath prediction, its packets leaving by either next hop: each MATCHED sentence names the device it left by', () => {
  const multi: Prediction = {
    query: { src: POD_A, dst: '198.51.100.7', iif: CALI_A },
    family: 4,
    decision: 'unicast',
    table: 254,
    route: 'default nexthop via 172.27.71.254 dev ens3 weight 1 nexthop via 172.27.72.254 dev ens4 weight 1',
    dev: 'ens3',
    gateway: '172.27.71.254',
    nexthops: [
      { gateway: '172.27.71.254', dev: 'ens3', weight: 1, onlink: false, flags: [] },
      { gateway: '172.27.72.254', dev: 'ens4', weight: 1, onlink: false, flags: [] },
    ],
    candidates: [],
    rulesWalked: [],
    egressPath: ['ens3'],
  };
  const leave = (dev: string) => {
    const f = fp();
    return judge(packet([
      ev({ t: 0, iface: CALI_A, dst: '198.51.100.7', fingerprint: f }),
      ev({ t: 4, iface: dev, dir: 'egress', dst: '198.51.100.7', fingerprint: f }),
    ], multi));
  };
  assert.match(leave('ens3').reason, /^left via ens3 as predicted/);
  assert.match(leave('ens4').reason, /^left via ens4 as predicted/);
  assert.match(leave('ens3').reason, /^left via ens3 as predicted/);
});

test('one prediction seen with and without its ingress: the predicted path starts at the ingress device only when there is one', () => {
  const pred = predictSameNode();
  const f = fp();
  const withIn = judge(packet([ev({ t: 0, iface: CALI_A, fingerprint: f }), ev({ t: 3, iface: CALI_B, dir: 'egress', fingerprint: f })], pred));
  assert.deepEqual(withIn.predicted, [CALI_A, CALI_B]);
  const g = fp();
  const without = judge(packet([ev({ t: 3, iface: CALI_B, dir: 'egress', fingerprint: g })], pred, { ingress: undefined }));
  assert.deepEqual(without.predicted, [CALI_B]);
  assert.deepEqual(pred.egressPath, [CALI_B], 'the prediction itself is left as it was');
  const h = fp();
  assert.deepEqual(judge(packet([ev({ t: 0, iface: CALI_A, fingerprint: h })], pred, { closedBy: 'window' })).predicted, [CALI_A, CALI_B]);
});

test('the observed hops keep the drop reason and the tunnel ends; a device seen twice in a row leaving counts once', () => {
  const f = fp();
  const tunnel = { outerSrc: NODE1_IP, outerDst: NODE2_IP, vni: 4096, sport: 31000, dport: 4789, family: 4 } as never;
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f }),
    ev({ t: 2, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: f }),
    ev({ t: 3, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: f, tunnel }),
    ev({ t: 4, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: f, tunnel }),
    ev({ t: 9, iface: 'ens3', kind: 'drop', dst: WEB_0, fingerprint: f, dropReasonName: 'SKB_DROP_REASON_QDISC_DROP' }),
  ], predictCrossNode()));
  assert.equal(v.verdict, 'MATCHED', v.reason);
  assert.match(v.reason, /^left via vxlan\.calico → ens3, encapsulated/);
  assert.deepEqual(v.observed.map((h) => h.dir), ['ingress', 'egress', 'egress', 'egress', 'drop']);
  assert.deepEqual(v.observed[2].tunnel, { outerSrc: NODE1_IP, outerDst: NODE2_IP, vni: 4096 });
  assert.equal(v.observed[0].tunnel, undefined);
  assert.equal(v.observed[4].dropReason, 'QDISC_DROP');
  assert.equal(v.observed[1].dropReason, undefined);
});

test('an MTU drop reason is an MTU warning whatever the sizes known; other drops warn of nothing', () => {
  const small = (reason: string) => {
    const f = fp();
    return judge(packet([
      ev({ t: 0, iface: CALI_A, fingerprint: f, ...UDP }),
      ev({ t: 5, iface: CALI_B, kind: 'drop', fingerprint: f, ...UDP, dropReasonName: reason }),
    ], predictSameNode())).warnings;
  };
  assert.deepEqual(small('PKT_TOO_BIG'), ['MTU_EXCEEDED']);
  assert.deepEqual(small('FRAG_REASM_TIMEOUT'), ['MTU_EXCEEDED']);
  assert.deepEqual(small('QDISC_DROP'), []);
  // A big UDP packet without any MTU known: nothing to compare with.
  const f = fp();
  assert.deepEqual(judge(packet([ev({ t: 0, iface: CALI_A, fingerprint: f, len: 9014, ...UDP })], predictSameNode(), { closedBy: 'window' })).warnings, []);
});

test('NAT said alone in each direction, and both in one sentence', () => {
  const send = (nat: ObservedPacket['nat']) => {
    const f = fp();
    return judge(packet([ev({ t: 0, iface: CALI_A, fingerprint: f }), ev({ t: 5, iface: CALI_B, dir: 'egress', fingerprint: f })], predictSameNode(), { nat }));
  };
  const src = send({ src: { from: `${POD_A}:40000`, to: `${NODE1_IP}:40000` } });
  assert.match(src.reason, /^NAT on this node: source 10\.233\.101\.222:40000 → 172\.27\.71\.11:40000 \(SNAT\/masquerade, or a Service backend's reply; after routing\); left via/);
  assert.doesNotMatch(src.reason, /destination|DNAT/);
  const dst = send({ dst: { from: '10.96.0.10:53', to: `${POD_B}:53` } });
  assert.match(dst.reason, /^NAT on this node: destination 10\.96\.0\.10:53 → 10\.233\.101\.224:53 \(DNAT[^)]*\); left via/);
  assert.doesNotMatch(dst.reason, /SNAT/);
  const both = send({ dst: { from: '10.96.0.10:53', to: `${POD_B}:53` }, src: { from: `${POD_A}:40000`, to: `${NODE1_IP}:40000` } });
  assert.match(both.reason, /routed by the new destination\), source 10\.233\.101\.222:40000/);
  // A rewritten source does not excuse a FIB answer that disagrees: only a rewritten destination does.
  const g = fp();
  const stale = judge(packet([ev({ t: 0, iface: CALI_A, fingerprint: g, kernel: fib('success', 'ens3') }), ev({ t: 5, iface: CALI_B, dir: 'egress', fingerprint: g })], predictSameNode(), {
    nat: { src: { from: `${POD_A}:40000`, to: `${NODE1_IP}:40000` } },
  }));
  assert.equal(stale.verdict, 'STALE_MODEL');
});

test('a wait for ARP is said only when a drop ended it; a drop record alone gets no untraced-ingress note', () => {
  const f = fp();
  const v = judge(packet([ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f })], predictCrossNode(), { closedBy: 'window', pendingOn: 'ARP for 10.233.100.128 on vxlan.calico' }));
  assert.doesNotMatch(v.reason, /its verdict waited/);
  const g = fp();
  const drop = ev({ t: 0, iface: CALI_B, kind: 'drop', fingerprint: g, dropReasonName: 'QDISC_DROP' });
  const alone = judge(packet([drop], predictSameNode(), { ingress: undefined }));
  assert.equal(alone.verdict, 'DROPPED');
  assert.match(alone.reason, /the node is congested$/);
  assert.doesNotMatch(alone.reason, /its ingress was not traced/);
});

test('broadcast and multicast deliveries are the local stack\'s: its reasons, each for its own protocol and drop reason', () => {
  const bcast = localDelivery({ decision: 'broadcast', route: 'broadcast 172.27.71.255 dev ens3 table local proto kernel scope link src 172.27.71.11', query: { src: '172.27.71.50', dst: '172.27.71.255', iif: 'ens3' } });
  const mcast = localDelivery({ decision: 'multicast', route: undefined, query: { src: POD_A, dst: '239.1.1.1', iif: CALI_A } });
  const drop = (pred: Prediction, reason: string, over: Partial<TraceEvent>) => {
    const f = fp();
    const { src, dst, iif } = pred.query;
    return judge(packet([
      ev({ t: 0, iface: iif!, src, dst, fingerprint: f, ...over }),
      ev({ t: 6, iface: '', kind: 'drop', src, dst, fingerprint: f, dropReasonName: reason, ...over }),
    ], pred)).reason;
  };
  assert.match(drop(bcast, 'NO_SOCKET', { proto: 17, sport: 68, dport: 67, icmpType: 0 }), /own stack.*nothing listens on UDP port 67 here/);
  // An echo request to a group, dropped for another reason than INVALID_PROTO: not the echo-ignore sysctl, not a UDP port.
  const echo = drop(mcast, 'NOT_SPECIFIED', { proto: 1, icmpType: 8 });
  assert.match(echo, /own stack.*see the kernel drop reason/);
  assert.doesNotMatch(echo, /icmp_echo_ignore_broadcasts|UDP port/);
  // UDP to a group dropped for another reason than NOT_SPECIFIED: no "nobody listens for the group".
  const other = drop(mcast, 'IP_INADDRERRORS', { proto: 17, sport: 4000, dport: 5000, icmpType: 0 });
  assert.match(other, /see the kernel drop reason/);
  assert.doesNotMatch(other, /for the group/);
});

test('the kernel FIB and a neighbourless lookup: no_neigh agrees by device like success; a local route\'s device does not make it forwarding', () => {
  const cross = predictCrossNode();
  assert.equal(kernelAgrees(fib('no_neigh', 'vxlan.calico')!, cross), true);
  assert.equal(kernelAgrees(fib('no_neigh', 'ens3')!, cross), false);
  assert.equal(kernelAgrees(fib('success', 'ens3')!, localDelivery({ dev: 'ens3' })), false);
  const f = fp();
  const v = judge(packet([ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f, kernel: fib('no_neigh', 'ens3', '172.27.71.254') })], cross, { closedBy: 'window' }));
  assert.equal(v.verdict, 'STALE_MODEL');
  assert.match(v.reason, /the kernel FIB chose ens3 via 172\.27\.71\.254 \(no_neigh\)/);
});

test('left by the predicted first device and then another uplink: another path, with the FIB\'s device when it agreed', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f }),
    ev({ t: 2, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: f }),
    ev({ t: 4, iface: 'ens4', dir: 'egress', dst: WEB_0, fingerprint: f }),
  ], predictCrossNode()));
  assert.equal(v.verdict, 'DIVERGED');
  assert.ok(v.reason.endsWith('left via vxlan.calico → ens4 but `10.233.100.128/26 via 10.233.100.128 dev vxlan.calico onlink` predicted vxlan.calico → ens3'), v.reason);
  // A FIB answer that cannot be compared (success without a device): no claim about what moved it.
  const g = fp();
  const blind = judge(packet([
    ev({ t: 0, iface: CALI_A, fingerprint: g, kernel: { result: 0, resultName: 'success', ifindex: 0 } }),
    ev({ t: 3, iface: 'ens3', dir: 'egress', fingerprint: g }),
  ], predictSameNode()));
  assert.equal(blind.verdict, 'DIVERGED');
  assert.doesNotMatch(blind.reason, /the kernel FIB chose/);
  // Multipath: the FIB picked the second next hop, the packet left by a third device — the FIB's own choice is named.
  const multi: Prediction = {
    ...predictSameNode('198.51.100.7', 'ens3'),
    route: 'default nexthop via 172.27.71.254 dev ens3 weight 1 nexthop via 172.27.72.254 dev ens4 weight 1',
    calico: undefined,
    nexthops: [
      { gateway: '172.27.71.254', dev: 'ens3', weight: 1, onlink: false, flags: [] },
      { gateway: '172.27.72.254', dev: 'ens4', weight: 1, onlink: false, flags: [] },
    ],
  };
  const h = fp();
  const moved = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: '198.51.100.7', fingerprint: h, kernel: fib('success', 'ens4', '172.27.72.254') }),
    ev({ t: 3, iface: 'ens5', dir: 'egress', dst: '198.51.100.7', fingerprint: h }),
  ], multi));
  assert.equal(moved.verdict, 'DIVERGED');
  assert.match(moved.reason, /the kernel FIB chose ens4 too, so something after the route lookup moved it/);
});

test('a copy dropped before the packet left is this node\'s drop; the latency ends at the last egress, not at a later drop', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, fingerprint: f }),
    ev({ t: 2, iface: CALI_A, kind: 'drop', fingerprint: f, dropReasonName: 'QDISC_DROP' }),
    ev({ t: 4, iface: CALI_B, dir: 'egress', fingerprint: f }),
  ], predictSameNode()));
  assert.equal(v.verdict, 'DROPPED');
  assert.match(v.reason, re(`the kernel dropped it at ${CALI_A} with reason QDISC_DROP`));
  assert.doesNotMatch(v.reason, /after it left via/, 'nothing had left when it was dropped');
  const g = fp();
  const w = judge(packet([
    ev({ t: 0, iface: CALI_A, fingerprint: g }),
    ev({ t: 4, iface: CALI_B, dir: 'egress', fingerprint: g }),
    ev({ t: 9, iface: CALI_B, kind: 'drop', fingerprint: g, dropReasonName: 'NO_SOCKET' }),
  ], predictSameNode()));
  assert.equal(w.verdict, 'MATCHED');
  assert.equal(w.latencyUs, 4);
});

test('the underlay MTU with no link table at hand: no warning and no failure', () => {
  const cross = predictCrossNode();
  const noMtu: Prediction = { ...cross, outer: { ...cross.outer!, underlayMtu: undefined } };
  const f = fp();
  const v = judge(packet([ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f, len: 14 + 1480, ...UDP })], noMtu, { closedBy: 'window' }));
  assert.deepEqual(v.warnings, []);
  assert.equal(v.verdict, 'INCOMPLETE');
});

test('the MATCHED sentence of one prediction follows the arriving VNI and an encapsulation the route did not predict', () => {
  const same = predictSameNode(POD_A, CALI_A);
  const arrive = (vni: number) => {
    const f = fp();
    return judge(packet([
      ev({ t: 0, iface: 'ens3', src: WEB_0, dst: POD_A, fingerprint: f, tunnel: { outerSrc: NODE2_IP, outerDst: NODE1_IP, vni, sport: 1, dport: 4789, family: 4 } as never }),
      ev({ t: 1, iface: 'vxlan.calico', src: WEB_0, dst: POD_A, fingerprint: f }),
      ev({ t: 3, iface: CALI_A, dir: 'egress', src: WEB_0, dst: POD_A, fingerprint: f }),
    ], same));
  };
  assert.match(arrive(4096).reason, /^arrived encapsulated from 172\.27\.71\.12 \(VNI 4096\)/);
  assert.match(arrive(4097).reason, /^arrived encapsulated from 172\.27\.71\.12 \(VNI 4097\)/);
  // A plain route whose packets left encapsulated anyway (another tunnel on the uplink): where to, each time.
  const plain: Prediction = { ...predictSameNode(WEB_0, 'ens3'), calico: undefined };
  const leave = (outerDst: string) => {
    const f = fp();
    return judge(packet([
      ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f }),
      ev({ t: 3, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: f, tunnel: { outerSrc: NODE1_IP, outerDst, vni: 7, sport: 1, dport: 4789, family: 4 } as never }),
    ], plain));
  };
  assert.ok(leave(NODE2_IP).reason.startsWith(`left via ens3, encapsulated to ${NODE2_IP} (VNI 7)`));
  assert.match(leave('172.27.71.13').reason, /^left via ens3, encapsulated to 172\.27\.71\.13 \(VNI 7\)/);
  // Seen only leaving, the uplink's record carrying the tunnel: that is where it was sent, not where it came from.
  const g = fp();
  const untraced = judge(packet([
    ev({ t: 2, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: g }),
    ev({ t: 4, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: g, tunnel: { outerSrc: NODE1_IP, outerDst: NODE2_IP, vni: 4096, sport: 1, dport: 4789, family: 4 } as never }),
  ], predictCrossNode(), { ingress: undefined }));
  assert.equal(untraced.verdict, 'MATCHED');
  assert.ok(untraced.reason.startsWith(`left via vxlan.calico → ens3, encapsulated to ${NODE2_IP}`), untraced.reason);
  const h = fp();
  const plainOnly = judge(packet([
    ev({ t: 3, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: h, tunnel: { outerSrc: NODE1_IP, outerDst: NODE2_IP, vni: 7, sport: 1, dport: 4789, family: 4 } as never }),
  ], plain, { ingress: undefined }));
  assert.match(plainOnly.reason, /^left via ens3, encapsulated to/);
});

test('the verdict of a packet with no prediction predicts no devices', () => {
  const f = fp();
  const v = judge(packet([ev({ t: 0, iface: CALI_A, fingerprint: f })], undefined));
  assert.deepEqual(v.predicted, []);
  assert.equal(v.decision, undefined);
});

test('relayed between two other nodes: the tunnel it left in is judged, not the one it came in; each arrival names its own sender', () => {
  const relay: Prediction = { ...predictCrossNode(), query: { src: '10.233.102.5', dst: WEB_0, iif: 'vxlan.calico' } };
  const tunnel = (outerSrc: string, outerDst: string) => ({ outerSrc, outerDst, vni: 4096, sport: 1, dport: 4789, family: 4 }) as never;
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: 'ens3', src: '10.233.102.5', dst: WEB_0, fingerprint: f, tunnel: tunnel('172.27.71.13', NODE1_IP) }),
    ev({ t: 1, iface: 'vxlan.calico', src: '10.233.102.5', dst: WEB_0, fingerprint: f }),
    ev({ t: 2, iface: 'vxlan.calico', dir: 'egress', src: '10.233.102.5', dst: WEB_0, fingerprint: f }),
    ev({ t: 3, iface: 'ens3', dir: 'egress', src: '10.233.102.5', dst: WEB_0, fingerprint: f, tunnel: tunnel(NODE1_IP, NODE2_IP) }),
  ], relay));
  assert.equal(v.verdict, 'MATCHED', v.reason);
  assert.ok(v.reason.startsWith(`arrived encapsulated from 172.27.71.13 (VNI 4096), left via vxlan.calico → ens3, encapsulated to ${NODE2_IP} (VNI 4096)`), v.reason);
  // The same prediction, the next packet sent by another node: that node is named.
  const g = fp();
  const w = judge(packet([
    ev({ t: 0, iface: 'ens3', src: '10.233.102.5', dst: WEB_0, fingerprint: g, tunnel: tunnel('172.27.71.14', NODE1_IP) }),
    ev({ t: 1, iface: 'vxlan.calico', src: '10.233.102.5', dst: WEB_0, fingerprint: g }),
    ev({ t: 2, iface: 'vxlan.calico', dir: 'egress', src: '10.233.102.5', dst: WEB_0, fingerprint: g }),
    ev({ t: 3, iface: 'ens3', dir: 'egress', src: '10.233.102.5', dst: WEB_0, fingerprint: g, tunnel: tunnel(NODE1_IP, NODE2_IP) }),
  ], relay));
  assert.ok(w.reason.startsWith('arrived encapsulated from 172.27.71.14 (VNI 4096)'), w.reason);
});

// Verdicts for the seed's cases, from the definitions: what each packet did against what the
// route table (prediction) and the kernel FIB (at ingress) said.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ObservedPacket } from '../../src/path/correlate';
import type { TraceEvent } from '../../src/capture/event';
import type { Prediction } from '../../src/routing/types';
import { judge } from '../../src/path/verdict';
import { predict } from '../../src/routing/predict';
import { parseRouteLine } from '../../src/routing/paste';
import { ruleFromJson } from '../../src/routing/iproute-json';
import type { RoutingState } from '../../src/routing/types';
import {
  CALI_A, CALI_B, NODE1_IP, NODE2_IP, NO_POD, POD_B, WEB_0, ev, fib, fp,
  predictBlackhole, predictCrossNode, predictNoEncap, predictSameNode,
} from '../helpers/path-fixtures';

function packet(events: TraceEvent[], prediction: Prediction | undefined, closedBy: ObservedPacket['closedBy'] = 'complete', generation = 3): ObservedPacket {
  const ingress = events.find((e) => e.kind !== 'drop' && e.dir === 'ingress' && !e.tunnel);
  return {
    fingerprint: events[0].fingerprint,
    events,
    ingress,
    drop: events.find((e) => e.kind === 'drop'),
    predicted: prediction ? { prediction, generation } : undefined,
    closedBy,
    windowMs: 100,
  };
}

const VXLAN_OUT = { outerSrc: NODE1_IP, outerDst: NODE2_IP, vni: 4096, udpSport: 40001, udpDport: 4789 };

test('same node .222 → .224: MATCHED, path cali11299111064 → caliaa479e31ff6, no VXLAN, no uplink', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, fingerprint: f, kernel: fib('success', CALI_B) }),
    ev({ t: 21, iface: CALI_B, dir: 'egress', fingerprint: f }),
  ], predictSameNode()));
  assert.equal(v.verdict, 'MATCHED');
  assert.deepEqual(v.observed.map((h) => h.iface), [CALI_A, CALI_B]);
  assert.deepEqual(v.predicted, [CALI_A, CALI_B]);
  assert.ok(!v.observed.some((h) => h.iface === 'vxlan.calico' || h.iface === 'ens3'));
  assert.equal(v.latencyUs, 21);
  assert.deepEqual(v.kernel, { result: 'success', iface: CALI_B });
  assert.match(v.reason, /caliaa479e31ff6/);
  assert.equal(v.generation, 3);
  assert.deepEqual(v.warnings, []);
});

test('cross node: MATCHED via cali → vxlan.calico → ens3, encapsulated to node2 (172.27.71.12)', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f, kernel: fib('success', 'vxlan.calico', '10.233.100.128') }),
    ev({ t: 14, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: f }),
    ev({ t: 30, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: f, len: 148, tunnel: VXLAN_OUT }),
  ], predictCrossNode()));
  assert.equal(v.verdict, 'MATCHED');
  assert.deepEqual(v.observed.map((h) => h.iface), [CALI_A, 'vxlan.calico', 'ens3']);
  assert.deepEqual(v.predicted, [CALI_A, 'vxlan.calico', 'ens3']);
  assert.equal(v.observed[2].tunnel?.outerDst, NODE2_IP);
  assert.match(v.reason, /encapsulated to 172\.27\.71\.12/);
  assert.equal(v.latencyUs, 30);
});

test('.230 (in the block, no pod): EXPECTED_DROP by the IPAM-block blackhole', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: NO_POD, fingerprint: f, kernel: fib('blackhole') }),
    ev({ t: 6, iface: CALI_A, kind: 'drop', dst: NO_POD, fingerprint: f, dropReason: 2, dropReasonName: 'NOT_SPECIFIED' }),
  ], predictBlackhole(), 'drop'));
  assert.equal(v.verdict, 'EXPECTED_DROP');
  assert.match(v.reason, /blackhole/);
  assert.match(v.reason, /10\.233\.101\.192\/26/);
  assert.deepEqual(v.predicted, [CALI_A]);
  assert.equal(v.observed[1].dir, 'drop');
});

test('netfilter DROP in the forward path: DROPPED with the netfilter reason and where', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, fingerprint: f, kernel: fib('success', CALI_B) }),
    ev({ t: 8, iface: CALI_A, kind: 'drop', fingerprint: f, dropReason: 6, dropReasonName: 'SKB_DROP_REASON_NETFILTER_DROP' }),
  ], predictSameNode(), 'drop'));
  assert.equal(v.verdict, 'DROPPED');
  assert.match(v.reason, /NETFILTER_DROP/);
  assert.match(v.reason, /at cali11299111064/);
  assert.match(v.reason, /netfilter|iptables|nft/);
  assert.match(v.reason, /caliaa479e31ff6/, 'says where it should have gone');
  assert.equal(v.observed[1].dropReason, 'NETFILTER_DROP');
});

test('tc redirect to another interface: DIVERGED, naming both devices', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, fingerprint: f, kernel: fib('success', CALI_B) }),
    ev({ t: 5, iface: 'cali0ther00000', dir: 'egress', fingerprint: f }),
  ], predictSameNode(), 'window'));
  assert.equal(v.verdict, 'DIVERGED');
  assert.match(v.reason, /cali0ther00000/);
  assert.match(v.reason, /caliaa479e31ff6/);
  assert.match(v.reason, /redirect/, 'the kernel FIB agreed, so something after routing moved it');
});

test('encapsulated to another VTEP than the FDB says: DIVERGED', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f, kernel: fib('success', 'vxlan.calico', '10.233.100.128') }),
    ev({ t: 14, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: f }),
    ev({ t: 30, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: f, tunnel: { ...VXLAN_OUT, outerDst: '172.27.71.13' } }),
  ], predictCrossNode()));
  assert.equal(v.verdict, 'DIVERGED');
  assert.match(v.reason, /172\.27\.71\.13/);
  assert.match(v.reason, /172\.27\.71\.12/);
});

test('pod deleted but the model still has its /32: STALE_MODEL names the kernel blackhole and the model route', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, fingerprint: f, kernel: fib('blackhole') }),
    ev({ t: 6, iface: CALI_A, kind: 'drop', fingerprint: f, dropReason: 2, dropReasonName: 'NOT_SPECIFIED' }),
  ], predictSameNode(), 'drop', 41));
  assert.equal(v.verdict, 'STALE_MODEL');
  assert.match(v.reason, /blackhole/);
  assert.match(v.reason, /10\.233\.101\.224 dev caliaa479e31ff6/);
  assert.match(v.reason, /generation 41/);
});

test('kernel chose the uplink, the model says VXLAN: STALE_MODEL with both routes', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f, kernel: fib('success', 'ens3', NODE2_IP) }),
    ev({ t: 9, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: f }),
  ], predictCrossNode(), 'window'));
  assert.equal(v.verdict, 'STALE_MODEL');
  assert.match(v.reason, /ens3 via 172\.27\.71\.12/);
  assert.match(v.reason, /vxlan\.calico/);
});

test('seen at ingress only, the egress interface not traced: INCOMPLETE says what was not traced', () => {
  const f = fp();
  const v = judge(
    packet([ev({ t: 0, iface: CALI_A, fingerprint: f, kernel: fib('success', CALI_B) })], predictSameNode(), 'window'),
    { isTraced: (i) => i !== CALI_B },
  );
  assert.equal(v.verdict, 'INCOMPLETE');
  assert.match(v.reason, /caliaa479e31ff6 is not traced/);
  assert.match(v.reason, /100 ms/);
});

test('left through vxlan.calico but never seen on the uplink: INCOMPLETE, naming ens3', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f, kernel: fib('success', 'vxlan.calico', '10.233.100.128') }),
    ev({ t: 14, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: f }),
  ], predictCrossNode(), 'window'), { lostEvents: () => 12 });
  assert.equal(v.verdict, 'INCOMPLETE');
  assert.match(v.reason, /not seen on ens3/);
  assert.match(v.reason, /12 events were lost/);
});

test('blackhole predicted but no drop record: INCOMPLETE, not a guessed EXPECTED_DROP', () => {
  const f = fp();
  const v = judge(packet([ev({ t: 0, iface: CALI_A, dst: NO_POD, fingerprint: f, kernel: fib('blackhole') })], predictBlackhole(), 'window'));
  assert.equal(v.verdict, 'INCOMPLETE');
  assert.match(v.reason, /no drop was seen/);
});

test('no prediction available: INCOMPLETE that says the model was not ready', () => {
  const f = fp();
  const v = judge(packet([ev({ t: 0, iface: CALI_A, fingerprint: f })], undefined, 'window'));
  assert.equal(v.verdict, 'INCOMPLETE');
  assert.match(v.reason, /route model was not ready/);
});

test('UDP that no longer fits the underlay once encapsulated: MTU_EXCEEDED warning', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, proto: 17, sport: 5000, dport: 5201, len: 14 + 1480, fingerprint: f, kernel: fib('success', 'vxlan.calico', '10.233.100.128') }),
    ev({ t: 14, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, proto: 17, fingerprint: f }),
    ev({ t: 30, iface: 'ens3', dir: 'egress', dst: WEB_0, proto: 17, fingerprint: f, tunnel: VXLAN_OUT }),
  ], predictCrossNode()));
  assert.equal(v.verdict, 'MATCHED');
  assert.deepEqual(v.warnings, ['MTU_EXCEEDED']);
  const small = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, proto: 17, len: 14 + 1400, fingerprint: f, kernel: fib('success', 'vxlan.calico') }),
  ], predictCrossNode(), 'window'));
  assert.deepEqual(small.warnings, []);
});

test('the kernel FIB reports frag_needed: MTU_EXCEEDED', () => {
  const f = fp();
  const v = judge(packet([ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f, kernel: fib('frag_needed', 'vxlan.calico') })], predictCrossNode(), 'window'));
  assert.ok(v.warnings.includes('MTU_EXCEEDED'));
});

test('a route without encapsulation that the packet followed: MATCHED via ens3 only', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f, kernel: fib('success', 'ens3', NODE2_IP) }),
    ev({ t: 9, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: f }),
  ], predictNoEncap()));
  assert.equal(v.verdict, 'MATCHED');
  assert.deepEqual(v.predicted, [CALI_A, 'ens3']);
});

test('a packet that left when the model predicted a blackhole: DIVERGED', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: NO_POD, fingerprint: f }),
    ev({ t: 9, iface: CALI_B, dir: 'egress', dst: NO_POD, fingerprint: f }),
  ], predictBlackhole(), 'window'));
  assert.equal(v.verdict, 'DIVERGED');
  assert.match(v.reason, /caliaa479e31ff6/);
});

test('verdict carries the packet identity and ICMP fields', () => {
  const f = fp();
  const v = judge(packet([ev({ t: 0, iface: CALI_A, fingerprint: f, icmpSeq: 9 }), ev({ t: 3, iface: CALI_B, dir: 'egress', fingerprint: f })], predictSameNode()));
  assert.equal(v.fingerprint, f);
  assert.equal(v.dst, POD_B);
  assert.deepEqual(v.icmp, { type: 8, code: 0, id: 4242, seq: 9 });
  assert.equal(v.decision, 'unicast');
  assert.equal(v.route, '10.233.101.224 dev caliaa479e31ff6 scope link');
});

test('too big for vxlan.calico with DF set: DROPPED with MTU_EXCEEDED and the sizes in the reason', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, len: 14 + 1468, fingerprint: f, kernel: fib('success', 'vxlan.calico', '10.233.100.128') }),
    ev({ t: 7, iface: CALI_A, kind: 'drop', dst: WEB_0, fingerprint: f, dropReason: 40, dropReasonName: 'PKT_TOO_BIG' }),
  ], predictCrossNode(), 'drop'), { mtuOf: (i) => (i === 'vxlan.calico' ? 1450 : 1500) });
  assert.equal(v.verdict, 'DROPPED');
  assert.deepEqual(v.warnings, ['MTU_EXCEEDED']);
  assert.match(v.reason, /1468-byte packet does not fit vxlan\.calico's MTU of 1450/);
});

/** node1's uplink side as the route model holds it, with the groups ens3 has joined. */
function uplinkState(): RoutingState {
  const rules = [
    { priority: 0, src: 'all', table: 'local' },
    { priority: 32766, src: 'all', table: 'main' },
    { priority: 32767, src: 'all', table: 'default' },
  ].map((r) => ruleFromJson(r, 4));
  return {
    links: [{ ifindex: 2, name: 'ens3', mtu: 1500, up: true, carrier: true, forwarding4: true, rpFilter: 0 }],
    addresses: [{ family: 4, ifname: 'ens3', address: NODE1_IP, prefixLen: 24, scope: 'global' }],
    routes: ['default via 172.27.71.254 dev ens3 proto static', '172.27.71.0/24 dev ens3 proto kernel scope link src 172.27.71.11'].map((l) => parseRouteLine(l)!),
    rules,
    neighbours: [],
    fdb: [],
    memberships: [
      { family: 4, ifname: 'ens3', group: '224.0.0.1' },
      { family: 4, ifname: 'ens3', group: '239.1.2.3' },
    ],
    complete: { rules: true, neighbours: true, fdb: true, links: true },
  };
}

test('an IGMP report to a group the uplink has not joined: EXPECTED_DROP, not an unexplained DROPPED', () => {
  // What the lab's router sends after its link comes up; the kernel drops it before routing (NOT_SPECIFIED),
  // while bpf_fib_lookup() at ingress answers the default route.
  const f = fp();
  const at = { iface: 'ens3', src: '172.27.71.254', dst: '224.0.0.22', proto: 2, fingerprint: f };
  const pred = predict(uplinkState(), { src: at.src, dst: at.dst, iif: 'ens3', ipproto: 2 });
  const v = judge(packet([
    ev({ t: 0, ...at, kernel: fib('success', 'ens3', '172.27.71.254') }),
    ev({ t: 4, ...at, kind: 'drop', dropReason: 2, dropReasonName: 'NOT_SPECIFIED' }),
  ], pred, 'drop'));
  assert.equal(v.verdict, 'EXPECTED_DROP', v.reason);
  assert.equal(v.decision, 'multicast_not_joined');
  assert.match(v.reason, /224\.0\.0\.22 is a multicast group ens3 has not joined/);
  assert.match(v.reason, /ip maddr show dev ens3/);
});

test('a packet to a group the uplink joined, delivered on the node: MATCHED, the FIB answer not held against it', () => {
  const f = fp();
  const at = { iface: 'ens3', src: '172.27.71.254', dst: '239.1.2.3', proto: 17, sport: 5000, dport: 5001, fingerprint: f };
  const pred = predict(uplinkState(), { src: at.src, dst: at.dst, iif: 'ens3', ipproto: 17 });
  const v = judge(packet([ev({ t: 0, ...at, kernel: fib('success', 'ens3', '172.27.71.254') })], pred, 'window'));
  assert.equal(v.verdict, 'MATCHED', v.reason);
  assert.equal(v.decision, 'multicast');
  assert.match(v.reason, /delivered on this node/);
});

test('DNAT to a pod of this node: MATCHED by the translated route, the pre-NAT FIB answer not held against it', () => {
  const f = fp();
  const p = packet([
    // bpf_fib_lookup() at ingress still saw the Service address: the default route via the uplink.
    ev({ t: 0, iface: CALI_A, dst: '10.96.0.10', proto: 6, dport: 80, fingerprint: f, kernel: fib('success', 'ens3', '172.27.71.254') }),
    ev({ t: 12, iface: CALI_B, dir: 'egress', dst: POD_B, proto: 6, dport: 8080, fingerprint: fp() }),
  ], predictSameNode());
  p.nat = { dst: { from: '10.96.0.10:80', to: `${POD_B}:8080` } };
  const v = judge(p);
  assert.equal(v.verdict, 'MATCHED', v.reason);
  assert.match(v.reason, /^NAT on this node: destination 10\.96\.0\.10:80 → 10\.233\.101\.224:8080/);
  assert.deepEqual(v.nat, p.nat);
  assert.equal(v.dst, '10.96.0.10', 'the packet is named as it entered');
  // Without the NAT pairing the same FIB answer contradicts the prediction: that is what STALE_MODEL is for.
  const q = packet([ev({ t: 0, iface: CALI_A, dst: POD_B, fingerprint: fp(), kernel: fib('success', 'ens3', '172.27.71.254') })], predictSameNode());
  assert.equal(judge(q).verdict, 'STALE_MODEL');
});

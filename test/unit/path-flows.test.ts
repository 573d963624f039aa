// Flows: both directions under one key, per-verdict counts, latency percentiles, flow-level warnings, caps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowTable, flowKey } from '../../src/path/flows';
import { LatencyHistogram } from '../../src/path/histogram';
import type { Hop, PacketVerdict, Verdict } from '../../src/path/types';
import { CALI_A, CALI_B, NODE1_IP, NODE2_IP, POD_A, POD_B, WEB_0 } from '../helpers/path-fixtures';

const T0 = 1_795_000_000_000;

function hop(iface: string, dir: Hop['dir'], us: number, tunnel?: Hop['tunnel']): Hop {
  const h: Hop = { iface, dir, timeNs: 9e12 + us * 1000 };
  if (tunnel) h.tunnel = tunnel;
  return h;
}

function verdict(over: Partial<PacketVerdict> & { verdict?: Verdict } = {}): PacketVerdict {
  return {
    fingerprint: '00000000000000aa',
    timeMs: T0,
    family: 4,
    proto: 6,
    src: POD_A,
    dst: POD_B,
    sport: 40000,
    dport: 8080,
    verdict: 'MATCHED',
    reason: 'left via caliaa479e31ff6 as predicted',
    warnings: [],
    observed: [hop(CALI_A, 'ingress', 0), hop(CALI_B, 'egress', 20)],
    predicted: [CALI_A, CALI_B],
    decision: 'unicast',
    route: '10.233.101.224 dev caliaa479e31ff6 scope link',
    latencyUs: 20,
    len: 74,
    ...over,
  };
}

function reply(over: Partial<PacketVerdict> = {}): PacketVerdict {
  return verdict({
    src: POD_B, dst: POD_A, sport: 8080, dport: 40000,
    observed: [hop(CALI_B, 'ingress', 0), hop(CALI_A, 'egress', 15)],
    predicted: [CALI_B, CALI_A],
    route: '10.233.101.222 dev cali11299111064 scope link',
    latencyUs: 15,
    ...over,
  });
}

test('both directions of a TCP connection share one key; counts are kept per direction and per verdict', () => {
  const t = new FlowTable();
  const a = verdict();
  const k1 = t.observe(a);
  const k2 = t.observe(reply({ timeMs: T0 + 5 }));
  t.observe(verdict({ timeMs: T0 + 10, verdict: 'DROPPED', reason: 'netfilter' }));
  assert.equal(k1, k2);
  assert.equal(a.flowKey, k1);
  const f = t.get(k1)!;
  assert.equal(f.forward.src, POD_A);
  assert.equal(f.forward.packets, 2);
  assert.equal(f.forward.bytes, 148);
  assert.equal(f.forward.verdicts.MATCHED, 1);
  assert.equal(f.forward.verdicts.DROPPED, 1);
  assert.equal(f.forward.lastVerdict, 'DROPPED');
  assert.equal(f.reverse?.packets, 1);
  assert.deepEqual(f.reverse?.observed, [CALI_B, CALI_A]);
  assert.equal(f.firstSeenMs, T0);
  assert.equal(f.lastSeenMs, T0 + 10);
  assert.equal(f.state, 'active');
  assert.equal(t.size, 1);
});

test('ping: echo request and reply are one flow (by ICMP id); another id is another flow', () => {
  const req = { family: 4 as const, proto: 1, src: POD_A, dst: WEB_0, sport: 0, dport: 0, icmp: { type: 8, code: 0, id: 77, seq: 1 } };
  const rep = { ...req, src: WEB_0, dst: POD_A, icmp: { type: 0, code: 0, id: 77, seq: 1 } };
  assert.equal(flowKey(req), flowKey(rep));
  assert.notEqual(flowKey(req), flowKey({ ...req, icmp: { ...req.icmp, id: 78 } }));
});

test('a route that changes while the flow runs: ROUTE_CHANGED on the first packet with the new prediction', () => {
  const t = new FlowTable();
  const vx = { predicted: [CALI_A, 'vxlan.calico', 'ens3'], route: '10.233.100.128/26 via 10.233.100.128 dev vxlan.calico onlink', dst: WEB_0 };
  const first = verdict(vx);
  const second = verdict({ ...vx, timeMs: T0 + 1 });
  t.observe(first);
  t.observe(second);
  assert.deepEqual(second.warnings, []);
  const changed = verdict({ dst: WEB_0, timeMs: T0 + 2, predicted: [CALI_A, 'ens3'], route: '10.233.100.128/26 via 172.27.71.12 dev ens3' });
  t.observe(changed);
  assert.deepEqual(changed.warnings, ['ROUTE_CHANGED']);
  assert.match(changed.reason, /route changed during this flow/);
  assert.match(changed.reason, /vxlan\.calico onlink/);
  assert.match(changed.reason, /via 172\.27\.71\.12 dev ens3/);
  const after = verdict({ dst: WEB_0, timeMs: T0 + 3, predicted: [CALI_A, 'ens3'], route: '10.233.100.128/26 via 172.27.71.12 dev ens3' });
  t.observe(after);
  assert.deepEqual(after.warnings, [], 'only the change is flagged, not every packet after it');
  const f = t.get(changed.flowKey!)!;
  assert.deepEqual(f.warnings, ['ROUTE_CHANGED']);
  assert.deepEqual(f.forward.predicted, [CALI_A, 'ens3']);
});

test('pod deleted mid-flow: the switch to the blackhole is a route change', () => {
  const t = new FlowTable();
  t.observe(verdict());
  const dropped = verdict({
    verdict: 'EXPECTED_DROP', decision: 'blackhole', route: 'blackhole 10.233.101.192/26 proto 80', predicted: [CALI_A],
    observed: [hop(CALI_A, 'ingress', 0), hop(CALI_A, 'drop', 5)], latencyUs: undefined,
  });
  t.observe(dropped);
  assert.deepEqual(dropped.warnings, ['ROUTE_CHANGED']);
  assert.match(dropped.reason, /blackhole 10\.233\.101\.192\/26/);
});

test('a reply that enters through another device than the request left by: ASYMMETRIC_RETURN', () => {
  const t = new FlowTable();
  const tunnelOut = { outerSrc: NODE1_IP, outerDst: NODE2_IP, vni: 4096 };
  t.observe(verdict({
    dst: WEB_0, predicted: [CALI_A, 'vxlan.calico', 'ens3'],
    observed: [hop(CALI_A, 'ingress', 0), hop('vxlan.calico', 'egress', 10), hop('ens3', 'egress', 20, tunnelOut)],
  }));
  const symmetric = reply({
    src: WEB_0, predicted: ['vxlan.calico', CALI_A],
    observed: [hop('ens3', 'ingress', 0, { outerSrc: NODE2_IP, outerDst: NODE1_IP, vni: 4096 }), hop('vxlan.calico', 'ingress', 5), hop(CALI_A, 'egress', 15)],
  });
  t.observe(symmetric);
  assert.deepEqual(symmetric.warnings, [], 'back through the tunnel to the pod that sent it: symmetric');
  const other = reply({ src: WEB_0, predicted: ['ens3', CALI_A], observed: [hop('eth9', 'ingress', 0), hop(CALI_A, 'egress', 15)] });
  t.observe(other);
  assert.deepEqual(other.warnings, ['ASYMMETRIC_RETURN']);
  assert.match(other.reason, /eth9/);
});

test('latency percentiles per flow and per hop, from ingress', () => {
  const t = new FlowTable();
  let key = '';
  for (let us = 1; us <= 100; us++) {
    key = t.observe(verdict({ latencyUs: us, observed: [hop(CALI_A, 'ingress', 0), hop(CALI_B, 'egress', us)] }));
  }
  const f = t.get(key)!;
  const lat = f.forward.latency!;
  assert.equal(lat.samples, 100);
  assert.ok(Math.abs(lat.p50 - 50) <= 5, `p50 ${lat.p50}`);
  assert.ok(Math.abs(lat.p90 - 90) <= 9, `p90 ${lat.p90}`);
  assert.ok(Math.abs(lat.p99 - 99) <= 10, `p99 ${lat.p99}`);
  assert.equal(lat.max, 100);
  const hopLat = f.forward.hopLatency[CALI_B];
  assert.equal(hopLat.samples, 100);
  assert.ok(Math.abs(hopLat.p50 - 50) <= 5);
});

test('histogram: exact for few samples, within ±10 % once folded into buckets', () => {
  const h = new LatencyHistogram();
  [30_000, 10_000, 20_000].forEach((ns) => h.add(ns));
  assert.equal(h.quantileNs(0.5), 20_000);
  assert.equal(h.quantileNs(1), 30_000);
  // Every count up to the fold keeps exactly its samples, whatever room its list has grown to.
  for (let n = 2; n <= 16; n++) {
    const few = new LatencyHistogram();
    const samples = Array.from({ length: n }, (_, i) => (n - i) * 7_000);
    samples.forEach((ns) => few.add(ns));
    const sorted = samples.slice().sort((a, b) => a - b);
    assert.equal(few.quantileNs(0.5), sorted[Math.ceil(n / 2) - 1], `p50 of ${n}`);
    assert.equal(few.quantileNs(0), sorted[0], `min of ${n}`);
    assert.equal(few.summary().max, (n * 7_000) / 1000, `max of ${n}`);
  }
  const big = new LatencyHistogram();
  for (let i = 1; i <= 10_000; i++) big.add(i * 1000);
  for (const q of [0.5, 0.9, 0.99]) {
    const want = q * 10_000 * 1000;
    const got = big.quantileNs(q);
    assert.ok(Math.abs(got - want) / want <= 0.1, `q${q}: ${got} vs ${want}`);
  }
});

test('the flow table is capped: the least recently seen flow is evicted, counted and reported', () => {
  const ended: string[] = [];
  const t = new FlowTable({ maxFlows: 2, onEnd: (f) => ended.push(`${f.forward.sport}:${f.state}`) });
  t.observe(verdict({ sport: 1 }));
  t.observe(verdict({ sport: 2 }));
  t.observe(verdict({ sport: 1, timeMs: T0 + 1 })); // 1 is now the most recent
  t.observe(verdict({ sport: 3 }));
  assert.equal(t.size, 2);
  assert.equal(t.counters.evictions, 1);
  assert.deepEqual(ended, ['2:evicted']);
});

test('idle flows expire', () => {
  const ended: string[] = [];
  const t = new FlowTable({ idleMs: 1000, onEnd: (f) => ended.push(f.state) });
  t.observe(verdict({ sport: 1, timeMs: T0 }));
  t.observe(verdict({ sport: 2, timeMs: T0 + 900 }));
  t.expire(T0 + 1500);
  assert.equal(t.size, 1);
  assert.equal(t.counters.expired, 1);
  assert.deepEqual(ended, ['expired']);
});

test('a late verdict predicted with an older model does not flip the route back and forth', () => {
  const t = new FlowTable();
  const vx = { dst: WEB_0, predicted: [CALI_A, 'vxlan.calico', 'ens3'], route: '10.233.100.128/26 via 10.233.100.128 dev vxlan.calico onlink' };
  const direct = { dst: WEB_0, predicted: [CALI_A, 'ens3'], route: '10.233.100.128/26 via 172.27.71.12 dev ens3' };
  t.observe(verdict({ ...vx, generation: 2 }));
  const changed = verdict({ ...direct, generation: 3 });
  t.observe(changed);
  const late = verdict({ ...vx, generation: 2, verdict: 'STALE_MODEL' }); // entered before the change, judged after its window
  t.observe(late);
  const next = verdict({ ...direct, generation: 3 });
  t.observe(next);
  assert.deepEqual(changed.warnings, ['ROUTE_CHANGED']);
  assert.deepEqual(late.warnings, []);
  assert.deepEqual(next.warnings, []);
  assert.deepEqual(t.get(next.flowKey!)!.forward.predicted, [CALI_A, 'ens3']);
});

test('a conversation through NAT is one flow: the rewritten reply counts as the reverse of the request', () => {
  const t = new FlowTable();
  const SVC = '10.96.0.10';
  // Pod A → Service 10.96.0.10:80, DNATed to pod B:8080; pod B answers, the reply leaves with the Service address.
  const request = verdict({ dst: SVC, dport: 80, nat: { dst: { from: `${SVC}:80`, to: `${POD_B}:8080` } } });
  const answer = reply({ nat: { src: { from: `${POD_B}:8080`, to: `${SVC}:80` } } });
  const k1 = t.observe(request);
  const k2 = t.observe(answer);
  assert.equal(k2, k1, 'one flow');
  assert.equal(t.size, 1);
  const f = t.get(k1)!;
  assert.equal(f.forward.dst, SVC, 'named as the client sees it');
  assert.equal(f.forward.packets, 1);
  assert.equal(f.reverse?.packets, 1, 'the answer is the reverse direction');
  assert.equal(f.reverse?.src, POD_B, 'the reverse direction still shows who really answered');

  // Masquerade: pod A → 172.27.71.254 leaves as 172.27.71.11; the answer to .11 is rewritten back to pod A.
  const out = verdict({ proto: 1, dst: '172.27.71.254', sport: 0, dport: 0, icmp: { type: 8, code: 0, id: 9, seq: 1 }, nat: { src: { from: POD_A, to: '172.27.71.11' } } });
  const back = verdict({ proto: 1, src: '172.27.71.254', dst: '172.27.71.11', sport: 0, dport: 0, icmp: { type: 0, code: 0, id: 9, seq: 1 }, nat: { dst: { from: '172.27.71.11', to: POD_A } } });
  assert.equal(t.observe(out), t.observe(back));
  assert.equal(t.size, 2);

  // A rewritten packet with no conversation to join keeps its own tuple.
  const lone = reply({ sport: 9999, nat: { src: { from: `${POD_B}:9999`, to: `${SVC}:81` } } });
  assert.notEqual(t.observe(lone), k1);
  assert.equal(t.size, 3);
});

test('no ROUTE_CHANGED between predictions asked differently: from the ingress device vs. as sent by the node', () => {
  const t = new FlowTable();
  const a = verdict();
  t.observe(a);
  // Its ingress record lost and (wrongly, by an older collector) predicted on the output path: another
  // question, so another answer from the same route table — not a change of route.
  const odd = verdict({
    timeMs: T0 + 1,
    observed: [hop(CALI_B, 'egress', 20)],
    predicted: [CALI_B],
    decision: 'martian',
    route: undefined,
  });
  t.observe(odd);
  assert.deepEqual(odd.warnings, []);
  const b = verdict({ timeMs: T0 + 2 });
  t.observe(b);
  assert.deepEqual(b.warnings, [], 'back to the first shape: still the same route');
  assert.deepEqual(t.get(a.flowKey!)!.warnings, []);
  // A real change, asked the same way, is still reported.
  const changed = verdict({ timeMs: T0 + 3, predicted: [CALI_A, 'ens3'], route: '10.233.101.224 via 172.27.71.12 dev ens3' });
  t.observe(changed);
  assert.deepEqual(changed.warnings, ['ROUTE_CHANGED']);
});

// ---- edges of the flow rules ------------------------------------------------------------------------

test('ICMP: echo request and reply share a flow by identifier; other ICMP types are flows of their type', () => {
  const icmp = (type: number, id: number) => ({ family: 4 as const, proto: 1, src: POD_A, dst: POD_B, sport: 0, dport: 0, icmp: { type, code: 0, id, seq: 1 } });
  const req = flowKey(icmp(8, 77));
  assert.equal(flowKey({ ...icmp(0, 77), src: POD_B, dst: POD_A }), req, 'the reply (type 0) is the same flow');
  assert.notEqual(flowKey(icmp(8, 78)), req, 'another ping (identifier) is another flow');
  // ICMPv6 echo 128/129 likewise.
  const v6 = (type: number, src: string, dst: string) => ({ family: 6 as const, proto: 58, src, dst, sport: 0, dport: 0, icmp: { type, code: 0, id: 5, seq: 1 } });
  assert.equal(flowKey(v6(128, 'fd00::1', 'fd00::2')), flowKey(v6(129, 'fd00::2', 'fd00::1')));
  // Destination unreachable (3) carries no identifier: keyed by its type, whatever the id field holds.
  assert.equal(flowKey(icmp(3, 1)), flowKey(icmp(3, 2)));
  assert.notEqual(flowKey(icmp(3, 1)), flowKey(icmp(11, 1)));
});

test('ports are part of the key: another source port is another connection', () => {
  const base = { family: 4 as const, proto: 6, src: POD_A, dst: POD_B, sport: 40000, dport: 8080 };
  assert.notEqual(flowKey(base), flowKey({ ...base, sport: 40001 }));
  assert.equal(flowKey(base), flowKey({ ...base, src: POD_B, dst: POD_A, sport: 8080, dport: 40000 }));
  assert.notEqual(flowKey(base), flowKey({ ...base, proto: 17 }));
});

test('packets and bytes per direction; first and last seen whatever the order verdicts arrive in', () => {
  const t = new FlowTable();
  t.observe(verdict({ timeMs: T0 + 10, len: 100 }));
  t.observe(verdict({ timeMs: T0, len: 60 }), 3);
  t.observe(reply({ timeMs: T0 + 20, len: 40 }));
  const f = t.all();
  assert.equal(f.length, 1);
  assert.equal(f[0].forward.packets, 4);
  assert.equal(f[0].forward.bytes, 100 + 3 * 60);
  assert.equal(f[0].reverse?.packets, 1);
  assert.equal(f[0].reverse?.bytes, 40);
  assert.equal(f[0].forward.src, POD_A);
  assert.equal(f[0].reverse?.src, POD_B);
  assert.equal(f[0].firstSeenMs, T0);
  assert.equal(f[0].lastSeenMs, T0 + 20);
  assert.equal(f[0].state, 'active');
  assert.equal(t.counters.created, 1);
});

test('idle expiry: a flow seen exactly idleMs ago ends, one seen later stays', () => {
  const ended: string[] = [];
  const t = new FlowTable({ idleMs: 1000, onEnd: (s) => ended.push(`${s.forward.sport}:${s.state}`) });
  t.observe(verdict({ timeMs: T0, sport: 1 }));
  t.observe(verdict({ timeMs: T0 + 1, sport: 2 }));
  t.expire(T0 + 1000);
  assert.deepEqual(ended, ['1:expired']);
  assert.equal(t.size, 1);
  assert.equal(t.counters.active, 1);
  assert.equal(t.counters.expired, 1);
  t.expire(T0 + 1001);
  assert.deepEqual(ended, ['1:expired', '2:expired']);
  assert.equal(t.size, 0);
});

test('the last verdict and reason of each direction are the latest packet\'s', () => {
  const t = new FlowTable();
  t.observe(verdict());
  t.observe(verdict({ timeMs: T0 + 1, verdict: 'DROPPED', reason: 'netfilter dropped it' }));
  const f = t.all()[0];
  assert.equal(f.forward.lastVerdict, 'DROPPED');
  assert.equal(f.forward.lastReason, 'netfilter dropped it');
  assert.equal(f.forward.route, '10.233.101.224 dev caliaa479e31ff6 scope link');
  assert.deepEqual(f.forward.observed, [CALI_A, CALI_B]);
});

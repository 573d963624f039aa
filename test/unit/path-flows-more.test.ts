// Flow table edges the first flow tests leave open: the whole summary a caller reads, case-mode counts,
// the eviction hand's second chance, the three parts of a prediction a route change is judged on, which
// predictions may replace which (shapes), and what the asymmetric-return warning says and when it stays quiet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowTable } from '../../src/path/flows';
import { emptyVerdictCounts } from '../../src/vocabulary';
import type { Hop, PacketVerdict } from '../../src/path/types';
import { CALI_A, CALI_B, NODE1_IP, NODE2_IP, POD_A, POD_B, WEB_0 } from '../helpers/path-fixtures';

const T0 = 1_795_000_000_000;
const TUN_IN = { outerSrc: NODE2_IP, outerDst: NODE1_IP, vni: 4096 };
const TUN_OUT = { outerSrc: NODE1_IP, outerDst: NODE2_IP, vni: 4096 };
const SAME_NODE_ROUTE = '10.233.101.224 dev caliaa479e31ff6 scope link';

/** A hook record of the path, `us` µs after an arbitrary origin. */
function at(iface: string, dir: Hop['dir'], us: number, tunnel?: Hop['tunnel']): Hop {
  return tunnel ? { iface, dir, timeNs: 7e12 + us * 1000, tunnel } : { iface, dir, timeNs: 7e12 + us * 1000 };
}

/** Pod A → pod B on node1, judged MATCHED; `over` changes what a test is about. */
function pkt(over: Partial<PacketVerdict> = {}): PacketVerdict {
  return {
    fingerprint: '00000000000000bb',
    timeMs: T0,
    family: 4,
    proto: 6,
    src: POD_A,
    dst: POD_B,
    sport: 41000,
    dport: 8080,
    verdict: 'MATCHED',
    reason: 'left via caliaa479e31ff6 as predicted',
    warnings: [],
    observed: [at(CALI_A, 'ingress', 0), at(CALI_B, 'egress', 20)],
    predicted: [CALI_A, CALI_B],
    decision: 'unicast',
    route: SAME_NODE_ROUTE,
    latencyUs: 20,
    len: 74,
    ...over,
  };
}

/** Pod B's answer to pkt(). */
function answer(over: Partial<PacketVerdict> = {}): PacketVerdict {
  return pkt({
    src: POD_B, dst: POD_A, sport: 8080, dport: 41000,
    observed: [at(CALI_B, 'ingress', 0), at(CALI_A, 'egress', 12)],
    predicted: [CALI_B, CALI_A],
    route: '10.233.101.222 dev cali11299111064 scope link',
    latencyUs: 12,
    ...over,
  });
}

const one = (us: number) => ({ samples: 1, p50: us, p90: us, p99: us, max: us });

test('a one-packet flow: the summary holds exactly what was seen, counted once', () => {
  const t = new FlowTable();
  const key = t.observe(pkt());
  assert.deepEqual(t.get(key), {
    key,
    family: 4,
    proto: 6,
    forward: {
      src: POD_A, dst: POD_B, sport: 41000, dport: 8080,
      packets: 1, bytes: 74,
      verdicts: { ...emptyVerdictCounts(), MATCHED: 1 },
      observed: [CALI_A, CALI_B],
      predicted: [CALI_A, CALI_B],
      route: SAME_NODE_ROUTE,
      latency: one(20),
      // Only egress hops have a latency, measured from the ingress hop.
      hopLatency: { [CALI_B]: one(20) },
      lastVerdict: 'MATCHED',
      lastReason: 'left via caliaa479e31ff6 as predicted',
    },
    firstSeenMs: T0,
    lastSeenMs: T0,
    warnings: [],
    state: 'active',
  });
  assert.equal(t.get('6|10.0.0.1:1|10.0.0.2:2'), undefined, 'an unknown key has no flow');
});

test('a packet the model had no answer for, with no latency: no route, latency or reason invented', () => {
  const t = new FlowTable();
  const key = t.observe(pkt({
    verdict: 'INCOMPLETE', reason: '', predicted: [], decision: undefined, route: undefined, latencyUs: undefined,
    observed: [at(CALI_A, 'ingress', 0)],
  }));
  assert.deepEqual(t.get(key)!.forward, {
    src: POD_A, dst: POD_B, sport: 41000, dport: 8080,
    packets: 1, bytes: 74,
    verdicts: { ...emptyVerdictCounts(), INCOMPLETE: 1 },
    observed: [CALI_A],
    predicted: [],
    hopLatency: {},
    lastVerdict: 'INCOMPLETE',
  });
  assert.equal(t.get(key)!.reverse, undefined);
});

test('a latency below zero (timestamps out of order) is no sample: the flow shows no latency', () => {
  const t = new FlowTable();
  const key = t.observe(pkt({ latencyUs: -3, observed: [at(CALI_A, 'ingress', 5), at(CALI_B, 'egress', 2)] }));
  const f = t.get(key)!.forward;
  assert.equal('latency' in f, false);
  assert.equal(f.packets, 1, 'the packet itself still counts');
});

test('case mode: a path\'s first record (count 0) adds no packet; counts per verdict add up across verdicts', () => {
  const t = new FlowTable();
  const key = t.observe(pkt(), 0);
  let f = t.get(key)!.forward;
  assert.equal(f.packets, 0);
  assert.equal(f.bytes, 0);
  assert.deepEqual(f.verdicts, emptyVerdictCounts(), 'no verdict counted for a record that is no packet');
  assert.deepEqual(f.hopLatency[CALI_B], one(20), 'its hops and latency still count');

  t.observe(pkt({ verdict: 'DROPPED', reason: 'netfilter dropped it' }), 5);
  t.observe(pkt({ verdict: 'MATCHED' }), 2);
  t.observe(pkt({ verdict: 'MATCHED' }), 1);
  t.observe(pkt({ verdict: 'DROPPED', reason: 'netfilter dropped it' }), 4);
  t.observe(pkt({ verdict: 'STALE_MODEL', len: undefined }), 3);
  f = t.get(key)!.forward;
  assert.deepEqual(f.verdicts, { ...emptyVerdictCounts(), DROPPED: 9, MATCHED: 3, STALE_MODEL: 3 });
  assert.equal(f.packets, 15);
  assert.equal(f.bytes, 12 * 74, 'a packet of unknown length adds no bytes');
  assert.equal(f.lastVerdict, 'STALE_MODEL');
});

test('first and last seen: a verdict published late moves neither back', () => {
  const t = new FlowTable();
  const key = t.observe(pkt({ timeMs: T0 }));
  t.observe(pkt({ timeMs: T0 + 20 }));
  t.observe(pkt({ timeMs: T0 + 10 }));
  assert.equal(t.get(key)!.lastSeenMs, T0 + 20);
  assert.equal(t.get(key)!.firstSeenMs, T0);
  t.observe(answer({ timeMs: T0 - 5 }));
  assert.equal(t.get(key)!.firstSeenMs, T0 - 5);
  assert.equal(t.get(key)!.lastSeenMs, T0 + 20);
});

test('defaults: a flow ends 60 s after its last packet, and the table works without an onEnd listener', () => {
  const t = new FlowTable();
  t.expire(T0); // an empty table has nothing to end
  assert.equal(t.counters.expired, 0);
  t.observe(pkt({ timeMs: T0 }));
  t.expire(T0 + 59_999);
  assert.equal(t.size, 1);
  t.expire(T0 + 60_000);
  assert.equal(t.size, 0);
  assert.equal(t.counters.expired, 1);
  assert.equal(t.counters.active, 0);

  const small = new FlowTable({ maxFlows: 1 });
  small.observe(pkt({ sport: 1 }));
  const k2 = small.observe(pkt({ sport: 2 }));
  assert.equal(small.size, 1);
  assert.equal(small.counters.evictions, 1);
  assert.equal(small.all()[0].key, k2, 'the newer flow stays');
});

test('eviction: a flow seen again gets one second chance, not two', () => {
  const ended: string[] = [];
  const t = new FlowTable({ maxFlows: 2, onEnd: (f) => ended.push(`${f.forward.sport}:${f.state}:${f.forward.packets}`) });
  t.observe(pkt({ sport: 1 }));
  t.observe(pkt({ sport: 2 }));
  t.observe(pkt({ sport: 1, timeMs: T0 + 1 }));
  t.observe(pkt({ sport: 3, timeMs: T0 + 2 }));
  assert.deepEqual(ended, ['2:evicted:1'], 'flow 1 was seen again: flow 2 goes');
  t.observe(pkt({ sport: 4, timeMs: T0 + 3 }));
  assert.deepEqual(ended, ['2:evicted:1', '1:evicted:2'], 'flow 1 used its chance and was not seen since');
  assert.deepEqual(t.all().map((f) => f.forward.sport).sort(), [3, 4]);
  assert.equal(t.counters.evictions, 2);
  assert.equal(t.counters.created, 4);
  assert.equal(t.counters.active, 2);
});

test('flow warnings: each kind once, however many packets carried it', () => {
  const t = new FlowTable();
  const key = t.observe(pkt({ warnings: ['MTU_EXCEEDED'] }));
  t.observe(pkt({ timeMs: T0 + 1, warnings: ['MTU_EXCEEDED'] }));
  t.observe(pkt({ timeMs: T0 + 2, warnings: ['MTU_EXCEEDED'], route: '10.233.101.224 dev caliaa479e31ff6 proto static' }));
  assert.deepEqual(t.get(key)!.warnings, ['MTU_EXCEEDED', 'ROUTE_CHANGED']);
});

// ---- what a change of route is judged on --------------------------------------------------------------

const ECMP = 'default proto bird nexthop via 172.27.71.254 dev ens3 weight 1 nexthop via 172.27.72.254 dev ens4 weight 1';

test('ROUTE_CHANGED when only the predicted devices change: the same multipath route now leaves by another uplink', () => {
  const t = new FlowTable();
  const toWeb = { dst: WEB_0, route: ECMP };
  t.observe(pkt({ ...toWeb, predicted: [CALI_A, 'ens3'] }));
  const moved = pkt({ ...toWeb, timeMs: T0 + 1, predicted: [CALI_A, 'ens4'] });
  t.observe(moved);
  assert.deepEqual(moved.warnings, ['ROUTE_CHANGED']);
  // The devices it left by, without the ingress device (that is where it came from, not where it went).
  assert.match(moved.reason, /was `default proto bird[^`]*` \(unicast via ens3\)/);
  assert.match(moved.reason, /now `default proto bird[^`]*` \(unicast via ens4\)/);
  assert.match(moved.reason, /^left via caliaa479e31ff6 as predicted; the route changed/, 'added to the packet\'s own reason');

  // A longer path with the same start (the tunnel's uplink hop now predicted too) is another path.
  const longer = pkt({ ...toWeb, timeMs: T0 + 2, predicted: [CALI_A, 'ens4', 'ens3'] });
  t.observe(longer);
  assert.deepEqual(longer.warnings, ['ROUTE_CHANGED']);
  assert.match(longer.reason, /was `[^`]*` \(unicast via ens4\), now `[^`]*` \(unicast via ens4 → ens3\)/);
  // Another ingress device in front of the same egress devices is no change of route.
  const same = pkt({ ...toWeb, timeMs: T0 + 3, predicted: ['eth7', 'ens4', 'ens3'] });
  t.observe(same);
  assert.deepEqual(same.warnings, []);
  assert.deepEqual(t.get(same.flowKey!)!.forward.predicted, ['eth7', 'ens4', 'ens3'], 'the summary shows the latest prediction');
  const swapped = pkt({ ...toWeb, timeMs: T0 + 4, predicted: ['eth8', 'ens3', 'ens4'] });
  t.observe(swapped);
  assert.deepEqual(swapped.warnings, ['ROUTE_CHANGED']);
  assert.deepEqual(t.get(same.flowKey!)!.forward.predicted, ['eth8', 'ens3', 'ens4'], 'every device differs: still the latest');
});

test('ROUTE_CHANGED when only the decision changes: a policy rule that prohibited now says unreachable', () => {
  const t = new FlowTable();
  const byRule = { dst: WEB_0, route: undefined, predicted: [CALI_A], verdict: 'EXPECTED_DROP' as const };
  t.observe(pkt({ ...byRule, decision: 'prohibit' }));
  const again = pkt({ ...byRule, decision: 'prohibit', timeMs: T0 + 1 });
  t.observe(again);
  assert.deepEqual(again.warnings, []);
  const now = pkt({ ...byRule, decision: 'unreachable', timeMs: T0 + 2 });
  t.observe(now);
  assert.deepEqual(now.warnings, ['ROUTE_CHANGED']);
  assert.match(now.reason, /was prohibit, now unreachable$/, 'no route text and no devices to name: the decisions alone');
});

test('ROUTE_CHANGED when only the route changes: a more specific route to the same device', () => {
  const t = new FlowTable();
  const out = { dst: WEB_0, predicted: [CALI_A, 'ens3'] };
  t.observe(pkt({ ...out, route: 'default via 172.27.71.254 dev ens3' }));
  const now = pkt({ ...out, timeMs: T0 + 1, route: '10.233.100.0/24 via 172.27.71.254 dev ens3 proto bird' });
  t.observe(now);
  assert.deepEqual(now.warnings, ['ROUTE_CHANGED']);
  assert.match(now.reason, /was `default via 172\.27\.71\.254 dev ens3` \(unicast via ens3\)/);
  assert.match(now.reason, /now `10\.233\.100\.0\/24 via 172\.27\.71\.254 dev ens3 proto bird`/);
  assert.equal(t.get(now.flowKey!)!.forward.route, '10.233.100.0/24 via 172.27.71.254 dev ens3 proto bird');
});

test('model generations: the same generation and a prediction without one are current; an older one is not', () => {
  const t = new FlowTable();
  const A = { dst: WEB_0, predicted: [CALI_A, 'ens3'], route: 'default via 172.27.71.254 dev ens3' };
  const B = { dst: WEB_0, predicted: [CALI_A, 'vxlan.calico', 'ens3'], route: '10.233.100.128/26 via 10.233.100.128 dev vxlan.calico onlink' };
  t.observe(pkt({ ...A, generation: 3 }));
  const sameGen = pkt({ ...B, generation: 3, timeMs: T0 + 1 });
  t.observe(sameGen);
  assert.deepEqual(sameGen.warnings, ['ROUTE_CHANGED'], 'same generation: a real change');
  const noGen = pkt({ ...A, timeMs: T0 + 2 });
  t.observe(noGen);
  assert.deepEqual(noGen.warnings, ['ROUTE_CHANGED'], 'a prediction without a generation is taken as current');
  // The generation-less prediction did not forget generation 3: a generation-2 answer is still late.
  const late = pkt({ ...B, generation: 2, timeMs: T0 + 3 });
  t.observe(late);
  assert.deepEqual(late.warnings, []);
  assert.deepEqual(t.get(late.flowKey!)!.forward.predicted, [CALI_A, 'ens3']);
});

test('a packet the model could not predict between two of the same route is no change', () => {
  const t = new FlowTable();
  t.observe(pkt());
  const unpredicted = pkt({ timeMs: T0 + 1, verdict: 'INCOMPLETE', predicted: [], decision: undefined, route: undefined });
  t.observe(unpredicted);
  const next = pkt({ timeMs: T0 + 2 });
  t.observe(next);
  assert.deepEqual(unpredicted.warnings, []);
  assert.deepEqual(next.warnings, []);
  const f = t.get(next.flowKey!)!.forward;
  assert.deepEqual(f.predicted, [CALI_A, CALI_B]);
  assert.equal(f.route, SAME_NODE_ROUTE);
});

// ---- which prediction may replace which -------------------------------------------------------------

// web-0 (node2) → pod A over VXLAN, seen at node1 in the ways its records can arrive.
const NODE_SENT: Partial<PacketVerdict> = {
  // Ingress records lost: predicted as if the node had sent it.
  observed: [at(CALI_A, 'egress', 0)], predicted: [CALI_A], route: '10.233.101.222 dev cali11299111064 scope link table main',
};
const OUTER_ONLY: Partial<PacketVerdict> = {
  // Seen encapsulated on the uplink only: predicted from the outer header (the node's own address).
  observed: [at('ens3', 'ingress', 0, TUN_IN), at(CALI_A, 'egress', 30)], predicted: ['ens3'], decision: 'local',
  route: 'local 172.27.71.11 dev ens3 table local proto kernel scope host src 172.27.71.11',
};
const DECAPSULATED: Partial<PacketVerdict> = {
  observed: [at('ens3', 'ingress', 0, TUN_IN), at('vxlan.calico', 'ingress', 8), at(CALI_A, 'egress', 30)],
  predicted: ['vxlan.calico', CALI_A], route: '10.233.101.222 dev cali11299111064 scope link',
};

test('shapes: only a prediction from the packet\'s own plain ingress device replaces one asked otherwise', () => {
  const t = new FlowTable();
  const flow = (over: Partial<PacketVerdict>, ms: number) => pkt({ src: WEB_0, dst: POD_A, sport: 50000, dport: 80, timeMs: T0 + ms, ...over });
  const seq = [flow(NODE_SENT, 0), flow(OUTER_ONLY, 1), flow(DECAPSULATED, 2), flow(OUTER_ONLY, 3), flow(NODE_SENT, 4)];
  for (const v of seq) t.observe(v);
  assert.deepEqual(seq.map((v) => v.warnings), [[], [], [], [], []], 'different questions, different answers: no change of route');
  const f = t.get(seq[0].flowKey!)!.forward;
  assert.deepEqual(f.predicted, ['vxlan.calico', CALI_A], 'the decapsulated packet\'s prediction is the reference');
  assert.equal(f.route, '10.233.101.222 dev cali11299111064 scope link');
  assert.deepEqual(f.observed, [CALI_A], 'observed: the last packet\'s path');
  // Asked the same way again, with another answer: that is a change.
  const changed = flow({ ...DECAPSULATED, route: 'blackhole 10.233.101.192/26 proto 80', decision: 'blackhole', predicted: ['vxlan.calico'] }, 5);
  t.observe(changed);
  assert.deepEqual(changed.warnings, ['ROUTE_CHANGED']);
  assert.match(changed.reason, /was `10\.233\.101\.222 dev cali11299111064 scope link` \(unicast via cali11299111064\), now `blackhole 10\.233\.101\.192\/26 proto 80` \(blackhole\)/);
});

test('shapes: a node-sent prediction is not replaced by one from the outer header, nor the reverse', () => {
  const t = new FlowTable();
  const flow = (over: Partial<PacketVerdict>, ms: number) => pkt({ src: WEB_0, dst: POD_A, sport: 50001, dport: 80, timeMs: T0 + ms, ...over });
  const outer = flow(OUTER_ONLY, 0);
  t.observe(outer);
  const sent = flow(NODE_SENT, 1);
  t.observe(sent);
  assert.deepEqual(sent.warnings, []);
  assert.deepEqual(t.get(outer.flowKey!)!.forward.predicted, ['ens3'], 'the first answer stays: neither is the better question');
});

test('shapes: two plain ingress devices are two questions; the first stays the reference', () => {
  const t = new FlowTable();
  // A client on the underlay reached pod A directly (BGP), then through the tunnel once encapsulation was on.
  const flow = (over: Partial<PacketVerdict>, ms: number) => pkt({ src: WEB_0, dst: POD_A, sport: 50002, dport: 80, timeMs: T0 + ms, ...over });
  const direct = flow({ observed: [at('ens3', 'ingress', 0), at(CALI_A, 'egress', 9)], predicted: ['ens3', CALI_A], route: '10.233.101.222 dev cali11299111064 scope link' }, 0);
  t.observe(direct);
  const tunnelled = flow({ ...DECAPSULATED, route: '10.233.101.222 dev cali11299111064 proto static' }, 1);
  t.observe(tunnelled);
  assert.deepEqual(tunnelled.warnings, []);
  const f = t.get(direct.flowKey!)!.forward;
  assert.deepEqual(f.predicted, ['ens3', CALI_A]);
  assert.equal(f.route, '10.233.101.222 dev cali11299111064 scope link');
});

test('shapes: the same devices seen plain or encapsulated are different paths, in one flow and across flows', () => {
  const t = new FlowTable();
  // Another client's plain path over ens3 is known first.
  t.observe(pkt({ src: '172.27.71.50', dst: POD_A, sport: 3000, dport: 80, observed: [at('ens3', 'ingress', 0), at(CALI_A, 'egress', 9)], predicted: ['ens3', CALI_A] }));
  const flow = (over: Partial<PacketVerdict>, ms: number) => pkt({ src: WEB_0, dst: POD_A, sport: 50003, dport: 80, timeMs: T0 + ms, ...over });
  const outer = flow({ observed: [at('ens3', 'ingress', 0, TUN_IN), at(CALI_A, 'egress', 9)], predicted: ['ens3'], decision: 'local', route: 'local 172.27.71.11 dev ens3 table local' }, 0);
  t.observe(outer);
  const plain = flow({ observed: [at('ens3', 'ingress', 0), at(CALI_A, 'egress', 9)], predicted: ['ens3', CALI_A], route: '10.233.101.222 dev cali11299111064 scope link' }, 1);
  t.observe(plain);
  assert.deepEqual(plain.warnings, [], 'the plain ingress answers the better question: it replaces the outer one silently');
  assert.deepEqual(t.get(plain.flowKey!)!.forward.predicted, ['ens3', CALI_A]);
});

// ---- latency per hop ------------------------------------------------------------------------------

test('hop latency: per egress device across packets, from the plain ingress when the packet was decapsulated', () => {
  const t = new FlowTable();
  const out = (a: number, b: number, ms: number) => pkt({
    dst: WEB_0, timeMs: T0 + ms, latencyUs: b, predicted: [CALI_A, 'vxlan.calico', 'ens3'],
    observed: [at(CALI_A, 'ingress', 0), at('vxlan.calico', 'egress', a), at('ens3', 'egress', b, TUN_OUT)],
  });
  const key = t.observe(out(10, 20, 0));
  t.observe(out(30, 50, 1));
  const f = t.get(key)!.forward;
  assert.deepEqual(Object.keys(f.hopLatency).sort(), ['ens3', 'vxlan.calico']);
  assert.deepEqual(f.hopLatency['vxlan.calico'], { samples: 2, p50: 10, p90: 30, p99: 30, max: 30 });
  assert.deepEqual(f.hopLatency.ens3, { samples: 2, p50: 20, p90: 50, p99: 50, max: 50 });

  const inbound = t.observe(pkt({
    src: WEB_0, dst: POD_A, sport: 50004, dport: 80,
    observed: [at('ens3', 'ingress', 0, TUN_IN), at('vxlan.calico', 'ingress', 5), at(CALI_A, 'egress', 15)],
  }));
  assert.deepEqual(t.get(inbound)!.forward.hopLatency, { [CALI_A]: one(10) }, 'from vxlan.calico, where the inner packet entered');

  // Seen only encapsulated, twice on its way in (a bond's slave, then the bond): from the first.
  const outerOnly = t.observe(pkt({
    src: WEB_0, dst: POD_A, sport: 50005, dport: 80,
    observed: [at('eth0', 'ingress', 0, TUN_IN), at('bond0', 'ingress', 2, TUN_IN), at(CALI_A, 'egress', 12)],
  }));
  assert.deepEqual(t.get(outerOnly)!.forward.hopLatency, { [CALI_A]: one(12) });

  // No ingress at all (sent by the node): nothing to measure a hop from.
  const sent = t.observe(pkt({ src: NODE1_IP, dst: POD_A, sport: 50006, dport: 80, observed: [at(CALI_A, 'egress', 4)], predicted: [CALI_A] }));
  assert.deepEqual(t.get(sent)!.forward.hopLatency, {});
});

// ---- asymmetric return -----------------------------------------------------------------------------

test('ASYMMETRIC_RETURN names both directions\' devices; the next request is flagged too', () => {
  const t = new FlowTable();
  const request = pkt({
    dst: WEB_0, sport: 42000, predicted: [CALI_A, 'vxlan.calico', 'ens3'],
    observed: [at(CALI_A, 'ingress', 0), at('vxlan.calico', 'egress', 10), at('ens3', 'egress', 20, TUN_OUT)],
  });
  t.observe(request);
  // The answer comes back through the tunnel but is delivered to pod B's device, not pod A's.
  const wrong = pkt({
    src: WEB_0, dst: POD_A, sport: 8080, dport: 42000, predicted: ['vxlan.calico', CALI_A],
    observed: [at('eth1', 'ingress', 0, TUN_IN), at('vxlan.calico', 'ingress', 5), at(CALI_B, 'egress', 15)],
  });
  t.observe(wrong);
  assert.deepEqual(wrong.warnings, ['ASYMMETRIC_RETURN']);
  assert.match(wrong.reason, /this direction enters on eth1 → vxlan\.calico and leaves via caliaa479e31ff6, /);
  assert.match(wrong.reason, /the other direction entered on cali11299111064 and left via vxlan\.calico → ens3: /);
  assert.match(wrong.reason, /the return path is not the reverse of the forward path$/);
  const next = pkt({ ...request, warnings: [], reason: 'left via ens3 as predicted', timeMs: T0 + 1 });
  t.observe(next);
  assert.deepEqual(next.warnings, ['ASYMMETRIC_RETURN']);
  assert.match(next.reason, /this direction enters on cali11299111064 and leaves via vxlan\.calico → ens3, but the other direction entered on eth1 → vxlan\.calico and left via caliaa479e31ff6/);
  assert.deepEqual(t.get(next.flowKey!)!.warnings, ['ASYMMETRIC_RETURN']);
});

test('a tunnelled answer whose outer packet leaves by another uplink still returns the same way (through the tunnel)', () => {
  const t = new FlowTable();
  const request = pkt({
    src: WEB_0, dst: POD_A, sport: 43000, dport: 80, predicted: ['vxlan.calico', CALI_A],
    observed: [at('ens3', 'ingress', 0, TUN_IN), at('vxlan.calico', 'ingress', 5), at(CALI_A, 'egress', 15)],
  });
  t.observe(request);
  const back = pkt({
    src: POD_A, dst: WEB_0, sport: 80, dport: 43000, predicted: [CALI_A, 'vxlan.calico', 'ens4'],
    observed: [at(CALI_A, 'ingress', 0), at('vxlan.calico', 'egress', 10), at('ens4', 'egress', 20, TUN_OUT)],
  });
  t.observe(back);
  assert.deepEqual(back.warnings, []);
  const again = pkt({ ...request, timeMs: T0 + 1, warnings: [] });
  t.observe(again);
  assert.deepEqual(again.warnings, []);
});

test('an answer seen only encapsulated on its way in is compared by its outer device', () => {
  const t = new FlowTable();
  const request = pkt({
    dst: WEB_0, sport: 44000, predicted: [CALI_A, 'vxlan.calico', 'ens3'],
    observed: [at(CALI_A, 'ingress', 0), at('vxlan.calico', 'egress', 10), at('ens3', 'egress', 20, TUN_OUT)],
  });
  t.observe(request);
  const viaEns3 = pkt({ src: WEB_0, dst: POD_A, sport: 8080, dport: 44000, observed: [at('ens3', 'ingress', 0, TUN_IN), at(CALI_A, 'egress', 9)] });
  t.observe(viaEns3);
  assert.deepEqual(viaEns3.warnings, [], 'entered where the request left');
  const viaEth1 = pkt({ src: WEB_0, dst: POD_A, sport: 8080, dport: 44000, timeMs: T0 + 1, observed: [at('eth1', 'ingress', 0, TUN_IN), at(CALI_A, 'egress', 9)] });
  t.observe(viaEth1);
  assert.deepEqual(viaEth1.warnings, ['ASYMMETRIC_RETURN']);
  assert.match(viaEth1.reason, /enters on eth1 and leaves via cali11299111064/);
});

test('no asymmetry is claimed without both ends: a dropped answer, an answer whose ingress record was lost', () => {
  const t = new FlowTable();
  const request = pkt({ src: WEB_0, dst: POD_A, sport: 45000, dport: 80, observed: [at('ens3', 'ingress', 0), at(CALI_A, 'egress', 9)], predicted: ['ens3', CALI_A] });
  t.observe(request);
  const dropped = pkt({
    src: POD_A, dst: WEB_0, sport: 80, dport: 45000, verdict: 'DROPPED', reason: 'dropped by netfilter',
    observed: [at(CALI_A, 'ingress', 0), at(CALI_A, 'drop', 3)], predicted: [CALI_A, 'ens3'],
  });
  t.observe(dropped);
  assert.deepEqual(dropped.warnings, []);
  const lostIngress = pkt({ src: POD_A, dst: WEB_0, sport: 80, dport: 45000, timeMs: T0 + 1, observed: [at('ens3', 'egress', 4)], predicted: [], decision: undefined, route: undefined });
  t.observe(lostIngress);
  assert.deepEqual(lostIngress.warnings, []);
  const f = t.get(request.flowKey!)!;
  assert.deepEqual(f.warnings, []);
  assert.equal(f.reverse?.packets, 2);
  assert.deepEqual(f.reverse?.observed, ['ens3']);
});

test('a pod talking to itself: its answer is the reverse direction, though source and destination address are one', () => {
  const t = new FlowTable();
  const self = { src: POD_A, dst: POD_A, observed: [at(CALI_A, 'ingress', 0), at(CALI_A, 'egress', 6)], predicted: [CALI_A, CALI_A], route: '10.233.101.222 dev cali11299111064 scope link' };
  const key = t.observe(pkt({ ...self, sport: 46000, dport: 8080 }));
  t.observe(pkt({ ...self, sport: 8080, dport: 46000, timeMs: T0 + 1 }));
  const f = t.get(key)!;
  assert.equal(f.forward.packets, 1);
  assert.equal(f.forward.sport, 46000);
  assert.equal(f.reverse?.packets, 1);
  assert.equal(f.reverse?.sport, 8080);
});

test('a NATed packet of a known conversation stays in it, even when its rewritten tuple is another flow', () => {
  const t = new FlowTable();
  const SVC = '10.96.0.10';
  const viaService = (ms: number) => pkt({ dst: SVC, dport: 80, sport: 47000, timeMs: T0 + ms, nat: { dst: { from: `${SVC}:80`, to: `${POD_B}:8080` } } });
  const k1 = t.observe(viaService(0));
  // The same source port to pod B directly (a separate connection after the first closed on the pod's side).
  const k2 = t.observe(pkt({ sport: 47000, timeMs: T0 + 1 }));
  assert.notEqual(k1, k2);
  assert.equal(t.observe(viaService(2)), k1);
  assert.equal(t.get(k1)!.forward.packets, 2);
  assert.equal(t.get(k2)!.forward.packets, 1);
});

test('a summary is the caller\'s copy: changing it changes nothing in the table', () => {
  const t = new FlowTable();
  const key = t.observe(pkt());
  t.get(key)!.forward.observed.push('eth9');
  t.get(key)!.warnings.push('ROUTE_CHANGED');
  assert.deepEqual(t.get(key)!.forward.observed, [CALI_A, CALI_B]);
  assert.deepEqual(t.get(key)!.warnings, []);
});

test('a direction\'s path is the latest packet\'s, whatever changed in it: a hop more, other devices, a drop instead of a departure', () => {
  const t = new FlowTable();
  const flow = (observed: Hop[], ms: number) => pkt({ dst: WEB_0, sport: 48000, timeMs: T0 + ms, latencyUs: undefined, observed, predicted: [CALI_A, 'vxlan.calico', 'ens3'] });
  const key = t.observe(flow([at(CALI_A, 'ingress', 0), at('vxlan.calico', 'egress', 10)], 0)); // the uplink record lost
  t.observe(flow([at(CALI_A, 'ingress', 0), at('vxlan.calico', 'egress', 10), at('ens3', 'egress', 20, TUN_OUT)], 1));
  assert.deepEqual(t.get(key)!.forward.observed, [CALI_A, 'vxlan.calico', 'ens3']);
  t.observe(flow([at(CALI_B, 'ingress', 0), at('ens4', 'egress', 10)], 2));
  assert.deepEqual(t.get(key)!.forward.observed, [CALI_B, 'ens4']);
  t.observe(flow([at(CALI_B, 'ingress', 0), at('ens4', 'drop', 10)], 3));
  const f = t.get(key)!.forward;
  assert.deepEqual(f.observed, [CALI_B, 'ens4']);
  assert.equal(f.hopLatency.ens4.samples, 1, 'a drop is no departure: no hop latency for it');
});

test('a packet seen only at one encapsulated hop, then only at the same hop plain, then encapsulated again', () => {
  const t = new FlowTable();
  // web-0 → pod A: its outer packet alone (the rest of its records lost), predicted from the outer header.
  const flow = (over: Partial<PacketVerdict>, ms: number) => pkt({ src: WEB_0, dst: POD_A, sport: 50010, dport: 80, timeMs: T0 + ms, latencyUs: undefined, ...over });
  const outer = { observed: [at('ens3', 'ingress', 0, TUN_IN)], predicted: ['ens3'], decision: 'local', route: 'local 172.27.71.11 dev ens3 table local' };
  const plain = { observed: [at('ens3', 'ingress', 0)], predicted: ['ens3', CALI_A], route: '10.233.101.222 dev cali11299111064 scope link' };
  const seq = [flow(outer, 0), flow(plain, 1), flow(outer, 2)];
  for (const v of seq) t.observe(v);
  assert.deepEqual(seq.map((v) => v.warnings), [[], [], []]);
  assert.deepEqual(t.get(seq[0].flowKey!)!.forward.predicted, ['ens3', CALI_A], 'the plain hop\'s prediction is the reference');
});

// The judge's rules one by one, each against the Linux behaviour it encodes, so that weakening a rule
// (found by mutation testing, see docs/testing.md) turns a test red:
// - bpf_fib_lookup() answers NOT_FWDED for a route that does not forward (local, broadcast, throw, no
//   route at all) and FWD_DISABLED when the ingress device does not forward; against a prediction that
//   forwards (or names a blackhole/unreachable/prohibit route, which have their own answers) that is a
//   disagreement: STALE_MODEL.
// - Every decision with which the kernel refuses a packet makes its drop EXPECTED_DROP, not DROPPED.
// - TCP is segmented after routing (GSO), so a large TCP skb is no MTU problem; UDP of the same size is.
// - A multipath route lets the kernel hash a flow to any of its next hops: each of them is the prediction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ObservedPacket } from '../../src/path/correlate';
import type { KernelView, TraceEvent } from '../../src/capture/event';
import type { Decision, Prediction } from '../../src/routing/types';
import { judge, kernelAgrees } from '../../src/path/verdict';
import { CALI_A, CALI_B, NODE2_IP, POD_B, ROUTER, WEB_0, ev, fib, fp, predictCrossNode, predictSameNode } from '../helpers/path-fixtures';

/** The FIB answer alone, as kernelAgrees() takes it. */
const answer = (name: string, iface?: string): KernelView => fib(name, iface)!;

function packet(events: TraceEvent[], prediction: Prediction, closedBy: ObservedPacket['closedBy'] = 'complete'): ObservedPacket {
  return {
    fingerprint: events[0].fingerprint,
    events,
    ingress: events.find((e) => e.kind !== 'drop' && e.dir === 'ingress' && !e.tunnel),
    drop: events.find((e) => e.kind === 'drop'),
    predicted: { prediction, generation: 7 },
    closedBy,
    windowMs: 100,
  };
}

/** A refusing prediction as the model makes it for a packet from pod A (no egress, no device). */
function refusal(decision: Decision, route?: string, rule?: string): Prediction {
  return {
    query: { src: '10.233.101.222', dst: '192.0.2.9', iif: CALI_A },
    family: 4,
    decision,
    table: route ? 254 : undefined,
    route,
    rule,
    nexthops: [],
    candidates: [],
    rulesWalked: [],
    egressPath: [],
  };
}

test('the FIB says not forwarded (not_fwded): a disagreement with a forwarding prediction, agreement with a non-forwarding one', () => {
  const notFwded = answer('not_fwded');
  // A unicast route forwards: bpf_fib_lookup() would have answered success with its device.
  assert.equal(kernelAgrees(notFwded, predictSameNode()), false);
  // Blackhole, unreachable and prohibit routes have their own FIB answers, so not_fwded is another route.
  for (const d of ['blackhole', 'unreachable', 'prohibit'] as const) assert.equal(kernelAgrees(notFwded, refusal(d, `${d} 192.0.2.0/24`)), false, d);
  // Local delivery, no route at all, a throw with nothing after it, broadcast: all "not forwarded".
  for (const d of ['local', 'no_route', 'throw', 'broadcast'] as const) assert.equal(kernelAgrees(notFwded, refusal(d)), true, d);
});

test('the FIB says forwarding is disabled (fwd_disabled): the same rule as not_fwded', () => {
  const off = answer('fwd_disabled');
  assert.equal(kernelAgrees(off, predictCrossNode()), false);
  assert.equal(kernelAgrees(off, refusal('blackhole', 'blackhole 192.0.2.0/24')), false);
  assert.equal(kernelAgrees(off, refusal('forwarding_disabled')), true);
});

test('not_fwded at ingress for a packet the model routes to a pod: STALE_MODEL, not a verdict on its path', () => {
  const f = fp();
  for (const result of ['not_fwded', 'fwd_disabled']) {
    const v = judge(packet([
      ev({ t: 0, iface: CALI_A, fingerprint: f, kernel: fib(result) }),
      ev({ t: 20, iface: CALI_B, dir: 'egress', fingerprint: f }),
    ], predictSameNode()));
    assert.equal(v.verdict, 'STALE_MODEL', result);
    assert.match(v.reason, new RegExp(`answered ${result}`));
    assert.match(v.reason, /generation 7/);
  }
});

test('the FIB\'s own refusals agree only with the same refusal', () => {
  assert.equal(kernelAgrees(answer('unreachable'), refusal('unreachable', 'unreachable 192.0.2.0/24')), true);
  assert.equal(kernelAgrees(answer('unreachable'), refusal('prohibit', 'prohibit 192.0.2.0/24')), false);
  assert.equal(kernelAgrees(answer('prohibit'), refusal('prohibit', 'prohibit 192.0.2.0/24')), true);
  assert.equal(kernelAgrees(answer('blackhole'), predictSameNode()), false);
  // A device answer against a refusal: the kernel forwards what the model says it refuses.
  assert.equal(kernelAgrees(answer('success', CALI_B), refusal('blackhole', 'blackhole 192.0.2.0/24')), false);
});

// Each refusing decision with the FIB answer Linux gives for it, and the kernel's drop reason.
const REFUSALS: { decision: Decision; kernel?: string; route?: string; rule?: string; reason: string; words: RegExp }[] = [
  { decision: 'unreachable', kernel: 'unreachable', route: 'unreachable 192.0.2.0/24', reason: 'IP_INNOROUTES', words: /an unreachable route `unreachable 192\.0\.2\.0\/24` matches 192\.0\.2\.9/ },
  { decision: 'prohibit', kernel: 'prohibit', route: 'prohibit 192.0.2.0/24', reason: 'IP_INNOROUTES', words: /a prohibit route `prohibit 192\.0\.2\.0\/24`/ },
  { decision: 'throw', kernel: 'not_fwded', route: 'throw 192.0.2.0/24', reason: 'IP_INNOROUTES', words: /a throw route with no route after it/ },
  { decision: 'no_route', kernel: 'not_fwded', reason: 'IP_INNOROUTES', words: /no route matches 192\.0\.2\.9/ },
  { decision: 'forwarding_disabled', kernel: 'fwd_disabled', reason: 'NOT_SPECIFIED', words: /forwarding disabled on the ingress interface/ },
  { decision: 'unreachable', kernel: 'unreachable', rule: '1000: from all to 192.0.2.0/24 unreachable', reason: 'IP_INNOROUTES', words: /\(rule `1000: from all to 192\.0\.2\.0\/24 unreachable`\)/ },
  // The input path's refusals before or beside the lookup: no FIB answer holds against them.
  { decision: 'martian', reason: 'IP_INADDRERRORS', words: /a martian address/ },
  { decision: 'blackhole', kernel: 'blackhole', route: 'blackhole 192.0.2.0/24', reason: 'NOT_SPECIFIED', words: /a blackhole route/ },
];

test('a drop by every refusing decision is EXPECTED_DROP, saying which refusal', () => {
  for (const r of REFUSALS) {
    const f = fp();
    const v = judge(packet([
      ev({ t: 0, iface: CALI_A, dst: '192.0.2.9', fingerprint: f, kernel: r.kernel ? fib(r.kernel) : undefined }),
      ev({ t: 5, iface: CALI_A, kind: 'drop', dst: '192.0.2.9', fingerprint: f, dropReason: 3, dropReasonName: r.reason }),
    ], refusal(r.decision, r.route, r.rule), 'drop'));
    assert.equal(v.verdict, 'EXPECTED_DROP', r.decision);
    assert.match(v.reason, /^dropped as predicted: /, r.decision);
    assert.match(v.reason, r.words, r.decision);
    assert.match(v.reason, new RegExp(`the kernel dropped it at ${CALI_A} \\(${r.reason}\\)`), r.decision);
  }
});

test('a refused packet that left the node anyway is DIVERGED; one that was not seen dropped is INCOMPLETE', () => {
  for (const d of ['unreachable', 'prohibit', 'throw', 'no_route', 'forwarding_disabled'] as const) {
    const f = fp();
    const left = judge(packet([
      ev({ t: 0, iface: CALI_A, dst: '192.0.2.9', fingerprint: f }),
      ev({ t: 9, iface: 'ens3', dir: 'egress', dst: '192.0.2.9', fingerprint: f }),
    ], refusal(d), 'window'));
    assert.equal(left.verdict, 'DIVERGED', d);
    assert.match(left.reason, /^predicted to be dropped .* but it left via ens3$/, d);
    const lost = judge(packet([ev({ t: 0, iface: CALI_A, dst: '192.0.2.9', fingerprint: f })], refusal(d), 'window'));
    assert.equal(lost.verdict, 'INCOMPLETE', d);
    assert.match(lost.reason, /no drop was seen within 100 ms: is the skb:kfree_skb tracepoint attached\?/, d);
  }
});

test('a forwarding prediction whose packet the kernel dropped is DROPPED, not EXPECTED_DROP', () => {
  for (const d of ['local', 'broadcast', 'anycast'] as const) {
    const f = fp();
    const v = judge(packet([
      ev({ t: 0, iface: CALI_A, dst: '192.0.2.9', fingerprint: f }),
      ev({ t: 5, iface: CALI_A, kind: 'drop', dst: '192.0.2.9', fingerprint: f, dropReason: 3, dropReasonName: 'NETFILTER_DROP' }),
    ], refusal(d, `${d} 192.0.2.9`), 'drop'));
    assert.equal(v.verdict, 'DROPPED', d);
  }
});

const GSO_LEN = 14 + 2 * 1448 + 52; // two MSS-sized TCP segments in one GSO skb, as tc sees it before segmentation

test('a TCP skb larger than the MTU is no MTU problem: GSO segments it after routing', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, proto: 6, sport: 40000, dport: 80, len: GSO_LEN, fingerprint: f, kernel: fib('success', 'vxlan.calico', '10.233.100.128') }),
    ev({ t: 14, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, proto: 6, len: GSO_LEN, fingerprint: f }),
    ev({ t: 30, iface: 'ens3', dir: 'egress', dst: WEB_0, proto: 6, fingerprint: f, tunnel: { outerSrc: '172.27.71.11', outerDst: NODE2_IP, vni: 4096, udpSport: 40001, udpDport: 4789 } }),
  ], predictCrossNode()), { mtuOf: (d) => (d === 'vxlan.calico' ? 1450 : 1500) });
  assert.equal(v.verdict, 'MATCHED');
  assert.deepEqual(v.warnings, []);
});

test('UDP of the same size, or too big for the egress device itself, is MTU_EXCEEDED', () => {
  const f = fp();
  const udp = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, proto: 17, sport: 5000, dport: 5201, len: GSO_LEN, fingerprint: f, kernel: fib('success', 'vxlan.calico') }),
  ], predictCrossNode(), 'window'));
  assert.deepEqual(udp.warnings, ['MTU_EXCEEDED']);
  // No encapsulation: only the egress device's MTU counts; 1500 bytes of IP fit a 1500 MTU, 1501 do not.
  const mtuOf = (d: string) => (d === CALI_B ? 1500 : undefined);
  const fits = judge(packet([ev({ t: 0, iface: CALI_A, proto: 17, len: 14 + 1500, fingerprint: fp(), kernel: fib('success', CALI_B) })], predictSameNode(), 'window'), { mtuOf });
  assert.deepEqual(fits.warnings, []);
  const over = judge(packet([ev({ t: 0, iface: CALI_A, proto: 17, len: 14 + 1501, fingerprint: fp(), kernel: fib('success', CALI_B) })], predictSameNode(), 'window'), { mtuOf });
  assert.deepEqual(over.warnings, ['MTU_EXCEEDED']);
  // Encapsulated: the inner packet plus 50 bytes of VXLAN must fit the underlay (1450 + 50 = 1500 fits).
  const inner = (len: number) => judge(packet([ev({ t: 0, iface: CALI_A, dst: WEB_0, proto: 17, len: 14 + len, fingerprint: fp(), kernel: fib('success', 'vxlan.calico') })], predictCrossNode(), 'window'));
  assert.deepEqual(inner(1450).warnings, []);
  assert.deepEqual(inner(1451).warnings, ['MTU_EXCEEDED']);
});

/** `default nexthop via 172.27.71.254 dev ens3 weight 1 nexthop via 172.27.72.254 dev ens4 weight 1`. */
function predictMultipath(): Prediction {
  return {
    query: { src: '10.233.101.222', dst: '198.51.100.7', iif: CALI_A },
    family: 4,
    decision: 'unicast',
    table: 254,
    route: 'default nexthop via 172.27.71.254 dev ens3 weight 1 nexthop via 172.27.72.254 dev ens4 weight 1',
    dev: 'ens3',
    gateway: ROUTER,
    nexthops: [
      { gateway: ROUTER, dev: 'ens3', weight: 1, onlink: false, flags: [] },
      { gateway: '172.27.72.254', dev: 'ens4', weight: 1, onlink: false, flags: [] },
    ],
    candidates: [],
    rulesWalked: [],
    calico: 'host-default',
    egressPath: ['ens3'],
  };
}

test('multipath: leaving by any of the route\'s next hops is the prediction; by another device it is not', () => {
  const dst = '198.51.100.7';
  for (const dev of ['ens3', 'ens4']) {
    const f = fp();
    const v = judge(packet([
      ev({ t: 0, iface: CALI_A, dst, fingerprint: f, kernel: fib('success', dev, dev === 'ens3' ? ROUTER : '172.27.72.254') }),
      ev({ t: 10, iface: dev, dir: 'egress', dst, fingerprint: f }),
    ], predictMultipath()));
    assert.equal(v.verdict, 'MATCHED', dev);
    assert.match(v.reason, new RegExp(`^left via ${dev} as predicted by \`default nexthop`), dev);
  }
  const f = fp();
  const other = judge(packet([
    ev({ t: 0, iface: CALI_A, dst, fingerprint: f }),
    ev({ t: 10, iface: 'ens5', dir: 'egress', dst, fingerprint: f }),
  ], predictMultipath(), 'window'));
  assert.equal(other.verdict, 'DIVERGED');
  // A single-path route gets no such latitude: a next hop's device is only accepted among several.
  const single = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: POD_B, fingerprint: f }),
    ev({ t: 10, iface: 'ens4', dir: 'egress', dst: POD_B, fingerprint: f }),
  ], predictSameNode(), 'window'));
  assert.equal(single.verdict, 'DIVERGED');
});

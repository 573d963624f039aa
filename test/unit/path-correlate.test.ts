// The correlator on event sequences as node1's hooks report them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Correlator, ObservedPacket, PredictionAt } from '../../src/path/correlate';
import { judge } from '../../src/path/verdict';
import type { TraceEvent } from '../../src/capture/event';
import type { Prediction } from '../../src/routing/types';
import {
  CALI_A, CALI_B, NODE1_IP, NODE2_IP, POD_A, POD_B, WEB_0, ev, fib, fp,
  predictCrossNode, predictSameNode,
} from '../helpers/path-fixtures';

function harness(opts: { windowMs?: number; maxPending?: number; predict?: (e: TraceEvent, iif?: string) => Prediction } = {}) {
  const out: ObservedPacket[] = [];
  const calls: { iif?: string; iface: string }[] = [];
  let generation = 1;
  const c = new Correlator({
    windowMs: opts.windowMs ?? 100,
    maxPending: opts.maxPending,
    predict: (e, iif): PredictionAt => {
      calls.push({ iif, iface: e.iface });
      const prediction = opts.predict ? opts.predict(e, iif) : e.dst === POD_B ? predictSameNode() : predictCrossNode();
      return { prediction, generation };
    },
    onPacket: (p) => out.push(p),
  });
  return { c, out, calls, setGeneration: (g: number) => (generation = g) };
}

test('same node: ingress on the pod interface and egress on the other pod closes the packet as complete', () => {
  const { c, out, calls } = harness();
  const f = fp();
  c.push(ev({ t: 0, iface: CALI_A, dir: 'ingress', fingerprint: f, kernel: fib('success', CALI_B) }));
  assert.equal(out.length, 0, 'nothing is judged before the path is complete');
  c.push(ev({ t: 18, iface: CALI_B, dir: 'egress', fingerprint: f }));
  assert.equal(out.length, 1);
  assert.equal(out[0].closedBy, 'complete');
  assert.deepEqual(out[0].events.map((e) => `${e.iface}/${e.dir}`), [`${CALI_A}/ingress`, `${CALI_B}/egress`]);
  assert.equal(out[0].ingress?.iface, CALI_A);
  assert.deepEqual(calls, [{ iif: CALI_A, iface: CALI_A }], 'predicted once, at ingress, with the ingress device');
  assert.equal(c.counters.pending, 0);
});

test('cross node: the packet stays open at vxlan.calico and completes encapsulated on the uplink', () => {
  const { c, out } = harness();
  const f = fp();
  c.push(ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f, kernel: fib('success', 'vxlan.calico', '10.233.100.128') }));
  c.push(ev({ t: 20, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: f }));
  assert.equal(out.length, 0, 'vxlan.calico is only the first of the two predicted devices');
  c.push(ev({
    t: 31, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: f, len: 148,
    tunnel: { outerSrc: NODE1_IP, outerDst: NODE2_IP, vni: 4096, udpSport: 40000, udpDport: 4789 },
  }));
  assert.equal(out.length, 1);
  assert.equal(out[0].closedBy, 'complete');
  assert.equal(out[0].events.length, 3);
});

test('a drop record closes the packet at once', () => {
  const { c, out } = harness();
  const f = fp();
  c.push(ev({ t: 0, iface: CALI_A, fingerprint: f, kernel: fib('success', CALI_B) }));
  c.push(ev({ t: 9, iface: CALI_A, kind: 'drop', fingerprint: f, dropReason: 6, dropReasonName: 'NETFILTER_DROP' }));
  assert.equal(out.length, 1);
  assert.equal(out[0].closedBy, 'drop');
  assert.equal(out[0].drop?.dropReasonName, 'NETFILTER_DROP');
});

test('an unfinished packet is closed when the window has passed, not before', () => {
  const { c, out } = harness({ windowMs: 100 });
  const f = fp();
  const first = ev({ t: 0, iface: CALI_A, fingerprint: f, kernel: fib('success', CALI_B) });
  c.push(first);
  c.tick(first.timeNs + 99e6);
  assert.equal(out.length, 0);
  c.tick(first.timeNs + 101e6);
  assert.equal(out.length, 1);
  assert.equal(out[0].closedBy, 'window');
  assert.equal(out[0].windowMs, 100);
});

test('later events advance the clock: an old open packet closes when a newer event arrives', () => {
  const { c, out } = harness({ windowMs: 50 });
  c.push(ev({ t: 0, iface: CALI_A, fingerprint: fp() }));
  c.push(ev({ t: 60_000, iface: CALI_A, fingerprint: fp() }));
  assert.equal(out.length, 1);
  assert.equal(out[0].closedBy, 'window');
});

test('memory is bounded: past maxPending the oldest open packet is closed early and counted', () => {
  const { c, out } = harness({ maxPending: 3 });
  const fps = [fp(), fp(), fp(), fp(), fp()];
  fps.forEach((f, i) => c.push(ev({ t: i, iface: CALI_A, fingerprint: f })));
  assert.equal(c.counters.evictions, 2);
  assert.equal(c.counters.pending, 3);
  assert.deepEqual(out.map((p) => [p.fingerprint, p.closedBy]), [[fps[0], 'evicted'], [fps[1], 'evicted']]);
});

test('the prediction is the model as it was at ingress, even if the model changes before egress', () => {
  const { c, out, setGeneration } = harness();
  const f = fp();
  setGeneration(7);
  c.push(ev({ t: 0, iface: CALI_A, fingerprint: f }));
  setGeneration(8);
  c.push(ev({ t: 15, iface: CALI_B, dir: 'egress', fingerprint: f }));
  assert.equal(out[0].predicted?.generation, 7);
});

test('decapsulated on this node: the inner ingress on vxlan.calico is the prediction hop', () => {
  const { c, out, calls } = harness({ predict: () => predictSameNode(POD_A, CALI_A) });
  const f = fp();
  const tunnel = { outerSrc: NODE2_IP, outerDst: NODE1_IP, vni: 4096, udpSport: 51000, udpDport: 4789 };
  c.push(ev({ t: 0, iface: 'ens3', src: WEB_0, dst: POD_A, fingerprint: f, tunnel, kernel: fib('not_fwded') }));
  c.push(ev({ t: 12, iface: 'vxlan.calico', src: WEB_0, dst: POD_A, fingerprint: f, kernel: fib('success', CALI_A) }));
  c.push(ev({ t: 25, iface: CALI_A, dir: 'egress', src: WEB_0, dst: POD_A, fingerprint: f }));
  assert.equal(out.length, 1);
  assert.equal(out[0].closedBy, 'complete');
  assert.equal(out[0].ingress?.iface, 'vxlan.calico');
  assert.deepEqual(calls.map((x) => x.iif), ['ens3', 'vxlan.calico']);
});

test('the same headers entering again after the packet left are a new packet', () => {
  const { c, out } = harness({ predict: () => predictCrossNode() });
  const f = fp();
  c.push(ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f }));
  c.push(ev({ t: 10, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: f }));
  c.push(ev({ t: 1000, iface: CALI_A, dst: WEB_0, fingerprint: f }));
  assert.equal(out.length, 1);
  assert.equal(out[0].closedBy, 'superseded');
  assert.equal(c.counters.pending, 1);
});

test('a drop record for a packet that already left the node is not a new packet', () => {
  const { c, out } = harness();
  const f = fp();
  c.push(ev({ t: 0, iface: CALI_A, fingerprint: f }));
  c.push(ev({ t: 10, iface: CALI_B, dir: 'egress', fingerprint: f }));
  c.push(ev({ t: 30, iface: CALI_B, kind: 'drop', fingerprint: f, dropReason: 2, dropReasonName: 'NO_SOCKET' }));
  assert.equal(out.length, 1);
  assert.equal(c.counters.dropsAfterEgress, 1);
});

test('flow-mode counter records are counted, not correlated', () => {
  const { c, out } = harness();
  c.push(ev({ t: 0, iface: CALI_A, kind: 'flow', fingerprint: '0000000000000000', packets: 10, bytes: 980 }));
  assert.equal(c.counters.ignored, 1);
  assert.equal(c.counters.pending, 0);
  assert.equal(out.length, 0);
});

test('flush closes what is still open', () => {
  const { c, out } = harness();
  c.push(ev({ t: 0, iface: CALI_A, src: POD_A, fingerprint: fp() }));
  c.flush();
  assert.equal(out.length, 1);
  assert.equal(out[0].closedBy, 'flush');
});

const SERVICE = '10.96.0.10';

test('DNAT between the hooks: the translated packet is found by its NAT fingerprint and routed by its new destination', () => {
  const { c, out, calls } = harness();
  const before = fp();
  const after = fp();
  // A TCP SYN to a Service address; kube-proxy's DNAT sends it to pod B's port 8080.
  const tcp = { proto: 6, sport: 40000, tcpFlags: 0x02, icmpType: 0, natFingerprint: 0xabc123 };
  c.push(ev({ t: 0, iface: CALI_A, dst: SERVICE, dport: 80, fingerprint: before, ...tcp }));
  c.push(ev({ t: 15, iface: CALI_B, dir: 'egress', dst: POD_B, dport: 8080, fingerprint: after, ...tcp }));
  assert.equal(out.length, 1, 'one packet, complete');
  assert.equal(out[0].closedBy, 'complete');
  assert.deepEqual(out[0].events.map((e) => `${e.iface}/${e.dir}`), [`${CALI_A}/ingress`, `${CALI_B}/egress`]);
  assert.deepEqual(out[0].nat, { dst: { from: `${SERVICE}:80`, to: `${POD_B}:8080` } });
  assert.deepEqual(calls.map((x) => x.iif), [CALI_A, CALI_A], 'predicted at ingress, then again for the translated destination');
  assert.equal(out[0].predicted?.prediction.egressPath[0], CALI_B, 'the second prediction (pod B) is the one kept');
  assert.equal(c.counters.natPaired, 1);
  assert.equal(c.counters.pending, 0, 'both fingerprints are released');
});

test('without a matching NAT fingerprint, or with nothing rewritten, packets are not paired', () => {
  const { c, out } = harness({ windowMs: 50 });
  const icmp = { natFingerprint: 0x77 };
  // Same NAT fingerprint but another protocol: not the same packet.
  c.push(ev({ t: 0, iface: CALI_A, dst: SERVICE, fingerprint: fp(), ...icmp }));
  c.push(ev({ t: 5, iface: CALI_B, dir: 'egress', dst: POD_B, fingerprint: fp(), proto: 17, natFingerprint: 0x77 }));
  // A NAT fingerprint of 0 means "not known": never paired.
  c.push(ev({ t: 6, iface: CALI_A, dst: SERVICE, fingerprint: fp(), natFingerprint: 0 }));
  c.push(ev({ t: 7, iface: CALI_B, dir: 'egress', dst: POD_B, fingerprint: fp(), natFingerprint: 0 }));
  c.flush();
  assert.equal(out.length, 4, 'four separate packets');
  assert.ok(out.every((p) => p.nat === undefined));
  assert.equal(c.counters.natPaired, 0);
});

test('masquerade on the way out and its reply on the way back are followed too', () => {
  const { c, out } = harness({ predict: () => predictCrossNode() });
  const nf = { natFingerprint: 0x5151 };
  c.push(ev({ t: 0, iface: CALI_A, dst: '172.27.71.254', fingerprint: fp(), ...nf }));
  c.push(ev({ t: 9, iface: 'vxlan.calico', dir: 'egress', src: NODE1_IP, dst: '172.27.71.254', fingerprint: fp(), ...nf }));
  assert.equal(out.length, 0, 'still open: the prediction names vxlan.calico then ens3');
  c.flush();
  assert.deepEqual(out[0].nat, { src: { from: POD_A, to: NODE1_IP } });
  assert.equal(out[0].events.length, 2);
});

// ---- loss is not behaviour ----------------------------------------------------------------------

function originHarness(origin: 'local' | 'untraced' | 'missing') {
  const out: ObservedPacket[] = [];
  const calls: (string | undefined)[] = [];
  const c = new Correlator({
    windowMs: 100,
    predict: (e, iif): PredictionAt => {
      calls.push(iif);
      return { prediction: predictSameNode(), generation: 1 };
    },
    origin: () => origin,
    onPacket: (p) => out.push(p),
  });
  return { c, out, calls };
}

test('an egress record whose ingress record was lost: no prediction as node-originated, the missing record named', () => {
  const { c, out, calls } = originHarness('missing');
  const first = ev({ t: 0, iface: CALI_B, dir: 'egress', fingerprint: fp() });
  c.push(first);
  c.tick(first.timeNs + 101e6);
  assert.equal(out.length, 1);
  assert.equal(out[0].missing, 'ingress');
  assert.equal(out[0].predicted, undefined);
  assert.deepEqual(calls, [], 'never predicted as if the node had sent it');
  const v = judge(out[0], { lostEvents: () => 37 });
  assert.equal(v.verdict, 'INCOMPLETE');
  assert.match(v.reason, /its ingress record is missing/);
  assert.match(v.reason, /37 events were lost within a second of this packet/);
  assert.doesNotMatch(v.reason, /martian|predicted/);
});

test('an egress record from a node address (or from an untraced device) is predicted as sent by the node', () => {
  for (const origin of ['local', 'untraced'] as const) {
    const { c, out, calls } = originHarness(origin);
    const first = ev({ t: 0, iface: CALI_B, dir: 'egress', fingerprint: fp() });
    c.push(first);
    c.tick(first.timeNs + 101e6);
    assert.equal(out[0].missing, undefined, origin);
    assert.deepEqual(calls, [undefined], `${origin}: predicted on the output path (no iif)`);
  }
});

test('a packet whose middle egress record was lost while records were lost: INCOMPLETE naming the hop, never DIVERGED', () => {
  const { c, out } = harness();
  const f = fp();
  const first = ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f, kernel: fib('success', 'vxlan.calico', '10.233.100.128') });
  c.push(first);
  // vxlan.calico's egress record is lost; the uplink's arrives.
  c.push(ev({
    t: 31, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: f,
    tunnel: { outerSrc: NODE1_IP, outerDst: NODE2_IP, vni: 4096, udpSport: 40000, udpDport: 4789 },
  }));
  c.tick(first.timeNs + 101e6);
  assert.equal(out.length, 1);
  const lossy = judge(out[0], { lostEvents: () => 5 });
  assert.equal(lossy.verdict, 'INCOMPLETE');
  assert.match(lossy.reason, /egress record at vxlan\.calico is missing/);
  // Without any loss the same observation is a real divergence.
  assert.equal(judge(out[0], { lostEvents: () => 0 }).verdict, 'DIVERGED');
});

// ---- edges of the rules, each as the kernel's hooks would report it -------------------------------

test('NAT that rewrites only a port is still NAT: a Service on the same address, masquerade of the source port', () => {
  const { c, out, calls } = harness();
  const tcp = { proto: 6, sport: 40000, icmpType: 0 };
  // DNAT of the port alone (address unchanged): the destination side is the rewrite.
  c.push(ev({ t: 0, iface: CALI_A, dst: POD_B, dport: 80, fingerprint: fp(), natFingerprint: 0x61, ...tcp }));
  c.push(ev({ t: 9, iface: CALI_B, dir: 'egress', dst: POD_B, dport: 8080, fingerprint: fp(), natFingerprint: 0x61, ...tcp }));
  assert.equal(out.length, 1);
  assert.deepEqual(out[0].nat, { dst: { from: `${POD_B}:80`, to: `${POD_B}:8080` } });
  assert.equal(calls.length, 2, 'a rewritten destination (here its port) is predicted again');
  // Masquerade that keeps the address and changes only the source port.
  c.push(ev({ t: 20, iface: CALI_A, dst: POD_B, dport: 80, fingerprint: fp(), natFingerprint: 0x62, ...tcp }));
  c.push(ev({ t: 29, iface: CALI_B, dir: 'egress', dst: POD_B, dport: 80, fingerprint: fp(), natFingerprint: 0x62, ...tcp, sport: 61000 }));
  assert.equal(out.length, 2);
  assert.deepEqual(out[1].nat, { src: { from: `${POD_A}:40000`, to: `${POD_A}:61000` } });
  assert.equal(calls.length, 3, 'a rewritten source is not predicted again: SNAT comes after routing');
  assert.equal(c.counters.natPaired, 2);
});

test('counters: events taken, packets closed, flow records ignored', () => {
  const { c } = harness();
  const f = fp();
  c.push(ev({ t: 0, iface: CALI_A, fingerprint: f }));
  c.push({ ...ev({ t: 1, iface: CALI_A, fingerprint: fp() }), kind: 'flow' });
  c.push(ev({ t: 5, iface: CALI_B, dir: 'egress', fingerprint: f }));
  assert.equal(c.counters.events, 2);
  assert.equal(c.counters.ignored, 1);
  assert.equal(c.counters.packets, 1);
  assert.equal(c.counters.pending, 0);
});

test('a drop record right after the packet left (within 5 ms) belongs to it: counted, not a new packet', () => {
  const { c, out } = harness();
  const f = fp();
  c.push(ev({ t: 0, iface: CALI_A, fingerprint: f }));
  c.push(ev({ t: 10, iface: CALI_B, dir: 'egress', fingerprint: f }));
  // Dropped inside pod B just under 5 ms later.
  c.push(ev({ t: 5009, iface: CALI_B, kind: 'drop', fingerprint: f, dropReasonName: 'NO_SOCKET' }));
  assert.equal(out.length, 1);
  assert.equal(c.counters.dropsAfterEgress, 1);
  // A later drop with the same headers is another packet (the record of the first was forgotten).
  const g = fp();
  c.push(ev({ t: 20000, iface: CALI_A, fingerprint: g }));
  c.push(ev({ t: 20010, iface: CALI_B, dir: 'egress', fingerprint: g }));
  c.push(ev({ t: 25011, iface: CALI_B, kind: 'drop', fingerprint: g, dropReasonName: 'NO_SOCKET' }));
  assert.equal(out.length, 3);
  assert.equal(out[2].closedBy, 'drop');
  assert.equal(c.counters.dropsAfterEgress, 1);
});

test('the window: a packet is judged unfinished once exactly windowMs have passed, not before', () => {
  const { c, out } = harness({ windowMs: 100 });
  const first = ev({ t: 0, iface: CALI_A, fingerprint: fp() });
  c.push(first);
  c.tick(first.timeNs + 100e6 - 1);
  assert.equal(out.length, 0);
  c.tick(first.timeNs + 100e6);
  assert.equal(out.length, 1);
  assert.equal(out[0].closedBy, 'window');
  assert.equal(out[0].windowMs, 100);
  // A clock that goes back does not reopen or close anything.
  c.tick(first.timeNs);
  assert.equal(out.length, 1);
});

test('the same headers entering the same device again are another packet; the first is superseded', () => {
  const { c, out } = harness();
  const f = fp();
  c.push(ev({ t: 0, iface: CALI_A, fingerprint: f }));
  c.push(ev({ t: 3, iface: CALI_A, fingerprint: f }));
  assert.equal(out.length, 1);
  assert.equal(out[0].closedBy, 'superseded');
  assert.equal(out[0].events.length, 1);
  assert.ok(c.isOpen(f), 'the second packet is open');
  // Entering again after it left: also another packet.
  c.push(ev({ t: 4, iface: 'vxlan.calico', dir: 'egress', fingerprint: f }));
  c.push(ev({ t: 6, iface: CALI_A, fingerprint: f }));
  assert.equal(out.length, 2);
  assert.equal(out[1].closedBy, 'superseded');
  c.flush();
  assert.equal(c.isOpen(f), false);
});

test('complete means the last devices seen are the predicted path, in order', () => {
  const { c, out } = harness({ predict: () => predictCrossNode() });
  const f = fp();
  c.push(ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f }));
  c.push(ev({ t: 5, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: f }));
  assert.equal(out.length, 0, 'ens3 alone is not vxlan.calico → ens3');
  c.push(ev({ t: 6, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: f }));
  assert.equal(out.length, 0, 'ens3 → vxlan.calico is the path reversed');
  c.push(ev({ t: 7, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: f }));
  assert.equal(out.length, 1);
  assert.equal(out[0].closedBy, 'complete');
});

// Correlator edges: the clock that never runs back, how long a departed packet is remembered for its late
// drop (and when the memory cap forgets it sooner), packets held for a neighbour, NAT pairing's refusals,
// and what `continuesByNat` answers the collector.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Correlator, CorrelatorOptions, ObservedPacket, UnfinishedPacket } from '../../src/path/correlate';
import type { TraceEvent } from '../../src/capture/event';
import type { Prediction } from '../../src/routing/types';
import {
  CALI_A, CALI_B, NODE1_IP, NODE2_IP, POD_A, POD_B, SERVICE, WEB_0, ev, fp, predictCrossNode, predictSameNode,
} from '../helpers/path-fixtures';

const MS = 1000; // ev() takes µs

type RigOptions = Partial<Omit<CorrelatorOptions, 'predict' | 'onPacket'>> & { predict?: (e: TraceEvent, iif?: string) => Prediction };

function rig(over: RigOptions = {}) {
  const out: ObservedPacket[] = [];
  const iifs: (string | undefined)[] = [];
  const { predict, ...opts } = over;
  const c = new Correlator({
    ...opts,
    predict: (e, iif) => {
      iifs.push(iif);
      return { prediction: predict ? predict(e, iif) : e.dst === POD_B ? predictSameNode() : predictCrossNode(), generation: 1 };
    },
    onPacket: (p) => out.push(p),
  });
  return { c, out, iifs };
}

/** A prediction the route model makes for a packet to one of the node's own addresses: delivered here. */
function local(): Prediction {
  return { ...predictSameNode(), decision: 'local', route: `local ${NODE1_IP} dev ens3 table local`, dev: 'ens3', egressPath: [], nexthops: [] };
}

const ARP = 'ARP for 10.233.100.128 on vxlan.calico';
const drop = (t: number, iface: string, fingerprint: string, extra: Partial<TraceEvent> = {}) =>
  ev({ t, iface, kind: 'drop', fingerprint, dropReasonName: 'NEIGH_FAILED', ...extra });

// ---- the clock and the memory of departed packets ------------------------------------------------------

test('a record stamped earlier than the clock does not move it back: a departure is dated by the clock', () => {
  const { c, out } = rig();
  // Another CPU's records arrive late: the clock is at 20 ms when a packet's records from 2–3 ms come in.
  c.push(ev({ t: 20 * MS, iface: CALI_A, dst: WEB_0, fingerprint: fp() }));
  const f = fp();
  c.push(ev({ t: 2 * MS, iface: CALI_A, fingerprint: f }));
  c.push(ev({ t: 3 * MS, iface: CALI_B, dir: 'egress', fingerprint: f }));
  assert.equal(out.length, 1);
  // Its drop (inside pod B) 4 ms after the clock's time is within the 5 ms a departed packet is remembered.
  c.push(drop(24 * MS, CALI_B, f, { dropReasonName: 'NO_SOCKET' }));
  assert.equal(c.counters.dropsAfterEgress, 1);
  assert.equal(out.length, 1, 'not a packet of its own');
});

test('tick() never moves the clock back either', () => {
  const { c, out } = rig();
  const t0 = ev({ t: 0, iface: CALI_A, fingerprint: fp() }).timeNs;
  c.tick(t0 + 20e6);
  c.tick(t0 + 1e6);
  const f = fp();
  c.push(ev({ t: 2 * MS, iface: CALI_A, fingerprint: f }));
  c.push(ev({ t: 3 * MS, iface: CALI_B, dir: 'egress', fingerprint: f }));
  c.push(drop(24 * MS, CALI_B, f, { dropReasonName: 'NO_SOCKET' }));
  assert.equal(c.counters.dropsAfterEgress, 1);
  assert.equal(out.length, 1);
});

test('a departed packet is forgotten exactly 5 ms after it left: a drop then is a packet of its own', () => {
  const { c, out } = rig();
  const f = fp();
  c.push(ev({ t: 0, iface: CALI_A, fingerprint: f }));
  c.push(ev({ t: 10, iface: CALI_B, dir: 'egress', fingerprint: f }));
  c.push(drop(5010, CALI_B, f, { dropReasonName: 'NO_SOCKET' }));
  assert.equal(c.counters.dropsAfterEgress, 0);
  assert.equal(out.length, 2);
  assert.equal(out[1].closedBy, 'drop');
  assert.equal(out[1].ingress, undefined);
});

test('memory of departures behind a refreshed one: the drop\'s own time decides', () => {
  const { c, out } = rig();
  const x = fp();
  const y = fp();
  c.push(ev({ t: 0, iface: CALI_A, fingerprint: x }));
  c.push(ev({ t: 10, iface: CALI_B, dir: 'egress', fingerprint: x }));
  c.push(ev({ t: 500, iface: CALI_A, fingerprint: y }));
  c.push(ev({ t: 1000, iface: CALI_B, dir: 'egress', fingerprint: y }));
  c.push(ev({ t: 3000, iface: CALI_A, dst: WEB_0, fingerprint: fp() }));
  // x's headers again (a retransmission), its records arriving late from another CPU: it leaves at the
  // clock's 3 ms, which refreshes x's entry at the head of the queue and holds y's back behind it.
  c.push(ev({ t: 2900, iface: CALI_A, fingerprint: x }));
  c.push(ev({ t: 2950, iface: CALI_B, dir: 'egress', fingerprint: x }));
  assert.equal(out.length, 3);
  c.push(drop(6500, CALI_B, y, { dropReasonName: 'NO_SOCKET' }));
  assert.equal(c.counters.dropsAfterEgress, 0, 'y left 5.5 ms before: its drop is another packet');
  assert.equal(out.length, 4);
  assert.equal(out[3].fingerprint, y);
  assert.equal(out[3].closedBy, 'drop');
  c.push(drop(6900, CALI_B, x, { dropReasonName: 'NO_SOCKET' }));
  assert.equal(c.counters.dropsAfterEgress, 1, 'x left 3.9 ms before: its drop is counted with it');
});

test('a packet re-entering with the same headers keeps its record when its predecessor\'s departure is forgotten', () => {
  const { c, out } = rig({ predict: () => predictCrossNode() });
  const f = fp();
  c.push(ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f }));
  c.push(ev({ t: 10, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: f }));
  c.push(ev({ t: 20, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: f }));
  assert.equal(out[0].closedBy, 'complete');
  c.push(ev({ t: 3000, iface: CALI_A, dst: WEB_0, fingerprint: f }));
  c.push(ev({ t: 6000, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: f }));
  c.push(ev({ t: 6010, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: f }));
  assert.equal(out.length, 2);
  assert.equal(out[1].closedBy, 'complete');
  assert.equal(out[1].ingress?.iface, CALI_A, 'the second packet completed with its own ingress');
  assert.equal(out[1].events.length, 3);
});

test('the departure memory is capped at maxPending entries: past it the oldest is forgotten early', () => {
  const { c, out } = rig({ maxPending: 2 });
  const [p1, p2, p3] = [fp(), fp(), fp()];
  c.push(ev({ t: 0, iface: CALI_A, fingerprint: p1 }));
  c.push(ev({ t: 10, iface: CALI_B, dir: 'egress', fingerprint: p1 }));
  c.push(ev({ t: 20, iface: CALI_A, fingerprint: p2 }));
  c.push(ev({ t: 30, iface: CALI_B, dir: 'egress', fingerprint: p2 }));
  c.push(drop(40, CALI_B, p1, { dropReasonName: 'NO_SOCKET' }));
  assert.equal(c.counters.dropsAfterEgress, 1, 'two remembered with room for two');
  c.push(ev({ t: 50, iface: CALI_A, fingerprint: p3 }));
  c.push(ev({ t: 60, iface: CALI_B, dir: 'egress', fingerprint: p3 }));
  c.push(drop(70, CALI_B, p1, { dropReasonName: 'NO_SOCKET' }));
  assert.equal(c.counters.dropsAfterEgress, 1, 'a third departure pushed p1 out, 60 µs after it left');
  assert.equal(out.length, 4);
  assert.equal(out[3].fingerprint, p1);
  assert.equal(out[3].closedBy, 'drop');
});

test('a packet that never left is not remembered as departed: its late drop is a packet of its own', () => {
  const { c, out } = rig({ windowMs: 1 });
  const f = fp();
  const first = ev({ t: 0, iface: CALI_A, fingerprint: f });
  c.push(first);
  c.tick(first.timeNs + 1e6);
  assert.equal(out[0].closedBy, 'window');
  c.push(drop(1100, CALI_A, f, { dropReasonName: 'NETFILTER_DROP' }));
  assert.equal(c.counters.dropsAfterEgress, 0);
  assert.equal(out.length, 2);
  assert.equal(out[1].closedBy, 'drop');
});

test('a packet dropped after an egress hop is closed by the drop: the next drop of its headers is another packet', () => {
  const { c, out } = rig({ predict: () => predictCrossNode() });
  const f = fp();
  c.push(ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f }));
  c.push(ev({ t: 10, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: f }));
  c.push(drop(20, 'vxlan.calico', f, { dst: WEB_0 }));
  assert.equal(out.length, 1);
  assert.equal(out[0].closedBy, 'drop');
  c.push(drop(1020, 'vxlan.calico', f, { dst: WEB_0 }));
  assert.equal(c.counters.dropsAfterEgress, 0);
  assert.equal(out.length, 2);
});

// ---- when a packet is complete ----------------------------------------------------------------------

test('a packet predicted to be delivered here that leaves anyway is not complete: it waits for its window', () => {
  const { c, out } = rig({ predict: () => local() });
  const f = fp();
  const first = ev({ t: 0, iface: 'ens3', dst: NODE1_IP, fingerprint: f });
  c.push(first);
  c.push(ev({ t: 10, iface: CALI_B, dir: 'egress', dst: NODE1_IP, fingerprint: f }));
  assert.equal(out.length, 0);
  c.tick(first.timeNs + 100e6);
  assert.equal(out[0].closedBy, 'window');
  assert.equal(out[0].events.length, 2);
});

test('the same headers entering another device after they left are another packet (a pod that routes them back)', () => {
  const { c, out } = rig({ predict: () => predictCrossNode() });
  const f = fp();
  c.push(ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f }));
  c.push(ev({ t: 5, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: f }));
  c.push(ev({ t: 10, iface: CALI_B, dst: WEB_0, fingerprint: f }));
  assert.equal(out.length, 1);
  assert.equal(out[0].closedBy, 'superseded');
  assert.equal(out[0].events.length, 2);
});

test('decapsulated here: the outer and the inner ingress and the egress are one packet\'s records', () => {
  const { c, out, iifs } = rig({ predict: () => predictSameNode(POD_A, CALI_A) });
  const f = fp();
  const tunnel = { outerSrc: NODE2_IP, outerDst: NODE1_IP, vni: 4096, udpSport: 51000, udpDport: 4789 };
  c.push(ev({ t: 0, iface: 'ens3', src: WEB_0, dst: POD_A, fingerprint: f, tunnel }));
  c.push(ev({ t: 12, iface: 'vxlan.calico', src: WEB_0, dst: POD_A, fingerprint: f }));
  c.push(ev({ t: 25, iface: CALI_A, dir: 'egress', src: WEB_0, dst: POD_A, fingerprint: f }));
  assert.equal(out.length, 1);
  assert.deepEqual(out[0].events.map((e) => e.iface), ['ens3', 'vxlan.calico', CALI_A]);
  assert.deepEqual(iifs, ['ens3', 'vxlan.calico']);
  assert.equal(c.counters.pending, 0);
});

// ---- packets held for a neighbour ------------------------------------------------------------------

function holdRig(over: RigOptions = {}) {
  const seen: UnfinishedPacket[] = [];
  const holds: { fingerprint: string; why: string; iface: string }[] = [];
  const r = rig({
    predict: () => predictCrossNode(),
    awaits: (u) => {
      seen.push(u);
      return u.egress.includes('ens3') ? undefined : ARP;
    },
    onHold: (fingerprint, why, first) => holds.push({ fingerprint, why, iface: first.iface }),
    ...over,
  });
  return { ...r, seen, holds };
}

test('held for ARP: judged 3.5 s after it entered by default, not a nanosecond before', () => {
  // No windowMs given: the defaults (100 ms window, 3500 ms hold) apply.
  const { c, out, holds } = holdRig();
  const f = fp();
  const first = ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f });
  c.push(first);
  c.tick(first.timeNs + 100e6);
  assert.deepEqual(holds, [{ fingerprint: f, why: ARP, iface: CALI_A }]);
  assert.equal(out.length, 0);
  c.tick(first.timeNs + 3500e6 - 1);
  assert.equal(out.length, 0);
  c.tick(first.timeNs + 3500e6);
  assert.equal(out.length, 1);
  assert.equal(out[0].closedBy, 'window');
  assert.equal(out[0].pendingOn, ARP);
});

test('held: what the neighbour question sees is the egress devices so far, each once; onHold gets the inner ingress', () => {
  const { c, out, seen, holds } = holdRig({ windowMs: 10, resolveMs: 50 });
  const f = fp();
  const tunnel = { outerSrc: NODE2_IP, outerDst: NODE1_IP, vni: 4096, udpSport: 51000, udpDport: 4789 };
  const first = ev({ t: 0, iface: 'ens3', src: WEB_0, dst: WEB_0, fingerprint: f, tunnel });
  c.push(first);
  c.push(ev({ t: 5, iface: 'vxlan.calico', src: WEB_0, dst: WEB_0, fingerprint: f }));
  c.push(ev({ t: 9, iface: 'vxlan.calico', dir: 'egress', src: WEB_0, dst: WEB_0, fingerprint: f }));
  c.push(ev({ t: 11, iface: 'vxlan.calico', dir: 'egress', src: WEB_0, dst: WEB_0, fingerprint: f }));
  c.tick(first.timeNs + 10e6);
  assert.deepEqual(seen.map((u) => u.egress), [['vxlan.calico']]);
  assert.equal(seen[0].ingress?.iface, 'vxlan.calico');
  assert.deepEqual(holds.map((h) => h.iface), ['vxlan.calico'], 'the record the prediction was made at');
  // The neighbour fails: its drop joins the held packet.
  c.push(drop(20 * MS, 'vxlan.calico', f, { src: WEB_0, dst: WEB_0 }));
  assert.equal(out.length, 1);
  assert.equal(out[0].closedBy, 'drop');
  assert.equal(out[0].pendingOn, ARP);
});

test('held without an onHold listener: still held', () => {
  const { c, out } = rig({ predict: () => predictCrossNode(), windowMs: 10, resolveMs: 50, awaits: () => ARP });
  const first = ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: fp() });
  c.push(first);
  c.tick(first.timeNs + 20e6);
  assert.equal(out.length, 0);
  c.tick(first.timeNs + 50e6);
  assert.equal(out[0].pendingOn, ARP);
});

test('a full table whose open packets are all held evicts the oldest held one', () => {
  const { c, out } = holdRig({ windowMs: 10, resolveMs: 3000, maxPending: 2 });
  const [a, b, d] = [fp(), fp(), fp()];
  c.push(ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: a }));
  c.push(ev({ t: 1, iface: CALI_A, dst: WEB_0, fingerprint: b }));
  c.tick(ev({ t: 20 * MS, iface: CALI_A }).timeNs);
  // a's neighbour fails: its drop closes it while it is held.
  c.push(drop(21 * MS, 'vxlan.calico', a, { dst: WEB_0 }));
  c.push(ev({ t: 22 * MS, iface: CALI_A, dst: WEB_0, fingerprint: d }));
  c.tick(ev({ t: 40 * MS, iface: CALI_A }).timeNs);
  assert.deepEqual(out.map((p) => [p.fingerprint, p.closedBy]), [[a, 'drop']], 'b and d held: every open packet is held');
  c.push(ev({ t: 41 * MS, iface: CALI_A, dst: WEB_0, fingerprint: fp() }));
  assert.deepEqual(out.map((p) => [p.fingerprint, p.closedBy, p.pendingOn]), [[a, 'drop', ARP], [b, 'evicted', ARP]]);
  assert.equal(c.counters.evictions, 1);
});

// ---- NAT pairing -------------------------------------------------------------------------------

const TCP = { proto: 6, sport: 40000, tcpFlags: 0x02, icmpType: 0 };

test('continuesByNat: an egress record of a packet that entered with other addresses or ports', () => {
  const { c } = rig();
  const nf = { ...TCP, natFingerprint: 0xc0ffee };
  c.push(ev({ t: 0, iface: CALI_A, dst: SERVICE, dport: 80, fingerprint: fp(), ...nf }));
  const out = (over: Partial<TraceEvent>) => ev({ t: 5, iface: CALI_B, dir: 'egress', dst: SERVICE, dport: 80, fingerprint: fp(), ...nf, ...over });
  assert.equal(c.continuesByNat(out({ dst: POD_B })), true, 'destination address rewritten (DNAT)');
  assert.equal(c.continuesByNat(out({ dport: 8080 })), true, 'destination port only');
  assert.equal(c.continuesByNat(out({ src: NODE1_IP })), true, 'source address (masquerade)');
  assert.equal(c.continuesByNat(out({ sport: 61000 })), true, 'source port only');
  assert.equal(c.continuesByNat(out({})), false, 'nothing rewritten');
  assert.equal(c.continuesByNat(out({ dst: POD_B, proto: 17 })), false, 'another protocol');
  assert.equal(c.continuesByNat(out({ dst: 'fd00::b', family: 6 })), false, 'another family');
  assert.equal(c.continuesByNat(out({ dst: POD_B, natFingerprint: 0xbad })), false, 'another NAT fingerprint');
  assert.equal(c.continuesByNat(out({ dst: POD_B, natFingerprint: 0 })), false, 'NAT fingerprint unknown');
  assert.equal(c.continuesByNat(out({ dst: POD_B, dir: 'ingress' })), false, 'an ingress record starts a packet');
  assert.equal(c.continuesByNat(out({ dst: POD_B, kind: 'drop' })), true, 'a drop record continues it too');
});

test('continuesByNat: not once the packet left with its own headers, nor once it was judged', () => {
  const { c, out } = rig({ predict: () => predictCrossNode(), windowMs: 10 });
  const nf = { ...TCP, natFingerprint: 0xfeed };
  const f = fp();
  const first = ev({ t: 0, iface: CALI_A, dst: SERVICE, dport: 80, fingerprint: f, ...nf });
  c.push(first);
  c.push(ev({ t: 5, iface: 'vxlan.calico', dir: 'egress', dst: SERVICE, dport: 80, fingerprint: f, ...nf }));
  const rewritten = ev({ t: 6, iface: CALI_B, dir: 'egress', dst: POD_B, dport: 8080, fingerprint: fp(), ...nf });
  assert.equal(c.continuesByNat(rewritten), false, 'it left untranslated: a later rewritten record is not it');
  c.push(rewritten);
  assert.equal(c.counters.natPaired, 0);

  const g = fp();
  const nf2 = { ...TCP, sport: 40001, natFingerprint: 0xbeef };
  const second = ev({ t: 20 * MS, iface: CALI_A, dst: SERVICE, dport: 80, fingerprint: g, ...nf2 });
  c.push(second);
  c.tick(second.timeNs + 10e6);
  assert.equal(out.find((p) => p.fingerprint === g)?.closedBy, 'window');
  assert.equal(c.continuesByNat(ev({ t: 31 * MS, iface: CALI_B, dir: 'egress', dst: POD_B, dport: 8080, fingerprint: fp(), ...nf2 })), false, 'judged already');
});

test('NAT pairing refuses an unknown NAT fingerprint, another family, and a record with nothing rewritten', () => {
  const { c, out } = rig({ windowMs: 10 });
  const nf = { ...TCP, natFingerprint: 0xd5c9 };
  c.push(ev({ t: 0, iface: CALI_A, dst: SERVICE, dport: 80, fingerprint: fp(), ...nf }));
  // Same addresses and ports under another fingerprint: something NAT does not touch changed (DSCP re-marked).
  c.push(ev({ t: 3, iface: CALI_B, dir: 'egress', dst: SERVICE, dport: 80, fingerprint: fp(), ...nf }));
  c.push(ev({ t: 4, iface: CALI_B, dir: 'egress', dst: 'fd00::b', family: 6, fingerprint: fp(), ...nf }));
  c.push(ev({ t: 5, iface: CALI_B, dir: 'egress', dst: POD_B, dport: 8080, fingerprint: fp(), ...TCP, natFingerprint: 0x1234 }));
  c.push(drop(6, CALI_B, fp(), { ...TCP, dst: POD_B, natFingerprint: 0x4321 }));
  c.flush();
  assert.equal(c.counters.natPaired, 0);
  assert.equal(out.length, 5, 'five packets of their own');
  assert.ok(out.every((p) => p.nat === undefined));
});

test('after a NAT-paired packet completes, neither of its fingerprints is open', () => {
  const { c, out } = rig();
  const [before, after] = [fp(), fp()];
  const nf = { ...TCP, natFingerprint: 0xabcd };
  c.push(ev({ t: 0, iface: CALI_A, dst: SERVICE, dport: 80, fingerprint: before, ...nf }));
  c.push(ev({ t: 15, iface: CALI_B, dir: 'egress', dst: POD_B, dport: 8080, fingerprint: after, ...nf }));
  assert.equal(out[0].closedBy, 'complete');
  assert.equal(c.isOpen(before), false);
  assert.equal(c.isOpen(after), false);
  // A new packet with the translated headers is a packet of its own, not the finished one.
  c.push(ev({ t: 30, iface: CALI_B, dir: 'egress', dst: POD_B, dport: 8080, fingerprint: after, ...TCP, natFingerprint: 0 }));
  c.flush();
  assert.equal(out.length, 2);
  assert.equal(out[1].nat, undefined);
  assert.equal(out[1].events.length, 1);
});

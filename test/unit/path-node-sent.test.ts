// The node's own packets: which device a node-sent packet to a group or an IPv6 link-local address is
// predicted to leave by (the one its sender named, not the table's first of many equal routes), and the
// stories for an echo reply the kernel frees after a raw socket read it, and for a lone drop record when
// no record was lost. States are built as `ip` prints them and predicted by the real predictor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { predict } from '../../src/routing/predict';
import { senderNamesDevice } from '../../src/routing/addr';
import { judge } from '../../src/path/verdict';
import type { ObservedPacket } from '../../src/path/correlate';
import type { TraceEvent } from '../../src/capture/event';
import type { RoutingState } from '../../src/routing/types';
import { link, nodeState } from '../helpers/predict-state';
import { CALI_A, CALI_B, NODE1_IP, POD_A, POD_B, ev, fp } from '../helpers/path-fixtures';
import { node1 } from '../helpers/node1-state';

/** Two pod devices with IPv6 link-local addresses: each its own fe80::/64 and ff00::/8 route, CALI_A's first. */
function twoLinkLocal(): RoutingState {
  return nodeState({
    routes: `
      fe80::/64 dev ${CALI_A} proto kernel metric 256
      fe80::/64 dev ${CALI_B} proto kernel metric 256
      local fe80::ecee:eeff:feee:eeee dev ${CALI_A} table local proto kernel metric 0
      local fe80::ecee:eeff:feee:eeee dev ${CALI_B} table local proto kernel metric 0
      multicast ff00::/8 dev ${CALI_A} table local proto kernel metric 256
      multicast ff00::/8 dev ${CALI_B} table local proto kernel metric 256`,
    links: [link(CALI_A), link(CALI_B)],
  });
}

test('senderNamesDevice: multicast of both families and IPv6 link-local unicast, nothing else', () => {
  for (const a of ['224.0.0.1', '239.255.255.250', 'ff02::1', 'ff02::1:ff00:11', 'FF05::2', 'fe80::1', 'febf:ffff::1']) {
    assert.equal(senderNamesDevice(a), true, a);
  }
  for (const a of ['223.255.255.255', '240.0.0.1', '10.233.101.222', '255.255.255.255', 'ff::1', 'fec0::1', 'fe7f::1', '2001:db8::1', 'fd00::ff02', '::1']) {
    assert.equal(senderNamesDevice(a), false, a);
  }
});

test('IPv6 sent by the node with the device named (oif): link-local and multicast leave through that device', () => {
  const s = twoLinkLocal();
  // Without a device the table's first route answers (what `ip route get` says without oif) …
  const unnamed = predict(s, { dst: 'fe80::42' });
  assert.deepEqual([unnamed.decision, unnamed.egressPath], ['unicast', [CALI_A]]);
  // … with one, that device's route: the scope id of fe80::42%caliaa…
  const named = predict(s, { dst: 'fe80::42', oif: CALI_B });
  assert.deepEqual([named.decision, named.dev, named.egressPath, named.gateway], ['unicast', CALI_B, [CALI_B], undefined]);
  // A group: sent out of the named device to the group's MAC (an MLD report, a neighbour solicitation).
  const group = predict(s, { src: 'fe80::ecee:eeff:feee:eeee', dst: 'ff02::16', oif: CALI_B });
  assert.deepEqual([group.decision, group.dev, group.egressPath], ['multicast', CALI_B, [CALI_B]]);
  assert.equal(group.table, 255);
  const first = predict(s, { dst: 'ff02::2' });
  assert.deepEqual([first.decision, first.egressPath], ['multicast', [CALI_A]], 'IPv6 groups leave like IPv4 ones: through the route\'s device');
});

const judgedOn = (state: RoutingState, events: TraceEvent[], iif: string | undefined, lost: number | undefined, over: Partial<ObservedPacket> = {}) => {
  const first = events[0];
  const prediction = predict(state, { src: first.src, dst: first.dst, ...(iif ? { iif } : {}) });
  const p: ObservedPacket = {
    fingerprint: first.fingerprint,
    events,
    ingress: iif ? first : undefined,
    drop: events.find((e) => e.kind === 'drop'),
    predicted: { prediction, generation: 3 },
    closedBy: 'drop',
    windowMs: 100,
    ...over,
  };
  return judge(p, { evidence: () => ({ state }), lostEvents: lost === undefined ? undefined : () => lost });
};

test('an echo reply to the node, freed with NO_SOCKET after raw sockets got their copy: MATCHED, not a drop', () => {
  const s = node1({ add: [`local ${NODE1_IP} dev ens3 table local proto kernel scope host src ${NODE1_IP}`] });
  const f = fp();
  const reply = [
    ev({ t: 0, iface: CALI_A, src: POD_A, dst: NODE1_IP, icmpType: 0, fingerprint: f }),
    ev({ t: 20, iface: CALI_A, kind: 'drop', dir: undefined, src: POD_A, dst: NODE1_IP, icmpType: 0, fingerprint: f, dropReasonName: 'NO_SOCKET' }),
  ];
  const v = judgedOn(s, reply, CALI_A, 0);
  assert.equal(v.verdict, 'MATCHED', v.reason);
  assert.match(v.reason, /^delivered to this node's stack as predicted: `local 172\.27\.71\.11 dev ens3/);
  assert.match(v.reason, /freed it at cali11299111064 \(NO_SOCKET\)/);
  assert.match(v.reason, /raw ICMP sockets \(`ping` run as root\) got their copy: not a loss/);
  // The same drop of an echo *request* (or anything else) nobody takes is still a drop the stack made.
  const g = fp();
  const request = [
    ev({ t: 0, iface: CALI_A, src: POD_A, dst: NODE1_IP, icmpType: 8, fingerprint: g }),
    ev({ t: 20, iface: CALI_A, kind: 'drop', src: POD_A, dst: NODE1_IP, icmpType: 8, fingerprint: g, dropReasonName: 'NO_SOCKET' }),
  ];
  const w = judgedOn(s, request, CALI_A, 0);
  assert.equal(w.verdict, 'DROPPED');
  assert.match(w.reason, /no socket wants it/);
  // An echo reply dropped for another reason is not excused.
  const h = fp();
  const filtered = [
    ev({ t: 0, iface: CALI_A, src: POD_A, dst: NODE1_IP, icmpType: 0, fingerprint: h }),
    ev({ t: 20, iface: CALI_A, kind: 'drop', src: POD_A, dst: NODE1_IP, icmpType: 0, fingerprint: h, dropReasonName: 'NETFILTER_DROP' }),
  ];
  assert.equal(judgedOn(s, filtered, CALI_A, 0).verdict, 'DROPPED');
  // ICMPv6 echo reply (type 129) the same way, looped back from the node's own address.
  const v6 = nodeState({
    routes: `
      local fd00:71::11 dev ens3 table local proto kernel metric 0
      fd00:71::/64 dev ens3 proto kernel metric 256`,
    links: [link('ens3')],
    addrs: [['ens3', 'fd00:71::11', 64]],
  });
  const k = fp();
  const own = [ev({ t: 0, iface: 'lo', kind: 'drop', family: 6, proto: 58, src: 'fd00:71::11', dst: 'fd00:71::11', icmpType: 129, fingerprint: k, dropReasonName: 'NO_SOCKET' })];
  const x = judgedOn(v6, own, undefined, 0);
  assert.equal(x.verdict, 'MATCHED', x.reason);
  assert.match(x.reason, /NO_SOCKET/);
});

test('a lone drop record of a packet from a traced direction: "lost ingress record" only when records were lost', () => {
  const s = node1();
  const f = fp();
  const drop = [ev({ t: 0, iface: '', kind: 'drop', src: POD_B, dst: NODE1_IP, icmpType: 0, fingerprint: f, dropReasonName: 'QUEUE_PURGE' })];
  // The loader vouches no record was lost around it: a copy (a socket's unread clone) or a packet from before tracing.
  const quiet = judgedOn(s, drop, undefined, 0, { missing: 'ingress', predicted: undefined });
  assert.equal(quiet.verdict, 'INCOMPLETE');
  assert.match(quiet.reason, /^only the kernel's drop record was seen \(QUEUE_PURGE with no device\) and no record was lost around it/);
  assert.match(quiet.reason, /unread clone is freed with QUEUE_PURGE/);
  assert.doesNotMatch(quiet.reason, /record was lost, not the packet/);
  // Records were lost near it: the missing ingress record is the likely story, and says how many.
  const lossy = judgedOn(s, drop, undefined, 12, { missing: 'ingress', predicted: undefined });
  assert.equal(lossy.verdict, 'INCOMPLETE');
  assert.match(lossy.reason, /^its ingress record is missing \(it entered through a traced device, so the record was lost, not the packet\) \(12 events were lost/);
  // Loss not known (no loss counter at hand): no claim that nothing was lost.
  const unknown = judgedOn(s, drop, undefined, undefined, { missing: 'ingress', predicted: undefined });
  assert.match(unknown.reason, /^its ingress record is missing/);
  // A hook record beside the drop: the ingress is what is missing, whatever the loss.
  const g = fp();
  const seen = [
    ev({ t: 0, iface: CALI_B, dir: 'egress', src: POD_A, dst: POD_B, fingerprint: g }),
    ev({ t: 10, iface: CALI_B, kind: 'drop', src: POD_A, dst: POD_B, fingerprint: g, dropReasonName: 'QUEUE_PURGE' }),
  ];
  assert.match(judgedOn(s, seen, undefined, 0, { missing: 'ingress', predicted: undefined }).reason, /^its ingress record is missing/);
});

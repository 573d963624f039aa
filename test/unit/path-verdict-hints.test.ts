// What a verdict tells the person reading it at 3 a.m., for each way a packet can end: the kernel's drop
// reason turned into where to look (the command, the sysctl, the table), the refusing route named, the
// kernel's FIB answer and the model's route side by side, NAT, an untraced ingress, a wait for ARP. Each
// assertion pins the facts a reader needs (a command, a device, a route, a number), derived from the
// packet and the prediction built here, not the connecting words around them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ObservedPacket } from '../../src/path/correlate';
import type { TraceEvent } from '../../src/capture/event';
import type { Decision, Prediction } from '../../src/routing/types';
import { judge } from '../../src/path/verdict';
import { CALI_A, CALI_B, NODE2_IP, POD_A, POD_B, WEB_0, ev, fib, fp, observedPacket, predictCrossNode, predictSameNode } from '../helpers/path-fixtures';

const packet = (events: TraceEvent[], prediction: Prediction | undefined, over: Partial<ObservedPacket> = {}) => observedPacket(events, prediction, over);

/** Pod A → pod B (same node), dropped at `iface` 20 µs after it entered, with the kernel's `reason`. */
function droppedSameNode(reason: string, over: Partial<TraceEvent> = {}, iface = CALI_B) {
  const f = fp();
  return judge(packet([
    ev({ t: 0, iface: CALI_A, fingerprint: f, kernel: fib('success', CALI_B), ...over }),
    ev({ t: 20, iface, kind: 'drop', fingerprint: f, dropReasonName: reason, ...over }),
  ], predictSameNode()));
}

test('a drop on the forward path: the kernel reason becomes where to look', () => {
  const cases: [string, RegExp[]][] = [
    ['NETFILTER_DROP', [/netfilter/, /`nft list ruleset`/, /`iptables-save`/, /cali-\*/]],
    ['IP_RPFILTER', [/reverse-path filter/, /rp_filter on the ingress interface/]],
    ['NEIGH_FAILED', [/next hop did not resolve/, /`ip neigh`/]],
    ['NEIGH_QUEUEFULL', [/`ip neigh`/]],
    ['PKT_TOO_BIG', [/path MTU/, /MTU of the egress device/]],
    ['FRAG_REASM_TIMEOUT', [/MTU of the egress device/]],
    ['TC_INGRESS', [/tc filter or eBPF program/, new RegExp(`at ${CALI_B}`), /`tc filter show`/, /`bpftool net`/]],
    ['TC_EGRESS', [/`tc filter show`/]],
    ['XDP', [/XDP program/, /`bpftool net`/]],
    ['QDISC_DROP', [/queue overflowed/, /congested/]],
    ['FULL_RING', [/congested/]],
    ['CPU_BACKLOG', [/congested/]],
    ['NOMEM', [/congested/]],
    ['IP_INNOROUTES', [/no route/, /`ip route get`/]],
    ['IP_OUTNOROUTES', [/`ip route get`/]],
    ['NOT_SPECIFIED', [/gave no reason/, /blackhole\/unreachable\/prohibit/, /policy rules/, /tc filters/]],
    ['SOMETHING_NEW', [/see the kernel drop reason/]],
  ];
  for (const [reason, want] of cases) {
    const v = droppedSameNode(reason);
    assert.equal(v.verdict, 'DROPPED', reason);
    // The reason, the place and the prediction it contradicts are in every one.
    assert.match(v.reason, new RegExp(`reason ${reason}\\b`), reason);
    assert.match(v.reason, new RegExp(`at ${CALI_B}`), reason);
    assert.match(v.reason, new RegExp(`\`${POD_B} dev ${CALI_B} scope link\` predicted egress via ${CALI_B}`), reason);
    for (const re of want) assert.match(v.reason, re, `${reason}: ${v.reason}`);
    // Hints do not leak into each other: a congestion drop does not send the reader to netfilter.
    if (reason !== 'NETFILTER_DROP') assert.doesNotMatch(v.reason, /nft list ruleset/, reason);
    if (!['QDISC_DROP', 'FULL_RING', 'CPU_BACKLOG', 'NOMEM'].includes(reason)) assert.doesNotMatch(v.reason, /congested/, reason);
  }
  // The kernel's own prefix is not part of the name a reader sees.
  assert.match(droppedSameNode('SKB_DROP_REASON_IP_RPFILTER').reason, /reason IP_RPFILTER\b.*rp_filter/);
  // A drop record with no name: its number, or that there was none.
  assert.match(droppedSameNode('', { dropReasonName: undefined, dropReason: 77 }).reason, /reason reason 77/);
  assert.match(droppedSameNode('', { dropReasonName: undefined, dropReason: undefined }).reason, /reason unknown reason/);
  // A drop with no device: "on this node".
  assert.match(droppedSameNode('QDISC_DROP', {}, '').reason, /dropped it on this node with reason QDISC_DROP/);
});

test('too big for the egress MTU: the packet size, the device, its MTU and the fix', () => {
  const f = fp();
  const v = judge(
    packet([
      ev({ t: 0, iface: CALI_A, fingerprint: f, len: 1514, proto: 17, sport: 4000, dport: 5201, kernel: fib('success', CALI_B) }),
      ev({ t: 5, iface: CALI_A, kind: 'drop', fingerprint: f, len: 1514, proto: 17, dropReasonName: 'PKT_TOO_BIG' }),
    ], predictSameNode()),
    { mtuOf: (d) => (d === CALI_B ? 1450 : 1500) },
  );
  assert.equal(v.verdict, 'DROPPED');
  assert.ok(v.warnings.includes('MTU_EXCEEDED'));
  assert.match(v.reason, new RegExp(`the 1500-byte packet does not fit ${CALI_B}'s MTU of 1450`));
  assert.match(v.reason, /lower the pod's MTU to 1450 or below/);
});

test("a drop after routing delivered it to this node's own stack: the stack's reason, not the route", () => {
  const local: Prediction = { ...predictSameNode(), decision: 'local', route: 'local 172.27.71.11 dev ens3 table local', dev: undefined, nexthops: [], egressPath: [], calico: undefined, query: { src: POD_A, dst: '172.27.71.11', iif: CALI_A } };
  const multicast: Prediction = { ...local, decision: 'multicast', route: undefined, query: { src: POD_A, dst: '239.1.1.1', iif: CALI_A } };
  const drop = (reason: string, pred: Prediction, over: Partial<TraceEvent> = {}) => {
    const f = fp();
    return judge(packet([
      ev({ t: 0, iface: CALI_A, dst: pred.query.dst, fingerprint: f, ...over }),
      ev({ t: 9, iface: '', kind: 'drop', dst: pred.query.dst, fingerprint: f, dropReasonName: reason, ...over }),
    ], pred));
  };
  const udp = { proto: 17, sport: 40000, dport: 5201, icmpType: 0 };
  const cases: [string, Prediction, Partial<TraceEvent>, RegExp][] = [
    ['NO_SOCKET', local, udp, /nothing listens on UDP port 5201 here \(check `ss -lntup`\)/],
    ['NO_SOCKET', local, { proto: 6, sport: 40000, dport: 8080 }, /nothing listens on TCP port 8080/],
    ['NO_SOCKET', local, {}, /no socket wants it/],
    ['INVALID_PROTO', multicast, {}, /echo requests to a broadcast or multicast address are ignored \(net\.ipv4\.icmp_echo_ignore_broadcasts=1\)/],
    ['SOCKET_RCVBUFF', local, udp, /receiving socket's buffer is full/],
    ['PROTO_MEM', local, udp, /receiving socket's buffer is full/],
    ['NOT_SPECIFIED', multicast, udp, /no socket on this node listens on UDP port 5201 for the group/],
    ['NOT_SPECIFIED', local, udp, /see the kernel drop reason/],
    ['INVALID_PROTO', local, { icmpType: 0 }, /see the kernel drop reason/],
  ];
  for (const [reason, pred, over, want] of cases) {
    const v = drop(reason, pred, over);
    assert.equal(v.verdict, 'DROPPED', reason);
    assert.match(v.reason, /routing was right \(it reached this node's own stack\), the stack then discarded it/, reason);
    assert.match(v.reason, want, `${reason} (${pred.decision}): ${v.reason}`);
    assert.doesNotMatch(v.reason, /`ip route get`|nft list ruleset/, 'not a routing or netfilter problem');
  }
  // Without an ingress device the node sent it itself: the forward-path hints apply.
  const own = { ...local, query: { ...local.query, iif: undefined } };
  assert.match(drop('NO_SOCKET', own).reason, /see the kernel drop reason/);
  assert.doesNotMatch(drop('NO_SOCKET', own).reason, /own stack/);
});

/** A refusing prediction for pod A → 192.0.2.9. */
function refusal(decision: Decision, route?: string, rule?: string, dst = '192.0.2.9'): Prediction {
  return { query: { src: POD_A, dst, iif: CALI_A }, family: 4, decision, table: route ? 254 : undefined, route, rule, nexthops: [], candidates: [], rulesWalked: [], egressPath: [] };
}

test('refused as predicted: the decision in words and the route or rule that made it', () => {
  const cases: [Prediction, RegExp][] = [
    [refusal('blackhole', 'blackhole 192.0.2.0/24'), /a blackhole route `blackhole 192\.0\.2\.0\/24` matches 192\.0\.2\.9/],
    [refusal('unreachable', 'unreachable 192.0.2.0/24'), /an unreachable route `unreachable 192\.0\.2\.0\/24` matches/],
    [refusal('prohibit', 'prohibit 192.0.2.0/24'), /a prohibit route `prohibit 192\.0\.2\.0\/24` matches/],
    [refusal('throw', 'throw 192.0.2.0/24 table 100'), /a throw route with no route after it `throw 192\.0\.2\.0\/24 table 100`/],
    [refusal('no_route'), /no route matches 192\.0\.2\.9/],
    [refusal('martian'), /a martian address \/ reverse-path check matches/],
    [refusal('forwarding_disabled'), /forwarding disabled on the ingress interface matches/],
    [refusal('prohibit', undefined, 'from 10.233.101.222 lookup 100 prohibit'), /a prohibit route \(rule `from 10\.233\.101\.222 lookup 100 prohibit`\) matches/],
    [refusal('multicast_not_joined', undefined, undefined, '239.9.9.9'), new RegExp(`239\\.9\\.9\\.9 is a multicast group ${CALI_A} has not joined \\(\`ip maddr show dev ${CALI_A}\`\\)`)],
    [{ ...refusal('blackhole', 'blackhole 10.233.101.192/26 proto 80', undefined, '10.233.101.230'), calico: 'ipam-block-blackhole' }, /10\.233\.101\.230 is in this node's IPAM block but has no pod \(no \/32 route\), so Calico's IPAM-block blackhole `blackhole 10\.233\.101\.192\/26 proto 80` catches it/],
  ];
  for (const [pred, want] of cases) {
    const f = fp();
    const v = judge(packet([
      ev({ t: 0, iface: CALI_A, dst: pred.query.dst, fingerprint: f }),
      ev({ t: 4, iface: CALI_A, kind: 'drop', dst: pred.query.dst, fingerprint: f, dropReasonName: 'IP_INNOROUTES' }),
    ], pred));
    assert.equal(v.verdict, 'EXPECTED_DROP', pred.decision);
    assert.match(v.reason, want, v.reason);
    assert.match(v.reason, new RegExp(`the kernel dropped it at ${CALI_A} \\(IP_INNOROUTES\\)`), v.reason);
  }
});

test('a refusing prediction the packet did not obey: DIVERGED with the route; no drop seen: INCOMPLETE asking for the tracepoint', () => {
  const pred = refusal('blackhole', 'blackhole 192.0.2.0/24');
  const f = fp();
  const left = judge(packet([ev({ t: 0, iface: CALI_A, dst: '192.0.2.9', fingerprint: f }), ev({ t: 8, iface: 'ens3', dir: 'egress', dst: '192.0.2.9', fingerprint: f })], pred));
  assert.equal(left.verdict, 'DIVERGED');
  assert.match(left.reason, /predicted to be dropped \(a blackhole route `blackhole 192\.0\.2\.0\/24` matches 192\.0\.2\.9\) but it left via ens3/);
  const g = fp();
  const nothing = judge(packet([ev({ t: 0, iface: CALI_A, dst: '192.0.2.9', fingerprint: g })], pred, { closedBy: 'window', windowMs: 250 }), { lostEvents: () => 12 });
  assert.equal(nothing.verdict, 'INCOMPLETE');
  assert.match(nothing.reason, /no drop was seen within 250 ms \(12 events were lost within a second of this packet, it may be one of them\): is the skb:kfree_skb tracepoint attached\?/);
});

test('STALE_MODEL puts the kernel FIB answer and the model route side by side, with the command to compare', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f, kernel: fib('success', 'ens3', '172.27.71.254') }),
    ev({ t: 9, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: f }),
  ], predictCrossNode()));
  assert.equal(v.verdict, 'STALE_MODEL');
  assert.match(v.reason, /the kernel FIB chose ens3 via 172\.27\.71\.254 \(success\)/);
  assert.match(v.reason, /route model \(generation 7\) used `10\.233\.100\.128\/26 via 10\.233\.100\.128 dev vxlan\.calico onlink` \(unicast → egress via vxlan\.calico → ens3\)/);
  assert.match(v.reason, new RegExp(`observed ${CALI_A}\\(in\\) → ens3\\(out\\)`));
  assert.match(v.reason, new RegExp(`\`ip route get ${WEB_0.replace(/\./g, '\\.')} from ${POD_A.replace(/\./g, '\\.')} iif ${CALI_A}\``));
  // A FIB answer that names no device: what it answered.
  const g = fp();
  const hole = judge(packet([ev({ t: 0, iface: CALI_A, fingerprint: g, kernel: fib('blackhole') }), ev({ t: 3, iface: CALI_B, dir: 'egress', fingerprint: g })], predictSameNode()));
  assert.match(hole.reason, /the kernel FIB answered blackhole but/);
  // A packet the model predicted as delivered here: "predicted local delivery", nothing about egress.
  const k = fp();
  const local: Prediction = { ...predictSameNode(), decision: 'local', route: 'local 172.27.71.11 dev ens3 table local', egressPath: [], dev: undefined, nexthops: [] };
  const stale = judge(packet([ev({ t: 0, iface: CALI_A, fingerprint: k, kernel: fib('success', CALI_B) })], local));
  assert.match(stale.reason, /used `local 172\.27\.71\.11 dev ens3 table local` \(local\)/);
});

test('what was observed is spelled out hop by hop, drops with their device or "?"', () => {
  const f = fp();
  // No prediction: the path alone is the evidence.
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, fingerprint: f }),
    ev({ t: 3, iface: 'vxlan.calico', dir: 'egress', fingerprint: f }),
    ev({ t: 5, iface: '', kind: 'drop', fingerprint: f, dropReasonName: 'QDISC_DROP' }),
  ], undefined));
  assert.equal(v.verdict, 'INCOMPLETE');
  assert.match(v.reason, new RegExp(`no route prediction for ${POD_B}: the route model was not ready`));
  assert.match(v.reason, new RegExp(`observed ${CALI_A}\\(in\\) → vxlan\\.calico\\(out\\) → drop@\\?`));
  // A lost ingress record: which record, and that the loss was not counted yet when none was reported.
  const g = fp();
  const lost = judge(packet([ev({ t: 3, iface: CALI_B, dir: 'egress', fingerprint: g })], undefined, { missing: 'ingress', ingress: undefined }));
  assert.match(lost.reason, /its ingress record is missing \(it entered through a traced device, so the record was lost, not the packet\) \(the loss was not counted yet\); observed caliaa479e31ff6\(out\)/);
});

test('a packet translated on the way: the rewrite is named before the verdict, both directions', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: '10.96.0.10', fingerprint: f }),
    ev({ t: 5, iface: CALI_B, dir: 'egress', fingerprint: f }),
  ], predictSameNode(), { nat: { dst: { from: '10.96.0.10:53', to: `${POD_B}:53` }, src: { from: `${POD_A}:40000`, to: '172.27.71.11:40000' } } }));
  assert.equal(v.verdict, 'MATCHED');
  assert.match(v.reason, /^NAT on this node: destination 10\.96\.0\.10:53 → 10\.233\.101\.224:53 \(DNAT such as a kube-proxy Service/);
  assert.match(v.reason, /routed by the new destination/);
  assert.match(v.reason, /source 10\.233\.101\.222:40000 → 172\.27\.71\.11:40000 \(SNAT\/masquerade/);
  assert.match(v.reason, /; left via caliaa479e31ff6 as predicted/);
});

test('an untraced ingress, untraced egress devices, and a wait for ARP are said', () => {
  // Seen only leaving: it came from this node or through an interface without a hook.
  const f = fp();
  const out = judge(packet([ev({ t: 0, iface: CALI_B, dir: 'egress', fingerprint: f })], predictSameNode(), { ingress: undefined }));
  assert.equal(out.verdict, 'MATCHED');
  assert.match(out.reason, /\(its ingress was not traced: it came from this node or through an interface without a hook\)$/);
  // Predicted through two devices, neither hooked.
  const g = fp();
  const none = judge(packet([ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: g })], predictCrossNode(), { closedBy: 'window' }), { isTraced: (d) => d.startsWith('cali') });
  assert.equal(none.verdict, 'INCOMPLETE');
  assert.match(none.reason, /not seen on vxlan\.calico → ens3 \(predicted by `10\.233\.100\.128\/26 via 10\.233\.100\.128 dev vxlan\.calico onlink`\) and no drop within 100 ms: vxlan\.calico, ens3 are not traced \(no hook attached\)/);
  const one = judge(packet([ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: fp() }), ev({ t: 2, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: g })], predictCrossNode(), { closedBy: 'window' }), { isTraced: (d) => d !== 'ens3' });
  assert.match(one.reason, /left via vxlan\.calico as predicted but not seen on ens3 .*: ens3 is not traced \(no hook attached\)/);
  // Held for ARP, then dropped: how long the kernel made it wait.
  const h = fp();
  const arp = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: h }),
    ev({ t: 3_000_000, iface: 'vxlan.calico', kind: 'drop', dst: WEB_0, fingerprint: h, dropReasonName: 'NEIGH_FAILED' }),
  ], predictCrossNode(), { pendingOn: 'ARP for 10.233.100.128 on vxlan.calico' }));
  assert.equal(arp.verdict, 'DROPPED');
  assert.match(arp.reason, /; its verdict waited for the kernel's ARP for 10\.233\.100\.128 on vxlan\.calico \(the drop came 3000 ms after it entered\)$/);
  // Held for ARP but it never ended within the window.
  const k = fp();
  const still = judge(packet([ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: k })], predictCrossNode(), { closedBy: 'window', pendingOn: 'ARP for 10.233.100.128 on vxlan.calico', windowMs: 100 }));
  assert.match(still.reason, /no drop within 100 ms nor while the kernel's ARP for 10\.233\.100\.128 on vxlan\.calico lasted/);
});

test('encapsulated to the wrong VTEP: DIVERGED naming both outer addresses and the FDB to check', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: f }),
    ev({ t: 3, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: f }),
    ev({ t: 5, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: f, tunnel: { outerSrc: '172.27.71.11', outerDst: '172.27.71.99', vni: 4096, sport: 1, dport: 4789, family: 4 } as never }),
  ], predictCrossNode()));
  assert.equal(v.verdict, 'DIVERGED');
  assert.match(v.reason, new RegExp(`left via vxlan\\.calico → ens3 as predicted but encapsulated to 172\\.27\\.71\\.99 instead of ${NODE2_IP.replace(/\./g, '\\.')} \\(the FDB entry for the VTEP\\): check \`bridge fdb show dev vxlan\\.calico\``));
  // The right VTEP: MATCHED, saying where it was encapsulated to and with which VNI.
  const g = fp();
  const ok = judge(packet([
    ev({ t: 0, iface: CALI_A, dst: WEB_0, fingerprint: g }),
    ev({ t: 3, iface: 'vxlan.calico', dir: 'egress', dst: WEB_0, fingerprint: g }),
    ev({ t: 5, iface: 'ens3', dir: 'egress', dst: WEB_0, fingerprint: g, tunnel: { outerSrc: '172.27.71.11', outerDst: NODE2_IP, vni: 4096, sport: 1, dport: 4789, family: 4 } as never }),
  ], predictCrossNode()));
  assert.equal(ok.verdict, 'MATCHED');
  assert.match(ok.reason, new RegExp(`left via vxlan\\.calico → ens3, encapsulated to ${NODE2_IP.replace(/\./g, '\\.')} \\(VNI 4096\\) as predicted by`));
  // Arrived encapsulated from node2: where from, which VNI.
  const h = fp();
  const back: Prediction = { ...predictSameNode(POD_A, CALI_A), query: { src: WEB_0, dst: POD_A, iif: 'vxlan.calico' } };
  const arrived = judge(packet([
    ev({ t: 0, iface: 'ens3', src: WEB_0, dst: POD_A, fingerprint: h, tunnel: { outerSrc: NODE2_IP, outerDst: '172.27.71.11', vni: 4096, sport: 1, dport: 4789, family: 4 } as never }),
    ev({ t: 2, iface: 'vxlan.calico', src: WEB_0, dst: POD_A, fingerprint: h }),
    ev({ t: 4, iface: CALI_A, dir: 'egress', src: WEB_0, dst: POD_A, fingerprint: h }),
  ], back));
  assert.equal(arrived.verdict, 'MATCHED');
  assert.match(arrived.reason, new RegExp(`^arrived encapsulated from ${NODE2_IP.replace(/\./g, '\\.')} \\(VNI 4096\\), left via ${CALI_A}`));
});

test('another path than predicted: both paths, and when the FIB agreed with the model, what moves packets after it', () => {
  const f = fp();
  const v = judge(packet([
    ev({ t: 0, iface: CALI_A, fingerprint: f, kernel: fib('success', CALI_B) }),
    ev({ t: 3, iface: 'ens3', dir: 'egress', fingerprint: f }),
  ], predictSameNode()));
  assert.equal(v.verdict, 'DIVERGED');
  assert.match(v.reason, new RegExp(`left via ens3 but \`${POD_B.replace(/\./g, '\\.')} dev ${CALI_B} scope link\` predicted ${CALI_B}`));
  assert.match(v.reason, new RegExp(`the kernel FIB chose ${CALI_B} too, so something after the route lookup moved it \\(a tc/eBPF redirect, a mark-based policy route, NAT\\): check \`tc filter show dev ${CALI_A} ingress\``));
  // Without the FIB's answer, no claim about what moved it.
  const g = fp();
  const bare = judge(packet([ev({ t: 0, iface: CALI_A, fingerprint: g }), ev({ t: 3, iface: 'ens3', dir: 'egress', fingerprint: g })], predictSameNode()));
  assert.doesNotMatch(bare.reason, /something after the route lookup/);
  // Dropped beyond this node after leaving as predicted: said after the path.
  const h = fp();
  const beyond = judge(packet([
    ev({ t: 0, iface: CALI_A, fingerprint: h }),
    ev({ t: 3, iface: 'ens3', dir: 'egress', fingerprint: h }),
    ev({ t: 6, iface: CALI_B, kind: 'drop', fingerprint: h, dropReasonName: 'NO_SOCKET' }),
  ], predictSameNode()));
  assert.match(beyond.reason, /; afterwards dropped beyond this node \(NO_SOCKET\)$/);
});

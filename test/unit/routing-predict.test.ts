// Predictor semantics on hand-built tables. Expected answers come from the kernel's documented behaviour
// (ip-route(8), ip-rule(8), fib_rules_lookup/fib_table_lookup), not from running the code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { predict } from '../../src/routing/predict';
import { DEFAULT_RULES, link, state } from '../helpers/route-state';
import type { FdbEntry, Link, Neighbour, RoutingState, Rule } from '../../src/routing/types';

/** A Calico VXLAN node's devices, address, VTEP neighbour and FDB entry (node1 of the lab, towards node2). */
function vxlanNodeParts(): { links: Link[]; addrs: [string, string, number][]; neigh: Neighbour[]; fdb: FdbEntry[] } {
  return {
    links: [
      link('ens3', { kind: 'veth', mtu: 1500 }),
      link('vxlan.calico', { kind: 'vxlan', mtu: 1450, vxlan: { vni: 4096, port: 4789, local: '172.27.71.11', dev: 'ens3', learning: false } }),
      link('cali11299111064', { kind: 'veth', mtu: 1500 }),
    ],
    addrs: [['ens3', '172.27.71.11', 24]],
    neigh: [{ family: 4, dst: '10.233.100.128', dev: 'vxlan.calico', lladdr: '66:aa:bb:cc:dd:ee', state: ['PERMANENT'] }],
    fdb: [{ mac: '66:aa:bb:cc:dd:ee', dev: 'vxlan.calico', dst: '172.27.71.12', state: 'permanent', flags: ['self'] }],
  };
}

test('longest prefix wins regardless of the order of lines', () => {
  const s = state({
    routes: `
      default via 172.27.71.254 dev ens3 proto static
      blackhole 10.233.101.192/26 proto 80
      10.233.101.222 dev cali11299111064 scope link
      10.233.101.224 dev caliaa479e31ff6 scope link`,
  });
  const p = predict(s, { src: '10.233.101.222', dst: '10.233.101.224', iif: 'cali11299111064' });
  assert.equal(p.decision, 'unicast');
  assert.equal(p.dev, 'caliaa479e31ff6');
  assert.equal(p.route, '10.233.101.224 dev caliaa479e31ff6 scope link');
  assert.equal(p.calico, 'local-workload');
  assert.deepEqual(p.egressPath, ['caliaa479e31ff6']);
  const bh = p.candidates.find((c) => c.type === 'blackhole');
  assert.equal(bh?.verdict, 'shadowed');
  // An address of the block with no /32: the blackhole decides; `ip route get` answers EINVAL.
  const q = predict(s, { src: '10.233.101.222', dst: '10.233.101.230', iif: 'cali11299111064' });
  assert.equal(q.decision, 'blackhole');
  assert.equal(q.errno, 'EINVAL');
  assert.equal(q.calico, 'ipam-block-blackhole');
  assert.deepEqual(q.egressPath, []);
  // Outside the block: the default route.
  const d = predict(s, { src: '10.233.101.222', dst: '8.8.8.8', iif: 'cali11299111064' });
  assert.equal(d.gateway, '172.27.71.254');
  assert.equal(d.calico, 'host-default');
});

test('same prefix: lower metric wins; a tos route only matches its tos and comes before tos 0', () => {
  const s = state({
    routes: `
      10.1.0.0/16 via 10.0.0.2 dev a metric 100
      10.1.0.0/16 via 10.0.0.3 dev b metric 10
      10.1.0.0/16 tos 0x10 via 10.0.0.4 dev c metric 500`,
  });
  assert.equal(predict(s, { dst: '10.1.2.3' }).gateway, '10.0.0.3');
  assert.equal(predict(s, { dst: '10.1.2.3', tos: 0x10 }).gateway, '10.0.0.4');
});

test('route types: unreachable EHOSTUNREACH, prohibit EACCES, throw and no route ENETUNREACH', () => {
  const s = state({
    routes: `
      unreachable 10.2.0.0/16
      prohibit 10.3.0.0/16
      throw 10.4.0.0/16
      10.5.0.0/16 dev a`,
  });
  assert.deepEqual([predict(s, { dst: '10.2.0.1' }).decision, predict(s, { dst: '10.2.0.1' }).errno], ['unreachable', 'EHOSTUNREACH']);
  assert.deepEqual([predict(s, { dst: '10.3.0.1' }).decision, predict(s, { dst: '10.3.0.1' }).errno], ['prohibit', 'EACCES']);
  assert.deepEqual([predict(s, { dst: '10.4.0.1' }).decision, predict(s, { dst: '10.4.0.1' }).errno], ['throw', 'ENETUNREACH']);
  assert.deepEqual([predict(s, { dst: '10.9.0.1' }).decision, predict(s, { dst: '10.9.0.1' }).errno], ['no_route', 'ENETUNREACH']);
});

test('a throw route ends the table; the rule walk continues with the next rule', () => {
  const s = state({
    routes: `
      throw 10.0.0.0/8 table 100
      10.0.0.0/8 via 192.0.2.1 dev b table 101
      10.1.0.0/16 via 192.0.2.9 dev a table 100`,
    rules: [{ priority: 0, src: 'all', table: 'local' }, { priority: 10, src: 'all', table: '100' }, { priority: 20, src: 'all', table: '101' }, ...DEFAULT_RULES.slice(1)],
  });
  // 10.1.x: table 100 has the /16 (longer than the throw) → decided in table 100.
  assert.equal(predict(s, { dst: '10.1.0.1' }).table, 100);
  // 10.2.x: table 100's best match is the throw → table 101 decides.
  const p = predict(s, { dst: '10.2.0.1' });
  assert.equal(p.table, 101);
  assert.equal(p.gateway, '192.0.2.1');
});

test('rules: priority order, fwmark/mask, from, iif (lo on the output path), not, goto, suppress_prefixlength, actions', () => {
  const s = state({
    routes: `
      default via 192.0.2.1 dev a
      10.9.0.0/16 via 192.0.2.2 dev a
      default via 198.51.100.1 dev b table 100
      10.7.0.0/16 via 198.51.100.7 dev b table 200`,
    links: [link('a'), link('b'), link('c')],
    addrs: [['a', '192.0.2.10', 24]],
    rules: [
      { priority: 0, src: 'all', table: 'local' },
      { priority: 5, src: 'all', fwmark: '0x100', fwmask: '0xf00', table: '100' },
      { priority: 6, src: 'all', iif: 'c', table: '100' },
      { priority: 7, not: null, src: 'all', iif: 'lo', action: 'unreachable' },
      { priority: 8, src: '10.50.0.0', srclen: 16, goto: 30 },
      { priority: 9, src: '10.50.0.0', srclen: 16, action: 'prohibit' },
      { priority: 30, src: 'all', table: 'main', suppress_prefixlen: 0 },
      { priority: 31, src: 'all', table: '200' },
      { priority: 32766, src: 'all', table: 'main' },
    ],
  });
  // fwmark 0x1ab & 0xf00 = 0x100 → table 100.
  assert.equal(predict(s, { dst: '8.8.8.8', mark: 0x1ab }).gateway, '198.51.100.1');
  assert.equal(predict(s, { dst: '8.8.8.8', mark: 0x200 }).gateway, '192.0.2.1');
  // iif c (forwarded) → table 100; the output path has iif lo and does not match.
  assert.equal(predict(s, { src: '10.50.0.1', dst: '8.8.8.8', iif: 'c' }).gateway, '198.51.100.1');
  // Rule 7: NOT (iif lo) → every forwarded packet that got this far hits the unreachable action (ENETUNREACH).
  const fwd = predict(s, { src: '10.40.0.1', dst: '10.9.1.1', iif: 'a' });
  assert.equal(fwd.decision, 'unreachable');
  assert.equal(fwd.errno, 'ENETUNREACH');
  // The output path (iif lo) passes rule 7; rule 30 suppresses main's default but not its /16.
  assert.equal(predict(s, { dst: '10.9.1.1' }).gateway, '192.0.2.2');
  // Rule 8 (from 10.50/16) jumps over the prohibit rule 9 to rule 30: main without its default route,
  // then table 200, then main again (rule 32766, no suppression).
  const s2 = { ...s, addresses: [...s.addresses, { family: 4 as const, ifname: 'a', address: '10.50.0.1', prefixLen: 32, scope: 'global' }] };
  assert.equal(predict(s2, { src: '10.50.0.1', dst: '10.7.1.1' }).gateway, '198.51.100.7', 'default suppressed → table 200');
  assert.equal(predict(s2, { src: '10.50.0.1', dst: '10.9.1.1' }).gateway, '192.0.2.2', '/16 is not suppressed');
  const sup = predict(s2, { src: '10.50.0.1', dst: '8.8.8.8' });
  assert.equal(sup.table, 254, 'after table 200 has nothing, rule 32766 (main, no suppression) gives the default');
});

test('multipath: every next hop is possible', () => {
  const s = state({ routes: `10.8.0.0/16 nexthop via 192.0.2.1 dev a weight 1 nexthop via 192.0.2.2 dev b weight 2` });
  const p = predict(s, { dst: '10.8.1.1' });
  assert.deepEqual(
    p.nexthops.map((n) => [n.gateway, n.dev, n.weight]),
    [
      ['192.0.2.1', 'a', 1],
      ['192.0.2.2', 'b', 2],
    ],
  );
});

test('the local table comes first; output source must be local; input needs forwarding', () => {
  const s = state({
    routes: `
      local 10.0.0.1 dev a table local proto kernel scope host src 10.0.0.1
      10.0.0.1 via 10.0.0.9 dev a
      10.0.0.0/24 dev a proto kernel scope link src 10.0.0.1`,
    links: [link('a'), link('b', { forwarding4: false })],
    addrs: [['a', '10.0.0.1', 24]],
  });
  assert.equal(predict(s, { dst: '10.0.0.1' }).decision, 'local');
  assert.equal(predict(s, { dst: '10.0.0.1' }).dev, 'lo');
  const bad = predict(s, { src: '10.99.0.1', dst: '10.0.0.5' });
  assert.equal(bad.errno, 'ENETUNREACH');
  const nofwd = predict(s, { src: '10.0.0.7', dst: '10.0.0.5', iif: 'b' });
  assert.equal(nofwd.decision, 'forwarding_disabled');
  assert.equal(nofwd.errno, 'EHOSTUNREACH');
  // A packet claiming to come from this node's own address is a martian on the input path.
  assert.equal(predict(s, { src: '10.0.0.1', dst: '10.0.0.5', iif: 'a' }).decision, 'martian');
});

test('VXLAN egress: gateway → neighbour → FDB → underlay route → outer header, and the MTU budget', () => {
  const s = state({
    routes: `
      default via 172.27.71.254 dev ens3 proto static
      172.27.71.0/24 dev ens3 proto kernel scope link src 172.27.71.11
      10.233.100.128/26 via 10.233.100.128 dev vxlan.calico onlink`,
    ...vxlanNodeParts(),
  });
  const p = predict(s, { src: '10.233.101.222', dst: '10.233.100.130', iif: 'cali11299111064' });
  assert.equal(p.calico, 'vxlan-tunnel');
  assert.deepEqual(p.egressPath, ['vxlan.calico', 'ens3']);
  assert.equal(p.outer?.src, '172.27.71.11');
  assert.equal(p.outer?.dst, '172.27.71.12');
  assert.equal(p.outer?.vni, 4096);
  assert.equal(p.outer?.dstPort, 4789);
  assert.equal(p.outer?.innerDstMac, '66:aa:bb:cc:dd:ee');
  assert.equal(p.outer?.underlayDev, 'ens3');
  // 1500 (cali MTU) + 50 > 1500 (ens3): the warning says so.
  assert.ok(p.warnings?.some((w) => w.startsWith('MTU') && w.includes('1550')));
  // Without the FDB entry the chain stops and says what is missing.
  const q = predict({ ...s, fdb: [] }, { src: '10.233.101.222', dst: '10.233.100.130', iif: 'cali11299111064' });
  assert.equal(q.outer?.dst, undefined);
  assert.ok(q.outer?.missing.some((m) => m.includes('no FDB entry')));
});

test('IPv6: longest prefix and route types', () => {
  const s = state({
    routes: `
      fd00::/16 via fd99::1 dev a metric 1024
      fd00:1::/32 dev b metric 256
      blackhole fd00:2::/32 metric 1024`,
    rules: [
      { priority: 0, src: 'all', table: 'local' },
      { priority: 32766, src: 'all', table: 'main' },
    ],
  });
  (s.rules as Rule[]).forEach((r) => ((r as { family: number }).family = 6));
  assert.equal(predict(s, { dst: 'fd00:1::5' }).dev, 'b');
  assert.equal(predict(s, { dst: 'fd00:3::5' }).gateway, 'fd99::1');
  assert.equal(predict(s, { dst: 'fd00:2::5' }).errno, 'EINVAL');
});

/** node1's uplink side: its address, subnet and default route, nothing else. */
function node1Uplink(): RoutingState {
  return state({
    routes: `
      default via 172.27.71.254 dev ens3 proto static
      172.27.71.0/24 dev ens3 proto kernel scope link src 172.27.71.11`,
    addrs: [['ens3', '172.27.71.11', 24]],
  });
}

test('multicast on the input path: the group membership of the incoming interface decides, not the tables', () => {
  // As `ip route get` answered in a scratch namespace: joined → multicast dev lo; not joined → EINVAL,
  // although the default route would contain the group.
  const s = node1Uplink();
  s.memberships = [
    { family: 4, ifname: 'ens3', group: '224.0.0.1' },
    { family: 4, ifname: 'ens3', group: '239.1.2.3' },
    { family: 6, ifname: 'ens3', group: 'ff02::1' },
    { family: 6, ifname: 'ens3', group: 'ff02::1:ff00:11' },
  ];
  const igmp = predict(s, { src: '172.27.71.254', dst: '224.0.0.22', iif: 'ens3', ipproto: 2 });
  assert.equal(igmp.decision, 'multicast_not_joined');
  assert.equal(igmp.errno, 'EINVAL');
  assert.deepEqual(igmp.egressPath, []);
  assert.equal(igmp.route, undefined, 'no route decided');
  assert.ok(igmp.warnings?.some((w) => w.includes('has not joined') && w.includes('ip maddr show dev ens3')));

  const joined = predict(s, { src: '172.27.71.254', dst: '239.1.2.3', iif: 'ens3' });
  assert.equal(joined.decision, 'multicast');
  assert.equal(joined.errno, undefined);
  assert.equal(joined.dev, 'lo');
  assert.deepEqual(joined.egressPath, [], 'delivered on this node');
  // Joined on ens3 only: the same group from another interface is not accepted.
  assert.equal(predict({ ...s, links: [...s.links, link('eth1')] }, { src: '172.27.71.254', dst: '239.1.2.3', iif: 'eth1' }).decision, 'multicast_not_joined');
  // A joined group still refuses martian sources.
  assert.equal(predict(s, { src: '127.0.0.1', dst: '239.1.2.3', iif: 'ens3' }).decision, 'martian');
  // From 0.0.0.0 only link-local groups (224.0.0.0/24) or IGMP are accepted.
  assert.equal(predict(s, { src: '0.0.0.0', dst: '224.0.0.1', iif: 'ens3' }).decision, 'multicast');
  assert.equal(predict(s, { src: '0.0.0.0', dst: '239.1.2.3', iif: 'ens3', ipproto: 17 }).decision, 'martian');
  assert.equal(predict(s, { src: '0.0.0.0', dst: '239.1.2.3', iif: 'ens3', ipproto: 2 }).decision, 'multicast');

  // IPv6: solicited-node group joined, MLD report group ff02::16 not (no errno: ip route get shows the route).
  const ns = predict(s, { src: 'fe80::1', dst: 'ff02::1:ff00:11', iif: 'ens3' });
  assert.equal(ns.decision, 'multicast');
  const mld = predict(s, { src: 'fe80::1', dst: 'ff02::16', iif: 'ens3' });
  assert.equal(mld.decision, 'multicast_not_joined');
  assert.equal(mld.errno, undefined);

  // Without group lists (a paste), only all-hosts / all-nodes are known to be joined, and the answer says so.
  const paste = { ...s, memberships: undefined };
  assert.equal(predict(paste, { src: '172.27.71.254', dst: '224.0.0.1', iif: 'ens3' }).decision, 'multicast');
  const unknown = predict(paste, { src: '172.27.71.254', dst: '239.1.2.3', iif: 'ens3' });
  assert.equal(unknown.decision, 'multicast_not_joined');
  assert.ok(unknown.warnings?.some((w) => w.includes('not known')));
});

test('multicast and limited broadcast on the output path leave through the route\'s device, without its gateway', () => {
  const s = node1Uplink();
  s.memberships = [];
  const mc = predict(s, { dst: '239.1.2.3' });
  assert.equal(mc.decision, 'multicast');
  assert.equal(mc.dev, 'ens3');
  assert.equal(mc.gateway, undefined);
  assert.deepEqual(mc.egressPath, ['ens3']);
  const brd = predict(s, { dst: '255.255.255.255' });
  assert.equal(brd.decision, 'broadcast');
  assert.deepEqual(brd.egressPath, ['ens3']);
});

test('source validation carries protocol and ports only when a rule not bound to iif lo needs them', () => {
  // As the kernel answered in a namespace built this way: rules on ipproto that all say `iif lo` do not make
  // it dissect the packet, so the reverse lookup has no protocol, `not … iif lo ipproto udp` matches it and
  // table 102 validates the source; one more ipproto rule without `iif lo` turns dissection on, the reverse
  // lookup is UDP, skips 102, meets table 101's broadcast route and the source is refused (EINVAL).
  const base = [
    { priority: 0, src: 'all', table: 'local' },
    { priority: 1304, not: null, src: 'all', iif: 'lo', ipproto: 'udp', table: '102' },
    { priority: 3430, src: 'all', table: '101' },
    { priority: 32766, src: 'all', table: 'main' },
  ];
  const routes = `
      local 10.0.0.1 dev a table local proto kernel scope host src 10.0.0.1
      broadcast 11.0.0.0/12 dev a table 101 scope link
      11.0.0.0/8 via 10.0.1.77 dev b table 102 onlink`;
  const q = { src: '11.5.211.247', dst: '10.0.0.1', iif: 'a', ipproto: 17 };
  const lo = state({ routes, rules: base, addrs: [['a', '10.0.0.1', 24], ['b', '10.0.1.1', 24]] });
  assert.equal(predict(lo, q).decision, 'local');
  const dissecting = state({ routes, rules: [...base, { priority: 5, src: 'all', ipproto: 'tcp', table: '250' }], addrs: [['a', '10.0.0.1', 24], ['b', '10.0.1.1', 24]] });
  const refused = predict(dissecting, q);
  assert.equal(refused.decision, 'martian');
  assert.equal(refused.errno, 'EINVAL');
});

test('several default routes in a table: on the output path each one\'s next hop is possible (fib_select_default), on the input path only the first', () => {
  const s = state({
    routes: `
      default via 192.0.2.1 dev a metric 100
      default via 198.51.100.1 dev b metric 100
      10.9.0.0/16 via 192.0.2.2 dev a`,
    links: [link('a'), link('b'), link('c')],
  });
  const out = predict(s, { dst: '8.8.8.8' });
  assert.deepEqual(out.nexthops.map((n) => n.gateway).sort(), ['192.0.2.1', '198.51.100.1']);
  assert.ok(out.warnings?.some((w) => w.startsWith('several default routes in this table')));
  assert.equal(out.gateway, undefined, 'no single gateway to name');
  // A more specific route is not a default: one next hop, no warning.
  const specific = predict(s, { dst: '10.9.1.1' });
  assert.deepEqual(specific.nexthops.map((n) => n.gateway), ['192.0.2.2']);
  assert.equal(specific.gateway, '192.0.2.2');
  assert.ok(!specific.warnings?.some((w) => w.startsWith('several default routes')));
  // Forwarded (input path): the route lookup's own answer, no default selection.
  const fwd = predict(s, { src: '10.50.0.1', dst: '8.8.8.8', iif: 'c' });
  assert.equal(fwd.nexthops.length, 1);
  assert.ok(!fwd.warnings?.some((w) => w.startsWith('several default routes')));
});

test('VXLAN whose remote VTEP has no underlay route: the chain says so; the path still ends on the VXLAN device\'s lower device', () => {
  const s = state({
    routes: `10.233.100.128/26 via 10.233.100.128 dev vxlan.calico onlink`,
    ...vxlanNodeParts(),
  });
  const p = predict(s, { src: '10.233.101.222', dst: '10.233.100.130', iif: 'cali11299111064' });
  assert.equal(p.decision, 'unicast');
  assert.equal(p.outer?.dst, '172.27.71.12', 'the FDB still names the VTEP');
  assert.equal(p.outer?.underlayDev, undefined);
  assert.ok(p.outer?.missing.some((m) => m.startsWith('no underlay route to 172.27.71.12')), JSON.stringify(p.outer?.missing));
  // The packet is meant to leave through the device vxlan.calico sends on (`dev ens3`): a drop inside the
  // VXLAN device (no route for the outer header) is then this node's drop, not one beyond it.
  assert.deepEqual(p.egressPath, ['vxlan.calico', 'ens3']);
});

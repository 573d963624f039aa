// What a prediction tells its reader beyond the decision: every candidate route with why it did or did
// not decide, the rules walked, what a paste cannot know, several default routes, and the VXLAN chain
// (neighbour → FDB → underlay) with what is missing and the MTU budget. Reasons are checked for their facts
// (prefix lengths, tables, metrics, tos, devices, commands), not their wording.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { predict } from '../../src/routing/predict';
import { parsePastedRoutes } from '../../src/routing/paste';
import type { Candidate, Prediction } from '../../src/routing/types';
import { link, nodeState } from '../helpers/predict-state';

function cand(p: Prediction, route: string): Candidate {
  const c = p.candidates.find((x) => x.route === route);
  assert.ok(c, `candidate ${route} in ${JSON.stringify(p.candidates.map((x) => x.route))}`);
  return c!;
}

test('candidates in the deciding table: selected by prefix, the others shadowed by prefix, tos, metric, dead hops or the bound device', () => {
  const s = nodeState({
    routes: `
      default via 10.0.0.254 dev a
      10.1.0.0/16 via 10.0.0.2 dev a metric 100 proto 80
      10.1.0.0/16 via 10.0.0.3 dev b metric 200
      10.1.0.0/16 tos 0x10 via 10.0.0.4 dev a metric 50
      10.1.0.0/16 via 10.0.0.5 dev c metric 10 dead
      10.1.2.0/24 via 10.0.0.6 dev a metric 300 tos 0x08`,
    links: [link('a'), link('b'), link('c')],
  });
  const p = predict(s, { dst: '10.1.2.3' });
  assert.equal(p.route, '10.1.0.0/16 via 10.0.0.2 dev a proto 80 metric 100');
  const sel = cand(p, p.route!);
  assert.equal(sel.verdict, 'selected');
  assert.match(sel.reason, /longest matching prefix/);
  assert.match(sel.reason, /\/16/);
  assert.match(sel.reason, /table 254/);
  assert.deepEqual([sel.table, sel.prefixLen, sel.metric, sel.type, sel.calico], [254, 16, 100, 'unicast', 'no-encap']);
  const def = cand(p, 'default via 10.0.0.254 dev a');
  assert.equal(def.verdict, 'shadowed');
  assert.match(def.reason, /less specific \(\/0\)/);
  assert.match(def.reason, /selected \/16/);
  assert.equal(def.calico, 'host-default');
  const tos24 = p.candidates.find((x) => x.prefixLen === 24)!;
  assert.equal(tos24.verdict, 'shadowed');
  assert.match(tos24.reason, /tos 0x8\b/, 'a longer prefix whose tos does not fit');
  const tos16 = p.candidates.find((x) => x.prefixLen === 16 && x.metric === 50)!;
  assert.match(tos16.reason, /tos 0x10/);
  const metric = p.candidates.find((x) => x.metric === 200)!;
  assert.match(metric.reason, /higher metric/);
  assert.match(metric.reason, /200 > 100/);
  const dead = p.candidates.find((x) => x.metric === 10)!;
  assert.match(dead.reason, /dead/);
  // The same table, bound to device b: the metric-100 route is passed over for b's, the others "not selected".
  const bound = predict(s, { dst: '10.1.2.3', oif: 'b' });
  assert.equal(bound.dev, 'b');
  const passed = bound.candidates.find((x) => x.metric === 100)!;
  assert.equal(passed.verdict, 'shadowed');
  assert.match(passed.reason, /not selected/);
  assert.doesNotMatch(passed.reason, /metric/, 'its metric is lower, not higher');
  // A tos route that fits the packet is selected; a tos 0 route of the same prefix is then not "tos mismatch".
  const tos = predict(s, { dst: '10.1.2.3', tos: 0x10 });
  assert.equal(tos.matched?.tos, 0x10);
  assert.match(cand(tos, p.route!).reason, /higher metric \(100 > 50\)/);
});

test('candidates of other tables: not consulted, consulted but decided elsewhere (rule order vs an earlier rule), or no decision at all', () => {
  const rules4 = [
    { priority: 0, src: 'all', table: 'local' },
    { priority: 10, src: 'all', table: '100' },
    { priority: 20, src: 'all', table: 'main', suppress_prefixlen: 0 },
    { priority: 30, src: 'all', table: '200' },
    { priority: 32766, src: 'all', table: 'main' },
  ];
  const s = nodeState({
    routes: `
      throw 10.7.0.0/16 table 100
      default via 10.0.0.254 dev a
      10.7.0.0/16 via 10.0.0.9 dev a table 300
      10.0.0.0/8 via 10.0.0.8 dev b table 200`,
    rules4,
    links: [link('a'), link('b')],
  });
  const p = predict(s, { dst: '10.7.1.1' });
  assert.equal(p.table, 200);
  // Table 100 was consulted first and threw; its /16 is longer than the /8 that decided.
  const thrown = cand(p, 'throw 10.7.0.0/16 table 100');
  assert.equal(thrown.verdict, 'skipped');
  assert.match(thrown.reason, /table 100 was consulted/);
  assert.match(thrown.reason, /table 200 decided/);
  assert.match(thrown.reason, /rule order/);
  // main's default was suppressed by rule 20, then table 200 decided: the earlier rule's table.
  const def = cand(p, 'default via 10.0.0.254 dev a');
  assert.equal(def.verdict, 'skipped');
  assert.match(def.reason, /table 254 was consulted/);
  assert.match(def.reason, /table 200 decided/);
  assert.match(def.reason, /earlier rule/);
  // A consulted table whose route is as long as the deciding one: the earlier rule's table, not rule order.
  const same = predict({ ...s, routes: [...s.routes.filter((r) => r.table !== 100), ...nodeState({ routes: 'throw 10.0.0.0/8 table 100' }).routes] }, { dst: '10.7.1.1' });
  assert.equal(same.table, 200);
  assert.match(cand(same, 'throw 10.0.0.0/8 table 100').reason, /earlier rule/);
  // No rule leads to table 300.
  const t300 = cand(p, '10.7.0.0/16 via 10.0.0.9 dev a table 300');
  assert.equal(t300.verdict, 'not-consulted');
  assert.match(t300.reason, /table 300 was not consulted/);
  assert.match(t300.reason, /no rule/);
  // Nothing decides (table 200 gone): every route containing the destination is "no decision".
  const none = predict({ ...s, routes: s.routes.filter((r) => r.table !== 200 && r.prefixLen !== 0) }, { dst: '10.7.1.1' });
  assert.equal(none.decision, 'throw');
  const t = cand(none, 'throw 10.7.0.0/16 table 100');
  assert.equal(t.verdict, 'skipped');
  assert.match(t.reason, /no decision/);
});

test('the rule walk is recorded (with the query\'s source), and left out with detail: false; the decision is the same', () => {
  const rules4 = [
    { priority: 0, src: 'all', table: 'local' },
    { priority: 5, src: '10.50.0.0', srclen: 16, table: '100' },
    { priority: 32766, src: 'all', table: 'main' },
  ];
  const s = nodeState({
    routes: 'default via 10.0.0.254 dev a\ndefault via 10.0.1.254 dev b table 100',
    rules4,
    links: [link('a'), link('b')],
    addrs: [['a', '10.50.0.1', 16]],
  });
  const p = predict(s, { src: '10.50.0.1', dst: '8.8.8.8' });
  assert.equal(p.gateway, '10.0.1.254');
  assert.match(p.rule ?? '', /^5:.*10\.50\.0\.0\/16/);
  const step = p.rulesWalked.find((x) => x.priority === 5);
  assert.equal(step?.matched, true, JSON.stringify(p.rulesWalked));
  assert.match(step!.outcome, /table 100/);
  assert.ok(p.candidates.length > 0);
  const fast = predict(s, { src: '10.50.0.1', dst: '8.8.8.8' }, { detail: false });
  assert.equal(fast.gateway, '10.0.1.254');
  assert.deepEqual(fast.rulesWalked, []);
  assert.deepEqual(fast.candidates, []);
  assert.deepEqual(predict(s, { src: '10.50.0.1', dst: '8.8.8.8' }, { detail: true }).rulesWalked.length, p.rulesWalked.length);
});

test('a paste says what it cannot know: rules, neighbours/FDB, interface state, the local table, its addresses, multicast groups', () => {
  const { state } = parsePastedRoutes('default via 172.27.71.254 dev ens3\n172.27.71.0/24 dev ens3 proto kernel scope link src 172.27.71.11\n10.233.100.128/26 via 10.233.100.128 dev vxlan.calico onlink');
  const p = predict(state, { dst: '10.233.100.130' });
  const u = p.unknowns ?? [];
  const has = (re: RegExp) => assert.ok(u.some((x) => re.test(x)), `${re} in ${JSON.stringify(u)}`);
  has(/ip rules/);
  has(/main table/);
  has(/neighbours/);
  has(/VXLAN FDB/);
  has(/outer header/);
  has(/rp_filter/);
  has(/forwarding/);
  has(/MTU/);
  has(/local table/);
  has(/172\.27\.71\.11/);
  has(/`ip maddr`/);
  has(/224\.0\.0\.1/);
  assert.equal(u.length, 6);
  const two = parsePastedRoutes('172.27.71.0/24 dev ens3 proto kernel scope link src 172.27.71.11\n10.0.9.0/24 dev ens4 proto kernel scope link src 10.0.9.11').state;
  assert.ok(predict(two, { dst: '8.8.8.8' }).unknowns?.some((x) => x.includes('172.27.71.11, 10.0.9.11')));
  // A paste with no `src` at all says it has no address.
  const bare = parsePastedRoutes('default via 172.27.71.254 dev ens3').state;
  assert.ok(predict(bare, { dst: '8.8.8.8' }).unknowns?.some((x) => /none in this paste/.test(x)));
  // A full dump has no such list.
  assert.equal(predict(nodeState({ routes: 'default via 10.0.0.254 dev a' }), { dst: '8.8.8.8' }).unknowns, undefined);
});

test('one default route: no selection among defaults; several in another table or behind a tos route do not count', () => {
  const one = predict(nodeState({ routes: 'default via 10.0.0.254 dev a\ndefault via 10.0.1.254 dev b table 100' }), { dst: '8.8.8.8' });
  assert.equal(one.gateway, '10.0.0.254');
  assert.deepEqual(one.warnings, []);
  const two = predict(
    nodeState({
      routes: `
        default via 10.0.0.254 dev a metric 100
        default via 10.0.1.254 dev b metric 100
        default via 10.0.2.254 dev c table 100
        8.0.0.0/8 tos 0x10 via 10.0.3.254 dev d`,
      links: [link('a'), link('b'), link('c'), link('d')],
    }),
    { dst: '8.8.8.8' },
  );
  assert.deepEqual(two.nexthops.map((n) => n.gateway).sort(), ['10.0.0.254', '10.0.1.254']);
  assert.ok(two.warnings?.some((w) => /several default routes/.test(w) && /neighbour reachability/.test(w)), String(two.warnings));
});

/** Node1's VXLAN side: ens3 underlay, vxlan.calico towards node2's VTEP, a pod's cali. */
function vxlanNode(over: { vxlan?: Record<string, unknown> | null; neigh?: unknown[]; fdb?: unknown[]; routes?: string; ens3Mtu?: number; caliMtu?: number; vxMtu?: number; addrs?: [string, string, number][] } = {}) {
  const vx = over.vxlan === null ? undefined : { vni: 4096, port: 4789, local: '172.27.71.11', dev: 'ens3', learning: false, ...over.vxlan };
  return nodeState({
    routes:
      over.routes ??
      `
      default via 172.27.71.254 dev ens3 proto static
      172.27.71.0/24 dev ens3 proto kernel scope link src 172.27.71.11
      10.233.100.128/26 via 10.233.100.128 dev vxlan.calico onlink
      10.233.102.0/26 dev vxlan.calico scope link
      10.233.101.222 dev cali11299111064 scope link`,
    links: [
      link('ens3', { mtu: over.ens3Mtu ?? 1500 }),
      link('vxlan.calico', { kind: 'vxlan', mtu: over.vxMtu ?? 1450, vxlan: vx as never }),
      link('cali11299111064', { mtu: over.caliMtu ?? 1450 }),
    ],
    addrs: over.addrs ?? [['ens3', '172.27.71.11', 24]],
    neigh: (over.neigh ?? [{ family: 4, dst: '10.233.100.128', dev: 'vxlan.calico', lladdr: '66:e2:e9:96:9f:82', state: ['PERMANENT'] }]) as never,
    fdb: (over.fdb ?? [{ mac: '66:e2:e9:96:9f:82', dev: 'vxlan.calico', dst: '172.27.71.12', state: 'permanent', flags: ['self'] }]) as never,
  });
}

const FROM_POD = { src: '10.233.101.222', dst: '10.233.100.130', iif: 'cali11299111064' };

test('VXLAN chain complete: outer header from the FDB, underlay route and device; Calico\'s MTU 1450 fits exactly, 1451 does not', () => {
  const p = predict(vxlanNode(), FROM_POD);
  const o = p.outer!;
  assert.deepEqual([o.vxlanDev, o.vni, o.dstPort, o.innerDstMac, o.dst, o.src], ['vxlan.calico', 4096, 4789, '66:e2:e9:96:9f:82', '172.27.71.12', '172.27.71.11']);
  assert.equal(o.underlayDev, 'ens3');
  assert.equal(o.underlayGateway, undefined, 'node2 is on the subnet');
  assert.equal(o.underlayRoute, '172.27.71.0/24 dev ens3 proto kernel scope link src 172.27.71.11');
  assert.equal(o.underlayMtu, 1500);
  assert.equal(o.overhead, 50);
  assert.deepEqual(o.missing, []);
  assert.deepEqual(p.egressPath, ['vxlan.calico', 'ens3']);
  assert.ok(!p.warnings?.some((w) => /MTU/.test(w)), '1450 + 50 = 1500: fits');
  const big = predict(vxlanNode({ caliMtu: 1451 }), FROM_POD);
  const w = big.warnings?.find((x) => x.startsWith('MTU')) ?? '';
  assert.match(w, /1451-byte/);
  assert.match(w, /cali11299111064/);
  assert.match(w, /1501 bytes/);
  assert.match(w, /\+50/);
  assert.match(w, /ens3's MTU 1500/);
  assert.match(w, /fragmented or dropped/);
  assert.match(w, /underlay − 50/);
  // Sent by the node itself: the VXLAN device's own MTU is the inner size.
  const own = predict(vxlanNode({ vxMtu: 1500 }), { dst: '10.233.100.130' });
  const ow = own.warnings?.find((x) => x.startsWith('MTU')) ?? '';
  assert.match(ow, /1500-byte packet from vxlan\.calico/);
  assert.match(ow, /1550 bytes/);
  // Node2 behind a router: the underlay gateway; the FDB's own VNI and port win over the device's.
  const routed = predict(
    vxlanNode({ fdb: [{ mac: '66:E2:E9:96:9F:82', dev: 'vxlan.calico', dst: '192.0.2.12', vni: 5000, port: 8472, state: 'permanent', flags: ['self'] }] }),
    FROM_POD,
  );
  assert.deepEqual([routed.outer?.dst, routed.outer?.underlayGateway, routed.outer?.vni, routed.outer?.dstPort], ['192.0.2.12', '172.27.71.254', 5000, 8472]);
});

test('VXLAN chain broken: each missing link named with the command that shows it', () => {
  const noNeigh = predict(vxlanNode({ neigh: [] }), FROM_POD);
  assert.equal(noNeigh.decision, 'unicast');
  const m1 = noNeigh.outer?.missing ?? [];
  assert.ok(m1.some((m) => /no neighbour entry for 10\.233\.100\.128 on vxlan\.calico/.test(m) && /permanent one per remote VTEP/.test(m)), JSON.stringify(m1));
  assert.equal(noNeigh.outer?.innerDstMac, undefined);
  assert.deepEqual(noNeigh.egressPath, ['vxlan.calico', 'ens3'], 'meant to leave through the VXLAN device\'s lower device');
  // A neighbour without a MAC (INCOMPLETE) or on another device is no link either.
  const incomplete = predict(vxlanNode({ neigh: [{ family: 4, dst: '10.233.100.128', dev: 'vxlan.calico', state: ['INCOMPLETE'] }, { family: 4, dst: '10.233.100.128', dev: 'ens3', lladdr: '02:00:00:00:00:12', state: ['REACHABLE'] }] }), FROM_POD);
  assert.ok(incomplete.outer?.missing.some((m) => /no neighbour entry for 10\.233\.100\.128/.test(m)));
  // FDB: only an entry of this device with a remote address counts; the MAC's case does not matter.
  const noFdb = predict(vxlanNode({ fdb: [{ mac: '66:e2:e9:96:9f:82', dev: 'vxlan.calico', state: 'permanent', flags: ['self'] }, { mac: '66:e2:e9:96:9f:82', dev: 'vxlan.other', dst: '172.27.71.99', state: 'permanent', flags: ['self'] }] }), FROM_POD);
  const m2 = noFdb.outer?.missing ?? [];
  assert.ok(m2.some((m) => /no FDB entry for 66:e2:e9:96:9f:82 on vxlan\.calico/.test(m) && /bridge fdb show dev vxlan\.calico/.test(m)), JSON.stringify(m2));
  assert.equal(noFdb.outer?.dst, undefined);
  // No VXLAN details (`ip -d link` not known): said so; the chain goes on from the neighbour and FDB.
  const noDetails = predict(vxlanNode({ vxlan: null }), FROM_POD);
  const m3 = noDetails.outer?.missing ?? [];
  assert.ok(m3.some((m) => /no VXLAN details for vxlan\.calico/.test(m) && /ip -d link show vxlan\.calico/.test(m)), JSON.stringify(m3));
  assert.equal(noDetails.outer?.vni, undefined);
  assert.equal(noDetails.outer?.dst, '172.27.71.12');
  assert.equal(noDetails.outer?.src, '172.27.71.11', 'the underlay route\'s preferred source');
  // The underlay refuses the remote VTEP: named with the decision.
  const bh = predict(vxlanNode({ routes: '10.233.100.128/26 via 10.233.100.128 dev vxlan.calico onlink\nblackhole 172.27.71.0/24' }), FROM_POD);
  assert.ok(bh.outer?.missing.some((m) => /no underlay route to 172\.27\.71\.12/.test(m) && /blackhole/.test(m)), JSON.stringify(bh.outer?.missing));
  assert.equal(bh.outer?.src, '172.27.71.11', 'the VXLAN device\'s local address');
  // The VTEP's local address is no longer this node's (node IP changed): the underlay answer is a martian.
  const moved = predict(vxlanNode({ addrs: [['ens3', '172.27.71.21', 24]] }), FROM_POD);
  assert.ok(moved.outer?.missing.some((m) => /172\.27\.71\.12/.test(m) && /martian/.test(m)), JSON.stringify(moved.outer?.missing));
});

test('VXLAN egress when the chain is broken: the lower device is the VXLAN device\'s `dev`, else the owner of its `local`', () => {
  const byLocal = predict(vxlanNode({ neigh: [], vxlan: { dev: undefined } }), FROM_POD);
  assert.deepEqual(byLocal.egressPath, ['vxlan.calico', 'ens3']);
  const orphan = predict(vxlanNode({ neigh: [], vxlan: { dev: undefined, local: '192.0.2.99' } }), FROM_POD);
  assert.deepEqual(orphan.egressPath, ['vxlan.calico']);
  const noLocal = predict(vxlanNode({ neigh: [], vxlan: { dev: undefined, local: undefined } }), FROM_POD);
  assert.deepEqual(noLocal.egressPath, ['vxlan.calico']);
  const unknown = predict(vxlanNode({ neigh: [], vxlan: null }), FROM_POD);
  assert.deepEqual(unknown.egressPath, ['vxlan.calico']);
  // A route through a VXLAN device the link dump does not have (taken mid-change): the chain and the
  // egress end at that device, with the missing details named.
  const s = vxlanNode({ neigh: [] });
  const gone = predict({ ...s, links: s.links.filter((l) => l.name !== 'vxlan.calico') }, FROM_POD);
  assert.deepEqual(gone.egressPath, ['vxlan.calico']);
  assert.ok(gone.outer?.missing.some((m) => /no VXLAN details for vxlan\.calico/.test(m)));
});

test('VXLAN without a gateway: each destination\'s own neighbour; with a gateway: one chain per route, each prediction its own copy', () => {
  const s = vxlanNode({
    neigh: [{ family: 4, dst: '10.233.102.5', dev: 'vxlan.calico', lladdr: '66:00:00:00:00:05', state: ['PERMANENT'] }, { family: 4, dst: '10.233.100.128', dev: 'vxlan.calico', lladdr: '66:e2:e9:96:9f:82', state: ['PERMANENT'] }],
    fdb: [{ mac: '66:00:00:00:00:05', dev: 'vxlan.calico', dst: '172.27.71.13', state: 'permanent', flags: ['self'] }, { mac: '66:e2:e9:96:9f:82', dev: 'vxlan.calico', dst: '172.27.71.12', state: 'permanent', flags: ['self'] }],
  });
  const five = predict(s, { ...FROM_POD, dst: '10.233.102.5' });
  assert.equal(five.outer?.dst, '172.27.71.13');
  const six = predict(s, { ...FROM_POD, dst: '10.233.102.6' });
  assert.equal(six.outer?.dst, undefined);
  assert.ok(six.outer?.missing.some((m) => /no neighbour entry for 10\.233\.102\.6/.test(m)), JSON.stringify(six.outer?.missing));
  const a = predict(s, FROM_POD);
  a.outer!.dst = 'edited by a consumer';
  const b = predict(s, { ...FROM_POD, dst: '10.233.100.131' });
  assert.equal(b.outer?.dst, '172.27.71.12');
});

test('IPv6 underlay: 70 bytes of overhead, the source from the underlay device\'s IPv6 address', () => {
  const s = nodeState({
    routes: `
      fd00:71::/64 dev ens3 proto kernel metric 256
      10.233.100.128/26 via 10.233.100.128 dev vxlan.calico onlink`,
    links: [link('ens3', { mtu: 1500 }), link('vxlan.calico', { kind: 'vxlan', mtu: 1430, vxlan: { vni: 4096, port: 4789, dev: 'ens3', learning: false } }), link('cali11299111064', { mtu: 1430 })],
    addrs: [['cali11299111064', 'fe80::ecee:eeff:feee:eeee', 64], ['ens3', '172.27.71.11', 24], ['ens3', 'fd00:71::11', 64]],
    neigh: [{ family: 4, dst: '10.233.100.128', dev: 'vxlan.calico', lladdr: '66:e2:e9:96:9f:82', state: ['PERMANENT'] }],
    fdb: [{ mac: '66:e2:e9:96:9f:82', dev: 'vxlan.calico', dst: 'fd00:71::12', state: 'permanent', flags: ['self'] }],
  });
  const p = predict(s, FROM_POD);
  assert.equal(p.outer?.overhead, 70);
  assert.equal(p.outer?.dst, 'fd00:71::12');
  assert.equal(p.outer?.src, 'fd00:71::11');
  assert.equal(p.outer?.underlayDev, 'ens3');
  assert.ok(!p.warnings?.some((w) => /MTU/.test(w)), '1430 + 70 = 1500');
});

// The predictor at the edges of ip_route_input_slow() / ip_route_output_key_hash(): address classes the
// kernel refuses before any lookup, limited broadcast, broadcast and local routes with source validation,
// forwarding switched off, route types that are not for forwarding, multipath where only some next hops
// pass the source check, and questions that cannot be asked. Expected answers follow the kernel's code
// paths named in each test (and docs/routing.md), not a run of the predictor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { predict } from '../../src/routing/predict';
import { link, state } from '../helpers/route-state';

/** node1-like: ens3 with 172.27.71.11/24, a pod interface without addresses, a default route. */
function node(over: { links?: ReturnType<typeof link>[]; routes?: string } = {}) {
  return state({
    routes: over.routes ?? `
      local 172.27.71.11 dev ens3 table local proto kernel scope host src 172.27.71.11
      broadcast 172.27.71.255 dev ens3 table local proto kernel scope link src 172.27.71.11
      default via 172.27.71.254 dev ens3
      172.27.71.0/24 dev ens3 proto kernel scope link src 172.27.71.11
      10.233.101.222 dev cali1 scope link`,
    links: over.links ?? [link('ens3'), link('cali1', { rpFilter: 1 })],
    addrs: [['ens3', '172.27.71.11', 24]],
  });
}

const warnings = (p: { warnings?: string[] }) => (p.warnings ?? []).join(' | ');

test('questions that cannot be asked are refused with what is wrong', () => {
  const s = node();
  assert.throws(() => predict(s, { dst: 'pod-b' }), /'pod-b' is not an IP address/);
  assert.throws(() => predict(s, { src: 'nope', dst: '10.0.0.1' }), /'nope' is not an IP address/);
  assert.throws(() => predict(s, { src: 'fd00::1', dst: '10.0.0.1' }), /source fd00::1 and destination 10\.0\.0\.1 are not the same IP family/);
  assert.throws(() => predict(s, { src: '10.0.0.1', dst: '10.0.0.2', iif: 'cali9' }), /no interface 'cali9' in this namespace \(see: ip link\)/);
});

test('output path: a source that is not unicast, or not ours, is refused before routing', () => {
  const s = node();
  for (const src of ['224.0.0.5', '255.255.255.255', '0.0.0.7']) {
    const p = predict(s, { src, dst: '10.0.0.1' });
    assert.equal(p.decision, 'martian', src);
    assert.equal(p.errno, 'EINVAL', src);
    assert.match(warnings(p), new RegExp(`source ${src.replace(/\./g, '\\.')} is not a unicast address`));
  }
  const foreign = predict(s, { src: '192.0.2.7', dst: '10.0.0.1' });
  assert.equal(foreign.decision, 'martian');
  assert.equal(foreign.errno, 'ENETUNREACH');
  assert.match(warnings(foreign), /source 192\.0\.2\.7 is not an address of this node/);
  // Our own address: routed normally.
  assert.equal(predict(s, { src: '172.27.71.11', dst: '10.0.0.1' }).decision, 'unicast');
});

test("output path: multicast or limited broadcast from one of our addresses leaves by the address's device, no lookup", () => {
  // Only a route via cali1 would match: the "special hack" must not consult it.
  const s = node({ routes: `
      local 172.27.71.11 dev ens3 table local proto kernel scope host src 172.27.71.11
      default dev cali1 scope link` });
  const mc = predict(s, { src: '172.27.71.11', dst: '239.1.1.1' });
  assert.equal(mc.decision, 'multicast');
  assert.equal(mc.dev, 'ens3');
  assert.deepEqual(mc.egressPath, ['ens3']);
  const brd = predict(s, { src: '172.27.71.11', dst: '255.255.255.255' });
  assert.equal(brd.decision, 'broadcast');
  assert.equal(brd.dev, 'ens3');
});

test('input path: martian sources and destinations by address class', () => {
  const s = node();
  const cases: [string, string, RegExp][] = [
    ['224.0.0.9', '10.233.101.222', /martian source \(multicast or broadcast\)/],
    ['255.255.255.255', '10.233.101.222', /martian source \(multicast or broadcast\)/],
    ['0.1.2.3', '10.233.101.222', /martian source 0\.1\.2\.3 \(give a source address with 'from'\)/],
    ['10.0.0.9', '127.0.0.1', /martian destination \(loopback\)/],
    ['127.0.0.2', '10.233.101.222', /martian source \(loopback\)/],
  ];
  for (const [src, dst, want] of cases) {
    const p = predict(s, { src, dst, iif: 'ens3' });
    assert.equal(p.decision, 'martian', `${src} → ${dst}`);
    assert.equal(p.errno, 'EINVAL', `${src} → ${dst}`);
    assert.match(warnings(p), want, `${src} → ${dst}`);
  }
});

test('input path: limited broadcast is delivered here once the source passes validation', () => {
  const s = node();
  const ok = predict(s, { src: '172.27.71.50', dst: '255.255.255.255', iif: 'ens3' });
  assert.equal(ok.decision, 'broadcast');
  assert.equal(ok.dev, 'lo');
  assert.match(warnings(ok), /limited broadcast/);
  // DHCP's 0.0.0.0 → 0.0.0.0 is broadcast without any source check.
  assert.equal(predict(s, { src: '0.0.0.0', dst: '0.0.0.0', iif: 'cali1' }).decision, 'broadcast');
  // From a pod (strict rp_filter, no address on cali1) with a source routed elsewhere: refused.
  const bad = predict(s, { src: '172.27.71.50', dst: '255.255.255.255', iif: 'cali1' });
  assert.equal(bad.decision, 'martian');
  assert.equal(bad.errno, 'EXDEV');
  assert.match(warnings(bad), /source 172\.27\.71\.50 fails source validation on cali1/);
});

test('input path: a broadcast route of the local table, and a local route, validate the source too', () => {
  const s = node();
  const brd = predict(s, { src: '172.27.71.50', dst: '172.27.71.255', iif: 'ens3' });
  assert.equal(brd.decision, 'broadcast');
  assert.match(brd.route ?? '', /^broadcast 172\.27\.71\.255/);
  // Received: delivered to the node's own stack, which `ip route get 172.27.71.255 iif ens3 from …` shows as dev lo.
  assert.deepEqual([brd.dev, brd.egressPath, brd.gateway], ['lo', [], undefined]);
  const brdBad = predict(s, { src: '172.27.71.50', dst: '172.27.71.255', iif: 'cali1' });
  assert.equal(brdBad.decision, 'martian');
  assert.equal(brdBad.errno, 'EXDEV');
  assert.match(warnings(brdBad), /source 172\.27\.71\.50 fails source validation on cali1/);
  const local = predict(s, { src: '10.233.101.222', dst: '172.27.71.11', iif: 'cali1' });
  assert.equal(local.decision, 'local', 'the pod talks to the node from its own address');
  const spoofed = predict(s, { src: '172.27.71.50', dst: '172.27.71.11', iif: 'cali1' });
  assert.equal(spoofed.decision, 'martian');
  assert.match(warnings(spoofed), /source 172\.27\.71\.50 fails source validation on cali1/);
});

test('input path: forwarding off on the ingress device refuses what would be forwarded, with or without a route', () => {
  const s = node({ links: [link('ens3', { forwarding4: false }), link('cali1')] });
  const fwd = predict(s, { src: '172.27.71.50', dst: '10.233.101.222', iif: 'ens3' });
  assert.equal(fwd.decision, 'forwarding_disabled');
  assert.equal(fwd.errno, 'EHOSTUNREACH');
  assert.match(warnings(fwd), /forwarding is off on ens3/);
  // Local delivery does not need forwarding.
  assert.equal(predict(s, { src: '172.27.71.50', dst: '172.27.71.11', iif: 'ens3' }).decision, 'local');
  // No route at all: the kernel still says EHOSTUNREACH (forwarding is checked first), not ENETUNREACH.
  const none = node({ routes: 'local 172.27.71.11 dev ens3 table local proto kernel scope host src 172.27.71.11', links: [link('ens3', { forwarding4: false })] });
  const p = predict(none, { src: '172.27.71.50', dst: '10.9.9.9', iif: 'ens3' });
  assert.equal(p.decision, 'forwarding_disabled');
  assert.equal(p.errno, 'EHOSTUNREACH');
});

test('input path: a route of a type that does not forward (anycast, multicast) makes a martian destination', () => {
  const s = node({ routes: `
      local 172.27.71.11 dev ens3 table local proto kernel scope host src 172.27.71.11
      anycast 10.7.0.0 dev ens3 table local proto kernel scope link src 172.27.71.11
      default via 172.27.71.254 dev ens3` });
  const p = predict(s, { src: '172.27.71.50', dst: '10.7.0.0', iif: 'ens3' });
  assert.equal(p.decision, 'martian');
  assert.equal(p.errno, 'EINVAL');
  assert.match(warnings(p), /martian destination \(route type anycast\)/);
});

test('input path: strict source validation refuses a forwarded packet, naming the reverse-path filter', () => {
  const s = node();
  const p = predict(s, { src: '192.0.2.50', dst: '172.27.71.99', iif: 'cali1' });
  assert.equal(p.decision, 'martian');
  assert.equal(p.errno, 'EXDEV');
  assert.match(warnings(p), /source 192\.0\.2\.50 refused on cali1 \(reverse-path filter\)/);
});

test('multipath: when only some next hops pass the source check, the others are named as refused', () => {
  // fib_validate_source() looks the source up with the forward route's egress device as iif
  // (flowi4_iif = oif), so a rule bound to one next hop's device sends that hop's check to another table.
  const s = state({
    routes: `
      10.8.0.0/16 nexthop via 192.0.2.1 dev a weight 1 nexthop via 192.0.2.2 dev b weight 1
      192.0.2.0/24 dev a scope link
      198.51.100.0/24 dev c scope link
      198.51.100.0/24 dev a scope link table 100`,
    links: [link('a'), link('b'), link('c', { rpFilter: 1 })],
    rules: [
      { priority: 0, src: 'all', table: 'local' },
      { priority: 100, src: 'all', iif: 'b', table: '100' },
      { priority: 32766, src: 'all', table: 'main' },
      { priority: 32767, src: 'all', table: 'default' },
    ],
  });
  const p = predict(s, { src: '198.51.100.7', dst: '10.8.1.1', iif: 'c' });
  assert.equal(p.decision, 'unicast', 'hashed to a, it is forwarded');
  assert.deepEqual(p.nexthops.map((n) => n.dev), ['a'], 'only the next hop that passes is a possible egress');
  assert.deepEqual(p.refusedVia?.nexthops.map((n) => n.dev), ['b']);
  assert.equal(p.refusedVia?.errno, 'EXDEV');
  assert.match(warnings(p), /multipath: if the kernel's hash picks b, source 198\.51\.100\.7 is refused \(reverse-path filter, EXDEV\)/);
  // A source whose route back leaves via a for both checks: refused whichever hop, so a martian.
  const bad = predict(s, { src: '192.0.2.9', dst: '10.8.1.1', iif: 'c' });
  assert.equal(bad.decision, 'martian');
  assert.equal(bad.errno, 'EXDEV');
  assert.match(warnings(bad), /source 192\.0\.2\.9 refused on c \(reverse-path filter\)/);
});

test('the candidates a reader sees: why each route containing the destination was or was not the one', () => {
  const s = state({
    routes: `
      10.233.101.224 dev cali2 scope link
      10.233.101.192/26 dev cali3 scope link
      10.233.101.224 dev cali4 scope link metric 50
      blackhole 10.233.101.192/26 proto 80 metric 10
      10.233.101.224 tos 0x10 dev cali5 scope link
      10.233.101.224 dev cali6 scope link table 100
      10.233.101.0/24 dev cali7 scope link table 200`,
    rules: [
      { priority: 0, src: 'all', table: 'local' },
      { priority: 10, src: '10.9.9.9', srclen: 32, table: '200' },
      { priority: 32766, src: 'all', table: 'main' },
      { priority: 32767, src: 'all', table: '100' },
    ],
    addrs: [['cali2', '10.9.9.9', 32]],
  });
  const p = predict(s, { dst: '10.233.101.224' });
  const by = (route: string) => {
    const c = p.candidates.find((x) => x.route === route);
    assert.ok(c, `${route} is a candidate: ${JSON.stringify(p.candidates.map((x) => x.route))}`);
    return c!;
  };
  assert.equal(p.route, '10.233.101.224 dev cali2 scope link');
  assert.equal(by('10.233.101.224 dev cali2 scope link').verdict, 'selected');
  assert.match(by('10.233.101.224 dev cali2 scope link').reason, /longest matching prefix \(\/32\) in table 254/);
  assert.match(by('10.233.101.192/26 dev cali3 scope link').reason, /less specific \(\/26\) than the selected \/32/);
  assert.equal(by('10.233.101.192/26 dev cali3 scope link').verdict, 'shadowed');
  assert.match(by('10.233.101.224 dev cali4 scope link metric 50').reason, /same prefix, higher metric \(50 > 0\)/);
  assert.match(by('10.233.101.224 tos 0x10 dev cali5 scope link').reason, /tos 0x10 does not match the packet/);
  // Table 100 is reached only by the last rule, after main decided: it was never consulted.
  assert.equal(by('10.233.101.224 dev cali6 table 100 scope link').verdict, 'not-consulted');
  assert.match(by('10.233.101.224 dev cali6 table 100 scope link').reason, /table 100 was not consulted: no rule led to it before a decision/);
  assert.equal(by('10.233.101.0/24 dev cali7 table 200 scope link').verdict, 'not-consulted', 'rule 10 does not match a packet without that source');
  // From 10.9.9.9 rule 10 sends the lookup to table 200 first, and its /24 decides over main's /32.
  const q = predict(s, { src: '10.9.9.9', dst: '10.233.101.224' });
  assert.equal(q.route, '10.233.101.0/24 dev cali7 table 200 scope link');
  const main32 = q.candidates.find((x) => x.route === '10.233.101.224 dev cali2 scope link')!;
  assert.equal(main32.verdict, 'not-consulted');
  // A consulted table whose route threw the lookup on: skipped, and why the other table decided.
  const thrown = state({
    routes: `
      10.233.101.224 dev cali2 scope link
      throw 10.233.101.224 table 200
      10.233.101.192/26 dev cali3 table 300 scope link`,
    rules: [
      { priority: 0, src: 'all', table: 'local' },
      { priority: 10, src: 'all', table: '200' },
      { priority: 20, src: 'all', table: '300' },
      { priority: 32766, src: 'all', table: 'main' },
    ],
  });
  const t = predict(thrown, { dst: '10.233.101.224' });
  assert.equal(t.table, 300, 'the throw goes on to rule 20');
  const throwRoute = t.candidates.find((x) => x.type === 'throw')!;
  assert.equal(throwRoute.verdict, 'skipped');
  assert.match(throwRoute.reason, /table 200 was consulted, but table 300 decided \(rule order, not prefix length, picks the table\)/);
  // Per-packet use skips the candidates and the rule trace, nothing else.
  const lean = predict(s, { src: '10.9.9.9', dst: '10.233.101.224' }, { detail: false });
  assert.deepEqual(lean.candidates, []);
  assert.equal(lean.route, q.route);
  assert.deepEqual(lean.egressPath, q.egressPath);
});

test('a pasted `ip route` says what it cannot know, naming the addresses its routes do show', () => {
  const s = state({ routes: '172.27.71.0/24 dev ens3 proto kernel scope link src 172.27.71.11\ndefault via 172.27.71.254 dev ens3' });
  s.complete = { ...s.complete, rules: false, neighbours: false, fdb: false, links: false };
  s.addresses = [{ family: 4, ifname: 'ens3', address: '172.27.71.11', prefixLen: 24, scope: 'global' }];
  const p = predict(s, { dst: '10.0.0.1' });
  const u = (p.unknowns ?? []).join('\n');
  assert.match(u, /ip rules: .*only the main table was consulted/);
  assert.match(u, /VXLAN FDB/);
  assert.match(u, /rp_filter/);
  assert.match(u, /the local table/);
  assert.match(u, /only those the routes name with `src` \(172\.27\.71\.11\)/);
  assert.match(u, /`ip maddr`/);
  s.addresses = [];
  assert.match((predict(s, { dst: '10.0.0.1' }).unknowns ?? []).join('\n'), /\(none in this paste\)/);
  // A complete state has nothing unknown.
  assert.equal(predict(node(), { dst: '10.0.0.1' }).unknowns, undefined);
});

// The predictor's decisions off the common path: unusable queries, the output path's source and
// multicast/broadcast handling, the input path's martians, forwarding, reverse-path source validation
// (single and multipath), multicast membership, and IPv6. Expected answers follow the kernel's
// ip_route_output_key_hash_rcu(), ip_route_input_slow(), ip_route_input_mc(), fib_validate_source() and
// ip6_mc_input(), as documented and as `ip route get` answers them — not read off the code under test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { predict, QueryError } from '../../src/routing/predict';
import { LiveRouteModel } from '../../src/routing/model';
import { parsePastedRoutes } from '../../src/routing/paste';
import { link, nodeState } from '../helpers/predict-state';

/** A router-like node: a (10.0.0.1/24, default route), b (10.0.1.1/24, the 192.168/16 behind it), c. */
function twoLegs(opts: { rpA?: number; rules4?: Record<string, unknown>[]; extra?: string; links?: ReturnType<typeof link>[] } = {}) {
  return nodeState({
    routes: `
      local 10.0.0.1 dev a table local proto kernel scope host src 10.0.0.1
      broadcast 10.0.0.255 dev a table local proto kernel scope link src 10.0.0.1
      local 10.0.1.1 dev b table local proto kernel scope host src 10.0.1.1
      default via 10.0.0.254 dev a
      10.0.0.0/24 dev a proto kernel scope link src 10.0.0.1
      10.0.1.0/24 dev b proto kernel scope link src 10.0.1.1
      10.0.2.0/24 dev c proto kernel scope link
      192.168.0.0/16 via 10.0.1.254 dev b
      blackhole 203.0.113.0/24
      ${opts.extra ?? ''}`,
    links: opts.links ?? [link('a', { rpFilter: opts.rpA ?? 0 }), link('b'), link('c')],
    addrs: [['a', '10.0.0.1', 24], ['b', '10.0.1.1', 24]],
    rules4: opts.rules4,
  });
}

test('unusable queries are refused with what is wrong in them', () => {
  const s = twoLegs();
  assert.throws(() => predict(s, { dst: 'web-0' }), (e: Error) => e instanceof QueryError && /'web-0' is not an IP address/.test(e.message));
  assert.throws(() => predict(s, { dst: '10.0.0.300' }), (e: Error) => e instanceof QueryError && /'10\.0\.0\.300'/.test(e.message));
  assert.throws(() => predict(s, { src: 'pod-a', dst: '10.0.1.5' }), (e: Error) => e instanceof QueryError && /'pod-a' is not an IP address/.test(e.message));
  assert.throws(() => predict(s, { src: 'fd00::g1', dst: 'fd00::5' }), (e: Error) => e instanceof QueryError && /'fd00::g1' is not an IP address/.test(e.message));
  assert.throws(() => predict(s, { dst: 'fd00:::5' }), (e: Error) => e instanceof QueryError && /'fd00:::5' is not an IP address/.test(e.message));
  // Mixed families, both ways round: the message names both addresses.
  assert.throws(() => predict(s, { src: 'fd00::1', dst: '10.0.1.5' }), (e: Error) => e instanceof QueryError && /fd00::1.*10\.0\.1\.5.*same IP family/.test(e.message));
  assert.throws(() => predict(s, { src: '10.0.0.1', dst: 'fd00::5' }), (e: Error) => e instanceof QueryError && /10\.0\.0\.1.*fd00::5.*same IP family/.test(e.message));
  // An incoming interface this namespace does not have: the answer points at `ip link`.
  assert.throws(() => predict(s, { src: '8.8.8.8', dst: '10.0.1.5', iif: 'eth9' }), (e: Error) => e instanceof QueryError && /'eth9'/.test(e.message) && /ip link/.test(e.message));
});

test('a pasted table knows no interfaces: any --iif is taken as given, up and forwarding', () => {
  const { state } = parsePastedRoutes('default via 172.27.71.254 dev ens3\n172.27.71.0/24 dev ens3 proto kernel scope link src 172.27.71.11');
  const p = predict(state, { src: '10.233.101.222', dst: '8.8.8.8', iif: 'cali11299111064' });
  assert.equal(p.decision, 'unicast');
  assert.equal(p.gateway, '172.27.71.254');
  // Its addresses are those the routes name with `src`: any other SRC on the output path is not this node's.
  const foreign = predict(state, { src: '10.9.9.9', dst: '8.8.8.8' });
  assert.equal(foreign.decision, 'martian');
  assert.equal(foreign.errno, 'ENETUNREACH');
  assert.equal(predict(state, { src: '172.27.71.11', dst: '8.8.8.8' }).decision, 'unicast');
});

test('a live model not loaded yet has no routes: nothing is decided by a route', () => {
  const p = predict(new LiveRouteModel(), { dst: '10.0.0.1' });
  assert.equal(p.decision, 'no_route');
  assert.equal(p.errno, 'ENETUNREACH');
  assert.equal(p.dev, undefined);
  assert.deepEqual(p.egressPath, [], 'nothing leaves');
});

test('output path: a source that is not unicast is EINVAL, one that is not this node\'s is ENETUNREACH, each named', () => {
  const s = twoLegs();
  for (const src of ['224.0.0.5', '255.255.255.255', '0.0.0.0']) {
    const p = predict(s, { src, dst: '10.0.1.5' });
    assert.equal(p.decision, 'martian', src);
    assert.equal(p.errno, 'EINVAL', src);
    assert.ok(p.warnings?.some((w) => w.includes(`source ${src}`) && /not a unicast address/.test(w)), `${src}: ${p.warnings}`);
  }
  const p = predict(s, { src: '10.0.2.9', dst: '10.0.1.5' });
  assert.equal(p.errno, 'ENETUNREACH');
  assert.ok(p.warnings?.some((w) => w.includes('source 10.0.2.9') && /not an address of this node/.test(w)), String(p.warnings));
  // Class E (240/4) is not multicast: an ordinary destination for the default route.
  assert.equal(predict(s, { dst: '240.0.0.1' }).decision, 'unicast');
});

test('output path: multicast and broadcast with a source leave the device that owns the source, whatever the routes say', () => {
  const s = twoLegs({ extra: '239.0.0.0/8 dev c' });
  const mc = predict(s, { src: '10.0.1.1', dst: '239.1.2.3' });
  assert.equal(mc.decision, 'multicast');
  assert.equal(mc.errno, undefined);
  assert.equal(mc.dev, 'b');
  assert.deepEqual(mc.egressPath, ['b']);
  assert.equal(mc.route, undefined, 'no route lookup');
  const brd = predict(s, { src: '10.0.1.1', dst: '255.255.255.255' });
  assert.equal(brd.decision, 'broadcast');
  assert.equal(brd.dev, 'b', 'the owner of the source, not the default route\'s device');
  assert.deepEqual(brd.egressPath, ['b']);
  // Without address lists (nothing says who owns the source) the route decides.
  const blind = predict({ ...s, addresses: [], complete: { ...s.complete, links: false } }, { src: '10.0.1.1', dst: '239.1.2.3' });
  assert.equal(blind.decision, 'multicast');
  assert.equal(blind.route, '239.0.0.0/8 dev c');
  assert.equal(blind.dev, 'c');
  // The subnet's broadcast address sent from the node: out of a, to everyone's MAC (no gateway).
  const subnet = predict(s, { dst: '10.0.0.255' });
  assert.equal(subnet.decision, 'broadcast');
  assert.equal(subnet.table, 255);
  assert.deepEqual([subnet.dev, subnet.gateway], ['a', undefined]);
  assert.deepEqual(subnet.egressPath, ['a']);
  // Without a source the route picks the device, the group's class the type.
  const byRoute = predict(s, { dst: '239.1.2.3' });
  assert.equal(byRoute.decision, 'multicast');
  assert.equal(byRoute.route, '239.0.0.0/8 dev c');
  assert.deepEqual(byRoute.egressPath, ['c']);
  // A blackhole for the group's range still refuses it.
  const bh = predict(twoLegs({ extra: 'blackhole 239.0.0.0/8' }), { dst: '239.1.2.3' });
  assert.equal(bh.decision, 'blackhole');
  assert.equal(bh.errno, 'EINVAL');
});

test('rule actions and a thrown lookup: each errno as `ip route get` gives it, and the rule named', () => {
  const rules4 = [
    { priority: 0, src: 'all', table: 'local' },
    { priority: 100, src: 'all', dst: '10.66.0.0', dstlen: 16, action: 'blackhole' },
    { priority: 101, src: 'all', dst: '10.77.0.0', dstlen: 16, action: 'prohibit' },
    { priority: 102, src: 'all', table: '100' },
    { priority: 32766, src: 'all', table: 'main' },
  ];
  const s = twoLegs({ rules4, extra: 'throw 10.88.0.0/16 table 100' });
  const bh = predict({ ...s, routes: s.routes.filter((r) => r.prefixLen !== 0) }, { dst: '10.66.1.1' });
  assert.deepEqual([bh.decision, bh.errno], ['blackhole', 'EINVAL']);
  assert.match(bh.rule ?? '', /^100:.*10\.66\.0\.0\/16.*blackhole/);
  const pr = predict(s, { dst: '10.77.1.1' });
  assert.deepEqual([pr.decision, pr.errno], ['prohibit', 'EACCES']);
  assert.match(pr.rule ?? '', /^101:/);
  // Table 100 throws, main has no route either (no default here): ENETUNREACH as a throw, not as "no route".
  const noDefault = { ...s, routes: s.routes.filter((r) => r.prefixLen !== 0) };
  const th = predict(noDefault, { dst: '10.88.1.1' });
  assert.deepEqual([th.decision, th.errno], ['throw', 'ENETUNREACH']);
  const none = predict(noDefault, { dst: '10.99.1.1' });
  assert.deepEqual([none.decision, none.errno], ['no_route', 'ENETUNREACH']);
});

test('the flow carries the query\'s uid, ports, protocol and bound device into the rules and the table', () => {
  const rules4 = [
    { priority: 0, src: 'all', table: 'local' },
    { priority: 10, src: 'all', uid_start: 1000, uid_end: 1000, table: '100' },
    { priority: 11, src: 'all', ipproto: 'tcp', dport: 443, table: '101' },
    { priority: 12, src: 'all', ipproto: 'udp', sport: 5353, table: '102' },
    { priority: 32766, src: 'all', table: 'main' },
  ];
  const s = twoLegs({ rules4, extra: 'default via 10.0.1.250 dev b table 100\ndefault via 10.0.1.251 dev b table 101\ndefault via 10.0.1.252 dev b table 102' });
  assert.equal(predict(s, { dst: '8.8.8.8', uid: 1000 }).gateway, '10.0.1.250');
  assert.equal(predict(s, { dst: '8.8.8.8' }).gateway, '10.0.0.254', 'root (uid 0) by default');
  // A forwarded IPv4 packet is looked up as root, whatever uid the query names.
  assert.equal(predict(s, { src: '8.8.4.4', dst: '8.8.8.8', iif: 'c', uid: 1000 }).gateway, '10.0.0.254');
  assert.equal(predict(s, { dst: '8.8.8.8', ipproto: 6, dport: 443 }).gateway, '10.0.1.251');
  assert.equal(predict(s, { dst: '8.8.8.8', ipproto: 6, dport: 80 }).gateway, '10.0.0.254');
  assert.equal(predict(s, { dst: '8.8.8.8', ipproto: 17, sport: 5353 }).gateway, '10.0.1.252');
  // A socket bound to b: only b's next hops count, so main's default via a is passed over for the one via b
  // (and with a bound device the kernel makes no choice among several defaults: fib_select_path()).
  const bound = predict(twoLegs({ extra: 'default via 10.0.1.254 dev b metric 100' }), { dst: '8.8.8.8', oif: 'b' });
  assert.equal(bound.dev, 'b');
  assert.equal(bound.gateway, '10.0.1.254');
  assert.deepEqual(bound.nexthops.map((n) => n.dev), ['b']);
  assert.deepEqual(bound.warnings, []);
});

test('input path martians: each refusal says which address is wrong and why', () => {
  const s = twoLegs();
  const mcSrc = predict(s, { src: '224.1.1.1', dst: '10.0.1.5', iif: 'a' });
  assert.deepEqual([mcSrc.decision, mcSrc.errno], ['martian', 'EINVAL']);
  assert.ok(mcSrc.warnings?.some((w) => /martian source/.test(w) && /multicast or broadcast/.test(w)), String(mcSrc.warnings));
  const lbSrc = predict(s, { src: '255.255.255.255', dst: '10.0.1.5', iif: 'a' });
  assert.equal(lbSrc.decision, 'martian');
  // No source given on the input path means 0.0.0.0: the answer says how to give one.
  const noSrc = predict(s, { dst: '10.0.1.5', iif: 'a' });
  assert.deepEqual([noSrc.decision, noSrc.errno], ['martian', 'EINVAL']);
  assert.ok(noSrc.warnings?.some((w) => /martian source 0\.0\.0\.0/.test(w) && /'from'/.test(w)), String(noSrc.warnings));
  const loDst = predict(s, { src: '10.0.0.7', dst: '127.0.0.1', iif: 'a' });
  assert.deepEqual([loDst.decision, loDst.errno], ['martian', 'EINVAL']);
  assert.ok(loDst.warnings?.some((w) => /martian destination/.test(w) && /loopback/.test(w)), String(loDst.warnings));
  const loSrc = predict(s, { src: '127.0.0.1', dst: '10.0.1.5', iif: 'a' });
  assert.deepEqual([loSrc.decision, loSrc.errno], ['martian', 'EINVAL']);
  assert.ok(loSrc.warnings?.some((w) => /martian source/.test(w) && /loopback/.test(w)), String(loSrc.warnings));
  // 0.0.0.0/8 as a destination is routed like any other (the default route here).
  const zeroDst = predict(s, { src: '10.0.0.7', dst: '0.1.2.3', iif: 'a' });
  assert.equal(zeroDst.decision, 'unicast');
  assert.equal(zeroDst.gateway, '10.0.0.254');
  // A route that is neither unicast, local nor broadcast cannot forward: a martian destination, type named.
  const any = predict(twoLegs({ extra: 'anycast 10.0.2.0 dev c table local' }), { src: '10.0.0.7', dst: '10.0.2.0', iif: 'a' });
  assert.deepEqual([any.decision, any.errno], ['martian', 'EINVAL']);
  assert.ok(any.warnings?.some((w) => /martian destination/.test(w) && /anycast/.test(w)), String(any.warnings));
});

test('limited broadcast received: delivered here once the source passes validation; 0.0.0.0 → 0.0.0.0 too', () => {
  const s = twoLegs();
  const dhcp = predict(s, { src: '0.0.0.0', dst: '255.255.255.255', iif: 'a', ipproto: 17, sport: 68, dport: 67 });
  assert.equal(dhcp.decision, 'broadcast');
  assert.equal(dhcp.dev, 'lo');
  assert.deepEqual(dhcp.egressPath, [], 'delivered on this node');
  assert.ok(dhcp.warnings?.some((w) => /limited broadcast/.test(w)));
  // A DHCP discover (from 0.0.0.0) is not source-validated: strict rp_filter with no route back still takes it.
  const strictNoDefault = twoLegs({ rpA: 1 });
  strictNoDefault.routes = strictNoDefault.routes.filter((r) => r.prefixLen !== 0);
  assert.equal(predict(strictNoDefault, { src: '0.0.0.0', dst: '255.255.255.255', iif: 'a', ipproto: 17 }).decision, 'broadcast');
  assert.equal(predict(s, { src: '0.0.0.0', dst: '0.0.0.0', iif: 'a' }).decision, 'broadcast');
  assert.equal(predict(s, { src: '10.0.0.7', dst: '255.255.255.255', iif: 'a' }).decision, 'broadcast');
  // From this node's own address: refused (a looped or spoofed broadcast), the device named.
  const own = predict(s, { src: '10.0.1.1', dst: '255.255.255.255', iif: 'a' });
  assert.deepEqual([own.decision, own.errno], ['martian', 'EINVAL']);
  assert.ok(own.warnings?.some((w) => w.includes('10.0.1.1') && /source validation/.test(w) && /\ba\b/.test(w)), String(own.warnings));
});

test('subnet broadcast and local destinations received: delivered here, sources still validated', () => {
  const s = twoLegs();
  const brd = predict(s, { src: '10.0.0.7', dst: '10.0.0.255', iif: 'a' });
  assert.equal(brd.decision, 'broadcast');
  assert.equal(brd.route, 'broadcast 10.0.0.255 dev a table local proto kernel scope link src 10.0.0.1');
  assert.deepEqual(brd.egressPath, [], 'delivered on this node, not sent on');
  const spoofed = predict(s, { src: '10.0.1.1', dst: '10.0.0.255', iif: 'a' });
  assert.deepEqual([spoofed.decision, spoofed.errno], ['martian', 'EINVAL']);
  assert.ok(spoofed.warnings?.some((w) => w.includes('source 10.0.1.1') && /source validation on a/.test(w)), String(spoofed.warnings));
  const local = predict(s, { src: '10.0.0.7', dst: '10.0.1.1', iif: 'a' });
  assert.equal(local.decision, 'local');
  assert.equal(local.dev, 'lo');
  const spoofLocal = predict(s, { src: '10.0.0.1', dst: '10.0.1.1', iif: 'a' });
  assert.deepEqual([spoofLocal.decision, spoofLocal.errno], ['martian', 'EINVAL']);
  assert.ok(spoofLocal.warnings?.some((w) => w.includes('source 10.0.0.1') && /source validation on a/.test(w)), String(spoofLocal.warnings));
});

test('forwarding off on the incoming interface: EHOSTUNREACH even where no route exists, the interface named', () => {
  const s = twoLegs({ links: [link('a', { forwarding4: false }), link('b'), link('c')] });
  s.routes = s.routes.filter((r) => r.prefixLen !== 0);
  const p = predict(s, { src: '10.0.0.7', dst: '8.8.8.8', iif: 'a' });
  assert.deepEqual([p.decision, p.errno], ['forwarding_disabled', 'EHOSTUNREACH']);
  assert.ok(p.warnings?.some((w) => /forwarding is off on a/.test(w)), String(p.warnings));
  const routed = predict(s, { src: '10.0.0.7', dst: '10.0.1.5', iif: 'a' });
  assert.equal(routed.decision, 'forwarding_disabled');
  assert.ok(routed.warnings?.some((w) => /forwarding is off on a/.test(w)));
  // From b (forwarding on) the same destination without a route is just that.
  assert.equal(predict(s, { src: '10.0.1.7', dst: '8.8.8.8', iif: 'b' }).decision, 'no_route');
});

test('rp_filter: off takes any source, strict wants the route back through the incoming interface, loose any route back', () => {
  // 192.168.1.1 routes back via b; it arrives on a.
  const q = { src: '192.168.1.1', dst: '10.0.2.5', iif: 'a' };
  assert.equal(predict(twoLegs({ rpA: 0 }), q).decision, 'unicast');
  const strict = predict(twoLegs({ rpA: 1 }), q);
  assert.deepEqual([strict.decision, strict.errno], ['martian', 'EXDEV']);
  assert.ok(strict.warnings?.some((w) => w.includes('source 192.168.1.1') && /refused on a/.test(w) && /reverse-path filter/.test(w)), String(strict.warnings));
  // Refused: the route was found, but no next hop, device or path is the packet's.
  assert.equal(strict.route, '10.0.2.0/24 dev c proto kernel scope link');
  assert.deepEqual([strict.nexthops, strict.dev, strict.egressPath], [[], undefined, []]);
  assert.equal(predict(twoLegs({ rpA: 2 }), q).decision, 'unicast');
  // Strict, and the way back is multipath with one hop through a: accepted (any hop on the interface will do).
  const ecmpBack = twoLegs({ rpA: 1, extra: '192.168.7.0/24 nexthop via 10.0.1.254 dev b nexthop via 10.0.0.254 dev a' });
  assert.equal(predict(ecmpBack, { ...q, src: '192.168.7.1' }).decision, 'unicast');
  // Strict, and the source does route back via a (the default route): accepted.
  assert.equal(predict(twoLegs({ rpA: 1 }), { ...q, src: '8.8.8.8' }).decision, 'unicast');
  // A source whose way back is a blackhole: refused by strict and by loose, accepted with rp_filter off.
  for (const rp of [1, 2]) assert.equal(predict(twoLegs({ rpA: rp }), { ...q, src: '203.0.113.9' }).errno, 'EXDEV', `rp_filter ${rp}`);
  // Loose with no route back at all (no default route): refused.
  const loose = twoLegs({ rpA: 2 });
  loose.routes = loose.routes.filter((r) => r.prefixLen !== 0);
  assert.equal(predict(loose, { ...q, src: '8.8.8.8' }).errno, 'EXDEV');
});

test('rp_filter off, with policy rules or a hairpin: the full reverse lookup runs and refuses only non-unicast sources', () => {
  const rules4 = [{ priority: 0, src: 'all', table: 'local' }, { priority: 50, src: '10.9.0.0', srclen: 16, table: '100' }, { priority: 32766, src: 'all', table: 'main' }];
  const custom = twoLegs({ rules4 });
  // The reverse lookup finds the subnet's broadcast address: a martian source (EINVAL).
  const brdSrc = predict(custom, { src: '10.0.0.255', dst: '10.0.2.5', iif: 'a' });
  assert.deepEqual([brdSrc.decision, brdSrc.errno], ['martian', 'EINVAL']);
  assert.ok(brdSrc.warnings?.some((w) => /refused on a/.test(w) && /martian source/.test(w)), String(brdSrc.warnings));
  // No route back, rp_filter off: accepted.
  const noBack = twoLegs({ rules4 });
  noBack.routes = noBack.routes.filter((r) => r.prefixLen !== 0);
  assert.equal(predict(noBack, { src: '8.8.8.8', dst: '10.0.2.5', iif: 'a' }).decision, 'unicast');
  // Back via another interface, rp_filter off: accepted.
  assert.equal(predict(custom, { src: '192.168.1.1', dst: '10.0.2.5', iif: 'a' }).decision, 'unicast');
  // Default rules, but the packet goes out where it came in (a hairpin): the same full check.
  const plain = twoLegs();
  assert.equal(predict(plain, { src: '10.0.0.255', dst: '10.0.2.5', iif: 'a' }).decision, 'unicast', 'not a hairpin: the fast path');
  assert.equal(predict(plain, { src: '10.0.0.255', dst: '8.8.8.8', iif: 'a' }).errno, 'EINVAL', 'hairpin out of a');
});

test('strict/loose rp_filter on an interface without an IPv4 address (a cali veth): no route back through it is refused', () => {
  // Calico's cali interfaces carry only an IPv6 link-local address.
  const cali = (rp: number) =>
    nodeState({
      routes: `
        default via 172.27.71.254 dev ens3
        172.27.71.0/24 dev ens3 proto kernel scope link src 172.27.71.11
        10.233.101.222 dev cali11299111064 scope link`,
      links: [link('ens3'), link('cali11299111064', { rpFilter: rp })],
      addrs: [['ens3', '172.27.71.11', 24], ['cali11299111064', 'fe80::ecee:eeff:feee:eeee', 64]],
    });
  const spoof = { src: '10.233.101.99', dst: '8.8.8.8', iif: 'cali11299111064' };
  assert.equal(predict(cali(2), spoof).errno, 'EXDEV', 'loose, no IPv4 address: the kernel\'s last resort refuses');
  assert.equal(predict(cali(1), spoof).errno, 'EXDEV');
  assert.equal(predict(cali(0), spoof).decision, 'unicast');
  assert.equal(predict(cali(1), { ...spoof, src: '10.233.101.222' }).decision, 'unicast', 'the pod\'s own address routes back through its cali');
});

test('source validation\'s reverse lookup: from the outgoing interface (iif lo for local delivery), with the packet\'s ports swapped when rules need them', () => {
  const back = 'default via 10.0.0.254 dev a table 100';
  // Rule on the reverse lookup's iif: b (the outgoing device of the forward route) → table 100 → back via a.
  const viaOif = twoLegs({ rpA: 1, extra: back, rules4: [{ priority: 0, src: 'all', table: 'local' }, { priority: 10, src: 'all', iif: 'b', table: '100' }, { priority: 32766, src: 'all', table: 'main' }] });
  assert.equal(predict(viaOif, { src: '192.168.1.1', dst: '10.0.1.5', iif: 'a' }).decision, 'unicast');
  assert.equal(predict(viaOif, { src: '192.168.1.1', dst: '10.0.2.5', iif: 'a' }).errno, 'EXDEV', 'out of c: the rule does not apply');
  // Local delivery: the reverse lookup comes from lo.
  const viaLo = twoLegs({ rpA: 1, extra: back, rules4: [{ priority: 0, src: 'all', table: 'local' }, { priority: 10, src: 'all', iif: 'lo', table: '100' }, { priority: 32766, src: 'all', table: 'main' }] });
  assert.equal(predict(viaLo, { src: '192.168.1.1', dst: '10.0.1.1', iif: 'a' }).decision, 'local');
  // Port rules not bound to iif lo: the reverse lookup has the reply's ports (sport ↔ dport).
  const ports = (sel: Record<string, unknown>) => twoLegs({ rpA: 1, extra: back, rules4: [{ priority: 0, src: 'all', table: 'local' }, { priority: 10, src: 'all', ipproto: 'udp', ...sel, table: '100' }, { priority: 32766, src: 'all', table: 'main' }] });
  const dns = { src: '192.168.1.1', dst: '10.0.2.5', iif: 'a', ipproto: 17, sport: 40000, dport: 53 };
  assert.equal(predict(ports({ sport: 53 }), dns).decision, 'unicast', 'reply from port 53');
  assert.equal(predict(ports({ dport: 40000 }), dns).decision, 'unicast', 'reply to port 40000');
  assert.equal(predict(ports({ sport: 40000 }), dns).errno, 'EXDEV', 'the query\'s own source port is not the reply\'s');
});

test('multipath with source validation per next hop: refused next hops are named with the errno, the others kept', () => {
  // 10.50/16 over a, b and c. Rules: the reverse lookup from b finds the way back to 192.168/16 via a
  // (table 100); from a or c, main sends it via b. Strict rp_filter on a.
  const s = twoLegs({
    rpA: 1,
    extra: `10.50.0.0/16 nexthop via 10.0.0.250 dev a nexthop via 10.0.1.250 dev b nexthop via 10.0.2.250 dev c
      default via 10.0.0.254 dev a table 100`,
    rules4: [{ priority: 0, src: 'all', table: 'local' }, { priority: 10, src: 'all', iif: 'b', table: '100' }, { priority: 32766, src: 'all', table: 'main' }],
  });
  const p = predict(s, { src: '192.168.1.1', dst: '10.50.1.1', iif: 'a' });
  assert.equal(p.decision, 'unicast');
  assert.deepEqual(p.nexthops.map((n) => n.dev), ['b']);
  assert.equal(p.dev, 'b');
  assert.deepEqual(p.refusedVia?.nexthops.map((n) => n.dev), ['a', 'c']);
  assert.equal(p.refusedVia?.errno, 'EXDEV');
  const w = p.warnings?.find((x) => x.startsWith('multipath'));
  assert.ok(w && /a\/c/.test(w) && w.includes('192.168.1.1') && /reverse-path filter/.test(w) && /EXDEV/.test(w), String(p.warnings));
  const all = predict(s, { src: '198.18.0.1', dst: '10.50.1.1', iif: 'a' });
  assert.equal(all.decision, 'unicast', 'default route back via a: accepted from any next hop');
  assert.equal(all.refusedVia, undefined);
  assert.equal(all.nexthops.length, 3);
  // A source every next hop refuses: a martian like any other.
  const s2 = twoLegs({ rpA: 1, extra: '10.50.0.0/16 nexthop via 10.0.0.250 dev a nexthop via 10.0.2.250 dev c' });
  const refused = predict(s2, { src: '192.168.1.1', dst: '10.50.1.1', iif: 'a' });
  assert.deepEqual([refused.decision, refused.errno], ['martian', 'EXDEV']);
  assert.equal(refused.refusedVia, undefined);
  assert.ok(refused.warnings?.some((x) => /refused on a/.test(x) && /reverse-path filter/.test(x)), String(refused.warnings));
  // With rp_filter off and every next hop fine: no refusal, no warning, both next hops, no single gateway.
  const ok = predict(twoLegs({ extra: '10.50.0.0/16 nexthop via 10.0.0.250 dev a nexthop via 10.0.2.250 dev c' }), { src: '8.8.8.8', dst: '10.50.1.1', iif: 'b' });
  assert.equal(ok.decision, 'unicast');
  assert.equal(ok.refusedVia, undefined);
  assert.deepEqual(ok.warnings, []);
  assert.deepEqual(ok.nexthops.map((n) => n.gateway), ['10.0.0.250', '10.0.2.250']);
  assert.equal(ok.gateway, undefined);
  // A martian source on one leg only (the subnet broadcast, seen on the hairpin leg out of a).
  const hair = predict(twoLegs({ extra: '10.50.0.0/16 nexthop via 10.0.0.250 dev a nexthop via 10.0.2.250 dev c' }), { src: '10.0.0.255', dst: '10.50.1.1', iif: 'a' });
  assert.equal(hair.refusedVia?.errno, 'EINVAL');
  assert.ok(hair.warnings?.some((x) => /hash picks a,/.test(x) && /martian source/.test(x) && /EINVAL/.test(x)), String(hair.warnings));
});

test('multicast received: membership, then the source (0.0.0.0 only for link-local groups or IGMP), each refusal explained', () => {
  const s = twoLegs();
  s.memberships = [
    { family: 4, ifname: 'a', group: '224.0.0.1' },
    { family: 4, ifname: 'a', group: '224.0.0.251' },
    { family: 4, ifname: 'a', group: '224.0.1.1' },
  ];
  const notJoined = predict(s, { src: '10.0.0.7', dst: '239.1.2.3', iif: 'a' });
  assert.deepEqual([notJoined.decision, notJoined.errno], ['multicast_not_joined', 'EINVAL']);
  const w = notJoined.warnings?.[0] ?? '';
  assert.match(w, /\ba has not joined multicast group 239\.1\.2\.3/);
  assert.match(w, /`ip maddr show dev a`/);
  assert.match(w, /discards it before routing/);
  // mDNS from an unconfigured host: a link-local group takes 0.0.0.0; NTP's 224.0.1.1 does not (unless IGMP).
  const mdns = predict(s, { src: '0.0.0.0', dst: '224.0.0.251', iif: 'a', ipproto: 17 });
  assert.equal(mdns.decision, 'multicast');
  assert.equal(mdns.dev, 'lo');
  const ntp = predict(s, { src: '0.0.0.0', dst: '224.0.1.1', iif: 'a', ipproto: 17 });
  assert.deepEqual([ntp.decision, ntp.errno], ['martian', 'EINVAL']);
  assert.ok(ntp.warnings?.some((x) => /martian source 0\.0\.0\.0/.test(x) && /224\.0\.1\.1/.test(x)), String(ntp.warnings));
  const bcSrc = predict(s, { src: '255.255.255.255', dst: '224.0.0.251', iif: 'a' });
  assert.deepEqual([bcSrc.decision, bcSrc.errno], ['martian', 'EINVAL']);
  assert.ok(bcSrc.warnings?.some((x) => /martian source/.test(x) && /multicast or broadcast/.test(x)), String(bcSrc.warnings));
  const mcSrc = predict(s, { src: '224.0.0.9', dst: '224.0.0.251', iif: 'a' });
  assert.equal(mcSrc.decision, 'martian');
  const loSrc = predict(s, { src: '127.0.0.1', dst: '224.0.0.251', iif: 'a' });
  assert.deepEqual([loSrc.decision, loSrc.errno], ['martian', 'EINVAL']);
  assert.ok(loSrc.warnings?.some((x) => /martian source/.test(x) && /loopback/.test(x)), String(loSrc.warnings));
  const own = predict(s, { src: '10.0.1.1', dst: '224.0.0.251', iif: 'a' });
  assert.deepEqual([own.decision, own.errno], ['martian', 'EINVAL']);
  assert.ok(own.warnings?.some((x) => x.includes('source 10.0.1.1') && /source validation on a/.test(x)), String(own.warnings));
  // Group lists not known (a paste): the answer says it assumed "not joined" and how to check.
  const unknown = predict({ ...s, memberships: undefined }, { src: '10.0.0.7', dst: '239.1.2.3', iif: 'a' });
  assert.equal(unknown.decision, 'multicast_not_joined');
  const u = unknown.warnings?.[0] ?? '';
  assert.match(u, /multicast group 239\.1\.2\.3/);
  assert.match(u, /whether a joined it is not known/);
  assert.match(u, /`ip maddr show dev a`/);
  assert.match(u, /assumed not/);
});

/** An IPv6 node: global address on ens3, routes in main and the local table's multicast route. */
function v6Node(memberships?: { family: 6; ifname: string; group: string }[]) {
  return nodeState({
    routes: `
      local fd00:71::11 dev ens3 table local proto kernel metric 0
      multicast ff00::/8 dev ens3 table local proto kernel metric 256
      fd00:71::/64 dev ens3 proto kernel metric 256
      fd00:233:101::/112 dev cali11299111064 metric 1024
      unreachable fd00:66::/32 metric 1024
      prohibit fd00:77::/32 metric 1024
      default via fd00:71::fe dev ens3 metric 1024`,
    links: [link('ens3'), link('cali11299111064')],
    addrs: [['ens3', 'fd00:71::11', 64]],
    memberships,
  });
}

test('IPv6: unicast, local, refusing routes and the rules of the IPv6 family', () => {
  const s = v6Node();
  const out = predict(s, { dst: '2001:db8::1' });
  assert.equal(out.family, 6);
  assert.equal(out.decision, 'unicast');
  assert.equal(out.gateway, 'fd00:71::fe');
  assert.deepEqual(out.egressPath, ['ens3']);
  assert.equal(out.table, 254);
  assert.match(out.rule ?? '', /32766/);
  const pod = predict(s, { src: 'fd00:71::11', dst: 'fd00:233:101::5' });
  assert.equal(pod.dev, 'cali11299111064');
  assert.equal(predict(s, { dst: 'fd00:71::11' }).decision, 'local');
  assert.deepEqual([predict(s, { dst: 'fd00:66::1' }).decision, predict(s, { dst: 'fd00:66::1' }).errno], ['unreachable', 'EHOSTUNREACH']);
  assert.deepEqual([predict(s, { dst: 'fd00:77::1' }).decision, predict(s, { dst: 'fd00:77::1' }).errno], ['prohibit', 'EACCES']);
  // A forwarded IPv6 packet keeps the query's flow, whose uid is the invalid uid: a `uidrange 0-0` rule
  // matches the output path (root) and an IPv4 forward (root), not an IPv6 forward.
  const uidRule = { priority: 10, src: 'all', uid_start: 0, uid_end: 0, action: 'prohibit' };
  const u = nodeState({
    routes: 'default via fd00:71::fe dev ens3 metric 1024\ndefault via 172.27.71.254 dev ens3',
    links: [link('ens3'), link('eth1')],
    rules4: [{ priority: 0, src: 'all', table: 'local' }, uidRule, { priority: 32766, src: 'all', table: 'main' }],
    rules6: [{ priority: 0, src: 'all', table: 'local' }, uidRule, { priority: 32766, src: 'all', table: 'main' }],
  });
  assert.equal(predict(u, { dst: '2001:db8::1' }).decision, 'prohibit');
  assert.equal(predict(u, { src: '2001:db8::9', dst: '2001:db8::1', iif: 'eth1' }).decision, 'unicast');
  assert.equal(predict(u, { src: '8.8.4.4', dst: '8.8.8.8', iif: 'eth1' }).decision, 'prohibit');
  // IPv6 source-based rules see the query's source.
  const from = nodeState({
    routes: 'default via fd00:71::fe dev ens3 metric 1024\ndefault via fd00:72::fe dev eth1 metric 1024 table 100',
    links: [link('ens3'), link('eth1')],
    addrs: [['eth1', 'fd00:72::11', 64]],
    rules6: [{ priority: 0, src: 'all', table: 'local' }, { priority: 5, src: 'fd00:72::', srclen: 64, table: '100' }, { priority: 32766, src: 'all', table: 'main' }],
  });
  assert.equal(predict(from, { src: 'fd00:72::11', dst: '2001:db8::1' }).gateway, 'fd00:72::fe');
  assert.equal(predict(from, { dst: '2001:db8::1' }).gateway, 'fd00:71::fe');
});

test('IPv6 multicast: received only when joined (ff02::1 by every interface), no errno; sent by the ff00::/8 route', () => {
  const known = v6Node([{ family: 6, ifname: 'ens3', group: 'ff02::1:ff00:11' }]);
  const ns = predict(known, { src: 'fe80::1', dst: 'ff02::1:ff00:11', iif: 'ens3' });
  assert.equal(ns.decision, 'multicast');
  assert.equal(ns.dev, 'lo');
  assert.deepEqual(ns.egressPath, []);
  const other = predict(known, { src: 'fe80::1', dst: 'ff02::1:ff00:99', iif: 'ens3' });
  assert.equal(other.decision, 'multicast_not_joined');
  assert.equal(other.errno, undefined);
  const w = other.warnings?.[0] ?? '';
  assert.match(w, /ens3 has not joined multicast group ff02::1:ff00:99/);
  assert.match(w, /ip maddr show dev ens3/);
  assert.doesNotMatch(w, /before routing/, 'IPv6 checks membership after the route lookup');
  assert.match(w, /discards it$/);
  // Group lists unknown: all-nodes is joined, any other group (even one differing in a single word) is not.
  const paste = v6Node();
  assert.equal(predict(paste, { src: 'fe80::1', dst: 'ff02::1', iif: 'ens3' }).decision, 'multicast');
  for (const g of ['ff05::1', 'ff02:0:0:1::1', 'ff02::1:0:1', 'ff02::2']) {
    const p = predict(paste, { src: 'fe80::1', dst: g, iif: 'ens3' });
    assert.equal(p.decision, 'multicast_not_joined', g);
    assert.ok(p.warnings?.some((x) => x.includes(g) && /not known/.test(x)), `${g}: ${p.warnings}`);
  }
  // Sent from this node: the local table's multicast route decides.
  const sent = predict(paste, { dst: 'ff02::16' });
  assert.equal(sent.decision, 'multicast');
  assert.equal(sent.table, 255);
  assert.equal(sent.dev, 'ens3');
});

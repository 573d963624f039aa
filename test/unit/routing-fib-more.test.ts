// More of the compiled FIB against the kernel's documented behaviour: which route types need a usable next
// hop (all but the error types), multipath with a bound device, rules in priority order whatever order they
// were dumped in, selectors that must not spill over to other flows, the rule-walk trace `explain` prints,
// local addresses and joined groups, IPv6 prefixes spanning words. Expected answers are worked out by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fib, addrWords, compile, type Flow } from '../../src/routing/fib';
import { parseRouteLine } from '../../src/routing/paste';
import { ruleFromJson } from '../../src/routing/iproute-json';
import type { Family, Link, Route, RoutingState, RuleStep } from '../../src/routing/types';

function nic(name: string, extra: Partial<Link> = {}): Link {
  return { ifindex: 0, name, mtu: 1500, up: true, carrier: true, forwarding4: true, forwarding6: true, rpFilter: 0, ...extra };
}

function parse(text: string): Route[] {
  return text.trim().split('\n').map((l) => {
    const r = parseRouteLine(l.trim());
    assert.ok(r, `test route parses: ${l}`);
    return r!;
  });
}

const MAIN = { priority: 32766, src: 'all', table: 'main' };

function state(over: Partial<RoutingState> & { routeText?: string; ruleJson?: Record<string, unknown>[]; family?: Family } = {}): RoutingState {
  const { routeText, ruleJson, family = 4, ...rest } = over;
  return {
    links: [nic('a'), nic('b')],
    addresses: [],
    routes: routeText ? parse(routeText) : [],
    rules: (ruleJson ?? [MAIN]).map((o) => ruleFromJson(o, family)),
    neighbours: [],
    fdb: [],
    complete: { rules: true, neighbours: true, fdb: true, links: true },
    ...rest,
  };
}

function to(dst: string, over: Partial<Flow> = {}): Flow {
  const family: Family = dst.includes(':') ? 6 : 4;
  return { family, dst: addrWords(dst, family)!, iif: 'lo', mark: 0, tos: 0, ipproto: 0, sport: 0, dport: 0, uid: 0, ...over };
}

// ---- in a table ---------------------------------------------------------------------------------

test('local, broadcast, anycast and multicast routes need their device like unicast: a bound oif elsewhere passes them over', () => {
  for (const line of ['local 10.1.0.0/16 dev a scope host', 'broadcast 10.1.0.0/16 dev a', 'anycast 10.1.0.0/16 dev a', 'multicast 10.1.0.0/16 dev a']) {
    const fib = new Fib(state({ routeText: `${line}\n10.0.0.0/8 dev b` }));
    assert.equal(fib.lookupTable(254, to('10.1.2.3', { oif: 'b' }))?.route.text, '10.0.0.0/8 dev b', line);
    assert.equal(fib.lookupTable(254, to('10.1.2.3', { oif: 'a' }))?.route.text, line, line);
  }
});

test('error routes answer at once even when they name a device the flow is not bound to', () => {
  for (const line of ['unreachable 10.1.0.0/16 dev a', 'blackhole 10.1.0.0/16 dev a', 'prohibit 10.1.0.0/16 dev a']) {
    const fib = new Fib(state({ routeText: `${line}\n10.0.0.0/8 dev b` }));
    assert.equal(fib.lookupTable(254, to('10.1.2.3', { oif: 'b' }))?.route.text, line);
  }
});

test('a route dumped without any next hop (a local address without dev) is found', () => {
  const fib = new Fib(state({ routeText: 'local 10.9.9.9 table local scope host\n10.0.0.0/8 dev b table local' }));
  assert.equal(fib.lookupTable(255, to('10.9.9.9'))?.route.text, 'local 10.9.9.9 table local scope host');
});

test('multipath with a bound device: the route is found through any of its next hops, and only that hop is used', () => {
  const fib = new Fib(state({ routeText: '10.1.0.0/16 nexthop via 192.0.2.1 dev a weight 1 nexthop via 192.0.2.2 dev b weight 1\n10.0.0.0/8 via 192.0.2.9 dev c', links: [nic('a'), nic('b'), nic('c')] }));
  const viaA = fib.lookup(to('10.1.2.3', { oif: 'a' }));
  assert.equal(viaA.route?.route.prefixLen, 16);
  assert.deepEqual(viaA.nexthops.map((n) => n.gateway), ['192.0.2.1']);
  const viaB = fib.lookup(to('10.1.2.3', { oif: 'b' }));
  assert.deepEqual(viaB.nexthops.map((n) => n.gateway), ['192.0.2.2']);
  const unbound = fib.lookup(to('10.1.2.3'));
  assert.deepEqual(unbound.nexthops.map((n) => n.dev), ['a', 'b'], 'unbound: every next hop');
  assert.equal(fib.lookup(to('10.1.2.3', { oif: 'c' })).route?.route.prefixLen, 8);
});

test('IPv6 `from` routes: a source prefix of 48 bits spans words; a source in another /48 misses', () => {
  const fib = new Fib(state({ family: 6, ruleJson: [MAIN], routeText: '2001:db8::/32 from 2001:db8:aaaa::/48 dev a\n2001:db8::/32 dev b' }));
  const at = (src: string) => fib.lookupTable(254, to('2001:db8:5::1', { src: addrWords(src, 6) }))?.dev0;
  assert.equal(at('2001:db8:aaaa:1::7'), 'a');
  assert.equal(at('2001:db8:aaab::7'), 'b');
  assert.equal(at('2001:db9:aaaa::7'), 'b');
});

test('IPv6 rule prefixes of 32 bits or less match whatever the later words hold', () => {
  const fib = new Fib(state({
    family: 6,
    links: [nic('hit'), nic('miss')],
    routeText: 'default via 2001:db8::1 dev hit table 100\ndefault via 2001:db8:1::1 dev miss',
    ruleJson: [{ priority: 10, src: 'all', dst: '2001:db8::', dstlen: 32, table: '100' }, MAIN],
  }));
  assert.deepEqual(fib.lookup(to('2001:db8:5:6:7:8:9:a')).nexthops.map((n) => n.dev), ['hit']);
  assert.deepEqual(fib.lookup(to('2001:db9::1')).nexthops.map((n) => n.dev), ['miss']);
});

test('a route whose destination does not parse is left out; the others still answer', () => {
  const good = parse('10.0.0.0/8 dev a')[0];
  const fib = new Fib(state({ routes: [{ ...good, dst: 'not-a-prefix', text: 'bogus' }, good] }));
  assert.equal(fib.lookupTable(254, to('10.1.1.1'))?.route.text, '10.0.0.0/8 dev a');
});

test('default routes: IPv6 ones count for IPv6 only', () => {
  const fib = new Fib(state({ family: 6, ruleJson: [MAIN], routeText: 'default via 2001:db8::1 dev a\ndefault via 2001:db8::2 dev b metric 10' }));
  assert.equal(fib.tableDefaults(254, 6), 2);
  assert.equal(fib.tableDefaults(254, 4), 0);
});

test('containing: every route holding the destination, longest prefix first, then by metric, across tables', () => {
  const fib = new Fib(state({
    routeText: [
      '10.0.0.0/8 dev a metric 20',
      '10.1.0.0/16 dev b metric 50',
      '10.1.0.0/16 dev a metric 10',
      'default via 192.0.2.1 dev a',
      '10.1.2.0/24 dev b table 100',
      '10.2.0.0/16 dev b',
      'local 10.1.2.3 dev a table local scope host',
    ].join('\n'),
  }));
  assert.deepEqual(fib.containing(4, addrWords('10.1.2.3', 4)!).map((c) => c.route.text), [
    'local 10.1.2.3 dev a table local scope host',
    '10.1.2.0/24 dev b table 100',
    '10.1.0.0/16 dev a metric 10',
    '10.1.0.0/16 dev b metric 50',
    '10.0.0.0/8 dev a metric 20',
    'default via 192.0.2.1 dev a',
  ]);
  const six = new Fib(state({ family: 6, ruleJson: [MAIN], routeText: '2001:db8::/32 dev a\n2001:db8:1::/48 dev b\n10.1.0.0/16 dev a' }));
  assert.deepEqual(six.containing(6, addrWords('2001:db8:1::5', 6)!).map((c) => `${c.route.dst} ${c.dev0}`), ['2001:db8:1::/48 b', '2001:db8::/32 a']);
});

// ---- the node's addresses and groups ----------------------------------------------------------

test('isLocal: the node\'s IPv4 and IPv6 addresses, each in its family; unparsable addresses are ignored', () => {
  const fib = new Fib(state({
    addresses: [
      { family: 4, ifname: 'a', address: '192.0.2.10', prefixLen: 24, scope: 'global' },
      { family: 6, ifname: 'a', address: '2001:db8::10', prefixLen: 64, scope: 'global' },
      { family: 4, ifname: 'b', address: 'garbage', prefixLen: 24, scope: 'global' },
    ],
  }));
  assert.equal(fib.isLocal(4, addrWords('192.0.2.10', 4)!), true);
  assert.equal(fib.isLocal(4, addrWords('192.0.2.11', 4)!), false);
  assert.equal(fib.isLocal(6, addrWords('2001:db8::10', 6)!), true);
  assert.equal(fib.isLocal(6, addrWords('2001:db8::11', 6)!), false);
  // 2001:db8::10's first word is 0x20010db8; an IPv4 address with that value is not local.
  assert.equal(fib.isLocal(4, [0x20010db8]), false);
});

test('joined groups: per device; unknown when memberships were not read; a bad group address is skipped', () => {
  const fib = new Fib(state({
    memberships: [
      { family: 4, ifname: 'a', group: '239.1.1.1' },
      { family: 4, ifname: 'a', group: 'not-a-group' },
      { family: 6, ifname: 'b', group: 'ff02::fb' },
    ],
  }));
  assert.equal(fib.joined('a', addrWords('239.1.1.1', 4)!), true);
  assert.equal(fib.joined('b', addrWords('239.1.1.1', 4)!), false);
  assert.equal(fib.joined('b', addrWords('ff02::fb', 6)!), true);
  assert.equal(new Fib(state()).joined('a', addrWords('239.1.1.1', 4)!), undefined);
});

test('compile: one compiled FIB per state object', () => {
  const s = state({ routeText: '10.0.0.0/8 dev a' });
  assert.equal(compile(s), compile(s));
  assert.notEqual(compile(s), compile({ ...s }));
});

// ---- rules -----------------------------------------------------------------------------------

/** Table 100 leaves via `hit`, main via `miss`. */
function ruled(rules: Record<string, unknown>[], family: Family = 4, extraRoutes = ''): Fib {
  const text = family === 4
    ? 'default via 192.0.2.1 dev hit table 100\ndefault via 198.51.100.1 dev miss'
    : 'default via 2001:db8::1 dev hit table 100\ndefault via 2001:db8:1::1 dev miss';
  return new Fib(state({ family, links: [nic('hit', { group: 5 }), nic('miss')], ruleJson: rules, routeText: extraRoutes ? `${text}\n${extraRoutes}` : text }));
}

const devOf = (fib: Fib, f: Flow) => {
  const r = fib.lookup(f);
  return r.kind === 'route' ? r.nexthops[0]?.dev : r.kind;
};

test('rules are walked by priority whatever order they were dumped in', () => {
  const fib = ruled([MAIN, { priority: 10, src: 'all', table: '100' }]);
  assert.equal(devOf(fib, to('203.0.113.5')), 'hit');
  const trace: RuleStep[] = [];
  fib.lookup(to('203.0.113.5'), trace);
  assert.deepEqual(trace.map((s) => s.priority), [10]);
});

test('IPv4 and IPv6 rules are separate walks', () => {
  const s = state({
    links: [nic('hit'), nic('miss')],
    routeText: 'default via 192.0.2.1 dev hit table 100\ndefault via 198.51.100.1 dev miss\ndefault via 2001:db8::1 dev hit table 100\ndefault via 2001:db8:1::1 dev miss',
    rules: [ruleFromJson({ priority: 10, src: 'all', table: '100' }, 6), ruleFromJson(MAIN, 4), ruleFromJson(MAIN, 6)],
  });
  const fib = new Fib(s);
  assert.equal(devOf(fib, to('203.0.113.5')), 'miss', 'the IPv6 rule to table 100 is not walked for IPv4');
  assert.equal(devOf(fib, to('2001:db8:5::1')), 'hit');
});

test('selectors that are not set do not get in the way: a `to` rule matches a flow with a bound device and a tos', () => {
  const fib = ruled([{ priority: 10, src: 'all', dst: '203.0.113.0', dstlen: 24, table: '100' }, MAIN]);
  assert.equal(devOf(fib, to('203.0.113.5', { oif: 'hit', tos: 0x10, mark: 7, uid: 1000, ipproto: 6, sport: 5555, dport: 443 })), 'hit');
});

test('a rule with only a source-port range (no ipproto) still selects by port', () => {
  const fib = ruled([{ priority: 10, src: 'all', sport_start: 1024, sport_end: 2047, table: '100' }, MAIN]);
  assert.equal(devOf(fib, to('203.0.113.5', { ipproto: 17, sport: 80 })), 'miss');
  assert.equal(devOf(fib, to('203.0.113.5', { ipproto: 17, sport: 1500 })), 'hit');
});

test('the default rule sets are not custom, for IPv6 too (two rules: local and main)', () => {
  const v6 = new Fib(state({ family: 6, ruleJson: [{ priority: 0, src: 'all', table: 'local' }, MAIN] }));
  assert.equal(v6.customRules[6], false);
  const v6extra = new Fib(state({ family: 6, ruleJson: [{ priority: 0, src: 'all', table: 'local' }, MAIN, { priority: 32767, src: 'all', table: 'default' }] }));
  assert.equal(v6extra.customRules[6], true, 'IPv6 has no default-table rule by default');
});

// ---- the rule-walk trace (what `calitrace explain` prints) ----------------------------------------

test('trace: one step per rule looked at, with its text, whether it matched and what came of it', () => {
  const fib = ruled([
    { priority: 0, src: 'all', table: 'local' },
    { priority: 5, src: 'all', iif: 'eth9', table: '100' },
    { priority: 6, src: 'all', action: 'nop' },
    { priority: 7, src: 'all', goto: 9 },
    { priority: 8, src: 'all', table: '100' },
    { priority: 9, src: 'all', table: '100', suppress_prefixlen: 0 },
    { priority: 10, src: 'all', table: '100', suppress_ifgroup: 5 },
    { priority: 20, src: 'all', table: '101' },
    MAIN,
  ], 4, 'throw 203.0.113.0/24 table 101');
  const trace: RuleStep[] = [];
  const r = fib.lookup(to('203.0.113.5'), trace);
  assert.equal(r.kind, 'route');
  assert.equal(r.threw?.route.text, 'throw 203.0.113.0/24 table 101');
  assert.deepEqual(trace.map((s) => [s.priority, s.matched, s.outcome]), [
    [0, true, 'table 255: no route'],
    [5, false, 'no match'],
    [6, true, 'nop'],
    [7, true, 'goto 9'],
    [9, true, 'table 100: default via 192.0.2.1 dev hit table 100 suppressed (prefix length 0 <= 0)'],
    [10, true, 'table 100: default via 192.0.2.1 dev hit table 100 suppressed (interface group 5)'],
    [20, true, 'table 101: throw route throw 203.0.113.0/24 table 101: continue with the next rule'],
    [32766, true, 'table 254: default via 198.51.100.1 dev miss'],
  ]);
  assert.equal(trace[1].rule, fib.rules[4][1].rule.text);
  assert.match(trace[1].rule, /iif eth9/);
  assert.deepEqual(r.nexthops.map((n) => n.dev), ['miss']);
});

test('trace: a rule action ends the walk; a missing goto target is passed over, with or without a trace', () => {
  const fib = ruled([{ priority: 10, src: 'all', action: 'prohibit' }, MAIN]);
  const trace: RuleStep[] = [];
  const r = fib.lookup(to('203.0.113.5'), trace);
  assert.deepEqual(r, { kind: 'rule-action', rule: fib.rules[4][0].rule, nexthops: [], threw: undefined });
  assert.deepEqual(trace.map((s) => [s.priority, s.matched, s.outcome]), [[10, true, 'rule action prohibit']]);
  const missing = ruled([{ priority: 10, src: 'all', goto: 50 }, MAIN]);
  assert.equal(devOf(missing, to('203.0.113.5')), 'miss');
  const t2: RuleStep[] = [];
  missing.lookup(to('203.0.113.5'), t2);
  assert.deepEqual(t2.map((s) => [s.priority, s.matched, s.outcome]), [[10, true, 'goto target missing: skipped'], [32766, true, 'table 254: default via 198.51.100.1 dev miss']]);
});

test('no rule answers: kind none, no next hops; the last throw route met is kept', () => {
  const fib = ruled([{ priority: 10, src: 'all', table: '101' }], 4, 'throw 203.0.113.0/24 table 101');
  assert.deepEqual(fib.lookup(to('203.0.113.5')), { kind: 'none', nexthops: [], threw: fib.lookupTable(101, to('203.0.113.5')) });
  assert.deepEqual(fib.lookup(to('198.18.0.1')), { kind: 'none', nexthops: [], threw: undefined });
});

test('suppress_prefixlength never suppresses unreachable or prohibit routes either', () => {
  for (const type of ['unreachable', 'prohibit']) {
    // A /24 under `suppress_prefixlength 24` would be suppressed were it a unicast route.
    const fib = ruled([{ priority: 10, src: 'all', table: '100', suppress_prefixlen: 24 }, MAIN], 4, `${type} 203.0.113.0/24 table 100`);
    const r = fib.lookup(to('203.0.113.5'));
    assert.equal(r.route?.route.type, type);
    assert.equal(r.table, 100);
  }
  const unicast = ruled([{ priority: 10, src: 'all', table: '100', suppress_prefixlen: 24 }, MAIN], 4, '203.0.113.0/24 dev hit table 100');
  assert.equal(unicast.lookup(to('203.0.113.5')).table, 254, 'the same /24 as a unicast route is suppressed: main answers');
});

test('suppress_ifgroup with a route that names no device, or a device not in the link list: not suppressed', () => {
  const local = ruled([{ priority: 10, src: 'all', table: '100', suppress_ifgroup: 5 }, MAIN], 4, 'local 203.0.113.5 table 100 scope host');
  assert.equal(local.lookup(to('203.0.113.5')).route?.route.text, 'local 203.0.113.5 table 100 scope host');
  const unknownDev = ruled([{ priority: 10, src: 'all', table: '100', suppress_ifgroup: 5 }, MAIN], 4, '203.0.113.0/24 dev eth42 table 100');
  assert.equal(unknownDev.lookup(to('203.0.113.5')).route?.route.text, '203.0.113.0/24 dev eth42 table 100');
});

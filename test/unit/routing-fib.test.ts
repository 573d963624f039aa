// The compiled FIB (src/routing/fib.ts) against fib_rules_lookup() and fib_table_lookup() as ip-rule(8) and
// ip-route(8) document them: every rule selector with its bounds (ranges are inclusive), `not`, goto,
// nop, rule actions, suppression; in a table: longest prefix, tos, `from` routes, dead next hops, a bound
// output interface. Expected answers are worked out from those semantics, by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fib, addrWords, compile, INVALID_UID, type Flow } from '../../src/routing/fib';
import { parseRouteLine } from '../../src/routing/paste';
import { ruleFromJson } from '../../src/routing/iproute-json';
import type { Link, Route, RoutingState, RuleStep } from '../../src/routing/types';

function link(name: string, extra: Partial<Link> = {}): Link {
  return { ifindex: 0, name, mtu: 1500, up: true, carrier: true, forwarding4: true, forwarding6: true, rpFilter: 0, ...extra };
}

function routes(text: string): Route[] {
  return text.trim().split('\n').map((l) => {
    const r = parseRouteLine(l.trim());
    assert.ok(r, `test route parses: ${l}`);
    return r!;
  });
}

/** Table 100 answers via dev `hit`, main via dev `miss`: a flow that matches the rule ends in table 100. */
function withRule(rule: Record<string, unknown>, family: 4 | 6 = 4, links: Link[] = [link('hit'), link('miss')]): Fib {
  const text = family === 4
    ? 'default via 192.0.2.1 dev hit table 100\ndefault via 198.51.100.1 dev miss'
    : 'default via 2001:db8::1 dev hit table 100\ndefault via 2001:db8:1::1 dev miss';
  const state: RoutingState = {
    links,
    addresses: [],
    routes: routes(text),
    rules: [
      { priority: 0, src: 'all', table: 'local' },
      { priority: 10, src: 'all', table: '100', ...rule },
      { priority: 32766, src: 'all', table: 'main' },
    ].map((o) => ruleFromJson(o, family)),
    neighbours: [],
    fdb: [],
    complete: { rules: true, neighbours: true, fdb: true, links: true },
  };
  return new Fib(state);
}

function flow(over: Partial<Flow> & { dst?: number[] } = {}): Flow {
  return { family: 4, dst: addrWords('203.0.113.5', 4)!, iif: 'lo', mark: 0, tos: 0, ipproto: 0, sport: 0, dport: 0, uid: 0, ...over };
}

/** The device the lookup ends on: 'hit' when the rule under test matched. */
function dev(fib: Fib, f: Flow): string | undefined {
  const r = fib.lookup(f);
  return r.kind === 'route' ? r.nexthops[0]?.dev : r.kind;
}

test('uidrange is inclusive at both ends', () => {
  const fib = withRule({ uid_start: 1000, uid_end: 1999 });
  assert.equal(dev(fib, flow({ uid: 999 })), 'miss');
  assert.equal(dev(fib, flow({ uid: 1000 })), 'hit');
  assert.equal(dev(fib, flow({ uid: 1500 })), 'hit');
  assert.equal(dev(fib, flow({ uid: 1999 })), 'hit');
  assert.equal(dev(fib, flow({ uid: 2000 })), 'miss');
  // IPv6's input path carries INVALID_UID (no socket): outside every range.
  assert.equal(dev(withRule({ uid_start: 0, uid_end: 4294967294 }, 6), flow({ family: 6, dst: addrWords('2001:db8:5::1', 6)!, uid: INVALID_UID })), 'miss');
});

test('sport and dport ranges are inclusive; a single port is a range of one', () => {
  const sp = withRule({ ipproto: 'tcp', sport_start: 1024, sport_end: 2047 });
  assert.equal(dev(sp, flow({ ipproto: 6, sport: 1023 })), 'miss');
  assert.equal(dev(sp, flow({ ipproto: 6, sport: 1024 })), 'hit');
  assert.equal(dev(sp, flow({ ipproto: 6, sport: 2047 })), 'hit');
  assert.equal(dev(sp, flow({ ipproto: 6, sport: 2048 })), 'miss');
  const dp = withRule({ dport: 53 });
  assert.equal(dev(dp, flow({ ipproto: 17, dport: 52 })), 'miss');
  assert.equal(dev(dp, flow({ ipproto: 17, dport: 53 })), 'hit');
  assert.equal(dev(dp, flow({ ipproto: 17, dport: 54 })), 'miss');
});

test('ipproto selects the protocol alone', () => {
  const fib = withRule({ ipproto: 'udp' });
  assert.equal(dev(fib, flow({ ipproto: 17 })), 'hit');
  assert.equal(dev(fib, flow({ ipproto: 6 })), 'miss');
  // The sport/dport of a flow whose protocol differs do not make it match.
  assert.equal(dev(withRule({ ipproto: 'tcp', dport: 80 }), flow({ ipproto: 17, dport: 80 })), 'miss');
});

test('oif and iif select the bound output device and the incoming one', () => {
  const fib = withRule({ oif: 'hit' });
  assert.equal(dev(fib, flow({ oif: 'hit' })), 'hit');
  assert.equal(dev(fib, flow({ oif: 'miss' })), 'miss');
  assert.equal(dev(fib, flow()), 'miss', 'no bound device: an oif rule does not match');
  const iif = withRule({ iif: 'eth7' });
  assert.equal(dev(iif, flow({ iif: 'eth7' })), 'hit');
  assert.equal(dev(iif, flow({ iif: 'lo' })), 'miss');
});

test('tos matches exactly; fwmark compares under the mask', () => {
  const tos = withRule({ tos: '0x10' });
  assert.equal(dev(tos, flow({ tos: 0x10 })), 'hit');
  assert.equal(dev(tos, flow({ tos: 0x08 })), 'miss');
  assert.equal(dev(tos, flow({ tos: 0 })), 'miss');
  const mark = withRule({ fwmark: '0x10' }); // no mask: all 32 bits
  assert.equal(dev(mark, flow({ mark: 0x10 })), 'hit');
  assert.equal(dev(mark, flow({ mark: 0x110 })), 'miss');
});

test('from and to prefixes, and `not` inverting the whole selector', () => {
  const to = withRule({ dst: '203.0.113.0', dstlen: 24 });
  assert.equal(dev(to, flow()), 'hit');
  assert.equal(dev(to, flow({ dst: addrWords('203.0.114.5', 4) })), 'miss');
  const from = withRule({ src: '10.1.0.0', srclen: 16 });
  assert.equal(dev(from, flow({ src: addrWords('10.1.255.255', 4) })), 'hit');
  assert.equal(dev(from, flow({ src: addrWords('10.2.0.0', 4) })), 'miss');
  assert.equal(dev(from, flow()), 'miss', 'no source: 0.0.0.0 is outside 10.1/16');
  const notTo = withRule({ not: null, dst: '203.0.113.0', dstlen: 24 });
  assert.equal(dev(notTo, flow()), 'miss');
  assert.equal(dev(notTo, flow({ dst: addrWords('203.0.114.5', 4) })), 'hit');
  // A rule without selectors matches everything; `not` of it matches nothing.
  assert.equal(dev(withRule({ not: null }), flow()), 'miss');
});

test('an l3mdev rule matches no flow: no VRF is modelled', () => {
  assert.equal(dev(withRule({ l3mdev: null }), flow()), 'miss');
});

test('rule actions answer at once; nop and a goto without target are passed over; goto jumps', () => {
  assert.equal(withRule({ table: undefined, action: 'blackhole' }).lookup(flow()).kind, 'rule-action');
  assert.equal(withRule({ table: undefined, action: 'prohibit' }).lookup(flow()).rule?.action, 'prohibit');
  assert.equal(dev(withRule({ table: undefined, action: 'nop' }), flow()), 'miss');
  const trace: RuleStep[] = [];
  const missing = withRule({ table: undefined, goto: 50 });
  assert.equal(missing.lookup(flow(), trace).kind, 'route');
  assert.deepEqual(trace.map((s) => s.outcome), ['table 255: no route', 'goto target missing: skipped', 'table 254: default via 198.51.100.1 dev miss']);
  // goto 32766 skips every rule in between (here none) and continues at main.
  const jump = withRule({ table: undefined, goto: 32766 });
  const t2: RuleStep[] = [];
  assert.equal(dev(jump, flow()), 'miss');
  jump.lookup(flow(), t2);
  assert.deepEqual(t2.map((s) => s.priority), [0, 10, 32766]);
});

test('suppress_prefixlength and suppress_ifgroup drop a found route but never an error route', () => {
  const s = withRule({ suppress_prefixlen: 0 });
  assert.equal(dev(s, flow()), 'miss', 'the /0 of table 100 is suppressed: main answers');
  const grp = withRule({ suppress_ifgroup: 5 }, 4, [link('hit', { group: 5 }), link('miss')]);
  assert.equal(dev(grp, flow()), 'miss', 'the device of table 100\'s route is in group 5');
  const other = withRule({ suppress_ifgroup: 6 }, 4, [link('hit', { group: 5 }), link('miss')]);
  assert.equal(dev(other, flow()), 'hit');
});

function tableFib(text: string, links: string[] = ['a', 'b']): Fib {
  return compile({
    links: links.map((n) => link(n)),
    addresses: [],
    routes: routes(text),
    rules: [{ priority: 32766, src: 'all', table: 'main' }].map((o) => ruleFromJson(o, 4)),
    neighbours: [],
    fdb: [],
    complete: { rules: true, neighbours: true, fdb: true, links: true },
  });
}

test('suppress_prefixlength keeps routes longer than the bound, and error routes of any length', () => {
  const fib = new Fib({
    links: [link('hit'), link('miss')],
    addresses: [],
    routes: routes('203.0.113.0/24 via 192.0.2.1 dev hit table 100\nblackhole 198.18.0.0/15 table 100\ndefault via 198.51.100.1 dev miss'),
    rules: [
      { priority: 10, src: 'all', table: '100', suppress_prefixlen: 23 },
      { priority: 32766, src: 'all', table: 'main' },
    ].map((o) => ruleFromJson(o, 4)),
    neighbours: [],
    fdb: [],
    complete: { rules: true, neighbours: true, fdb: true, links: true },
  });
  assert.equal(dev(fib, flow()), 'hit', '/24 > 23: kept');
  const bh = fib.lookup(flow({ dst: addrWords('198.18.0.1', 4)! }));
  assert.equal(bh.route?.route.type, 'blackhole', 'a /15 blackhole is not suppressed');
});

test('in a table: the longest prefix, then a matching tos, then the lowest metric', () => {
  const fib = tableFib(`
    10.0.0.0/8 dev a metric 5
    10.1.0.0/16 dev b metric 100
    10.1.0.0/16 dev a metric 50
    10.1.0.0/16 tos 0x10 dev b metric 500`);
  const at = (dst: string, tos = 0) => fib.lookupTable(254, flow({ dst: addrWords(dst, 4)!, tos }))?.route.text;
  assert.equal(at('10.2.3.4'), '10.0.0.0/8 dev a metric 5');
  assert.equal(at('10.1.3.4'), '10.1.0.0/16 dev a metric 50');
  assert.equal(at('10.1.3.4', 0x10), '10.1.0.0/16 tos 0x10 dev b metric 500');
  assert.equal(at('11.0.0.1'), undefined);
  assert.equal(fib.lookupTable(99, flow()), undefined, 'a table that does not exist');
});

test('in a table: a route whose next hops are all dead is passed over; a bound oif skips routes through other devices', () => {
  const fib = tableFib(`
    10.1.0.0/16 via 192.0.2.1 dev a dead
    10.0.0.0/8 via 192.0.2.2 dev b`);
  assert.equal(fib.lookupTable(254, flow({ dst: addrWords('10.1.0.1', 4)! }))?.route.text, '10.0.0.0/8 via 192.0.2.2 dev b');
  const two = tableFib(`
    10.1.0.0/16 via 192.0.2.1 dev a
    10.0.0.0/8 via 192.0.2.2 dev b`);
  const f = flow({ dst: addrWords('10.1.0.1', 4)!, oif: 'b' });
  assert.equal(two.lookupTable(254, f)?.route.text, '10.0.0.0/8 via 192.0.2.2 dev b');
  const r = two.lookup(f);
  assert.deepEqual(r.nexthops.map((n) => n.dev), ['b']);
  assert.equal(two.lookupTable(254, flow({ dst: addrWords('10.1.0.1', 4)!, oif: 'a' }))?.route.text, '10.1.0.0/16 via 192.0.2.1 dev a');
});

test('in a table: `from` routes only match their sources, the most specific source first', () => {
  const fib = tableFib(`
    10.1.0.0/16 dev a
    10.1.0.0/16 from 172.16.0.0/12 dev b`);
  const at = (src?: string) => fib.lookupTable(254, flow({ dst: addrWords('10.1.0.1', 4)!, src: src ? addrWords(src, 4) : undefined }))?.route.text;
  assert.equal(at('172.16.5.5'), '10.1.0.0/16 from 172.16.0.0/12 dev b');
  assert.equal(at('192.168.1.1'), '10.1.0.0/16 dev a');
  assert.equal(at(), '10.1.0.0/16 dev a');
});

test('error routes answer at once, whatever their next hops', () => {
  const fib = tableFib(`
    unreachable 10.1.0.0/16
    10.0.0.0/8 dev a`);
  assert.equal(fib.lookupTable(254, flow({ dst: addrWords('10.1.2.3', 4)! }))?.route.type, 'unreachable');
});

test('IPv6 prefixes across 32-bit words', () => {
  const fib = compile({
    links: [link('a'), link('b')],
    addresses: [],
    routes: routes('2001:db8:0:1::/64 dev a\n2001:db8::/32 dev b'),
    rules: [{ priority: 32766, src: 'all', table: 'main' }].map((o) => ruleFromJson(o, 6)),
    neighbours: [],
    fdb: [],
    complete: { rules: true, neighbours: true, fdb: true, links: true },
  });
  const at = (dst: string) => fib.lookupTable(254, flow({ family: 6, dst: addrWords(dst, 6)! }))?.dev0;
  assert.equal(at('2001:db8:0:1::5'), 'a');
  assert.equal(at('2001:db8:0:1:ffff:ffff:ffff:ffff'), 'a');
  assert.equal(at('2001:db8:0:2::5'), 'b');
  assert.equal(at('2001:db8:ffff::1'), 'b');
  assert.equal(at('2001:db9::1'), undefined);
});

test('default unicast routes are counted per table and family; other defaults are not', () => {
  const fib = tableFib(`
    default via 192.0.2.1 dev a
    default via 192.0.2.2 dev b metric 10
    unreachable default metric 4000
    10.0.0.0/8 dev a`);
  assert.equal(fib.tableDefaults(254, 4), 2);
  assert.equal(fib.tableDefaults(254, 6), 0);
  assert.equal(fib.tableDefaults(7, 4), 0);
});

test('rules differ from the defaults: customRules; port selectors not bound to iif lo: portRules', () => {
  assert.equal(withRule({ dport: 53 }).customRules[4], true);
  assert.equal(withRule({ dport: 53 }).portRules[4], true);
  assert.equal(withRule({ dport: 53, iif: 'lo' }).portRules[4], false);
  assert.equal(withRule({ ipproto: 'tcp' }).portRules[4], true);
  assert.equal(withRule({ fwmark: '0x1' }).portRules[4], false);
  const plain = compile({
    links: [], addresses: [], routes: [], neighbours: [], fdb: [],
    rules: [{ priority: 0, src: 'all', table: 'local' }, { priority: 32766, src: 'all', table: 'main' }, { priority: 32767, src: 'all', table: 'default' }].map((o) => ruleFromJson(o, 4)),
    complete: { rules: true, neighbours: true, fdb: true, links: true },
  });
  assert.equal(plain.customRules[4], false);
});

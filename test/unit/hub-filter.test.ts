// The filter language: text → FlowFilter (the proto Filter's shape), errors that name the problem, and
// allow/deny semantics (OR across filters and values, AND across fields).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptedTypes, compileFilterSet, FilterError, FilterSubject, formatFilterSet, parseFilterText } from '../../src/hub/filter';

const pod222: FilterSubject = {
  type: 'VERDICT', src: '10.233.101.222', dst: '10.233.101.224', proto: 6, sport: 40000, dport: 80,
  srcPod: { namespace: 'ems', name: 'edgecloud-suse-adapter-df5d6d78b-m5zc2' }, dstPod: { namespace: 'ems', name: 'ems-a10nsp-accounting-89c69b796-rpb9k' },
  interfaces: ['cali11299111064', 'caliaa479e31ff6'], directions: ['INGRESS', 'EGRESS'], verdict: 'MATCHED', node: 'ems203-w2',
};
const crossNode: FilterSubject = {
  type: 'VERDICT', src: '10.233.101.222', dst: '10.233.100.130', proto: 1, sport: 0, dport: 0,
  interfaces: ['cali11299111064', 'vxlan.calico', 'ens3'], directions: ['INGRESS', 'EGRESS'], verdict: 'MATCHED', node: 'ems203-w2',
};
const blackholed: FilterSubject = {
  type: 'VERDICT', src: '10.233.101.222', dst: '10.233.101.230', proto: 17, sport: 5000, dport: 53,
  interfaces: ['cali11299111064'], directions: ['INGRESS', 'DROP'], verdict: 'EXPECTED_DROP', node: 'ems203-w2',
};

test('parses key=value and key:value terms into one ANDed filter, with the proto field names', () => {
  const set = parseFilterText('src=10.233.101.222 proto=tcp verdict=DROPPED dst:10.233.100.0/24');
  assert.deepEqual(set, {
    allow: [{ sourceIp: ['10.233.101.222'], protocol: ['tcp'], verdict: ['DROPPED'], destinationIp: ['10.233.100.0/24'] }],
    deny: [],
  });
});

test('comma values are ORed, "or" starts another allow filter, "!" terms form a deny filter', () => {
  const set = parseFilterText('port=53,80 iface=cali* or verdict=expected_drop !dir=egress');
  assert.deepEqual(set.allow, [{ port: [53, 80], interface: ['cali*'] }, { verdict: ['EXPECTED_DROP'] }]);
  assert.deepEqual(set.deny, [{ direction: ['EGRESS'] }]);
});

test('bare words: an IP/CIDR, a protocol, a verdict; a non-address src is a pod name', () => {
  assert.deepEqual(parseFilterText('10.233.101.192/26 icmp DROPPED').allow, [{ ip: ['10.233.101.192/26'], protocol: ['icmp'], verdict: ['DROPPED'] }]);
  assert.deepEqual(parseFilterText('src=ems/edgecloud*').allow, [{ sourcePod: ['ems/edgecloud*'] }]);
});

test('invalid filters throw a FilterError that says what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['src=10.233.101.300/24', /not an IP address or CIDR/],
    ['dst=10.0.0.0/33', /prefix length must be 0-32/],
    ['proto=tcpx', /protocol 'tcpx' is unknown/],
    ['verdict=LOST_IT', /verdict 'LOST_IT' is unknown; use one of MATCHED/],
    ['port=70000', /0 to 65535/],
    ['colour=red', /unknown filter key 'colour'/],
    ['blah', /cannot read 'blah'/],
    ['src=10.0.0.1 or', /ends with 'or'/],
    ['dir=sideways', /direction 'sideways'/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => parseFilterText(text), (err: Error) => err instanceof FilterError && re.test(err.message), text);
  }
});

test('allow: any filter matches; fields ANDed; CIDR, pod prefix and interface prefix match', () => {
  const m = compileFilterSet(parseFilterText('dst=10.233.100.0/24 or verdict=EXPECTED_DROP'));
  assert.equal(m(crossNode), true);
  assert.equal(m(blackholed), true);
  assert.equal(m(pod222), false);
  const both = compileFilterSet(parseFilterText('src=10.233.101.222 proto=udp'));
  assert.deepEqual([both(pod222), both(crossNode), both(blackholed)], [false, false, true]);
  assert.equal(compileFilterSet(parseFilterText('pod=ems/ems-a10nsp*'))(pod222), true);
  assert.equal(compileFilterSet(parseFilterText('ns=ems'))(crossNode), false);
  assert.equal(compileFilterSet(parseFilterText('iface=vxlan*'))(crossNode), true);
  assert.equal(compileFilterSet(parseFilterText('node=ems203-w1'))(crossNode), false);
});

test('deny removes what it matches; an empty set passes everything', () => {
  const m = compileFilterSet(parseFilterText('src=10.233.101.222 !proto=icmp'));
  assert.deepEqual([m(pod222), m(crossNode), m(blackholed)], [true, false, true]);
  const onlyDeny = compileFilterSet(parseFilterText('!verdict=MATCHED'));
  assert.deepEqual([onlyDeny(pod222), onlyDeny(blackholed)], [false, true]);
  assert.equal(compileFilterSet(parseFilterText(''))(pod222), true);
});

test('IPv6 CIDRs match IPv6 addresses only', () => {
  const m = compileFilterSet(parseFilterText('ip=fd00:10:233::/48'));
  assert.equal(m({ type: 'PACKET', src: 'fd00:10:233:1::5', dst: 'fd00:99::1' }), true);
  assert.equal(m({ type: 'PACKET', src: '10.233.0.1', dst: 'fd00:99::1' }), false);
});

test('formatFilterSet round-trips through parseFilterText', () => {
  const text = 'src=10.233.101.222 proto=tcp,udp or verdict=DROPPED !iface=ens3';
  const set = parseFilterText(text);
  assert.deepEqual(parseFilterText(formatFilterSet(set)), set);
});

test('acceptedTypes: the types some allow filter restricts to, or undefined when any type can pass', () => {
  assert.deepEqual([...acceptedTypes(parseFilterText('type=verdict or type=route'))!].sort(), ['ROUTE_CHANGE', 'VERDICT']);
  assert.equal(acceptedTypes(parseFilterText('type=verdict or src=10.0.0.1')), undefined);
  assert.equal(acceptedTypes(parseFilterText('')), undefined);
  assert.deepEqual([...acceptedTypes(parseFilterText('type=flow !verdict=MATCHED'))!], ['FLOW']);
});

// CLI filter flags → validated spec → the loader's `filter` command words (docs/protocol.md syntax);
// and the trace output shapes built from a TraceEvent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFilter, parseCidr, filterWords, describeFilter, FilterError } from '../../src/capture/filter';
import { eventRecord, compactLine } from '../../src/cli/trace-format';
import type { TraceEvent } from '../../src/capture/event';

test('flags become the words of the loader filter command', () => {
  const spec = parseFilter({ src: '10.233.101.222', dst: '10.233.101.192/26', proto: 'TCP', port: '8080' });
  assert.deepEqual(filterWords(spec), ['src', '10.233.101.222/32', 'dst', '10.233.101.192/26', 'proto', '6', 'port', '8080']);
  assert.equal(describeFilter(spec), 'src 10.233.101.222/32 and dst 10.233.101.192/26 and proto 6 and port 8080');
  assert.deepEqual(filterWords(parseFilter({})), []);
  assert.equal(describeFilter(parseFilter({})), 'everything');
});

test('host bits are cleared and IPv6 is canonical', () => {
  assert.equal(parseCidr('10.233.101.222/26').text, '10.233.101.192/26');
  assert.equal(parseCidr('fd00:10:233:0:0:0:0:224/64').text, 'fd00:10:233::/64');
  assert.equal(parseCidr('::1').text, '::1/128');
  assert.equal(parseCidr('fd00::ffff:10.1.2.3/128').text, 'fd00::ffff:a01:203/128');
  assert.equal(parseCidr('0.0.0.0/0').text, '0.0.0.0/0');
});

test('mistakes are FilterErrors that say what to type', () => {
  assert.throws(() => parseFilter({ src: '10.0.0.300' }), (e: Error) => e instanceof FilterError && /use an IPv4 or IPv6 address or CIDR/.test(e.message));
  assert.throws(() => parseFilter({ src: '10.0.0.1/33' }), FilterError);
  assert.throws(() => parseFilter({ src: 'fd00::1::2' }), FilterError);
  assert.throws(() => parseFilter({ proto: 'tcpp' }), /use tcp, udp, icmp, icmpv6, sctp, gre, esp or a number 0-255/);
  assert.throws(() => parseFilter({ port: '70000' }), /use a number 1-65535/);
  assert.throws(() => parseFilter({ src: '10.0.0.1', dst: 'fd00::1' }), /different IP families/);
});

const EV: TraceEvent = {
  kind: 'packet',
  timeNs: 5_000_000_000,
  wallMs: Date.UTC(2026, 10, 26, 12, 0, 0, 123),
  ifindex: 4,
  iface: 'cali11299111064',
  dir: 'ingress',
  len: 84,
  family: 4,
  proto: 1,
  src: '10.233.101.222',
  dst: '10.233.101.224',
  sport: 0,
  dport: 0,
  tcpFlags: 0,
  icmpType: 8,
  icmpCode: 0,
  icmpId: 77,
  icmpSeq: 3,
  ipId: 1234,
  ttl: 64,
  mark: 0,
  fingerprint: '0123456789abcdef',
  natFingerprint: 0x1234,
  kernel: { result: 0, resultName: 'success', ifindex: 5, iface: 'caliaa479e31ff6' },
};

test('JSON record has the fields the issue requires', () => {
  const rec = eventRecord(EV);
  assert.equal(rec.time, '2026-11-26T12:00:00.123Z');
  assert.equal(rec.iface, 'cali11299111064');
  assert.equal(rec.dir, 'ingress');
  assert.equal(rec.src, '10.233.101.222');
  assert.equal(rec.dst, '10.233.101.224');
  assert.equal(rec.proto, 'icmp');
  assert.equal(rec.sport, 0);
  assert.equal(rec.dport, 0);
  assert.equal(rec.fingerprint, '0123456789abcdef');
  assert.deepEqual(rec.kernel, { result: 0, resultName: 'success', ifindex: 5, iface: 'caliaa479e31ff6' });
  assert.equal('tunnel' in rec, false);
  assert.deepEqual(rec.icmp, { type: 8, code: 0, id: 77, seq: 3 });
  const tunnelled = eventRecord({ ...EV, kernel: undefined, tunnel: { outerSrc: '172.27.71.11', outerDst: '172.27.71.12', vni: 4096, udpSport: 1, udpDport: 4789 } });
  assert.deepEqual(tunnelled.tunnel, { outerSrc: '172.27.71.11', outerDst: '172.27.71.12', vni: 4096, udpSport: 1, udpDport: 4789 });
  assert.equal('kernel' in tunnelled, false);
});

test('compact line shows hook, tuple, fingerprint and kernel view', () => {
  const line = compactLine(EV);
  assert.match(line, /^12:00:00\.123 cali11299111064 in /);
  assert.match(line, /icmp +10\.233\.101\.222 > 10\.233\.101\.224 echo-request id 77 seq 3/);
  assert.match(line, /fp 0123456789abcdef fib success -> caliaa479e31ff6$/);
  const tcp = compactLine({ ...EV, proto: 6, sport: 40000, dport: 80, tcpFlags: 0x12, kernel: undefined, dir: 'egress' });
  assert.match(tcp, /cali11299111064 out .* tcp +10\.233\.101\.222:40000 > 10\.233\.101\.224:80 \[S\.\]/);
  const drop = compactLine({ ...EV, kind: 'drop', dropReason: 2, dropReasonName: 'NOT_SPECIFIED', kernel: undefined });
  assert.match(drop, /DROP .* reason NOT_SPECIFIED/);
});

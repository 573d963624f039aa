// `calitrace observe -o dict`: one field per line, keys right-aligned to the longest, as `hubble observe
// -o dict` prints it — from messages that went through real protobuf bytes, as a client receives them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { calitrace } from '../../src/api/proto';
import { DICT_SEPARATOR, formatObserved } from '../../src/cli/observe-format';

const v1 = calitrace.v1;
const wire = (m: calitrace.v1.IObserveResponse) => v1.ObserveResponse.decode(v1.ObserveResponse.encode(m).finish());
const at = Date.UTC(2026, 10, 26, 12, 34, 56, 789);

test('dict: a verdict is one field per line, keys aligned on the colon, node included', () => {
  const m = wire({
    timeMs: at, node: 'ems203-w2',
    verdict: {
      src: '10.233.101.222', dst: '10.233.101.230', protocol: 1, icmpType: 8, icmpSeq: 3, verdict: v1.Verdict.EXPECTED_DROP,
      reason: 'blackholed', route: 'blackhole 10.233.101.192/26 proto 80',
      observed: [{ interface: 'cali11299111064', direction: v1.Direction.INGRESS }, { interface: 'cali11299111064', direction: v1.Direction.DROP, dropReason: 'NOT_SPECIFIED' }],
      predicted: ['cali11299111064'], srcPod: { namespace: 'ems', name: 'adapter-0' },
    },
  });
  assert.equal(formatObserved(m, 'dict'), [
    '  TIMESTAMP: 2026-11-26T12:34:56.789Z',
    '       NODE: ems203-w2',
    '       TYPE: verdict',
    '     SOURCE: ems/adapter-0 (10.233.101.222)',
    'DESTINATION: 10.233.101.230',
    '   PROTOCOL: icmp echo-request seq 3',
    '    VERDICT: EXPECTED_DROP',
    '     REASON: blackholed',
    '   OBSERVED: cali11299111064 ingress → cali11299111064 drop NOT_SPECIFIED',
    '  PREDICTED: cali11299111064',
    '      ROUTE: blackhole 10.233.101.192/26 proto 80',
  ].join('\n'));
  assert.equal(DICT_SEPARATOR, '------------');
});

test('dict: packets, drops with their reason, and loss notices', () => {
  const p = wire({ timeMs: at, node: 'n', packet: { kind: 'packet', interface: 'ens3', direction: v1.Direction.EGRESS, src: '10.233.101.222', dst: '10.233.100.130', sport: 40000, dport: 80, protocol: 6, length: 60, tunnel: { outerSrc: '172.27.71.11', outerDst: '172.27.71.12', vni: 4096 } } });
  const lines = formatObserved(p, 'dict').split('\n');
  assert.ok(lines.every((l) => /^ *[A-Z ]+: /.test(l) && l.indexOf(':') === lines[0].indexOf(':')));
  assert.ok(lines.includes('     TUNNEL: vxlan 172.27.71.11 -> 172.27.71.12 vni 4096'));
  assert.ok(lines.includes('  INTERFACE: ens3 egress'));
  const d = wire({ timeMs: at, node: 'n', packet: { kind: 'drop', interface: 'cali11299111064', direction: v1.Direction.DROP, src: 'a', dst: 'b', protocol: 1, dropReason: 2, dropReasonName: 'NOT_SPECIFIED' } });
  assert.match(formatObserved(d, 'dict'), /^DROP REASON: NOT_SPECIFIED$/m);
  const lost = wire({ timeMs: at, node: 'n', lost: { source: v1.LostEvents.Source.KERNEL, count: 12, total: 40, detail: 'BPF ring buffer full' } });
  assert.match(formatObserved(lost, 'dict'), /^ +LOST: 12 events \(40 in total\)\n +WHERE: KERNEL\n +DETAIL: BPF ring buffer full$/m);
});

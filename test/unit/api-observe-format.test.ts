// `calitrace observe` output: compact lines, table rows under one header, JSON with enum names — from
// messages that went through real protobuf bytes (encode → decode), as a client receives them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { calitrace } from '../../src/api/proto';
import { formatObserved, tableHeader } from '../../src/cli/observe-format';
import { parseTime } from '../../src/cli/observe';

const v1 = calitrace.v1;
const wire = (m: calitrace.v1.IObserveResponse) => v1.ObserveResponse.decode(v1.ObserveResponse.encode(m).finish());
const at = Date.UTC(2026, 10, 26, 12, 34, 56, 789);

const dropped = wire({
  seq: 7, timeMs: at, node: 'ems203-w2',
  verdict: {
    src: '10.233.101.222', dst: '10.233.101.230', protocol: 1, icmpType: 8, icmpSeq: 3, verdict: v1.Verdict.EXPECTED_DROP,
    reason: 'blackholed', observed: [{ interface: 'cali11299111064', direction: v1.Direction.INGRESS }, { interface: 'cali11299111064', direction: v1.Direction.DROP }],
    predicted: ['cali11299111064'], srcPod: { namespace: 'ems', name: 'edgecloud-suse-adapter-df5d6d78b-m5zc2' },
  },
});

test('compact: time, node, endpoints with pods, protocol, verdict, both paths, reason', () => {
  assert.equal(
    formatObserved(dropped, 'compact'),
    'Nov 26 12:34:56.789 [ems203-w2] ems/edgecloud-suse-adapter-df5d6d78b-m5zc2 (10.233.101.222) -> 10.233.101.230 ICMP echo-request seq=3 ' +
      'EXPECTED_DROP observed: cali11299111064 → cali11299111064(drop) predicted: cali11299111064 — blackholed',
  );
  const tcp = wire({ timeMs: at, node: 'n', packet: { kind: 'packet', interface: 'ens3', direction: v1.Direction.EGRESS, src: '10.233.101.222', dst: '10.233.100.130', sport: 40000, dport: 80, protocol: 6, length: 60, tunnel: { outerSrc: '172.27.71.11', outerDst: '172.27.71.12', vni: 4096 } } });
  assert.match(formatObserved(tcp, 'compact'), /\[n\] ens3 egress 10\.233\.101\.222:40000 -> 10\.233\.100\.130:80 TCP len 60 vxlan 172\.27\.71\.11 -> 172\.27\.71\.12 vni 4096$/);
  const viaService = wire({
    timeMs: at, node: 'n',
    verdict: { src: '10.233.101.222', dst: '10.96.0.10', sport: 40000, dport: 80, protocol: 6, verdict: v1.Verdict.MATCHED, natDst: { from: '10.96.0.10:80', to: '10.233.101.224:8080' } },
  });
  assert.match(formatObserved(viaService, 'compact'), /10\.233\.101\.222:40000 -> 10\.96\.0\.10:80 \(DNAT -> 10\.233\.101\.224:8080\) TCP MATCHED/);
  assert.match(formatObserved(viaService, 'json'), /"natDst":\{"from":"10\.96\.0\.10:80","to":"10\.233\.101\.224:8080"\}/);
  const lost = wire({ timeMs: at, node: 'n', lost: { source: v1.LostEvents.Source.SUBSCRIBER, count: 12, total: 40, detail: 'slow' } });
  assert.match(formatObserved(lost, 'compact'), /LOST 12 events \(SUBSCRIBER, 40 in total\): slow$/);
  const routes = wire({ timeMs: at, node: 'n', routeChange: { generation: 5, changes: [{ kind: 'route', action: 'removed', text: '10.233.101.224 dev caliaa479e31ff6 scope link' }] } });
  assert.match(formatObserved(routes, 'compact'), /ROUTES generation 5: removed route 10\.233\.101\.224 dev caliaa479e31ff6 scope link$/);
});

test('table: rows line up under the header', () => {
  const header = tableHeader();
  const row = formatObserved(dropped, 'table');
  for (const col of ['NODE', 'TYPE', 'SOURCE', 'DESTINATION', 'PROTO', 'VERDICT', 'OBSERVED', 'PREDICTED']) {
    const at = header.indexOf(col);
    assert.ok(at > 0, col);
    assert.notEqual(row[at], ' ', `column ${col} starts with a value`);
    assert.equal(row[at - 1], ' ', `column ${col} is separated`);
  }
  assert.match(row, /EXPECTED_DROP/);
});

test('json: one object with enum names and the item named', () => {
  const obj = JSON.parse(formatObserved(dropped, 'json'));
  assert.equal(obj.item, 'verdict');
  assert.equal(obj.seq, 7);
  assert.equal(obj.verdict.verdict, 'EXPECTED_DROP');
  assert.equal(obj.verdict.observed[1].direction, 'DROP');
  assert.equal(obj.verdict.srcPod.namespace, 'ems');
});

test('--since/--until: durations ago and absolute times; anything else is a usage error', () => {
  const now = 1_000_000_000;
  assert.equal(parseTime('30s', 'since', now), now - 30_000);
  assert.equal(parseTime('5m', 'since', now), now - 300_000);
  assert.equal(parseTime('2h', 'since', now), now - 7_200_000);
  assert.equal(parseTime('2026-11-26T12:00:00Z', 'since', now), Date.UTC(2026, 10, 26, 12));
  assert.throws(() => parseTime('yesterday', 'since'), /--since takes a duration ago/);
});

// One verdict format: `calitrace observe` (a message that went through real protobuf bytes, as a client
// receives it) and `calitrace trace` (a PacketVerdict judged in-process) print the same JSON object
// (schema calitrace.verdict/v1), the same compact line and the same table row; the table fits the width.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { calitrace } from '../../src/api/proto';
import { formatObserved, tableHeader } from '../../src/cli/observe-format';
import { formatVerdict } from '../../src/cli/trace-format';
import { parseTime, withDefaultTypes } from '../../src/cli/observe';
import { verdictMessage } from '../../src/api/convert';
import type { PacketVerdict } from '../../src/path/types';

const v1 = calitrace.v1;
const wire = (m: calitrace.v1.IObserveResponse) => v1.ObserveResponse.decode(v1.ObserveResponse.encode(m).finish());
const at = Date.UTC(2026, 10, 26, 12, 34, 56, 789);

// A verdict as the path engine judges it: pod 222 pings an address of the block with no pod.
const judged: PacketVerdict = {
  fingerprint: '00000000000000aa', timeMs: at, family: 4, proto: 1, src: '10.233.101.222', dst: '10.233.101.230', sport: 0, dport: 0,
  verdict: 'EXPECTED_DROP', reason: 'blackholed', warnings: [],
  observed: [{ iface: 'cali11299111064', dir: 'ingress', timeNs: 1 }, { iface: 'cali11299111064', dir: 'drop', timeNs: 2, dropReason: 'NOT_SPECIFIED' }],
  predicted: ['cali11299111064'], latencyUs: 12.5, decision: 'blackhole', route: 'blackhole 10.233.101.192/26 proto 80', generation: 4, flowKey: 'icmp 10.233.101.222 10.233.101.230 7',
  icmp: { type: 8, code: 0, id: 7, seq: 3 }, len: 98,
};
const pods = (ip: string) => (ip === '10.233.101.222' ? { namespace: 'ems', name: 'edgecloud-suse-adapter-df5d6d78b-m5zc2', node: 'ems203-w2' } : undefined);
const dropped = wire({ seq: 7, timeMs: at, node: 'ems203-w2', verdict: verdictMessage(judged, pods) });

test('trace and observe print one verdict identically: the same JSON, the same compact line', () => {
  const fromTrace = formatVerdict(judged, 'json', { node: 'ems203-w2', pods });
  const fromObserve = formatObserved(dropped, 'json');
  assert.deepEqual(JSON.parse(fromObserve), JSON.parse(fromTrace));
  assert.equal(formatVerdict(judged, 'compact', { node: 'ems203-w2', pods }), formatObserved(dropped, 'compact'));
});

test('JSON: schema v1 names, lowercase values, no empty batch', () => {
  const obj = JSON.parse(formatObserved(dropped, 'json'));
  assert.equal(obj.schema, 'calitrace.verdict/v1');
  assert.equal(obj.time, '2026-11-26T12:34:56.789Z');
  assert.equal(obj.node, 'ems203-w2');
  assert.equal(obj.verdict, 'EXPECTED_DROP');
  assert.equal(obj.protocol, 'icmp');
  assert.deepEqual(obj.icmp, { type: 8, name: 'echo-request', code: 0, id: 7, seq: 3 });
  assert.equal(obj.srcPod, 'ems/edgecloud-suse-adapter-df5d6d78b-m5zc2');
  assert.equal(obj.dstPod, null);
  assert.deepEqual(obj.observed[1], { interface: 'cali11299111064', direction: 'drop', timeNs: 2, dropReason: 'NOT_SPECIFIED' });
  assert.equal(obj.latencyUs, 12.5);
  assert.equal(obj.generation, 4);
  assert.equal(obj.flow, 'icmp 10.233.101.222 10.233.101.230 7');
  for (const old of ['iface', 'dir', 'proto', 'latency_us', 'modelGeneration', 'flowKey', 'batch', 'interface', 'direction']) assert.ok(!(old in obj), old);
  const lost = JSON.parse(formatObserved(wire({ timeMs: at, node: 'n', lost: { source: v1.LostEvents.Source.SUBSCRIBER, count: 12, total: 40 } }), 'json'));
  assert.ok(!('batch' in lost), 'other items drop the empty batch too');
});

test('compact: pod names, ICMP type by name, the protocol once, labelled latency, the drop marker', () => {
  assert.equal(
    formatObserved(dropped, 'compact'),
    '12:34:56.789 [ems203-w2] EXPECTED_DROP ems/edgecloud-suse-adapter-df5d6d78b-m5zc2 (10.233.101.222) > 10.233.101.230 icmp echo-request seq 3 ' +
      '| observed cali11299111064 → ✗drop:NOT_SPECIFIED@cali11299111064 | latency 12.5µs | predicted cali11299111064 | blackholed',
  );
  const flow = wire({ timeMs: at, node: 'n', flow: { src: '10.233.101.222', dst: '10.233.101.230', protocol: 1, packets: 3, verdict: v1.Verdict.EXPECTED_DROP, path: ['cali11299111064'], predicted: ['cali11299111064'] } });
  assert.match(formatObserved(flow, 'compact'), /FLOW 10\.233\.101\.222 <> 10\.233\.101\.230 icmp 3 pkts EXPECTED_DROP \| observed cali11299111064 → ✗drop \| predicted cali11299111064/);
  const tcp = wire({ timeMs: at, node: 'n', packet: { kind: 'packet', interface: 'ens3', direction: v1.Direction.EGRESS, src: '10.233.101.222', dst: '10.233.100.130', sport: 40000, dport: 80, protocol: 6, length: 60, tunnel: { outerSrc: '172.27.71.11', outerDst: '172.27.71.12', vni: 4096 } } });
  assert.match(formatObserved(tcp, 'compact'), /\[n\] ens3 egress 10\.233\.101\.222:40000 > 10\.233\.100\.130:80 tcp len 60 vxlan 172\.27\.71\.11 > 172\.27\.71\.12 vni 4096$/);
  const viaService = wire({
    timeMs: at, node: 'n',
    verdict: { src: '10.233.101.222', dst: '10.96.0.10', sport: 40000, dport: 80, protocol: 6, verdict: v1.Verdict.MATCHED, natDst: { from: '10.96.0.10:80', to: '10.233.101.224:8080' } },
  });
  assert.match(formatObserved(viaService, 'compact'), /10\.233\.101\.222:40000 > 10\.96\.0\.10:80 tcp \(DNAT → 10\.233\.101\.224:8080\) \| observed/);
  const lost = wire({ timeMs: at, node: 'n', lost: { source: v1.LostEvents.Source.SUBSCRIBER, count: 12, total: 40, detail: 'slow' } });
  assert.match(formatObserved(lost, 'compact'), /LOST 12 events \(SUBSCRIBER, 40 in total\): slow$/);
  const routes = wire({ timeMs: at, node: 'n', routeChange: { generation: 5, changes: [{ kind: 'route', action: 'removed', text: '10.233.101.224 dev caliaa479e31ff6 scope link' }] } });
  assert.match(formatObserved(routes, 'compact'), /ROUTES generation 5: removed route 10\.233\.101\.224 dev caliaa479e31ff6 scope link$/);
});

test('table: fits the width it is given, with POD and REASON; rows line up under the header', () => {
  for (const width of [80, 120, 200]) {
    const header = tableHeader(width);
    const row = formatObserved(dropped, 'table', width);
    assert.ok(header.length <= width && row.length <= width, `${width}: ${header.length}/${row.length}`);
    for (const col of ['TIME', 'VERDICT', 'POD', 'REASON']) {
      const at = header.indexOf(col);
      assert.ok(at >= 0, `${width}: ${col}`);
      if (at > 0) assert.equal(row[at - 1], ' ', `${width}: column ${col} is separated`);
    }
    assert.match(row, /EXPECTED_DROP/);
  }
  const wide = formatObserved(dropped, 'table', 300);
  assert.match(wide, /ems\/edgecloud-suse-adapter-df5d6d78b-m5zc2 > -/);
  assert.match(wide, /blackholed$/);
});

test('observe shows verdicts and losses unless a type is asked for', () => {
  assert.deepEqual(withDefaultTypes({ allow: [], deny: [] }).allow, [{ eventType: ['VERDICT', 'LOST'] }]);
  assert.deepEqual(withDefaultTypes({ allow: [{ sourceIp: ['10.0.0.1'] }], deny: [] }).allow, [{ sourceIp: ['10.0.0.1'], eventType: ['VERDICT', 'LOST'] }]);
  const asked = { allow: [{ eventType: ['PACKET' as const] }], deny: [] };
  assert.equal(withDefaultTypes(asked), asked);
});

test('--since/--until: durations ago and absolute times; anything else is a usage error', () => {
  const now = 1_000_000_000;
  assert.equal(parseTime('30s', 'since', now), now - 30_000);
  assert.equal(parseTime('5m', 'since', now), now - 300_000);
  assert.equal(parseTime('2h', 'since', now), now - 7_200_000);
  assert.equal(parseTime('2026-11-26T12:00:00Z', 'since', now), Date.UTC(2026, 10, 26, 12));
  assert.throws(() => parseTime('yesterday', 'since'), /--since takes a duration ago/);
});

// API messages → UI model: a verdict, a status and routes encoded as the server sends them (real
// protobuf bytes), decoded and converted; enum values, pods, hops and counters land where the views look.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { calitrace } from '../../src/api/generated/calitrace';
import { flowCountsFromApi, routesFromApi, statusFromApi, verdictFromApi } from '../../src/tui/convert';
import { Store } from '../../src/tui/store';
import { detailLines } from '../../src/tui/views/detail';
import { explainRequestFor } from '../../src/tui/source';

const v1 = calitrace.v1;

test('a verdict off the wire becomes a UI verdict with its hops, pods and kernel view', () => {
  const bytes = v1.ObserveResponse.encode({
    seq: 7,
    timeMs: 1_700_000_000_000,
    node: 'ems203-w2',
    verdict: {
      fingerprint: 'ab12',
      timeMs: 1_700_000_000_000,
      family: 4,
      protocol: 1,
      src: '10.233.101.222',
      dst: '10.233.100.130',
      verdict: v1.Verdict.EXPECTED_DROP,
      reason: 'blackhole',
      observed: [
        { interface: 'cali11299111064', direction: v1.Direction.INGRESS, timeNs: 5000 },
        { interface: 'ens3', direction: v1.Direction.EGRESS, timeNs: 9000, tunnel: { outerSrc: '172.27.71.11', outerDst: '172.27.71.12', vni: 4096 } },
        { interface: 'cali11299111064', direction: v1.Direction.DROP, timeNs: 9500, dropReason: 'NOT_SPECIFIED' },
      ],
      predicted: ['cali11299111064'],
      kernel: { result: 'blackhole' },
      latencyUs: 4,
      srcPod: { namespace: 'ems', name: 'edgecloud-suse-adapter-df5d6d78b-m5zc2' },
    },
  }).finish();
  const m = v1.ObserveResponse.decode(bytes);
  const v = verdictFromApi(m.verdict!, m.node);
  assert.equal(v.verdict, 'EXPECTED_DROP');
  assert.equal(v.node, 'ems203-w2');
  assert.deepEqual(v.srcPod, { namespace: 'ems', name: 'edgecloud-suse-adapter-df5d6d78b-m5zc2' });
  assert.equal(v.dstPod, undefined);
  assert.deepEqual(v.observed.map((h) => [h.iface, h.dir, h.timeNs]), [
    ['cali11299111064', 'ingress', 5000],
    ['ens3', 'egress', 9000],
    ['cali11299111064', 'drop', 9500],
  ]);
  assert.deepEqual(v.observed[1].tunnel, { outerSrc: '172.27.71.11', outerDst: '172.27.71.12', vni: 4096 });
  assert.equal(v.observed[2].dropReason, 'NOT_SPECIFIED');
  assert.deepEqual(v.kernel, { result: 'blackhole', iface: undefined, nexthop: undefined });
  const s = new Store();
  s.ingest(v);
  assert.equal(s.dropRows().length, 1);
});

test('status counters all reach the header, including ones this client does not know', () => {
  const m = v1.StatusResponse.decode(
    v1.StatusResponse.encode({
      node: 'ems203-w2',
      mode: 'packet',
      interfaces: [
        { name: 'cali11299111064', attached: true },
        { name: 'gone0', attached: false },
      ],
      counters: { lostKernel: 3, lostPipe: 0, lostCollector: 1, lostSubscribers: 2, loaderRestarts: 0, other: { 'correlator-evicted': 5, packets: 99, flows_active: 3, predict_errors: 1 } },
      subscribers: [{ id: 1 }, { id: 2 }],
    }).finish(),
  );
  const st = statusFromApi(m);
  assert.deepEqual(st.interfaces, ['cali11299111064']);
  assert.equal(st.subscribers, 2);
  const byName = Object.fromEntries(st.counters.map((c) => [c.name, c.value]));
  // Plain statistics (packets, active flows) are not losses and stay out of the 'lost' line.
  assert.deepEqual(byName, { kernel: 3, pipe: 0, collector: 1, subscribers: 2, 'loader-restarts': 0, 'correlator-evicted': 5, predict_errors: 1 });
});

test('routes keep the kernel identity as key, so a changed gateway is a change of the same route', () => {
  const mk = (gw: string) =>
    routesFromApi(
      v1.GetRoutesResponse.decode(
        v1.GetRoutesResponse.encode({
          routes: [{ family: 4, table: 254, type: 'unicast', dst: '10.233.100.128', prefixLen: 26, text: `10.233.100.128/26 via ${gw} dev vxlan.calico onlink`, calico: 'vxlan-tunnel' }],
        }).finish(),
      ),
    );
  const a = mk('10.233.100.128');
  const b = mk('10.233.100.129');
  assert.equal(a[0].key, b[0].key);
  assert.equal(a[0].table, 'main');
  assert.equal(a[0].meaning, 'vxlan-tunnel');
  const s = new Store();
  s.setRoutes(a, 0);
  s.setRoutes(b, 1);
  assert.equal(s.routeRows()[0].change, 'changed');
});

test('a NATed verdict off the wire keeps both rewrites, and the detail pane names them', () => {
  const m = v1.ObserveResponse.decode(v1.ObserveResponse.encode({
    node: 'ems203-w2',
    verdict: {
      fingerprint: 'cd34', family: 4, protocol: 6, src: '10.233.101.222', dst: '10.96.0.10', sport: 40000, dport: 80,
      verdict: v1.Verdict.MATCHED, reason: 'NAT on this node: …',
      observed: [{ interface: 'cali11299111064', direction: v1.Direction.INGRESS, timeNs: 1 }, { interface: 'caliaa479e31ff6', direction: v1.Direction.EGRESS, timeNs: 2 }],
      predicted: ['cali11299111064', 'caliaa479e31ff6'],
      natDst: { from: '10.96.0.10:80', to: '10.233.101.224:8080' },
    },
  }).finish());
  const v = verdictFromApi(m.verdict!, m.node);
  assert.deepEqual(v.nat, { src: undefined, dst: { from: '10.96.0.10:80', to: '10.233.101.224:8080' } });
  const plain = verdictFromApi(v1.ObserveResponse.decode(v1.ObserveResponse.encode({ verdict: { src: 'a', dst: 'b' } }).finish()).verdict!, '');
  assert.equal(plain.nat, undefined, 'no rewrite, no nat');
  const s = new Store();
  s.ingest(v);
  const lines = detailLines(s, s.flowRows()[0]).join('\n');
  assert.match(lines, /NAT\{\/bold\}  destination 10\.96\.0\.10:80 → 10\.233\.101\.224:8080/);
});

test('the detail pane asks Explain where the prediction was made, for the destination that was routed', () => {
  const s = new Store();
  // From another node: the uplink saw it encapsulated, vxlan.calico decapsulated it — that is the prediction hop.
  s.ingest(verdictFromApi(v1.ObserveResponse.decode(v1.ObserveResponse.encode({
    verdict: {
      src: '10.233.100.130', dst: '10.233.101.222', protocol: 1, verdict: v1.Verdict.MATCHED,
      observed: [
        { interface: 'ens3', direction: v1.Direction.INGRESS, timeNs: 1, tunnel: { outerSrc: '172.27.71.12', outerDst: '172.27.71.11', vni: 4096 } },
        { interface: 'vxlan.calico', direction: v1.Direction.INGRESS, timeNs: 2 },
        { interface: 'cali11299111064', direction: v1.Direction.EGRESS, timeNs: 3 },
      ],
    },
  }).finish()).verdict!, 'n'));
  const decap = explainRequestFor(s.flowRows()[0]);
  assert.equal(decap.iif, 'vxlan.calico');
  assert.equal(decap.dst, '10.233.101.222');

  // Through a Service: the backend is what was routed.
  const t = new Store();
  t.ingest(verdictFromApi(v1.ObserveResponse.decode(v1.ObserveResponse.encode({
    verdict: {
      src: '10.233.101.222', dst: '10.96.0.10', sport: 40000, dport: 80, protocol: 6, verdict: v1.Verdict.MATCHED,
      observed: [{ interface: 'cali11299111064', direction: v1.Direction.INGRESS, timeNs: 1 }, { interface: 'caliaa479e31ff6', direction: v1.Direction.EGRESS, timeNs: 2 }],
      natDst: { from: '10.96.0.10:80', to: '10.233.101.224:8080' },
    },
  }).finish()).verdict!, 'n'));
  const viaService = explainRequestFor(t.flowRows()[0]);
  assert.deepEqual({ iif: viaService.iif, dst: viaService.dst, dport: viaService.dport }, { iif: 'cali11299111064', dst: '10.233.101.224', dport: 8080 });
});

test('a flow update off the wire: totals over both directions, replies, counts per verdict', () => {
  const f = flowCountsFromApi({ key: 'k', packets: 12, lastMs: 5000, verdicts: { MATCHED: 10, EXPECTED_DROP: 2, NOT_A_VERDICT: 7 }, reverse: { packets: 5 } });
  assert.deepEqual(f, { key: 'k', packets: 12, replies: 5, lastMs: 5000, counts: { MATCHED: 10, DIVERGED: 0, DROPPED: 0, EXPECTED_DROP: 2, INCOMPLETE: 0, STALE_MODEL: 0 } });
  assert.equal(flowCountsFromApi({ key: 'k', packets: 1 }).replies, 0);
});

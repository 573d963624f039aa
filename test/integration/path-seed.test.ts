// The seed's three routing cases with real packets in the lab, judged by the real collector on node1:
// same-node pod → pod, pod → pod across nodes through VXLAN, and an address of the block without a pod.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../helpers/lab';
import { mustExec, withNodeCollector } from '../helpers/path-lab';
import { POD_A, POD_B, WEB_0, NO_POD, CALI_A, CALI_B } from '../helpers/path-fixtures';


test('seed cases on node1: same node MATCHED, across nodes MATCHED through VXLAN, .230 EXPECTED_DROP', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    await withNodeCollector(lab, async (h) => {

      // 1. Same node: .222 → .224.
      await mustExec(lab, POD_A, ['ping', '-n', '-c', '3', '-i', '0.1', '-W', '1', POD_B]);
      const same = await h.waitVerdict((v) => v.src === POD_A && v.dst === POD_B, 10_000, 'a verdict for .222 → .224');
      assert.equal(same.verdict, 'MATCHED', h.dump());
      assert.deepEqual(same.observed.map((x) => x.iface), [CALI_A, CALI_B]);
      assert.deepEqual(same.observed.map((x) => x.dir), ['ingress', 'egress']);
      assert.deepEqual(same.predicted, [CALI_A, CALI_B]);
      assert.ok(!same.observed.some((x) => x.iface === 'vxlan.calico' || x.iface === 'ens3'), 'no VXLAN, no uplink');
      assert.ok(!same.observed.some((x) => x.tunnel), 'not encapsulated');
      assert.equal(same.kernel?.iface, CALI_B, 'the kernel FIB chose the pod interface too');
      assert.ok(same.latencyUs !== undefined && same.latencyUs > 0 && same.latencyUs < 100_000, `latency ${same.latencyUs}`);
      assert.equal(same.route, `${POD_B} dev ${CALI_B} scope link`);
      const reply = await h.waitVerdict((v) => v.src === POD_B && v.dst === POD_A, 10_000, 'the echo reply');
      assert.equal(reply.verdict, 'MATCHED');
      assert.equal(reply.flowKey, same.flowKey, 'request and reply are one flow');
      await h.waitUntil(() => (h.flows.get(same.flowKey!)?.forward.verdicts.MATCHED ?? 0) >= 3, 10_000, 'the flow to count 3 matched requests');
      const flow = h.flows.get(same.flowKey!)!;
      assert.ok((flow.reverse?.verdicts.MATCHED ?? 0) >= 1, 'replies are counted on the reverse direction');
      assert.ok(flow.forward.latency && flow.forward.latency.samples >= 3);

      // 2. Across nodes: .222 → web-0 on node2, through vxlan.calico and the uplink.
      await mustExec(lab, POD_A, ['ping', '-n', '-c', '3', '-i', '0.1', '-W', '1', WEB_0]);
      const cross = await h.waitVerdict((v) => v.src === POD_A && v.dst === WEB_0, 10_000, 'a verdict for .222 → 10.233.100.130');
      assert.equal(cross.verdict, 'MATCHED', h.dump());
      assert.deepEqual(cross.observed.map((x) => x.iface), [CALI_A, 'vxlan.calico', 'ens3']);
      assert.deepEqual(cross.predicted, [CALI_A, 'vxlan.calico', 'ens3']);
      const uplink = cross.observed[2];
      assert.equal(uplink.dir, 'egress');
      assert.equal(uplink.tunnel?.outerDst, '172.27.71.12', 'encapsulated to node2');
      assert.equal(uplink.tunnel?.outerSrc, '172.27.71.11');
      assert.equal(uplink.tunnel?.vni, 4096);
      assert.match(cross.reason, /encapsulated to 172\.27\.71\.12/);
      const back = await h.waitVerdict((v) => v.src === WEB_0 && v.dst === POD_A, 10_000, 'the reply from node2');
      assert.equal(back.verdict, 'MATCHED', h.dump());
      assert.deepEqual(back.observed.map((x) => `${x.iface}:${x.dir}`), ['ens3:ingress', 'vxlan.calico:ingress', `${CALI_A}:egress`]);
      assert.ok(!h.verdicts.some((v) => v.warnings.includes('ASYMMETRIC_RETURN')), 'replies come back the way requests went');

      // 3. .230: in node1's block, no pod → Calico's IPAM-block blackhole.
      const r = await mustExec(lab, POD_A, ['sh', '-c', `ping -n -c 2 -i 0.1 -W 1 ${NO_POD} || true`]);
      assert.match(r, /100% packet loss/);
      const hole = await h.waitVerdict((v) => v.dst === NO_POD, 10_000, 'a verdict for .230');
      assert.equal(hole.verdict, 'EXPECTED_DROP', h.dump());
      assert.equal(hole.decision, 'blackhole');
      assert.equal(hole.route, 'blackhole 10.233.101.192/26 proto 80');
      assert.equal(hole.kernel?.result, 'blackhole');
      assert.ok(hole.observed.some((x) => x.dir === 'drop'), 'the kernel drop was seen');
      assert.ok(!hole.observed.some((x) => x.dir === 'egress'), 'it never left');
      assert.match(hole.reason, /blackhole/);

      // The periodic counters event publishes every loss and cap.
      await h.waitUntil(() => h.counters.some((x) => x.packets >= 10), 10_000, 'a counters event covering the packets so far');
      const published = h.counters[h.counters.length - 1];
      for (const field of ['received', 'lostKernel', 'lostPipe', 'loaderRestarts', 'correlatorEvictions', 'correlatorPending', 'flowEvictions', 'flowsActive', 'predictErrors', 'modelGeneration'] as const) {
        assert.equal(typeof published[field], 'number', field);
      }
      assert.ok(published.received >= 2 * published.packets, 'every packet here was seen by at least two hooks (or a hook and the drop tracepoint)');
      assert.ok(published.modelGeneration >= 1);
      const c = h.rc.collector.counters();
      assert.equal(c.lostKernel + c.lostPipe, 0);
      assert.equal(c.correlatorEvictions + c.flowEvictions + c.predictErrors, 0);
      assert.equal(c.verdicts.DROPPED + c.verdicts.DIVERGED + c.verdicts.STALE_MODEL, 0, h.dump());
    });
  });
});

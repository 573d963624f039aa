// A route changed while a flow runs: node1's VXLAN route to node2's block is replaced by a route without
// encapsulation. The flow gets a ROUTE_CHANGED warning, and from then on the new prediction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../helpers/lab';
import { mustExec, startPing, withNodeCollector } from '../helpers/path-lab';
import { POD_A, WEB_0, CALI_A } from '../helpers/path-fixtures';


test('route replaced mid-flow: ROUTE_CHANGED, then every packet predicted and matched on the new route', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    await withNodeCollector(lab, async (h) => {
      const fwd = (v: { src: string; dst: string }) => v.src === POD_A && v.dst === WEB_0;
      const ping = startPing(lab.prefix, POD_A, WEB_0, 0.05);
      try {
        await h.waitUntil(() => h.verdicts.filter((v) => fwd(v) && v.verdict === 'MATCHED').length >= 3, 10_000, '3 matched packets through VXLAN');
        const before = h.verdicts.filter(fwd);
        for (const v of before) assert.deepEqual(v.predicted, [CALI_A, 'vxlan.calico', 'ens3'], h.dump(fwd));

        await mustExec(lab, 'node1', ['ip', 'route', 'replace', '10.233.100.128/26', 'via', '172.27.71.12', 'dev', 'ens3']);
        const changed = await h.waitVerdict((v) => fwd(v) && v.warnings.includes('ROUTE_CHANGED'), 10_000, 'a ROUTE_CHANGED warning on the flow');
        // Verdicts are published when judged; a packet waiting for its window is judged after later ones,
        // so order the packets by when they entered the node.
        const entered = (v: { observed: { timeNs: number }[] }) => v.observed[0].timeNs;
        const after = () => h.verdicts.filter((v) => fwd(v) && entered(v) > entered(changed));
        await h.waitUntil(() => after().length >= 5, 10_000, '5 packets after the change');
        await ping.stop();
        await h.waitUntil(() => h.rc.collector.counters().correlatorPending === 0, 10_000, 'every packet judged');

        assert.deepEqual(changed.predicted, [CALI_A, 'ens3'], 'the warning comes with the new prediction');
        assert.equal(changed.route, '10.233.100.128/26 via 172.27.71.12 dev ens3');
        assert.match(changed.reason, /route changed during this flow/);
        assert.match(changed.reason, /vxlan\.calico/, 'names the old route');
        assert.ok(changed.generation! > before[0].generation!, 'predicted with a newer model generation');
        assert.equal(h.verdicts.filter((v) => fwd(v) && v.warnings.includes('ROUTE_CHANGED')).length, 1, h.dump(fwd));
        for (const v of [changed, ...after()]) {
          assert.deepEqual(v.predicted, [CALI_A, 'ens3'], h.dump(fwd));
          assert.equal(v.verdict, 'MATCHED', h.dump(fwd));
          assert.deepEqual(v.observed.map((x) => x.iface), [CALI_A, 'ens3']);
          assert.ok(!v.observed.some((x) => x.tunnel), 'no longer encapsulated');
        }
        // Packets between the kernel's change and the model's may only be judged against the old model.
        for (const v of h.verdicts.filter((x) => fwd(x) && entered(x) < entered(changed))) assert.ok(['MATCHED', 'STALE_MODEL'].includes(v.verdict), h.dump(fwd));
        await h.waitUntil(() => (h.flows.get(changed.flowKey!)?.warnings ?? []).includes('ROUTE_CHANGED'), 10_000, 'the flow to carry the warning');
        assert.deepEqual(h.flows.get(changed.flowKey!)!.forward.predicted, [CALI_A, 'ens3']);
        assert.ok(h.routeChanges.some((c) => c.changes.some((x) => x.kind === 'route' && x.text.includes('via 172.27.71.12 dev ens3'))), 'the route-model change was published');
      } finally {
        await ping.stop();
      }
    });
  });
});

// A pod deleted mid-flow: its veth goes, the kernel flushes its /32, and Calico's IPAM-block blackhole
// takes over for its address. The flow turns to EXPECTED_DROP (with a ROUTE_CHANGED warning).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../helpers/lab';
import { podDel } from '../../src/lab';
import { startPing, withNodeCollector } from '../helpers/path-lab';
import { POD_A, POD_B, CALI_A } from '../helpers/path-fixtures';


test('pod deleted mid-flow: the blackhole takes over, EXPECTED_DROP from then on', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    await withNodeCollector(lab, async (h) => {
      const fwd = (v: { src: string; dst: string }) => v.src === POD_A && v.dst === POD_B;
      const ping = startPing(lab.prefix, POD_A, POD_B, 0.05);
      try {
        await h.waitUntil(() => h.verdicts.filter((v) => fwd(v) && v.verdict === 'MATCHED').length >= 3, 10_000, '3 matched packets to pod B');
        await podDel({ prefix: lab.prefix, ip: POD_B });
        const first = await h.waitVerdict((v) => fwd(v) && v.verdict === 'EXPECTED_DROP', 10_000, 'an EXPECTED_DROP after the delete');
        // Order by when packets entered the node: verdicts are published when judged, not in ingress order.
        const entered = (v: { observed: { timeNs: number }[] }) => v.observed[0].timeNs;
        const after = () => h.verdicts.filter((v) => fwd(v) && entered(v) > entered(first));
        await h.waitUntil(() => after().length >= 5, 10_000, '5 packets after the blackhole took over');
        await ping.stop();
        await h.waitUntil(() => h.rc.collector.counters().correlatorPending === 0, 10_000, 'every packet judged');

        for (const v of [first, ...after()]) {
          assert.equal(v.verdict, 'EXPECTED_DROP', h.dump(fwd));
          assert.equal(v.decision, 'blackhole');
          assert.equal(v.route, 'blackhole 10.233.101.192/26 proto 80');
          assert.deepEqual(v.predicted, [CALI_A]);
          assert.equal(v.kernel?.result, 'blackhole');
          assert.ok(v.observed.some((x) => x.dir === 'drop'));
          assert.match(v.reason, /no pod/);
        }
        const switched = h.verdicts.filter((v) => fwd(v) && v.decision === 'blackhole').sort((a, b) => entered(a) - entered(b))[0];
        assert.ok(switched.warnings.includes('ROUTE_CHANGED'), h.dump(fwd));
        assert.match(switched.reason, /caliaa479e31ff6/, 'names the pod route that was used before');
        const flow = h.rc.collector.flow(first.flowKey!);
        assert.ok(flow && flow.forward.verdicts.MATCHED >= 3 && flow.forward.verdicts.EXPECTED_DROP >= 6, JSON.stringify(flow?.forward.verdicts));
      } finally {
        await ping.stop();
      }
    });
  });
});

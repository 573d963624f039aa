// A tc filter on the pod's cali interface (ingress, in node1's namespace) that redirects the pod's
// traffic for .224 out through the uplink: routing says caliaa479e31ff6, the packet leaves by ens3 → DIVERGED.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../helpers/lab';
import { mustExec, withNodeCollector, redirectToUplink } from '../helpers/path-lab';
import { POD_A, POD_B, CALI_A } from '../helpers/path-fixtures';


test('tc mirred redirect on the pod interface: DIVERGED, naming the predicted and the real device', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    await withNodeCollector(lab, async (h) => {
      // Our tracer is attached with TCX, which runs before the classic tc filters added here.
      await redirectToUplink(lab, CALI_A, POD_B);
      const r = await mustExec(lab, POD_A, ['sh', '-c', `ping -n -c 3 -i 0.1 -W 1 ${POD_B} || true`]);
      assert.match(r, /100% packet loss/, 'the redirect takes the requests away from pod B');
      const v = await h.waitVerdict((x) => x.src === POD_A && x.dst === POD_B, 10_000, 'a verdict for the redirected ping');
      assert.equal(v.verdict, 'DIVERGED', h.dump());
      assert.deepEqual(v.observed.map((x) => `${x.iface}:${x.dir}`), [`${CALI_A}:ingress`, 'ens3:egress']);
      assert.deepEqual(v.predicted, [CALI_A, 'caliaa479e31ff6']);
      assert.match(v.reason, /left via ens3/);
      assert.match(v.reason, /caliaa479e31ff6/);
      assert.equal(v.kernel?.iface, 'caliaa479e31ff6', 'the FIB agreed with the model: the move happened after routing');
      assert.match(v.reason, /redirect/);
      // Counted on the pods' packets only: the underlay's multicast noise (IGMP reports) is judged too.
      const pods = () => h.verdicts.filter((x) => x.src === POD_A && x.dst === POD_B);
      await h.waitUntil(() => pods().filter((x) => x.verdict === 'DIVERGED').length >= 3, 10_000, 'all three pings judged DIVERGED');
      assert.deepEqual(pods().map((x) => x.verdict), ['DIVERGED', 'DIVERGED', 'DIVERGED'], h.dump());
    });
  });
});

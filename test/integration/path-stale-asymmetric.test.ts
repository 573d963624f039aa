// STALE_MODEL and ASYMMETRIC_RETURN with real packets.
// - A route model loaded once and not following the kernel, then a route changed in the kernel: the
//   kernel FIB's answer at ingress and the model disagree → STALE_MODEL, naming the route each used.
// - Replies from pod B sent out of the uplink by a tc redirect: the return path is not the reverse of the
//   request's → ASYMMETRIC_RETURN on the reply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../helpers/lab';
import { mustExec, withNodeCollector, redirectToUplink } from '../helpers/path-lab';
import { startCapture } from '../../src/capture/capture';
import { Collector } from '../../src/collector/collector';
import { createRouteModel } from '../../src/routing/model';
import { predict } from '../../src/routing/predict';
import { nodeNetns } from '../../src/lab';
import type { PacketVerdict } from '../../src/path/types';
import { POD_A, POD_B, WEB_0, CALI_A, CALI_B } from '../helpers/path-fixtures';


test('model loaded once, route changed in the kernel: STALE_MODEL names the kernel route and the model route', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const netns = nodeNetns(lab.prefix, 'node1');
    const model = createRouteModel({ netns });
    await model.load(); // a snapshot: no live updates
    const capture = startCapture({ netns });
    const collector = new Collector({ capture, model, predict });
    const verdicts: PacketVerdict[] = [];
    collector.on('verdict', (v) => verdicts.push(v));
    try {
      await capture.ready();
      await mustExec(lab, 'node1', ['ip', 'route', 'replace', '10.233.100.128/26', 'via', '172.27.71.12', 'dev', 'ens3']);
      await mustExec(lab, POD_A, ['sh', '-c', `ping -n -c 1 -W 1 ${WEB_0} || true`]);
      const until = Date.now() + 5000;
      while (!verdicts.some((v) => v.src === POD_A) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      const v = verdicts.find((x) => x.src === POD_A && x.dst === WEB_0);
      assert.ok(v, `no verdict; got: ${JSON.stringify(verdicts)}`);
      assert.equal(v!.verdict, 'STALE_MODEL', v!.reason);
      assert.equal(v!.kernel?.iface, 'ens3');
      assert.match(v!.reason, /kernel FIB chose ens3 via 172\.27\.71\.12/);
      assert.match(v!.reason, /10\.233\.100\.128\/26 via 10\.233\.100\.128 dev vxlan\.calico onlink/);
      assert.deepEqual(v!.observed.map((x) => x.iface), [CALI_A, 'ens3'], 'it followed the kernel');
    } finally {
      await capture.stop();
      collector.stop();
    }
  });
});

test('replies redirected out of the uplink: the reply is DIVERGED and flagged ASYMMETRIC_RETURN', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    await withNodeCollector(lab, async (h) => {
      await redirectToUplink(lab, CALI_B, POD_A);
      await mustExec(lab, POD_A, ['sh', '-c', `ping -n -c 2 -i 0.2 -W 1 ${POD_B} || true`]);
      const reply = await h.waitVerdict((x) => x.src === POD_B && x.dst === POD_A && x.warnings.includes('ASYMMETRIC_RETURN'), 10_000, 'an asymmetric reply');
      const request = h.verdicts.find((x) => x.src === POD_A && x.dst === POD_B)!;
      assert.equal(request.verdict, 'MATCHED', h.dump());
      assert.equal(reply.verdict, 'DIVERGED');
      assert.deepEqual(reply.observed.map((x) => x.iface), [CALI_B, 'ens3']);
      assert.match(reply.reason, /return path is not the reverse/);
      assert.match(reply.reason, /ens3/);
      assert.equal(reply.flowKey, request.flowKey);
      await h.waitUntil(() => (h.flows.get(request.flowKey!)?.warnings ?? []).includes('ASYMMETRIC_RETURN'), 10_000, 'the flow to carry the warning');
    });
  });
});

// A netfilter DROP rule in node1's forward path (nftables, inside the node's namespace only): the packet
// enters from the pod, the route says caliaa479e31ff6, the kernel drops it → DROPPED with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../helpers/lab';
import { mustExec, withNodeCollector } from '../helpers/path-lab';
import { POD_A, POD_B } from '../helpers/path-fixtures';


test('nft DROP in node1 FORWARD: DROPPED, unexpected, with the netfilter reason and where', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    // Only the node's namespace gets the rule; the table is ours and goes with the namespace.
    await mustExec(lab, 'node1', ['sh', '-c',
      "nft add table inet calitrace_test && " +
      "nft add chain inet calitrace_test guard '{ type filter hook forward priority 0; policy accept; }' && " +
      `nft add rule inet calitrace_test guard ip saddr ${POD_A} ip daddr ${POD_B} drop`]);
    await withNodeCollector(lab, async (h) => {
      const r = await mustExec(lab, POD_A, ['sh', '-c', `ping -n -c 3 -i 0.1 -W 1 ${POD_B} || true`]);
      assert.match(r, /100% packet loss/, 'the rule really drops the traffic');
      const v = await h.waitVerdict((x) => x.src === POD_A && x.dst === POD_B, 10_000, 'a verdict for the dropped ping');
      assert.equal(v.verdict, 'DROPPED', h.dump());
      assert.match(v.reason, /NETFILTER_DROP/);
      assert.match(v.reason, /netfilter/);
      assert.match(v.reason, /caliaa479e31ff6/, 'says where the route would have sent it');
      const drop = v.observed.find((x) => x.dir === 'drop');
      assert.ok(drop, 'the drop is a hop of the observed path');
      assert.equal(drop!.dropReason, 'NETFILTER_DROP');
      assert.equal(drop!.iface, 'cali11299111064', 'dropped while forwarding from the pod interface');
      assert.ok(!v.observed.some((x) => x.dir === 'egress'));
      assert.deepEqual(v.predicted, ['cali11299111064', 'caliaa479e31ff6']);
      assert.equal(v.kernel?.iface, 'caliaa479e31ff6', 'routing itself was fine');
      // Counted on the pods' packets only: the underlay's multicast noise (IGMP reports) is judged too.
      const pods = () => h.verdicts.filter((x) => x.src === POD_A && x.dst === POD_B);
      await h.waitUntil(() => pods().filter((x) => x.verdict === 'DROPPED').length >= 3, 10_000, 'all three pings judged DROPPED');
      assert.deepEqual(pods().map((x) => x.verdict), ['DROPPED', 'DROPPED', 'DROPPED'], h.dump());
    });
  });
});

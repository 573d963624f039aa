// Two verdicts that only real kernels produce: a packet too big for the VXLAN device (DF set) and a
// path whose later hops are not traced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../helpers/lab';
import { mustExec, withNodeCollector } from '../helpers/path-lab';
import { POD_A, WEB_0, CALI_A } from '../helpers/path-fixtures';


test('1468-byte ping with DF to node2: DROPPED at the pod interface, MTU_EXCEEDED, sizes in the reason', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    await withNodeCollector(lab, async (h) => {
      // The misconfiguration this warning exists for: a pod whose MTU was not lowered for VXLAN (the lab,
      // like Calico, gives pods underlay − 50 = 1450). With 1500 on the veth, a 1468-byte DF packet
      // reaches the node and does not fit vxlan.calico's 1450.
      await mustExec(lab, 'node1', ['ip', 'link', 'set', CALI_A, 'mtu', '1500']);
      await mustExec(lab, POD_A, ['ip', 'link', 'set', 'eth0', 'mtu', '1500']);
      await mustExec(lab, POD_A, ['sh', '-c', `ping -n -c 1 -W 1 -M do -s 1440 ${WEB_0} || true`]);
      const v = await h.waitVerdict((x) => x.src === POD_A && x.dst === WEB_0, 10_000, 'a verdict for the big ping');
      assert.equal(v.verdict, 'DROPPED', h.dump());
      assert.ok(v.warnings.includes('MTU_EXCEEDED'), h.dump());
      assert.match(v.reason, /PKT_TOO_BIG/);
      assert.match(v.reason, /1468-byte packet does not fit vxlan\.calico's MTU of 1450/);
      assert.deepEqual(v.predicted, [CALI_A, 'vxlan.calico', 'ens3']);
      // A packet that fits goes through.
      await mustExec(lab, POD_A, ['ping', '-n', '-c', '1', '-W', '1', '-M', 'do', '-s', '1400', WEB_0]);
      const ok = await h.waitVerdict((x) => x.src === POD_A && x.dst === WEB_0 && x.verdict === 'MATCHED', 10_000, 'the 1428-byte ping to match');
      assert.deepEqual(ok.warnings, []);
    });
  });
});

test('only cali* traced: a cross-node packet is INCOMPLETE and the reason names the untraced devices', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    await withNodeCollector(lab, async (h) => {
      assert.ok(!h.rc.traced.has('vxlan.calico') && !h.rc.traced.has('ens3'), [...h.rc.traced].join(' '));
      await mustExec(lab, POD_A, ['ping', '-n', '-c', '1', '-W', '1', WEB_0]);
      const v = await h.waitVerdict((x) => x.src === POD_A && x.dst === WEB_0, 10_000, 'a verdict for the ping');
      assert.equal(v.verdict, 'INCOMPLETE', h.dump());
      assert.match(v.reason, /not seen on vxlan\.calico → ens3/);
      assert.match(v.reason, /vxlan\.calico, ens3 are not traced/);
      assert.deepEqual(v.observed.map((x) => x.iface), [CALI_A]);
    }, 'node1', { patterns: ['cali*'] });
  });
});

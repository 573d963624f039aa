// What the engineer on the node does first: ping a pod from the node. The node's own packets must get
// true stories. Two used to be false alarms on every node:
// - the echo replies: `ping` run as root reads them through a raw ICMP socket, and the kernel then frees
//   the original with NO_SOCKET (no *ping* socket claimed it) — judged DROPPED although ping got them;
// - IPv6 sent through a pod's device to a link-local address or a multicast group (neighbour and router
//   solicitations, MLD reports, `ping fe80::…%cali…`): every device has its own fe80::/64 and ff00::/8
//   route, the sender names the device, and the table's first route was predicted — DIVERGED.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../helpers/lab';
import { mustExec, withNodeCollector } from '../helpers/path-lab';
import { CALI_A, CALI_B, POD_A, POD_B } from '../helpers/path-fixtures';
import type { PacketVerdict } from '../../src/path/types';
import type { CaptureMode } from '../../src/capture/capture';

interface Route6 {
  dst: string;
  dev: string;
  table?: string;
}

for (const mode of ['packet', 'case'] as CaptureMode[]) {
  test(`the node's own packets (${mode} mode): ping replies read by a raw socket and IPv6 link-local/multicast sent through a named device are MATCHED`, { timeout: 120_000 }, async () => {
    await withLab(async (lab) => {
      // The lab is IPv4-only (quiet links for the other tests); a real node's cali devices have link-local
      // addresses, so here node1 and the two pods get IPv6 back, and with it the router solicitations and MLD
      // reports a real node sends.
      for (const ns of ['node1', POD_A, POD_B]) {
        await mustExec(lab, ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0']);
      }
      const settled = Date.now() + 10_000;
      for (const ns of ['node1', POD_A, POD_B]) {
        while ((await mustExec(lab, ns, ['ip', '-6', 'addr', 'show', 'tentative'])).trim() !== '') {
          if (Date.now() > settled) throw new Error(`${ns}: IPv6 addresses still tentative (duplicate address detection) after 10 s`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      // The pod device whose fe80::/64 route is NOT the first one in the table: predicting from the table
      // alone would name another device.
      const routes = JSON.parse(await mustExec(lab, 'node1', ['ip', '-6', '-j', 'route', 'show', 'fe80::/64'])) as Route6[];
      const ll = routes.filter((r) => r.dst === 'fe80::/64').map((r) => r.dev);
      assert.ok(ll.length >= 2, `node1 has a fe80::/64 route per device: ${JSON.stringify(routes)}`);
      const dev = [CALI_A, CALI_B].find((d) => ll.indexOf(d) > 0);
      assert.ok(dev, `a pod device that is not first among ${ll.join(', ')}`);
      const pod = dev === CALI_A ? POD_A : POD_B;
      const addrs = JSON.parse(await mustExec(lab, pod, ['ip', '-6', '-j', 'addr', 'show', 'dev', 'eth0'])) as { addr_info: { local: string; scope: string }[] }[];
      const podLL = addrs[0]?.addr_info.find((a) => a.scope === 'link')?.local;
      assert.ok(podLL, `the pod has a link-local address: ${JSON.stringify(addrs)}`);

      await withNodeCollector(lab, async (h) => {
        const mine = (v: PacketVerdict) => v.proto === 1 || v.proto === 58;

        // 1. ping a pod from the node (root: a raw socket).
        const ping = await mustExec(lab, 'node1', ['ping', '-n', '-c', '2', '-i', '0.2', '-W', '1', pod]);
        assert.match(ping, /2 received/);
        const replies = () => h.verdicts.filter((v) => v.src === pod && v.proto === 1);
        await h.waitUntil(() => replies().length >= 2, 10_000, 'verdicts for the two echo replies (each dropped by the kernel after delivery)');
        for (const v of replies()) {
          assert.equal(v.verdict, 'MATCHED', h.dump());
          assert.match(v.reason, /freed it .*\(NO_SOCKET\).*raw ICMP sockets \(`ping` run as root\) got their copy: not a loss/);
          assert.deepEqual(v.observed.filter((x) => x.dir !== 'drop').map((x) => `${x.iface}:${x.dir}`), [`${dev}:ingress`]);
        }

        // 2. ping the pod's link-local address through its device: the scope id names the device.
        const ll6 = await mustExec(lab, 'node1', ['ping', '-6', '-n', '-c', '1', '-W', '1', `${podLL}%${dev}`]);
        assert.match(ll6, /1 received/);
        const req = await h.waitVerdict((v) => v.dst === podLL && v.icmp?.type === 128, 10_000, 'the link-local echo request');
        assert.equal(req.verdict, 'MATCHED', h.dump());
        assert.deepEqual(req.predicted, [dev]);
        assert.deepEqual(req.observed.map((x) => `${x.iface}:${x.dir}`), [`${dev}:egress`]);

        // 3. ping all-nodes through the pod's device: the group is sent where the sender asked.
        await mustExec(lab, 'node1', ['ping', '-6', '-n', '-c', '1', '-W', '1', `ff02::1%${dev}`]);
        const group = await h.waitVerdict((v) => v.dst === 'ff02::1' && v.icmp?.type === 128, 10_000, 'the echo request to ff02::1');
        assert.equal(group.verdict, 'MATCHED', h.dump());
        assert.deepEqual(group.predicted, [dev]);

        // Nothing the node sent or received in these exchanges is told as a divergence or a drop.
        await h.waitUntil(() => h.verdicts.some((v) => v.src === podLL && v.icmp?.type === 129), 10_000, 'the link-local echo reply');
        const wrong = h.verdicts.filter((v) => mine(v) && (v.verdict === 'DIVERGED' || v.verdict === 'DROPPED'));
        assert.deepEqual(wrong.map((v) => `${v.verdict} ${v.src} > ${v.dst}: ${v.reason}`), [], h.dump());
      }, 'node1', { mode });
    });
  });
}

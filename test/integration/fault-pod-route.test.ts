// A pod address without its /32 route, five ways, each injected on the lab's node1 with real pings: the
// verdict of every echo request names the cause, from the node's evidence (links and their state, the pod's
// permanent neighbour entry, Calico's interface name for the pod in the lab's directory, the model's history).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../helpers/lab';
import { labUp } from '../../src/lab';
import { mustExec, withNodeCollector } from '../helpers/path-lab';
import { pingVerdicts, withFault } from '../helpers/faults';
import type { PacketVerdict } from '../../src/path/types';

const POD_A = '10.233.101.222';
const POD_B = '10.233.101.224';
const NO_POD = '10.233.101.230';
const CALI_A = 'cali11299111064';
const CALI_B = 'caliaa479e31ff6';
const BLACKHOLE = 'blackhole 10.233.101.192/26 proto 80';

function everyPacket(vs: PacketVerdict[], verdict: string, cause: RegExp, dump: string): void {
  for (const v of vs) {
    assert.equal(v.verdict, verdict, dump);
    assert.match(v.reason, cause, dump);
    if (verdict !== 'MATCHED') assert.match(v.cause ?? '', cause, dump);
  }
}

test('missing /32: no pod, route missing with the interface up, interface down, interface deleted, /32 on another interface', { timeout: 240_000 }, async () => {
  await withLab(async (lab) => {
    const podMac = (await mustExec(lab, POD_B, ['cat', '/sys/class/net/eth0/address'])).trim();
    const restoreB = [
      ['ip', 'link', 'set', CALI_B, 'up'],
      ['ip', 'route', 'replace', `${POD_B}/32`, 'dev', CALI_B, 'scope', 'link', 'proto', 'boot'],
      ['ip', 'neigh', 'replace', POD_B, 'dev', CALI_B, 'lladdr', podMac, 'nud', 'permanent'],
    ];
    await withNodeCollector(lab, async (h) => {
      // Healthy first: the pod answers.
      const ok = await pingVerdicts(h, lab, POD_A, POD_B, { count: 2 });
      everyPacket(ok, 'MATCHED', /as predicted/, h.dump());

      // 1. No pod has the address: nothing on the node knows it.
      const none = await pingVerdicts(h, lab, POD_A, NO_POD);
      everyPacket(none, 'EXPECTED_DROP', /no pod has 10\.233\.101\.230: no cali interface has a neighbour entry for it, no pod in the pod directory/, h.dump());
      for (const v of none) assert.equal(v.route, BLACKHOLE);

      // 2. The interface is up, the /32 is gone (Felix did not program it): the permanent neighbour entry and the
      //    pod's name both point at caliaa479e31ff6.
      await withFault(lab, { name: '/32 deleted', target: 'node1', inject: [['ip', 'route', 'del', POD_B, 'dev', CALI_B]], repair: restoreB }, async () => {
        const vs = await pingVerdicts(h, lab, POD_A, POD_B);
        everyPacket(vs, 'EXPECTED_DROP', /interface caliaa479e31ff6 is up but the \/32 route `10\.233\.101\.224 dev caliaa479e31ff6 scope link` is missing/, h.dump());
        for (const v of vs) {
          assert.match(v.reason, /Felix has not programmed it or removed it — check calico-node/);
          assert.match(v.reason, /neighbour entry `10\.233\.101\.224 dev caliaa479e31ff6 lladdr [0-9a-f:]+ PERMANENT` is there/);
          assert.match(v.reason, /Calico names its interface caliaa479e31ff6/);
        }
      });
      await pingVerdicts(h, lab, POD_A, POD_B, { count: 1 }).then((vs) => everyPacket(vs, 'MATCHED', /as predicted/, h.dump()));

      // 3. The interface is down: the kernel flushed the /32 and the neighbour entry with it.
      await withFault(lab, { name: 'cali down', target: 'node1', inject: [['ip', 'link', 'set', CALI_B, 'down']], repair: restoreB }, async () => {
        const vs = await pingVerdicts(h, lab, POD_A, POD_B);
        everyPacket(vs, 'EXPECTED_DROP', /interface caliaa479e31ff6 is administratively down, and the kernel flushed its \/32 with the link/, h.dump());
        for (const v of vs) assert.match(v.reason, /the route model saw `10\.233\.101\.224 dev caliaa479e31ff6/);
      });
      await pingVerdicts(h, lab, POD_A, POD_B, { count: 1 }).then((vs) => everyPacket(vs, 'MATCHED', /as predicted/, h.dump()));

      // 4. A /32 that points at another pod's interface: the kernel asks that pod for the address (ARP), gets no
      //    answer and drops the queued packets ~3 s later; each drop joins its own packet.
      await withFault(lab, {
        name: '/32 on the wrong cali',
        target: 'node1',
        inject: [['ip', 'route', 'replace', `${POD_B}/32`, 'dev', CALI_A, 'scope', 'link', 'proto', 'boot']],
        repair: [['ip', 'neigh', 'del', POD_B, 'dev', CALI_A], ...restoreB],
      }, async () => {
        const vs = await pingVerdicts(h, lab, POD_A, POD_B);
        everyPacket(vs, 'DROPPED', /the \/32 `10\.233\.101\.224 dev cali11299111064 scope link` points at cali11299111064, but 10\.233\.101\.224 belongs to caliaa479e31ff6/, h.dump());
        for (const v of vs) {
          assert.match(v.reason, /NEIGH_FAILED/);
          assert.match(v.reason, /its verdict waited for the kernel's ARP for 10\.233\.101\.224 on cali11299111064/);
        }
      });
      await pingVerdicts(h, lab, POD_A, POD_B, { count: 1 }).then((vs) => everyPacket(vs, 'MATCHED', /as predicted/, h.dump()));

      // 5. The pod's interface is deleted while the pod still exists (CNI failure): the lab's directory names it.
      await withFault(lab, { name: 'veth deleted', target: 'node1', inject: [['ip', 'link', 'del', CALI_B]], repair: [] }, async () => {
        const vs = await pingVerdicts(h, lab, POD_A, POD_B);
        everyPacket(vs, 'EXPECTED_DROP', /pod ems\/ems-a10nsp-accounting-[a-z0-9-]+ exists but its interface caliaa479e31ff6 is missing/, h.dump());
        for (const v of vs) assert.match(v.reason, /CNI plugin failed/);
      }).finally(() => labUp({ prefix: lab.prefix }));
    });
  });
});

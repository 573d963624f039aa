// More faults on the lab's node1, each with real pings and its repair: the reverse-path filter refusing a
// spoofed source, an ip rule that takes pod traffic to a table without the pod routes, and the wrong VNI on
// one node (which only the other node could see discard the packets: the verdict says so).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../helpers/lab';
import { labNode, labUp } from '../../src/lab';
import { mustExec, withNodeCollector } from '../helpers/path-lab';
import { pingVerdicts, withFault } from '../helpers/faults';
import type { PacketVerdict } from '../../src/path/types';

const POD_A = '10.233.101.222';
const POD_B = '10.233.101.224';
const WEB_0 = '10.233.100.130';
const CALI_A = 'cali11299111064';
const SPOOFED = '10.233.100.200';

function everyPacket(vs: PacketVerdict[], verdict: string, cause: RegExp, dump: string): void {
  for (const v of vs) {
    assert.equal(v.verdict, verdict, dump);
    assert.match(v.reason, cause, dump);
    assert.match(v.cause ?? '', cause, dump);
  }
}

test('rp_filter strict on the pod interface refuses a spoofed source: EXPECTED_DROP naming the filter', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const key = `net.ipv4.conf.${CALI_A}.rp_filter`;
    const before = (await mustExec(lab, 'node1', ['sysctl', '-n', key])).trim();
    await withNodeCollector(lab, async (h) => {
      // Resolve the pod's gateway first: an ARP request from the spoofed address would be refused by the same
      // filter, and the pod would never send the packets.
      assert.equal((await pingVerdicts(h, lab, POD_A, POD_B, { count: 1 }))[0].verdict, 'MATCHED', h.dump());
      await withFault(lab, { name: 'rp_filter strict', target: 'node1', inject: [['sysctl', '-w', `${key}=1`]], repair: [['sysctl', '-w', `${key}=${before}`]] }, async () => {
        await withFault(lab, { name: 'spoofed source', target: POD_A, inject: [['ip', 'addr', 'add', `${SPOOFED}/32`, 'dev', 'eth0']], repair: [['ip', 'addr', 'del', `${SPOOFED}/32`, 'dev', 'eth0']] }, async () => {
          // The model must have seen the sysctl before the packets come (netconf events re-dump it).
          await h.waitUntil(() => h.rc.model.state.links.find((l) => l.name === CALI_A)?.rpFilter === 1, 5000, 'the model to see rp_filter=1');
          const vs = await pingVerdicts(h, lab, POD_A, POD_B, { srcAddr: SPOOFED });
          everyPacket(vs, 'EXPECTED_DROP', /the reverse-path filter, strict \(rp_filter=1\) on cali11299111064, refused source 10\.233\.100\.200/, h.dump());
          for (const v of vs) assert.match(v.reason, /IP_RPFILTER/);
        });
      });
      // Its own address still passes.
      const ok = await pingVerdicts(h, lab, POD_A, POD_B, { count: 1 });
      assert.equal(ok[0].verdict, 'MATCHED', h.dump());
      assert.deepEqual(ok[0].warnings, []);
    });
  });
});

test('ip rule to a table without the pod routes: MATCHED by the tables, CALICO_INTENT names the rule and Calico\'s route', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    await withNodeCollector(lab, async (h) => {
      await withFault(lab, {
        name: 'policy rule',
        target: 'node1',
        inject: [['ip', 'route', 'add', 'default', 'via', lab.gateway, 'dev', 'ens3', 'table', '100'], ['ip', 'rule', 'add', 'from', POD_A, 'lookup', '100', 'pref', '100']],
        repair: [['ip', 'rule', 'del', 'pref', '100'], ['ip', 'route', 'flush', 'table', '100']],
      }, async () => {
        const vs = await pingVerdicts(h, lab, POD_A, POD_B);
        everyPacket(vs, 'MATCHED', /10\.233\.101\.224 is a Calico address and Calico routes it by `10\.233\.101\.224 dev caliaa479e31ff6 scope link` in the main table \(local-workload\), but the lookup used `default via 172\.27\.71\.254 dev ens3[^`]*` \(rule `[^`]*from 10\.233\.101\.222(\/32)? lookup 100[^`]*` sent the lookup to table 100\)/, h.dump());
        for (const v of vs) {
          assert.ok(v.warnings.includes('CALICO_INTENT'), h.dump());
          assert.deepEqual(v.predicted, [CALI_A, 'ens3']);
        }
      });
      const ok = await pingVerdicts(h, lab, POD_A, POD_B, { count: 1 });
      assert.equal(ok[0].verdict, 'MATCHED', h.dump());
      assert.deepEqual(ok[0].warnings, [], h.dump());
    });
  });
});

test('wrong VNI on node1: MATCHED by its own tables, CALICO_INTENT says node2 discards it unseen', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const n1 = labNode(lab, 'node1');
    const n2 = labNode(lab, 'node2');
    const recreate = (vni: number) => [
      ['ip', 'link', 'del', 'vxlan.calico'],
      ['ip', 'link', 'add', 'vxlan.calico', 'mtu', '1450', 'address', n1.vxlanMac, 'type', 'vxlan', 'id', String(vni), 'local', n1.underlayIp, 'dev', 'ens3', 'dstport', '4789', 'nolearning'],
      ['ip', 'addr', 'add', `${n1.vtep}/32`, 'dev', 'vxlan.calico'],
      ['ip', 'link', 'set', 'vxlan.calico', 'up'],
      ['ip', 'neigh', 'replace', n2.vtep, 'lladdr', n2.vxlanMac, 'dev', 'vxlan.calico', 'nud', 'permanent'],
      ['ip', 'route', 'replace', n2.block, 'via', n2.vtep, 'dev', 'vxlan.calico', 'onlink'],
      ['bridge', 'fdb', 'replace', n2.vxlanMac, 'dev', 'vxlan.calico', 'dst', n2.underlayIp, 'self', 'permanent'],
    ];
    await withNodeCollector(lab, async (h) => {
      await withFault(lab, { name: 'VNI 4097', target: 'node1', inject: recreate(4097), repair: [['ip', 'link', 'del', 'vxlan.calico']] }, async () => {
        await h.waitUntil(() => h.rc.model.state.links.find((l) => l.name === 'vxlan.calico')?.vxlan?.vni === 4097 && h.rc.model.state.fdb.some((e) => e.dst === n2.underlayIp), 5000, 'the model to see the new vxlan.calico');
        await h.waitUntil(() => h.rc.traced.has('vxlan.calico'), 5000, 'the new vxlan.calico to be traced');
        const vs = await pingVerdicts(h, lab, POD_A, WEB_0);
        everyPacket(vs, 'MATCHED', /vxlan\.calico uses VNI 4097, not Calico's 4096\/4789 .*172\.27\.71\.12 discards the packet on arrival, which calitrace on this node cannot see/, h.dump());
        for (const v of vs) {
          assert.ok(v.warnings.includes('CALICO_INTENT'), h.dump());
          assert.match(v.reason, /encapsulated to 172\.27\.71\.12 \(VNI 4097\)/);
        }
      }).finally(() => labUp({ prefix: lab.prefix }));
    });
  });
});

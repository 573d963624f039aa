// Faults on the pod's side of its veth, where no hook sees: a pod eth0 MTU above its cali's, and a stale
// neighbour entry (wrong MAC) for a pod. calitrace reads the pod end of the veth from the pod's namespace and
// says, on every packet it does see, what it cannot see and what to check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../helpers/lab';
import { mustExec, withNodeCollector } from '../helpers/path-lab';
import { pingVerdicts, withFault } from '../helpers/faults';

const POD_A = '10.233.101.222';
const POD_B = '10.233.101.224';
const CALI_A = 'cali11299111064';
const CALI_B = 'caliaa479e31ff6';

test('pod eth0 MTU above its cali: big packets die unseen, every packet seen from the pod names the MTU mismatch', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    await withNodeCollector(lab, async (h) => {
      await withFault(lab, { name: 'pod MTU 1500', target: POD_A, inject: [['ip', 'link', 'set', 'eth0', 'mtu', '1500']], repair: [['ip', 'link', 'set', 'eth0', 'mtu', '1450']] }, async () => {
        await h.waitUntil(() => h.rc.peers.get(CALI_A)?.mtu === 1500, 10_000, 'the pod end of cali11299111064 read with MTU 1500');
        const start = h.verdicts.length;
        // 1468-byte packets fit the pod's 1500 but not cali's 1450: the veth drops them in the pod's namespace.
        await mustExec(lab, POD_A, ['sh', '-c', `ping -n -c 2 -i 0.2 -W 1 -M do -s 1440 ${POD_B} || true`]);
        const vs = await pingVerdicts(h, lab, POD_A, POD_B);
        const big = h.verdicts.slice(start).filter((v) => v.src === POD_A && (v.len ?? 0) > 1450);
        assert.deepEqual(big, [], 'the big packets never reach a hook: no verdict can be made for them');
        for (const v of vs) {
          assert.equal(v.verdict, 'MATCHED', h.dump());
          assert.ok(v.warnings.includes('CALICO_INTENT'), h.dump());
          assert.match(v.reason, /the pod's eth0 \(namespace [a-z0-9]+-cali11299111064\) has MTU 1500, more than cali11299111064's 1450: its packets above 1450 bytes are dropped inside the pod's namespace before any hook, so calitrace never sees them/, h.dump());
        }
      });
      await h.waitUntil(() => h.rc.peers.get(CALI_A)?.mtu === 1450, 10_000, 'the repaired MTU read');
      // The pod checks are memoised for a second (src/path/verdict.ts): a ping right after the read may
      // still get the old finding; one of the next ones must not.
      let ok = await pingVerdicts(h, lab, POD_A, POD_B, { count: 1 });
      for (let i = 0; i < 10 && ok[0].warnings.length > 0; i++) ok = await pingVerdicts(h, lab, POD_A, POD_B, { count: 1 });
      assert.deepEqual(ok[0].warnings, [], h.dump());
    });
  });
});

test('stale neighbour entry for a pod (wrong MAC): every packet to it names the mismatch and what calitrace cannot see', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const mac = (await mustExec(lab, POD_B, ['cat', '/sys/class/net/eth0/address'])).trim();
    await withNodeCollector(lab, async (h) => {
      await h.waitUntil(() => h.rc.peers.get(CALI_B)?.mac === mac, 10_000, 'the pod end of caliaa479e31ff6 read');
      await withFault(lab, {
        name: 'stale neighbour',
        target: 'node1',
        inject: [['ip', 'neigh', 'replace', POD_B, 'dev', CALI_B, 'lladdr', '02:00:00:00:00:01', 'nud', 'permanent']],
        repair: [['ip', 'neigh', 'replace', POD_B, 'dev', CALI_B, 'lladdr', mac, 'nud', 'permanent']],
      }, async () => {
        await h.waitUntil(() => h.rc.model.state.neighbours.some((n) => n.dst === POD_B && n.lladdr === '02:00:00:00:00:01'), 5000, 'the model to see the stale entry');
        const vs = await pingVerdicts(h, lab, POD_A, POD_B);
        for (const v of vs) {
          assert.equal(v.verdict, 'MATCHED', h.dump());
          assert.ok(v.warnings.includes('CALICO_INTENT'), h.dump());
          const cause = new RegExp(`the neighbour entry \`10\\.233\\.101\\.224 dev caliaa479e31ff6 lladdr 02:00:00:00:00:01 PERMANENT\` does not match the pod's eth0 MAC ${mac}.*where calitrace cannot see — a stale entry`);
          assert.match(v.reason, cause, h.dump());
          assert.match(v.cause ?? '', cause);
        }
        // Nothing came back: the pod discarded them.
        assert.ok(!h.verdicts.some((v) => v.src === POD_B && v.dst === POD_A && v.icmp?.type === 0 && vs.some((x) => x.icmp?.seq === v.icmp?.seq && x.icmp?.id === v.icmp?.id)), h.dump());
      });
    });
  });
});

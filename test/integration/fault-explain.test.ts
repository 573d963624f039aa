// `calitrace explain` is the offline half of a verdict: with a fault injected on the lab's node1, the
// explanation names the same cause as the verdicts of real packets sent through the same state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { withLab } from '../helpers/lab';
import { labNode, nodeNetns } from '../../src/lab';
import { withNodeCollector } from '../helpers/path-lab';
import { pingVerdicts, withFault } from '../helpers/faults';

const run = promisify(execFile);
const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'calitrace.js');

const POD_A = '10.233.101.222';
const POD_B = '10.233.101.224';
const WEB_0 = '10.233.100.130';
const CALI_A = 'cali11299111064';
const CALI_B = 'caliaa479e31ff6';

/** explain's text; its exit status must be `exit` (0: the routes forward or deliver it, 1: they refuse it). */
async function explainText(netns: string, dst: string, exit = 0): Promise<string> {
  try {
    const { stdout } = await run(process.execPath, [BIN, 'explain', POD_A, dst, '--iif', CALI_A, '--netns', netns], { maxBuffer: 16 * 1024 * 1024 });
    assert.equal(0, exit, `explain ${POD_A} ${dst} exited 0, expected ${exit}:\n${stdout}`);
    return stdout;
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    assert.equal(e.code, exit, `explain ${POD_A} ${dst}: exit ${e.code}, expected ${exit}\n${e.stdout}${e.stderr}`);
    return e.stdout ?? '';
  }
}

test('explain names the cause the verdicts name: /32 missing, VTEP neighbour missing, a policy rule against Calico', { timeout: 180_000 }, async () => {
  await withLab(async (lab) => {
    const ns = nodeNetns(lab.prefix, 'node1');
    const n2 = labNode(lab, 'node2');
    const healthy = await explainText(ns, POD_B);
    assert.doesNotMatch(healthy, /Faults in the node's state/, healthy);
    await withNodeCollector(lab, async (h) => {
      const cases: { name: string; inject: string[][]; repair: string[][]; dst: string; cause: RegExp; exit: number }[] = [
        {
          name: '/32 deleted',
          inject: [['ip', 'route', 'del', POD_B, 'dev', CALI_B]],
          repair: [['ip', 'route', 'replace', `${POD_B}/32`, 'dev', CALI_B, 'scope', 'link', 'proto', 'boot']],
          dst: POD_B,
          exit: 1, // the IPAM-block blackhole refuses it
          cause: /the pod's interface caliaa479e31ff6 is up but the \/32 route `10\.233\.101\.224 dev caliaa479e31ff6 scope link` is missing/,
        },
        {
          name: 'VTEP neighbour deleted',
          inject: [['ip', 'neigh', 'del', n2.vtep, 'dev', 'vxlan.calico']],
          repair: [['ip', 'neigh', 'replace', n2.vtep, 'dev', 'vxlan.calico', 'lladdr', n2.vxlanMac, 'nud', 'permanent']],
          dst: WEB_0,
          exit: 0,
          cause: /no neighbour entry for the remote VTEP 10\.233\.100\.128 on vxlan\.calico/,
        },
        {
          name: 'policy rule',
          inject: [['ip', 'route', 'add', 'default', 'via', lab.gateway, 'dev', 'ens3', 'table', '100'], ['ip', 'rule', 'add', 'from', POD_A, 'lookup', '100', 'pref', '100']],
          repair: [['ip', 'rule', 'del', 'pref', '100'], ['ip', 'route', 'flush', 'table', '100']],
          dst: POD_B,
          exit: 0,
          cause: /10\.233\.101\.224 is a Calico address and Calico routes it by `10\.233\.101\.224 dev caliaa479e31ff6 scope link` in the main table \(local-workload\), but the lookup used `default via 172\.27\.71\.254 dev ens3/,
        },
      ];
      for (const c of cases) {
        const generation = h.rc.model.generation;
        await withFault(lab, { name: c.name, target: 'node1', inject: c.inject, repair: c.repair }, async () => {
          // The cause is judged against the model that has seen the fault: a packet sent in the moment
          // before the model hears of it is (rightly) STALE_MODEL. Up to 3 s for the model to move; if it
          // does not, the verdicts below say what it believed.
          await h.waitUntil(() => h.rc.model.generation > generation, 3000, `the route model to see: ${c.name}`).catch(() => undefined);
          const vs = await pingVerdicts(h, lab, POD_A, c.dst, { count: 2 });
          for (const v of vs) assert.match(v.cause ?? '', c.cause, `${c.name}: verdict\n${h.dump()}`);
          const text = await explainText(ns, c.dst, c.exit);
          assert.match(text, /Faults in the node's state/, `${c.name}:\n${text}`);
          assert.match(text, c.cause, `${c.name}: explain\n${text}`);
        });
      }
    });
  });
});

// The VXLAN chain broken link by link on the lab's node1 (route → VTEP neighbour → FDB → underlay neighbour),
// with real pings from pod A to web-0 on node2: every echo request gets one verdict that names the broken link.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../helpers/lab';
import { labNode } from '../../src/lab';
import { withNodeCollector } from '../helpers/path-lab';
import { pingVerdicts, withFault } from '../helpers/faults';
import type { PacketVerdict } from '../../src/path/types';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTestCerts } from '../helpers/certs';
import { mockKubeconfig, startMockKubeApi } from '../helpers/mock-kube-api';
import { KubeNodeAddresses, loadKubeconfig } from '../../src/k8s';

const POD_A = '10.233.101.222';
const WEB_0 = '10.233.100.130';
const VTEP2 = '10.233.100.128';
const NODE2_IP = '172.27.71.12';
const NOT_A_NODE = '172.27.71.99';

function everyPacket(vs: PacketVerdict[], verdict: string, cause: RegExp, dump: string): void {
  for (const v of vs) {
    assert.equal(v.verdict, verdict, dump);
    assert.match(v.reason, cause, dump);
    if (verdict !== 'MATCHED') assert.match(v.cause ?? '', cause, dump);
  }
}

test('VXLAN chain: VTEP neighbour missing, FDB entry missing, FDB dst not a node', { timeout: 240_000 }, async () => {
  await withLab(async (lab) => {
    const mac2 = labNode(lab, 'node2').vxlanMac;
    const restore = [
      ['ip', 'neigh', 'replace', VTEP2, 'dev', 'vxlan.calico', 'lladdr', mac2, 'nud', 'permanent'],
      ['bridge', 'fdb', 'replace', mac2, 'dev', 'vxlan.calico', 'dst', NODE2_IP, 'self', 'permanent'],
      ['ip', 'neigh', 'del', NOT_A_NODE, 'dev', 'ens3'],
    ];
    await withNodeCollector(lab, async (h) => {
      const ok = await pingVerdicts(h, lab, POD_A, WEB_0, { count: 2 });
      everyPacket(ok, 'MATCHED', /encapsulated to 172\.27\.71\.12 \(VNI 4096\)/, h.dump());

      const pending: { fingerprint: string; pendingOn: string; dst: string }[] = [];
      h.rc.collector.on('pending', (p) => pending.push(p));
      await withFault(lab, { name: 'VTEP neighbour deleted', target: 'node1', inject: [['ip', 'neigh', 'del', VTEP2, 'dev', 'vxlan.calico']], repair: restore }, async () => {
        const vs = await pingVerdicts(h, lab, POD_A, WEB_0);
        // Each packet said it was pending before its one verdict came.
        for (const v of vs) {
          const p = pending.find((x) => x.fingerprint === v.fingerprint);
          assert.ok(p, `a pending event for seq ${v.icmp?.seq}: ${JSON.stringify(pending)}`);
          assert.equal(p.pendingOn, 'ARP for 10.233.100.128 on vxlan.calico');
        }
        everyPacket(vs, 'DROPPED', /no neighbour entry for the remote VTEP 10\.233\.100\.128 on vxlan\.calico (\(`10\.233\.100\.128 dev vxlan\.calico [A-Z]+`\) )?— the kernel's FIB answered no_neigh for it at ingress/, h.dump());
        for (const v of vs) {
          assert.equal(v.kernel?.result, 'no_neigh', h.dump());
          assert.match(v.reason, /NEIGH_FAILED/);
          assert.match(v.reason, /its verdict waited for the kernel's ARP for 10\.233\.100\.128 on vxlan\.calico/);
        }
      });
      everyPacket(await pingVerdicts(h, lab, POD_A, WEB_0, { count: 1 }), 'MATCHED', /as predicted/, h.dump());

      await withFault(lab, { name: 'FDB entry deleted', target: 'node1', inject: [['bridge', 'fdb', 'del', mac2, 'dev', 'vxlan.calico']], repair: restore }, async () => {
        const vs = await pingVerdicts(h, lab, POD_A, WEB_0);
        everyPacket(vs, 'DROPPED', new RegExp(`no FDB entry for ${mac2} on vxlan\\.calico`), h.dump());
      });
      everyPacket(await pingVerdicts(h, lab, POD_A, WEB_0, { count: 1 }), 'MATCHED', /as predicted/, h.dump());

      await withFault(lab, {
        name: 'FDB dst not a node',
        target: 'node1',
        inject: [['bridge', 'fdb', 'replace', mac2, 'dev', 'vxlan.calico', 'dst', NOT_A_NODE, 'self', 'permanent']],
        repair: restore,
      }, async () => {
        const vs = await pingVerdicts(h, lab, POD_A, WEB_0);
        everyPacket(vs, 'DROPPED', /dst 172\.27\.71\.99 on vxlan\.calico points at an address that is not a node calitrace knows/, h.dump());
        for (const v of vs) {
          assert.match(v.reason, /NEIGH_FAILED/);
          assert.match(v.reason, /underlay neighbour 172\.27\.71\.99 on ens3 is (FAILED|INCOMPLETE)/);
        }
      });
      everyPacket(await pingVerdicts(h, lab, POD_A, WEB_0, { count: 1 }), 'MATCHED', /as predicted/, h.dump());
    });
  });
});

test('FDB dst not among the Kubernetes nodes\' InternalIPs (from a MOCK Kubernetes API server): named on every packet', { timeout: 180_000 }, async () => {
  const certs = makeTestCerts();
  const mock = await startMockKubeApi(certs, { token: 'mock-token-fdb' });
  // The API knows the two lab nodes; the lab's third node ems203-w3 (172.27.71.13) is not one of them.
  mock.nodes.push({ name: 'ems203-w2', internalIp: '172.27.71.11' }, { name: 'ems203-w1', internalIp: NODE2_IP });
  const kubeconfig = path.join(certs.dir, 'kubeconfig-fdb.yaml');
  fs.writeFileSync(kubeconfig, mockKubeconfig(mock.url, { 'certificate-authority': certs.ca }, { token: 'mock-token-fdb' }));
  const reports: string[] = [];
  const nodes = new KubeNodeAddresses(loadKubeconfig([kubeconfig]), { report: (m) => reports.push(m) });
  try {
    assert.equal(await nodes.refresh(), true, reports.join('\n'));
    assert.deepEqual([...nodes.known()!].sort(), ['172.27.71.11', NODE2_IP]);
    await withLab(async (lab) => {
      const mac2 = labNode(lab, 'node2').vxlanMac;
      await withNodeCollector(lab, async (h) => {
        h.rc.collector.useCluster({ knownNodes: nodes.known });
        await withFault(lab, {
          name: 'FDB dst the third node',
          target: 'node1',
          inject: [['bridge', 'fdb', 'replace', mac2, 'dev', 'vxlan.calico', 'dst', '172.27.71.13', 'self', 'permanent']],
          repair: [['bridge', 'fdb', 'replace', mac2, 'dev', 'vxlan.calico', 'dst', NODE2_IP, 'self', 'permanent'], ['ip', 'neigh', 'del', '172.27.71.13', 'dev', 'ens3']],
        }, async () => {
          const vs = await pingVerdicts(h, lab, POD_A, WEB_0);
          everyPacket(vs, 'DROPPED', /dst 172\.27\.71\.13 on vxlan\.calico points at an address that is not a node calitrace knows \(nodes: 172\.27\.71\.11, 172\.27\.71\.12\)/, h.dump());
        });
      });
    });
  } finally {
    nodes.stop();
    await mock.close();
    certs.cleanup();
  }
});

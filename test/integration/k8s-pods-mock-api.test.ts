// The Kubernetes pod directory against a MOCK Kubernetes API server (test/helpers/mock-kube-api.ts; the
// API server is the boundary that cannot run here): the real kubeconfig loading, the real https client
// with the test CA, paging with `continue`, 401/403/TLS failures explained while the last good names
// stay, and the list-then-watch: a new pod named within a second, changes and deletes, bookmarks, a dropped
// watch resumed from its resourceVersion, and 410 Gone answered with a new list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTestCerts, TestCerts } from '../helpers/certs';
import { MockKubeApi, mockKubeconfig, startMockKubeApi } from '../helpers/mock-kube-api';
import { waitUntil } from '../helpers/api';
import { KubePodDirectory, loadKubeconfig } from '../../src/k8s';

const TOKEN = 'mock-token-0123456789';

async function withMock(fn: (mock: MockKubeApi, certs: TestCerts, writeKubeconfig: (text: string) => string) => Promise<void>, pageSize?: number): Promise<void> {
  const certs = makeTestCerts();
  const mock = await startMockKubeApi(certs, { token: TOKEN, pageSize });
  let n = 0;
  try {
    await fn(mock, certs, (text) => {
      const file = path.join(certs.dir, `kubeconfig-${n++}.yaml`);
      fs.writeFileSync(file, text);
      return file;
    });
  } finally {
    await mock.close();
    certs.cleanup();
  }
}

/** A directory whose reports are collected; stopped by the caller's finally. */
function directory(kubeconfig: string) {
  const reports: string[] = [];
  const dir = new KubePodDirectory(loadKubeconfig([kubeconfig]), { report: (m) => reports.push(m) });
  return { dir, reports };
}

test('mock Kubernetes API server: a bearer token is presented, the server is verified with the kubeconfig CA', async () => {
  await withMock(async (mock, certs, write) => {
    mock.pods.push({ namespace: 'shop', name: 'cart-0', ip: '10.244.1.5', node: 'worker-1' }, { namespace: 'shop', name: 'web-1', ip: '10.244.2.7', ips: ['10.244.2.7', 'fd00::7'], node: 'worker-2' });
    const { dir, reports } = directory(write(mockKubeconfig(mock.url, { 'certificate-authority': certs.ca }, { token: TOKEN })));
    try {
      assert.equal(await dir.refresh(), true, reports.join('\n'));
      assert.deepEqual(dir.lookup('10.244.1.5'), { namespace: 'shop', name: 'cart-0', node: 'worker-1' });
      assert.equal(dir.lookup('fd00::7')?.name, 'web-1'); // every podIPs entry, not only podIP
      assert.equal(dir.lookup('10.244.9.9'), undefined);
      assert.deepEqual(mock.requests.map((r) => [r.path, r.auth, r.limit]), [['/api/v1/pods', 'token', '500']]);
      assert.deepEqual(reports, [`pod names: 3 pod IPs loaded from the Kubernetes API at ${mock.url}`]);
    } finally {
      dir.stop();
    }

    // The same server checked against another CA: refused before any request, and the message says where to look.
    const wrongCa = directory(write(mockKubeconfig(mock.url, { 'certificate-authority': certs.clientCa }, { token: TOKEN })));
    try {
      assert.equal(await wrongCa.dir.refresh(), false);
      assert.equal(wrongCa.reports.length, 1);
      assert.match(wrongCa.reports[0], /^pod names: TLS to https:\/\/127\.0\.0\.1:\d+ failed: .*check certificate-authority.*; no pod names until it works/);
      assert.equal(mock.requests.length, 1, 'no request reached the server');
    } finally {
      wrongCa.dir.stop();
    }

    // insecure-skip-tls-verify: no CA needed (and none checked).
    const insecure = directory(write(mockKubeconfig(mock.url, { 'insecure-skip-tls-verify': true }, { token: TOKEN })));
    try {
      assert.equal(await insecure.dir.refresh(), true, insecure.reports.join('\n'));
      assert.equal(insecure.dir.lookup('10.244.2.7')?.name, 'web-1');
    } finally {
      insecure.dir.stop();
    }
  });
});

test('mock Kubernetes API server: a client certificate from the kubeconfig is presented; a foreign one is refused (401)', async () => {
  await withMock(async (mock, certs, write) => {
    mock.pods.push({ namespace: 'kube-system', name: 'coredns-abc', ip: '10.244.0.3', node: 'cp-1' });
    const data = (f: string) => fs.readFileSync(f).toString('base64');
    const { dir, reports } = directory(
      write(mockKubeconfig(mock.url, { 'certificate-authority-data': data(certs.ca) }, { 'client-certificate-data': data(certs.clientCert), 'client-key-data': data(certs.clientKey) })),
    );
    try {
      assert.equal(await dir.refresh(), true, reports.join('\n'));
      assert.equal(dir.lookup('10.244.0.3')?.name, 'coredns-abc');
      assert.equal(mock.requests[0].auth, 'certificate');
    } finally {
      dir.stop();
    }
    // Certificate files, relative to the kubeconfig's own folder.
    const rogue = directory(write(mockKubeconfig(mock.url, { 'certificate-authority': 'ca.pem' }, { 'client-certificate': 'rogue.pem', 'client-key': 'rogue.key' })));
    try {
      assert.equal(await rogue.dir.refresh(), false);
      assert.equal(mock.requests[1].auth, 'none');
      assert.equal(rogue.reports.length, 1);
      assert.match(rogue.reports[0], /^pod names: the token\/certificate was refused: Unauthorized/);
    } finally {
      rogue.dir.stop();
    }
  });
});

test('mock Kubernetes API server: every page is read, following continue', async () => {
  await withMock(async (mock, certs, write) => {
    for (let i = 1; i <= 5; i++) mock.pods.push({ namespace: 'batch', name: `job-${i}`, ip: `10.244.3.${i}`, node: 'worker-3' });
    mock.pods.push({ namespace: 'kube-system', name: 'kube-proxy-x', ip: '192.168.1.10', hostNetwork: true });
    mock.pods.push({ namespace: 'batch', name: 'old-job', ip: '10.244.3.1', phase: 'Succeeded' }); // its IP went to job-1
    const { dir, reports } = directory(write(mockKubeconfig(mock.url, { 'certificate-authority': certs.ca }, { token: TOKEN })));
    try {
      assert.equal(await dir.refresh(), true, reports.join('\n'));
      assert.deepEqual(mock.requests.map((r) => r.continueToken), [undefined, '2', '4', '6']);
      assert.ok(mock.requests.every((r) => r.limit === '500' && r.auth === 'token'));
      for (let i = 1; i <= 5; i++) assert.equal(dir.lookup(`10.244.3.${i}`)?.name, `job-${i}`);
      assert.equal(dir.lookup('192.168.1.10'), undefined, 'a host-network pod does not name the node IP');
      assert.equal(dir.size, 5);
    } finally {
      dir.stop();
    }
  }, 2);
});

test('mock Kubernetes API server: 403 and 401 are explained once each, the last good names stay, recovery is reported', async () => {
  await withMock(async (mock, certs, write) => {
    mock.pods.push({ namespace: 'shop', name: 'cart-0', ip: '10.244.1.5', node: 'worker-1' });
    const { dir, reports } = directory(write(mockKubeconfig(mock.url, { 'certificate-authority': certs.ca }, { token: TOKEN })));
    try {
      assert.equal(await dir.refresh(), true);
      mock.pods.length = 0;
      mock.failWith = { status: 403, message: 'pods is forbidden: User "system:serviceaccount:default:calitrace" cannot list resource "pods" in API group "" at the cluster scope' };
      assert.equal(await dir.refresh(), false);
      assert.equal(await dir.refresh(), false);
      assert.equal(dir.lookup('10.244.1.5')?.name, 'cart-0', 'the last good names stay');
      mock.failWith = { status: 401, message: 'Unauthorized' };
      assert.equal(await dir.refresh(), false);
      assert.equal(dir.lookup('10.244.1.5')?.name, 'cart-0');
      mock.failWith = undefined;
      mock.pods.push({ namespace: 'shop', name: 'cart-1', ip: '10.244.1.6', node: 'worker-1' });
      assert.equal(await dir.refresh(), true);
      assert.equal(dir.lookup('10.244.1.5'), undefined, 'a good list replaces the old names');
      assert.equal(dir.lookup('10.244.1.6')?.name, 'cart-1');
      assert.equal(reports.length, 4, reports.join('\n'));
      assert.match(reports[1], /^pod names: needs RBAC list and watch on pods cluster-wide: pods is forbidden: .* \(e\.g\. kubectl create clusterrole .*--verb=list,watch --resource=pods.*\); keeping the 1 pod IPs of the last good list/);
      assert.match(reports[2], /^pod names: the token\/certificate was refused: Unauthorized .*; keeping the 1 pod IPs/);
      assert.equal(reports[3], `pod names: the Kubernetes API at ${mock.url} answers again (1 pod IPs)`);
    } finally {
      dir.stop();
    }
  });
});

test('mock Kubernetes API server: list then watch names a new pod within a second, follows changes and deletes, and stops when told', async () => {
  await withMock(async (mock, certs, write) => {
    mock.addPod({ namespace: 'shop', name: 'cart-0', ip: '10.244.1.5', node: 'worker-1' });
    const { dir, reports } = directory(write(mockKubeconfig(mock.url, { 'certificate-authority': certs.ca }, { token: TOKEN })));
    try {
      dir.start();
      await waitUntil(() => dir.lookup('10.244.1.5') !== undefined && mock.openWatches === 1, 'the list and the watch', 10000);
      const watchRequest = mock.requests.find((r) => r.watch)!;
      assert.equal(watchRequest.resourceVersion, String(mock.resourceVersion), 'the watch starts at the list\'s resourceVersion');

      mock.addPod({ namespace: 'shop', name: 'cart-1', ip: '10.244.1.6', node: 'worker-2' });
      await waitUntil(() => dir.lookup('10.244.1.6') !== undefined, 'the new pod to be named (the issue asks: within a second)', 1000);
      assert.deepEqual(dir.lookup('10.244.1.6'), { namespace: 'shop', name: 'cart-1', node: 'worker-2' });

      mock.updatePod({ namespace: 'shop', name: 'cart-1', ip: '10.244.1.7', node: 'worker-2' }); // a new IP
      await waitUntil(() => dir.lookup('10.244.1.7') !== undefined, 'the changed pod', 5000);
      assert.equal(dir.lookup('10.244.1.6'), undefined, 'its old IP is forgotten');
      mock.updatePod({ namespace: 'shop', name: 'cart-0', ip: '10.244.1.5', node: 'worker-1', phase: 'Succeeded' });
      await waitUntil(() => dir.lookup('10.244.1.5') === undefined, 'a finished pod to lose its IP', 5000);
      mock.deletePod('shop', 'cart-1');
      await waitUntil(() => dir.lookup('10.244.1.7') === undefined, 'the deleted pod to be forgotten', 5000);
      assert.equal(dir.watchCounters!.lists, 1, 'no relist: changes come from the watch');
      assert.deepEqual(reports, [`pod names: 1 pod IPs loaded from the Kubernetes API at ${mock.url}`]);
    } finally {
      dir.stop();
    }
    await waitUntil(() => mock.openWatches === 0, 'the watch to close on stop', 5000);
    const after = mock.requests.length;
    await assert.rejects(waitUntil(() => mock.requests.length > after, 'a request after stop', 500), /timed out/);
  });
});

test('mock Kubernetes API server: a dropped watch resumes from the last resourceVersion (bookmarks move it), and 410 Gone means a new list', async () => {
  await withMock(async (mock, certs, write) => {
    mock.addPod({ namespace: 'shop', name: 'cart-0', ip: '10.244.1.5', node: 'worker-1' });
    const { dir, reports } = directory(write(mockKubeconfig(mock.url, { 'certificate-authority': certs.ca }, { token: TOKEN })));
    try {
      dir.start();
      await waitUntil(() => dir.lookup('10.244.1.5') !== undefined && mock.openWatches === 1, 'the list and the watch', 10000);
      const watches = () => mock.requests.filter((r) => r.watch);

      // A bookmark: nothing changed for us, but the version moved; a resumed watch starts from it.
      mock.resourceVersion += 40; // other objects changed in the cluster meanwhile
      mock.bookmark();
      await waitUntil(() => dir.watchCounters!.bookmarks === 1, 'the bookmark', 5000);
      mock.dropWatches();
      await waitUntil(() => watches().length === 2 && mock.openWatches === 1, 'the watch to resume after the dropped connection', 10000);
      assert.equal(watches()[1].resourceVersion, String(mock.resourceVersion), 'resumed from the bookmark\'s version');
      assert.equal(dir.watchCounters!.lists, 1, 'a dropped connection is not a reason to list again');
      mock.addPod({ namespace: 'shop', name: 'cart-1', ip: '10.244.1.6', node: 'worker-2' });
      await waitUntil(() => dir.lookup('10.244.1.6') !== undefined, 'a pod added after the resume', 5000);

      // Events the directory has not seen fall out of the server's window: the watch gets 410, lists again.
      mock.dropWatches();
      mock.addPod({ namespace: 'shop', name: 'cart-2', ip: '10.244.1.8', node: 'worker-2' });
      mock.deletePod('shop', 'cart-0');
      mock.compact();
      await waitUntil(() => dir.watchCounters!.gone === 1 && dir.watchCounters!.lists === 2, 'the 410 and the new list', 10000);
      await waitUntil(() => dir.lookup('10.244.1.8') !== undefined && dir.lookup('10.244.1.5') === undefined, 'the names of the new list', 5000);
      assert.equal(dir.lookup('10.244.1.6')?.name, 'cart-1');
      assert.ok(reports.some((r) => /410/.test(r) && /listing again/.test(r)), reports.join('\n'));
      await waitUntil(() => mock.openWatches === 1, 'watching again after the list', 5000);
    } finally {
      dir.stop();
    }
  });
});

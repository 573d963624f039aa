// calitrace relay finding its nodes through the Kubernetes API: a MOCK Kubernetes API server
// (test/helpers/mock-kube-api.ts; no API server runs here) lists and watches the calitrace DaemonSet's
// pods, and the relay follows real `calitrace serve` processes on two lab nodes as those pods come, go and
// turn unready — while it runs, through a dropped watch connection too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { withLab } from '../helpers/lab';
import { makeTestCerts } from '../helpers/certs';
import { mockKubeconfig, startMockKubeApi, MockPodSpec } from '../helpers/mock-kube-api';
import { stopProcess, waitUntil } from '../helpers/api';
import { CalitraceClient, ObserveMessage } from '../../src/api/client';
import { calitrace } from '../../src/api/proto';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'calitrace.js');
const TOKEN = 'mock-relay-token';
const S = calitrace.v1.NodeState;

function start(args: string[]): { proc: ChildProcess; output: () => string } {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  return { proc, output: () => out };
}

/** A port free on 127.0.0.2 and 127.0.0.3 right now (the two "node IPs" of this test, on loopback). */
async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer().listen(0, '127.0.0.2', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
      s.on('error', reject);
    });
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer().listen(port, '127.0.0.3', () => s.close(() => resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (free) return port;
  }
}

test('relay --discover-pods (mock Kubernetes API): nodes are added and removed as the DaemonSet pods come and go, while the relay runs', async () => {
  const certs = makeTestCerts();
  const mock = await startMockKubeApi(certs, { token: TOKEN });
  try {
    await withLab(async (lab) => {
      const [n1, n2] = ['node1', 'node2'].map((id) => lab.nodes.find((n) => n.id === id)!.name);
      const port = await freePort();
      const tls = ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--tls-client-ca', certs.clientCa];
      const serves = [
        start(['serve', '--netns', `${lab.prefix}-node1`, '--listen', `127.0.0.2:${port}`, ...tls]),
        start(['serve', '--netns', `${lab.prefix}-node2`, '--listen', `127.0.0.3:${port}`, ...tls]),
      ];
      const pod = (name: string, node: string, ip: string, ready = true): MockPodSpec => ({
        namespace: 'calitrace-system', name, node, ip, ready, hostNetwork: true, labels: { 'app.kubernetes.io/name': 'calitrace' },
      });
      // Another namespace's pod with the same label, and one without it: neither is a node of this relay.
      mock.addPod({ ...pod('calitrace-elsewhere', 'x', '127.0.0.9'), namespace: 'default' });
      mock.addPod({ ...pod('unrelated', 'x', '127.0.0.9'), labels: { app: 'other' } });
      mock.addPod(pod('calitrace-a1b2c', n1, '127.0.0.2'));
      const kubeconfig = path.join(certs.dir, 'kubeconfig');
      fs.writeFileSync(kubeconfig, mockKubeconfig(mock.url, { 'certificate-authority': certs.ca }, { token: TOKEN }));
      const sock = path.join(certs.dir, 'relay.sock');
      let relay: ReturnType<typeof start> | undefined;
      const client = new CalitraceClient({ server: `unix:${sock}` });
      try {
        for (const s of serves) await waitUntil(() => /API on /.test(s.output()) || s.proc.exitCode !== null, 'serve to listen', 30000);
        relay = start(['relay', '--discover-pods', 'app.kubernetes.io/name=calitrace', '--discover-namespace', 'calitrace-system',
          '--discover-port', String(port), '--kubeconfig', kubeconfig, '--listen', `unix:${sock}`,
          '--peer-tls-ca', certs.ca, '--peer-tls-cert', certs.clientCert, '--peer-tls-key', certs.clientKey, '--peer-tls-server-name', 'localhost']);
        const r = relay;
        await waitUntil(() => /API on unix:/.test(r.output()) || r.proc.exitCode !== null, 'the relay to listen', 15000);
        const nodes = async () => (await client.status()).nodes.map((n) => ({ name: n.name, state: n.state, address: n.address }));
        await waitUntil(async () => (await nodes()).some((n) => n.name === n1 && n.state === S.NODE_UP), 'node1 found through the API', 15000);
        assert.deepEqual(await nodes(), [{ name: n1, state: S.NODE_UP, address: `127.0.0.2:${port}` }]);
        assert.match(r.output(), /discovery: 1 node from 1 pod matching 'app.kubernetes.io\/name=calitrace' in calitrace-system; watching/);
        const lists = mock.requests.filter((q) => !q.watch && q.path === '/api/v1/namespaces/calitrace-system/pods');
        assert.equal(lists.length, 1);
        assert.equal(lists[0].labelSelector, 'app.kubernetes.io/name=calitrace');

        const events: ObserveMessage[] = [];
        const stream = client.observe({ follow: true, allow: [{ eventType: [calitrace.v1.EventType.NODE] }] });
        void (async () => {
          try {
            for await (const m of stream) events.push(m);
          } catch {
            /* asserted below */
          }
        })();

        // A second node's pod starts, unready first: not followed until it is ready.
        mock.addPod(pod('calitrace-d3e4f', n2, '127.0.0.3', false));
        mock.updatePod(pod('calitrace-d3e4f', n2, '127.0.0.3', true));
        await waitUntil(async () => (await nodes()).filter((n) => n.state === S.NODE_UP).length === 2, 'node2 added while the relay runs', 15000);
        assert.deepEqual((await nodes()).map((n) => n.name), [n1, n2].sort());

        // The watch connection drops; a pod removed meanwhile is still noticed (the watch resumes).
        mock.dropWatches();
        mock.deletePod('calitrace-system', 'calitrace-a1b2c');
        await waitUntil(async () => (await nodes()).length === 1, 'node1 removed after its pod is deleted', 15000);
        assert.deepEqual((await nodes()).map((n) => n.name), [n2]);
        await waitUntil(() => events.some((m) => m.node === n1 && m.nodeEvent!.state === S.NODE_REMOVED), 'the REMOVED event', 5000);
        assert.ok(events.some((m) => m.node === n2 && m.nodeEvent!.state === S.NODE_UP));
        assert.equal(mock.requests.filter((q) => !q.watch && q.path === '/api/v1/namespaces/calitrace-system/pods').length, 1, 'watched, not polled');
        stream.cancel();
      } finally {
        client.close();
        if (relay) await stopProcess(relay.proc);
        for (const s of serves) await stopProcess(s.proc);
      }
    });
  } finally {
    await mock.close();
    certs.cleanup();
  }
});

// Pod names from a Kubernetes API on a traced node: a real lab, a real `calitrace serve --netns <node1>
// --kubeconfig FILE` process, real pings, a real gRPC client — and a MOCK Kubernetes API server
// (test/helpers/mock-kube-api.ts) that names the lab's pods differently from the lab's own state, so the
// names on the verdicts prove where they came from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { withLab } from '../helpers/lab';
import { makeTestCerts } from '../helpers/certs';
import { mockKubeconfig, startMockKubeApi } from '../helpers/mock-kube-api';
import { stopProcess, waitUntil, startServe } from '../helpers/api';
import { labExec } from '../../src/lab';
import { CalitraceClient, ObserveMessage } from '../../src/api/client';
import { calitrace } from '../../src/api/proto';

const TOKEN = 'mock-node-token';

test('calitrace serve --kubeconfig (mock Kubernetes API server) puts its pod names on real lab verdicts', async () => {
  const certs = makeTestCerts();
  const mock = await startMockKubeApi(certs, { token: TOKEN, pageSize: 1 });
  try {
    await withLab(async (lab) => {
      const node1 = lab.nodes.find((n) => n.id === 'node1')!;
      mock.pods.push(
        { namespace: 'from-mock-api', name: 'pinger-5d8f7', ip: '10.233.101.222', node: 'mock-worker-a' },
        { namespace: 'from-mock-api', name: 'echo-server-0', ip: '10.233.101.224', node: 'mock-worker-a' },
      );
      const kubeconfig = path.join(certs.dir, 'kubeconfig');
      fs.writeFileSync(kubeconfig, mockKubeconfig(mock.url, { 'certificate-authority': certs.ca }, { token: TOKEN }));
      const sock = path.join(certs.dir, 'api.sock');
      const server = startServe(['--netns', node1.netns, '--listen', `unix:${sock}`, '--kubeconfig', kubeconfig]);
      const client = new CalitraceClient({ server: `unix:${sock}` });
      try {
        await waitUntil(
          () => (/API on unix:/.test(server.output()) && /pod IPs loaded/.test(server.output())) || server.proc.exitCode !== null,
          'calitrace serve to listen and load the pod names',
          30000,
        );
        const out = server.output();
        assert.ok(out.includes(`calitrace serve: pod names: Kubernetes API at ${mock.url} (kubeconfig ${kubeconfig}, context mock)\n`), out);
        assert.ok(out.includes(`calitrace serve: pod names: 2 pod IPs loaded from the Kubernetes API at ${mock.url}\n`), out);
        // The token was presented and both pages of pods read (node addresses are listed beside them).
        const podLists = mock.requests.filter((r) => r.path === '/api/v1/pods' && r.watch === undefined);
        assert.deepEqual(podLists.slice(0, 2).map((r) => [r.auth, r.continueToken]), [['token', undefined], ['token', '1']]);

        const got: ObserveMessage[] = [];
        const stream = client.observe({ follow: true, allow: [{ sourceIp: ['10.233.101.222'], eventType: [calitrace.v1.EventType.VERDICT] }] });
        void (async () => {
          try {
            for await (const m of stream) got.push(m);
          } catch {
            /* cancelled at the end; the assertions say what was missing */
          }
        })();
        await waitUntil(async () => (await client.status()).subscribers.length === 1, 'the subscriber');

        // Three pings of their own (three ICMP ids, three paths): a verdict line each in the default case mode.
        const ping = await labExec(lab.prefix, '10.233.101.222', ['sh', '-c', 'for i in 1 2 3; do ping -n -c 1 -W 1 10.233.101.224 || exit 1; done']);
        assert.equal(ping.code, 0);
        const toServer = () => got.filter((m) => m.item === 'verdict' && m.verdict!.dst === '10.233.101.224').map((m) => m.verdict!);
        await waitUntil(() => toServer().length >= 3, 'verdicts for the three pings', 15000);
        for (const v of toServer()) {
          assert.equal(v.verdict, calitrace.v1.Verdict.MATCHED);
          assert.deepEqual({ ns: v.srcPod?.namespace, name: v.srcPod?.name, node: v.srcPod?.node }, { ns: 'from-mock-api', name: 'pinger-5d8f7', node: 'mock-worker-a' });
          assert.deepEqual({ ns: v.dstPod?.namespace, name: v.dstPod?.name, node: v.dstPod?.node }, { ns: 'from-mock-api', name: 'echo-server-0', node: 'mock-worker-a' });
        }
        stream.cancel();
      } finally {
        client.close();
        const code = await stopProcess(server.proc);
        assert.equal(code, 0, server.output());
      }
    });
  } finally {
    await mock.close();
    certs.cleanup();
  }
});

// The API fed by real lab traffic: `calitrace serve` (real BPF capture, live route model, collector) on
// node1 of a fresh lab, pings between pods, and real gRPC clients — the library client with follow and
// allow/deny filters, Explain/GetRoutes/Status, and the `calitrace observe` binary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withLab } from '../helpers/lab';
import { labExec } from '../../src/lab';
import { CalitraceClient, ObserveMessage } from '../../src/api/client';
import { calitrace } from '../../src/api/proto';
import { recordStream, stopProcess, waitUntil, startServe } from '../helpers/api';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'calitrace.js');
const V = calitrace.v1.Verdict;


function runObserve(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [BIN, 'observe', ...args], { timeout: 20000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

test('calitrace serve on a lab node streams real verdicts to filtered subscribers, and answers Explain/GetRoutes/Status', async () => {
  await withLab(async (lab) => {
    const node1 = lab.nodes.find((n) => n.id === 'node1')!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-api-lab-'));
    const sock = path.join(dir, 'api.sock');
    // Per-packet verdict lines (the counts below are lines): packet mode, asked for.
    const server = startServe(['--netns', node1.netns, '--mode', 'packet', '--listen', `unix:${sock}`]);
    const client = new CalitraceClient({ server: `unix:${sock}` });
    try {
      await waitUntil(() => /API on unix:/.test(server.output()) || server.proc.exitCode !== null, 'calitrace serve to listen', 30000);
      assert.match(server.output(), /API on unix:.*node ems203-w2/, server.output());

      // Subscribers before the traffic: one allow (from pod 222, verdicts), one deny (not MATCHED).
      const fromPod = recordStream(client.observe({ follow: true, allow: [{ sourceIp: ['10.233.101.222'], eventType: [calitrace.v1.EventType.VERDICT] }] }));
      const notMatched = recordStream(client.observe({ follow: true, allow: [{ eventType: [calitrace.v1.EventType.VERDICT] }], deny: [{ verdict: [V.MATCHED] }] }));
      await waitUntil(async () => (await client.status()).subscribers.length === 2, 'both subscribers');

      const ping = async (from: string, to: string, n: number) => labExec(lab.prefix, from, ['ping', '-c', String(n), '-i', '0.2', '-W', '1', to]);
      assert.equal((await ping('10.233.101.222', '10.233.101.224', 3)).code, 0);
      assert.equal((await ping('10.233.101.222', '10.233.100.130', 2)).code, 0);
      assert.notEqual((await ping('10.233.101.222', '10.233.101.230', 1)).code, 0); // blackholed

      const verdictsTo = (got: ObserveMessage[], dst: string) => got.filter((m) => m.item === 'verdict' && m.verdict!.dst === dst).map((m) => m.verdict as calitrace.v1.PacketVerdict);
      await waitUntil(
        () => verdictsTo(fromPod, '10.233.101.224').length >= 3 && verdictsTo(fromPod, '10.233.100.130').length >= 2 && verdictsTo(fromPod, '10.233.101.230').length >= 1,
        'verdicts for all three destinations',
        15000,
      );
      const same = verdictsTo(fromPod, '10.233.101.224');
      assert.ok(same.every((v) => v.verdict === V.MATCHED), 'same-node pings MATCHED');
      assert.deepEqual(same[0].observed.map((h) => h.interface), ['cali11299111064', 'caliaa479e31ff6']);
      assert.equal(same[0].srcPod?.name, 'edgecloud-suse-adapter-df5d6d78b-m5zc2');
      assert.equal(same[0].dstPod?.namespace, 'ems');
      const cross = verdictsTo(fromPod, '10.233.100.130');
      assert.ok(cross.every((v) => v.verdict === V.MATCHED));
      assert.deepEqual(cross[0].observed.map((h) => h.interface), ['cali11299111064', 'vxlan.calico', 'ens3']);
      assert.equal(verdictsTo(fromPod, '10.233.101.230')[0].verdict, V.EXPECTED_DROP);
      // Only what the filter allows: verdicts from 222 (no replies, no packets, no flows).
      assert.ok(fromPod.every((m) => m.item === 'lost' || (m.item === 'verdict' && m.verdict!.src === '10.233.101.222')));

      // The deny subscriber saw the blackholed ping and nothing MATCHED.
      await waitUntil(() => verdictsTo(notMatched, '10.233.101.230').length >= 1, 'the deny subscriber to see the drop', 10000);
      assert.ok(notMatched.filter((m) => m.item === 'verdict').every((m) => m.verdict!.verdict !== V.MATCHED));

      // History: the last 2 verdicts of the same-node echo requests.
      const last = await runObserve(['--server', `unix:${sock}`, '--last', '2', '-o', 'json', 'type=verdict', 'src=10.233.101.222', 'dst=10.233.101.224']);
      assert.equal(last.code, 0, last.stderr);
      const lines = last.stdout.trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(lines.length, 2);
      assert.ok(lines.every((l) => l.schema === 'calitrace.verdict/v1' && l.verdict === 'MATCHED' && l.dst === '10.233.101.224' && l.node === 'ems203-w2'));
      // From the pod: the underlay's IGMP reports are expected drops too, and may come last.
      const compact = await runObserve(['--server', `unix:${sock}`, '--last', '1', 'verdict=EXPECTED_DROP', 'type=verdict', 'src=10.233.101.222']);
      assert.match(compact.stdout, /EXPECTED_DROP +ems\/edgecloud-suse-adapter-df5d6d78b-m5zc2 \(10\.233\.101\.222\) > 10\.233\.101\.230 icmp echo-request seq 1 \|/);

      // Pod and namespace filters, with the lab's pod names: only the cross-node pings involve default/web-0.
      const byPod = await runObserve(['--server', `unix:${sock}`, '--last', '50', '-o', 'json', 'type=verdict', 'pod=default/web-0']);
      const podLines = byPod.stdout.trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(podLines.length, 4, byPod.stdout); // 2 requests + 2 replies
      assert.ok(podLines.every((l) => [l.src, l.dst].includes('10.233.100.130')));
      const byNs = await runObserve(['--server', `unix:${sock}`, '--last', '50', '-o', 'json', 'type=verdict', 'src-ns=ems', 'dst-ns=ems']);
      const nsLines = byNs.stdout.trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(nsLines.length, 6, byNs.stdout); // 3 same-node requests + 3 replies
      assert.ok(nsLines.every((l) => l.srcPod.startsWith('ems/') && l.dstPod.startsWith('ems/')));

      // A Service address DNATed to pod B (as kube-proxy does): remote subscribers get the rewrite too.
      const nft = await labExec(lab.prefix, 'node1', ['sh', '-c',
        "nft add table ip calitrace_nat && nft add chain ip calitrace_nat pre '{ type nat hook prerouting priority -100; }' && " +
        'nft add rule ip calitrace_nat pre ip daddr 10.96.0.10 meta l4proto icmp dnat to 10.233.101.224']);
      assert.equal(nft.code, 0, nft.stderr);
      assert.equal((await ping('10.233.101.222', '10.96.0.10', 1)).code, 0);
      await waitUntil(() => verdictsTo(fromPod, '10.96.0.10').length >= 1, 'the verdict for the Service ping', 10000);
      const viaService = verdictsTo(fromPod, '10.96.0.10')[0];
      assert.equal(viaService.verdict, V.MATCHED, viaService.reason);
      assert.deepEqual({ from: viaService.natDst?.from, to: viaService.natDst?.to }, { from: '10.96.0.10', to: '10.233.101.224' });
      assert.deepEqual(viaService.predicted, ['cali11299111064', 'caliaa479e31ff6']);
      const svcLine = await runObserve(['--server', `unix:${sock}`, '--last', '1', 'type=verdict', 'dst=10.96.0.10']);
      assert.match(svcLine.stdout, /MATCHED +ems\/edgecloud-suse-adapter-df5d6d78b-m5zc2 \(10\.233\.101\.222\) > 10\.96\.0\.10 icmp echo-request seq 1 \(DNAT → 10\.233\.101\.224\) \|/);

      // Explain, GetRoutes, Status over the same socket.
      const ex = await client.explain({ src: '10.233.101.222', dst: '10.233.101.224', iif: 'cali11299111064' });
      assert.equal(ex.decision, 'unicast');
      assert.equal(ex.dev, 'caliaa479e31ff6');
      assert.equal(ex.calico, 'local-workload');
      assert.ok(ex.steps.length > 0);
      const bh = await client.explain({ src: '10.233.101.222', dst: '10.233.101.230', iif: 'cali11299111064' });
      assert.equal(bh.decision, 'blackhole');
      const routes = await client.getRoutes({ family: 4 });
      assert.ok(routes.routes.some((r) => r.type === 'blackhole' && r.dst === '10.233.101.192/26'));
      assert.ok(routes.routes.some((r) => r.dst === '10.233.100.128/26' && r.nexthops?.[0]?.dev === 'vxlan.calico'));
      const status = await client.status();
      assert.equal(status.mode, 'packet');
      assert.equal(status.node, 'ems203-w2');
      assert.ok(status.interfaces.some((i) => i.name === 'cali11299111064' && i.attached));
      assert.ok(Number(status.counters!.received) > 0);
      assert.equal(Number(status.counters!.lostKernel), 0);
      assert.ok(Number(status.counters!.other!.packets) > 0); // map values decode as Long
    } finally {
      client.close();
      const code = await stopProcess(server.proc);
      fs.rmSync(dir, { recursive: true, force: true });
      assert.equal(code, 0, server.output());
    }
  });
});

test('calitrace observe: invalid filters are usage errors; an unreachable server says what to check', async () => {
  const bad = await runObserve(['--server', '127.0.0.1:1', 'verdict=NOPE']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /invalid filter: verdict 'NOPE' is unknown/);
  const down = await runObserve(['--server', '127.0.0.1:1', '--last', '1']);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /UNAVAILABLE.*is 'calitrace serve' running at 127\.0\.0\.1:1/);
  const refused = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(process.execPath, [BIN, 'serve', '--listen', '0.0.0.0:4245'], (err, _o, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr })),
  );
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /without encryption.*--tls-cert and --tls-key.*--insecure/);
});

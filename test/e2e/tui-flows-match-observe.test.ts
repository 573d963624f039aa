// One answer everywhere: the UI's flows are the API's flows. Real lab traffic (a ping between two pods
// and a TCP conversation through a Service address DNATed on node1), a real `calitrace serve`, the UI's
// own store fed by the UI's own gRPC source, and the real `calitrace observe --type flow` binary: the
// same flows, with the same key, the same direction (the first packet's), the same naming across the NAT
// and the same counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withLab } from '../helpers/lab';
import { mustExec, tcpEcho } from '../helpers/path-lab';
import { POD_A, POD_B, SERVICE } from '../helpers/path-fixtures';
import { stopProcess, waitUntil, startServe } from '../helpers/api';
import { Store, FlowRow } from '../../src/tui/store';
import { GrpcSource } from '../../src/tui/source';
import { storeSink } from '../../src/tui/app';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'calitrace.js');

/** A flow as `calitrace observe -o json` prints it (the fields this test reads). */
interface ObservedFlow {
  key: string;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  protocol: number;
  packets: number;
  verdict: string;
  verdicts: Record<string, number>;
  reverse?: { packets: number } | null;
}

/** Every flow update in the server's history, through the observe binary; the latest per flow key. */
function observeFlows(server: string): Promise<Map<string, ObservedFlow>> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [BIN, 'observe', '--server', server, '--type', 'flow', '-o', 'json', '--all'], { timeout: 20000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`observe failed: ${stderr}`));
      const latest = new Map<string, ObservedFlow>();
      for (const line of stdout.split('\n').filter(Boolean)) {
        const f = (JSON.parse(line) as { flow: ObservedFlow }).flow;
        latest.set(f.key, f); // history is in order: the last update of a flow wins
      }
      resolve(latest);
    }),
  );
}

/** What both sides must agree on, in one comparable shape. */
function uiShape(r: FlowRow): string {
  const counts = Object.entries(r.counts).filter(([, n]) => n > 0).map(([k, n]) => `${k}=${n}`).sort().join(',');
  return `${r.key} ${r.proto} ${r.src}:${r.sport} > ${r.dst}:${r.dport} packets ${r.packets} replies ${r.replies} ${r.verdict} [${counts}]`;
}

function apiShape(f: ObservedFlow): string {
  const counts = Object.entries(f.verdicts).filter(([, n]) => Number(n) > 0).map(([k, n]) => `${k}=${n}`).sort().join(',');
  return `${f.key} ${f.protocol} ${f.src}:${f.sport} > ${f.dst}:${f.dport} packets ${f.packets} replies ${f.reverse?.packets ?? 0} ${f.verdict} [${counts}]`;
}

test('the UI store shows the flows observe prints: same key, direction folding, NAT naming and counts', { timeout: 180_000 }, async () => {
  await withLab(async (lab) => {
    // kube-proxy's part, by hand: the Service port DNATed to pod B's 8080.
    await mustExec(lab, 'node1', ['sh', '-c', [
      'nft add table ip calitrace_nat',
      "nft add chain ip calitrace_nat pre '{ type nat hook prerouting priority -100; }'",
      `nft add rule ip calitrace_nat pre ip daddr ${SERVICE} tcp dport 80 dnat to ${POD_B}:8080`,
    ].join(' && ')]);
    const node1 = lab.nodes.find((n) => n.id === 'node1')!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-ui-flows-'));
    const server = `unix:${path.join(dir, 'api.sock')}`;
    const serve = startServe(['--netns', node1.netns, '--listen', server]);
    const store = new Store();
    let source: GrpcSource | undefined;
    try {
      await waitUntil(() => /API on unix:/.test(serve.output()) || serve.proc.exitCode !== null, 'calitrace serve to listen', 30000);
      assert.match(serve.output(), /API on unix:/, serve.output());
      source = new GrpcSource({ server });
      source.start(storeSink(store));
      // Status answered and the stream subscribed: the UI is a subscriber before the traffic starts.
      await waitUntil(() => store.status.node !== '?' && store.status.subscribers >= 1, 'the UI source to subscribe', 10000);

      // 1. A ping: three requests, three replies.
      assert.match(await mustExec(lab, POD_A, ['ping', '-n', '-c', '3', '-i', '0.2', '-W', '1', POD_B]), /3 received/);
      // 2. TCP through the Service address: pod B echoes on 8080, pod A connects to SERVICE:80.
      const echoed = await tcpEcho(lab, { server: POD_B, port: 8080, client: POD_A, addr: SERVICE, connectPort: 80, text: 'one flow', lifetimeS: 20 });
      assert.match(echoed, /one flow/);

      const pingRows = () => store.flowRows().filter((r) => r.proto === 1 && [r.src, r.dst].includes(POD_B));
      const serviceRow = () => store.flowRows().find((r) => r.proto === 6 && r.dst === SERVICE && r.replies >= 2);
      await waitUntil(() => (pingRows()[0]?.packets ?? 0) >= 6 && serviceRow() !== undefined, 'the UI to show the ping and the TCP conversation', 15000);

      // What the UI shows, on its own terms (independent of the API's answer):
      // the ping is one flow, named as its first packet went, its replies folded in …
      assert.equal(pingRows().length, 1, `one row for the ping, replies included: ${pingRows().map(uiShape).join(' | ')}`);
      const ping = pingRows()[0];
      assert.deepEqual([ping.src, ping.dst, ping.packets, ping.replies, ping.counts.MATCHED], [POD_A, POD_B, 6, 3, 6]);
      // … and the TCP conversation is one flow named as the client saw it (the Service address), with
      // pod B's answers — which enter from 10.233.101.224:8080 — counted in it, not as a row of their own.
      const svc = serviceRow()!;
      assert.deepEqual([svc.src, svc.dst, svc.dport], [POD_A, SERVICE, 80]);
      assert.equal(store.flowRows().filter((r) => r.src === POD_B && r.sport === 8080).length, 0, 'no row for the backend side of the NAT');
      assert.equal(store.flowRows().filter((r) => r.key === svc.key).length, 1);

      // The same flows through `calitrace observe`: once the server's flow updates have caught up with
      // every packet the UI counted (updates are throttled), every field agrees, flow for flow.
      let api = new Map<string, ObservedFlow>();
      const caughtUp = async () => {
        api = await observeFlows(server);
        return store.flowRows().every((r) => api.get(r.key)?.packets === r.packets);
      };
      await waitUntil(caughtUp, 'the API flows to count the packets the UI counted', 15000).catch(() => undefined);
      const ui = store.flowRows().map(uiShape).sort();
      const fromApi = [...api.values()].map(apiShape).sort();
      assert.deepEqual(ui, fromApi);
      assert.ok(ui.length >= 2);
    } finally {
      source?.close();
      const code = await stopProcess(serve.proc);
      assert.equal(code, 0, serve.output());
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

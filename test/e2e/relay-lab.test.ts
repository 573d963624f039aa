// calitrace relay in the lab: a real `calitrace serve` in node1's and node2's namespaces (real BPF, real
// packets), each with mutual TLS on its own unix socket, a real `calitrace relay --peer …` in front of them
// and real gRPC clients (the library client and the `calitrace observe` binary) against the relay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { withLab } from '../helpers/lab';
import { makeTestCerts, TestCerts } from '../helpers/certs';
import { recordStream, stopProcess, waitUntil } from '../helpers/api';
import { must, tcpExchange, udpSend } from '../helpers/capture-lab';
import { labExecArgv, LabInfo } from '../../src/lab';
import { CalitraceClient, ObserveMessage } from '../../src/api/client';
import { calitrace } from '../../src/api/proto';
import { KEY, PtyScreen } from '../helpers/tui-pty';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'calitrace.js');
const V = calitrace.v1.Verdict;
const S = calitrace.v1.NodeState;
const POD_A = '10.233.101.222'; // node1
const POD_B = '10.233.101.224'; // node1
const WEB_0 = '10.233.100.130'; // node2

interface Proc {
  proc: ChildProcess;
  output: () => string;
}

function start(args: string[]): Proc {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  return { proc, output: () => out };
}

/** serve on a lab node with mutual TLS: only clients with a certificate from the client CA get data. */
async function serveNode(lab: LabInfo, id: 'node1' | 'node2', certs: TestCerts): Promise<Proc> {
  const p = start(['serve', '--netns', `${lab.prefix}-${id}`, '--listen', `unix:${certs.dir}/${id}.sock`,
    '--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--tls-client-ca', certs.clientCa]);
  await waitUntil(() => /API on unix:/.test(p.output()) || p.proc.exitCode !== null, `serve on ${id}`, 30000);
  assert.match(p.output(), /API on unix:/, p.output());
  return p;
}

async function startRelay(certs: TestCerts, extra: string[] = []): Promise<{ relay: Proc; client: CalitraceClient; sock: string }> {
  const sock = `${certs.dir}/relay.sock`;
  const relay = start(['relay', '--peer', `unix:${certs.dir}/node1.sock`, '--peer', `unix:${certs.dir}/node2.sock`,
    '--peer-tls-ca', certs.ca, '--peer-tls-cert', certs.clientCert, '--peer-tls-key', certs.clientKey, '--listen', `unix:${sock}`, ...extra]);
  await waitUntil(() => /API on unix:/.test(relay.output()) || relay.proc.exitCode !== null, 'the relay to listen', 15000);
  const client = new CalitraceClient({ server: `unix:${sock}` });
  await waitUntil(async () => (await client.status()).nodes.filter((n) => n.state === S.NODE_UP).length === 2, 'both nodes up behind the relay', 15000);
  return { relay, client, sock };
}


function observeCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [BIN, 'observe', ...args], { timeout: 20000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

const stitched = (got: ObserveMessage[], pred: (s: calitrace.v1.StitchedPath) => boolean) =>
  got.filter((m) => m.item === 'stitched' && pred(m.stitched as calitrace.v1.StitchedPath)).map((m) => m.stitched as calitrace.v1.StitchedPath);

test('relay with mTLS to two lab nodes: stitched cross-node ping and TCP with node→node latency, a drop on node2 as the end-to-end verdict, Explain/GetRoutes by node, Status of every node', async () => {
  const certs = makeTestCerts();
  await withLab(async (lab) => {
    const n1 = lab.nodes.find((n) => n.id === 'node1')!.name;
    const n2 = lab.nodes.find((n) => n.id === 'node2')!.name;
    const serves = [await serveNode(lab, 'node1', certs), await serveNode(lab, 'node2', certs)];
    const { relay, client, sock } = await startRelay(certs);
    try {
      const got = recordStream(client.observe({ follow: true, batch: 64 }));
      await waitUntil(async () => (await client.status()).subscribers.length === 1, 'the subscriber');

      // A cross-node ping: node1 encapsulates, node2 decapsulates; one stitched path per direction.
      await must(lab, POD_A, ['ping', '-n', '-c', '1', '-W', '1', WEB_0]);
      await waitUntil(() => stitched(got, (s) => s.src === POD_A && s.dst === WEB_0).length >= 1 && stitched(got, (s) => s.src === WEB_0 && s.dst === POD_A).length >= 1,
        'the stitched request and reply', 10000);
      const req = stitched(got, (s) => s.src === POD_A && s.dst === WEB_0)[0];
      assert.equal(req.verdict, V.MATCHED, req.reason);
      assert.equal(req.srcNode, n1);
      assert.equal(req.dstNode, n2);
      assert.deepEqual(req.halves.map((h) => h.node), [n1, n2]);
      assert.deepEqual(req.halves[0].verdict!.observed!.map((h) => h.interface), ['cali11299111064', 'vxlan.calico', 'ens3']);
      assert.deepEqual(req.halves[1].verdict!.observed!.map((h) => h.interface).slice(0, 2), ['ens3', 'vxlan.calico']);
      assert.match(String(req.halves[1].verdict!.observed!.at(-1)!.interface), /^cali/);
      assert.deepEqual({ src: req.outer!.outerSrc, dst: req.outer!.outerDst, vni: req.outer!.vni }, { src: '172.27.71.11', dst: '172.27.71.12', vni: 4096 });
      // One kernel in the lab: one monotonic clock, so the node→node time is exact and positive.
      assert.equal(req.latencyClock, 'monotonic');
      assert.ok(req.nodeToNodeUs > 0 && req.nodeToNodeUs < 100000, `node→node ${req.nodeToNodeUs} µs`);
      const sent = req.halves[0].verdict!.observed!.at(-1)!.timeNs;
      const arrived = req.halves[1].verdict!.observed![0].timeNs;
      assert.equal(Math.round(req.nodeToNodeUs * 1000), Number(arrived) - Number(sent));
      assert.match(req.reason, new RegExp(`^left ${n1} fine .* delivered on ${n2} `));
      const reply = stitched(got, (s) => s.src === WEB_0 && s.dst === POD_A)[0];
      assert.equal(reply.verdict, V.MATCHED, reply.reason);
      assert.deepEqual([reply.srcNode, reply.dstNode], [n2, n1]);

      // Every item carries its node; both nodes' halves came through the relay as verdicts too.
      assert.ok(got.every((m) => m.node !== ''), 'every item has a node');
      const verdictNodes = new Set(got.filter((m) => m.item === 'verdict' && m.verdict!.dst === WEB_0).map((m) => m.node));
      assert.deepEqual([...verdictNodes].sort(), [n1, n2].sort());

      // A real TCP connection across the nodes: the SYN is stitched from both halves.
      await tcpExchange(lab, POD_A, WEB_0, 40123, 8080);
      await waitUntil(() => stitched(got, (s) => s.src === POD_A && s.dst === WEB_0 && s.protocol === 6).length >= 1, 'a stitched TCP packet', 10000);
      const tcp = stitched(got, (s) => s.src === POD_A && s.dst === WEB_0 && s.protocol === 6);
      assert.ok(tcp.every((s) => s.halves.length === 2 && s.verdict === V.MATCHED), tcp.map((s) => s.reason).join('\n'));
      assert.equal(tcp[0].halves[0].verdict!.dport, 8080);

      // A drop on node2 (netfilter in node2's namespace): node1 did its part, the whole path died on node2.
      await must(lab, 'node2', ['sh', '-c',
        "nft add table ip ct_relay && nft add chain ip ct_relay guard '{ type filter hook forward priority 0; }' && " +
        `nft add rule ip ct_relay guard ip daddr ${WEB_0} udp dport 9999 drop`]);
      await udpSend(lab, POD_A, WEB_0, 40999, 9999);
      await waitUntil(() => stitched(got, (s) => s.dst === WEB_0 && s.protocol === 17).length >= 1, 'the stitched dropped datagram', 10000);
      const dropped = stitched(got, (s) => s.dst === WEB_0 && s.protocol === 17)[0];
      assert.equal(dropped.verdict, V.DROPPED, dropped.reason);
      assert.equal(dropped.halves[0].verdict!.verdict, V.MATCHED, 'node1 sent it on as predicted');
      assert.equal(dropped.halves[1].verdict!.verdict, V.DROPPED);
      assert.match(dropped.reason, new RegExp(`^left ${n1} fine \\(\\d+ µs ${n1}→${n2}\\), dropped on ${n2} by NETFILTER_DROP at vxlan\\.calico: .*netfilter`));

      // The stitched items through the CLI, and --last counting over the cluster.
      const viaCli = await observeCli(['--server', `unix:${sock}`, '--last', '1', '-o', 'json', 'type=stitched', 'verdict=DROPPED']);
      assert.equal(viaCli.code, 0, viaCli.stderr);
      const line = JSON.parse(viaCli.stdout.trim());
      assert.equal(line.stitched.verdict, 'DROPPED');
      assert.equal(line.node, n1);
      // The terminal UI against the relay: the dropped datagram's detail pane is one diagram across both nodes.
      const ui = new PtyScreen(process.execPath, [BIN, 'ui', '--server', `unix:${sock}`], { cols: 160, rows: 60 });
      try {
        await ui.waitFor('the UDP flow in the UI', (_t, ls) => ls.some((l) => l.includes('10.233.100.130') && l.includes('9999')), 30000);
        ui.press('/');
        ui.press('dport=9999' + KEY.enter);
        await ui.waitFor('only the UDP flow', (_t, ls) => ls.filter((l) => l.includes('10.233.100.130')).length === 1 && ls.some((l) => l.includes('9999')), 10000);
        ui.press(KEY.enter);
        const screen = await ui.waitForText(/End to end across nodes/, 10000);
        assert.match(screen, new RegExp(`End to end across nodes: ${n1} → ${n2}`));
        assert.match(screen, /Whole path\s+DROPPED\s+left /);
        assert.match(screen, new RegExp(`┌ ${n1}\\s+MATCHED`));
        assert.match(screen, /║ {2}underlay {2}\+\d+/);
        assert.match(screen, new RegExp(`┌ ${n2}\\s+DROPPED`));
        ui.press('q');
        assert.equal((await ui.exited).exitCode, 0);
      } finally {
        await ui.kill();
      }

      const compactLine = await observeCli(['--server', `unix:${sock}`, '--last', '1', 'type=stitched', 'verdict=DROPPED']);
      assert.match(compactLine.stdout, new RegExp(`\\[${n1}\\] STITCHED .*10\\.233\\.101\\.222:40999.* > .*10\\.233\\.100\\.130:9999\\)? udp DROPPED \\| observed ${n1}: cali11299111064 → vxlan\\.calico → ens3.* ==> ${n2}: ens3.*\\(node→node \\d+ µs, monotonic clock\\) — left ${n1} fine`));
      const last = await observeCli(['--server', `unix:${sock}`, '--last', '6', '-o', 'json', 'type=verdict']);
      const lastLines = last.stdout.trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(lastLines.length, 6, 'N items for the cluster, not N per node');

      // Explain and GetRoutes go to the node asked for; without a node the relay says how to choose.
      const e1 = await client.explain({ node: n1, src: POD_A, dst: WEB_0, iif: 'cali11299111064' });
      assert.equal(e1.calico, 'vxlan-tunnel');
      assert.equal(e1.outer!.dst, '172.27.71.12');
      const e2 = await client.explain({ node: n2, src: POD_A, dst: WEB_0, iif: 'vxlan.calico' });
      assert.equal(e2.dev, 'cali0d7763386da', 'node2 delivers to its own pod');
      await assert.rejects(client.explain({ src: POD_A, dst: WEB_0 }), (err: Error) => /INVALID_ARGUMENT|3 /.test(err.message) && err.message.includes(n1) && err.message.includes(n2));
      await assert.rejects(client.explain({ node: 'no-such-node', dst: WEB_0 }), /NOT_FOUND.*no node 'no-such-node'/);
      const r2 = await client.getRoutes({ node: n2 });
      assert.ok(r2.addresses.some((a) => a.address === '172.27.71.12'), 'node2 routes from node2');
      const r1 = await client.getRoutes({ node: n1 });
      assert.ok(r1.addresses.some((a) => a.address === '172.27.71.11'));

      // Status: every node, its state and its own counters.
      const st = await client.status();
      assert.equal(st.role, 'relay');
      assert.deepEqual(st.nodes.map((n) => n.name), [n1, n2].sort());
      for (const n of st.nodes) {
        assert.equal(n.state, S.NODE_UP);
        assert.ok(Number(n.received) > 0, `${n.name} received`);
        assert.equal(n.status!.node, n.name);
        assert.ok(n.status!.interfaces!.some((i) => i.name === 'ens3' && i.attached));
      }
      // The health service answers without credentials, as on a node.
      assert.equal(await client.healthCheck(), 'SERVING');
      client.close();
    } finally {
      await stopProcess(relay.proc);
      for (const s of serves) await stopProcess(s.proc);
    }
  });
  certs.cleanup();
});

test('relay: a node killed mid-stream is reported down, the other keeps streaming with no item lost, and the node is reconnected when it returns', async () => {
  const certs = makeTestCerts();
  await withLab(async (lab) => {
    const n1 = lab.nodes.find((n) => n.id === 'node1')!.name;
    const n2 = lab.nodes.find((n) => n.id === 'node2')!.name;
    const node1 = await serveNode(lab, 'node1', certs);
    let node2 = await serveNode(lab, 'node2', certs);
    const { relay, client } = await startRelay(certs);
    // Traffic that makes new items all the time on both nodes: a new ping (a new ICMP id, a new case to
    // judge) every 100 ms on node1, and across to node2.
    const loop = (from: string, to: string) => {
      const argv = labExecArgv(lab.prefix, from, ['sh', '-c', `while true; do ping -n -c 1 -W 1 ${to} >/dev/null; sleep 0.1; done`]);
      return spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
    };
    const traffic = [loop(POD_A, POD_B), loop(WEB_0, POD_A)];
    try {
      const got = recordStream(client.observe({ follow: true, allHistory: true, batch: 64 }));
      const from = (node: string) => got.filter((m) => m.node === node && m.item !== 'nodeEvent' && m.item !== 'stitched');
      await waitUntil(() => from(n1).length > 20 && from(n2).length > 5, 'items from both nodes', 15000);

      node2.proc.kill('SIGKILL');
      await waitUntil(() => got.some((m) => m.item === 'nodeEvent' && m.node === n2 && m.nodeEvent!.state === S.NODE_DOWN), 'node2 reported down', 10000);
      const down = got.find((m) => m.item === 'nodeEvent' && m.node === n2 && m.nodeEvent!.state === S.NODE_DOWN)!;
      assert.ok(Number(down.nodeEvent!.retryInMs) > 0, 'says when it retries');
      assert.ok(String(down.nodeEvent!.reason).length > 0);
      const st = await client.status();
      assert.equal(st.nodes.find((n) => n.name === n2)!.state, S.NODE_DOWN);
      assert.equal(st.nodes.find((n) => n.name === n1)!.state, S.NODE_UP);
      await assert.rejects(client.explain({ node: n2, dst: WEB_0 }), /UNAVAILABLE.*is down/);

      // node1 keeps streaming while node2 is down.
      const before = from(n1).length;
      await waitUntil(() => from(n1).length > before + 20, 'node1 items while node2 is down', 15000);

      node2 = await serveNode(lab, 'node2', certs);
      await waitUntil(() => got.some((m) => m.item === 'nodeEvent' && m.node === n2 && m.nodeEvent!.state === S.NODE_UP && /reconnected/.test(String(m.nodeEvent!.reason))), 'node2 reconnected', 20000);
      const upAgain = got.findIndex((m) => m.item === 'nodeEvent' && m.node === n2 && /reconnected/.test(String(m.nodeEvent!.reason)));
      await waitUntil(() => got.slice(upAgain).some((m) => m.node === n2 && m.item !== 'nodeEvent'), 'node2 items after the reconnect', 15000);
      assert.equal((await client.status()).nodes.find((n) => n.name === n2)!.reconnects, 1);

      // Quiet the traffic, then wait until everything the relay received from node1 has reached the
      // subscriber (items wait in the merge window for up to --merge-window).
      for (const t of traffic) await stopProcess(t);
      await waitUntil(async () => Number((await client.status()).nodes.find((n) => n.name === n1)!.received) === from(n1).length, 'the relay to deliver all it received from node1', 15000);
      // No item of the live node was lost: the subscriber has the relay's whole history, so it holds every
      // item node1 ever published — each of node1's own sequence numbers from 1 to the last, once. (The
      // merge orders by time, not by a node's publish order, so they are compared as a set.)
      const seqs = from(n1).map((m) => Number(m.nodeSeq)).sort((a, b) => a - b);
      assert.ok(seqs.length > 40);
      assert.equal(seqs[0], 1);
      const lost = () => JSON.stringify(got.filter((m) => m.item === 'lost' || m.item === 'nodeEvent').map((m) => [m.node, m.item, m.lost ?? m.nodeEvent]));
      for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1] + 1, `node1 item after seq ${seqs[i - 1]} is ${seqs[i]}; ${lost()}`);
      assert.ok(!got.some((m) => m.item === 'lost' && m.node === n1), 'no loss notice for node1');
      // The relay's own sequence is the order of delivery, without gaps.
      const relaySeqs = got.map((m) => Number(m.seq));
      for (let i = 1; i < relaySeqs.length; i++) assert.equal(relaySeqs[i], relaySeqs[i - 1] + 1);
      client.close();
    } finally {
      for (const t of traffic) await stopProcess(t);
      await stopProcess(relay.proc);
      await stopProcess(node1.proc);
      await stopProcess(node2.proc);
    }
  });
  certs.cleanup();
});

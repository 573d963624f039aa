// The walkthrough, told from live data: in a fresh two-node Calico lab, `calitrace explain` must tell the
// seed's story for pod → pod on node1, the VXLAN path to node2 with its outer header, and the IPAM-block
// blackhole for an address without a pod — each decision also checked against the kernel's own
// `ip route get`. Then the live model must follow a pod being added and deleted (latency printed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { withLab } from '../helpers/lab';
import { podAdd, podDel } from '../../src/lab';
import { createRouteModel } from '../../src/routing/model';
import { predict } from '../../src/routing/predict';
import type { Prediction } from '../../src/routing/types';
import { POD_A, POD_B, CALI_A as IIF_A, CALI_B as IF_B, WEB_0 as REMOTE_POD, NO_POD } from '../helpers/path-fixtures';

const run = promisify(execFile);
const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'calitrace.js');


/** stdout of `calitrace explain`; exit status 1 (the node refuses the packet) only when `refused`. */
async function explainCli(args: string[], refused = false): Promise<string> {
  try {
    const { stdout } = await run(process.execPath, [BIN, 'explain', ...args], { maxBuffer: 16 * 1024 * 1024 });
    assert.equal(refused, false, `explain ${args.join(' ')} exited 0 for a refused packet`);
    return stdout;
  } catch (e) {
    const err = e as { code?: number; stdout?: string };
    if (!refused || err.code !== 1) throw e;
    return err.stdout ?? '';
  }
}

/** The kernel's answer: `ip -j route get`, or the errno text when it refuses. */
async function kernelGet(netns: string, dst: string, src: string, iif: string): Promise<{ dev?: string; gateway?: string; error?: string }> {
  try {
    const { stdout } = await run('ip', ['-n', netns, '-j', 'route', 'get', dst, 'from', src, 'iif', iif]);
    const r = (JSON.parse(stdout) as Record<string, string>[])[0];
    return { dev: r.dev, gateway: r.gateway };
  } catch (e) {
    return { error: String((e as { stderr?: string }).stderr ?? e).trim() };
  }
}

function indexOfLine(lines: string[], needle: string, from = 0): number {
  for (let i = from; i < lines.length; i++) if (lines[i].trim() === needle) return i;
  return -1;
}

test('calitrace explain tells the walkthrough from the live lab, and the model follows pods', { timeout: 180_000 }, async () => {
  await withLab(async (lab) => {
    const node1 = lab.nodes.find((n) => n.id === 'node1')!.netns;

    // 1. Same node: the seed's story.
    const text = await explainCli([POD_A, POD_B, '--iif', IIF_A, '--netns', node1]);
    console.log(text);
    assert.match(text, /=> 10\.233\.101\.224 dev caliaa479e31ff6 scope link\s+\[\/32; local workload\] WINS/);
    assert.match(text, /blackhole 10\.233\.101\.192\/26 proto 80\s+\[\/26; IPAM-block blackhole\] — less specific \(\/26\) than the selected \/32/);
    assert.match(text, /Exact \/32 route wins/);
    assert.match(text, /VXLAN is NOT used/);
    assert.match(text, /10\.233\.101\.128\/26 via 10\.233\.101\.128 dev vxlan\.calico onlink — does not contain 10\.233\.101\.224/);
    assert.match(text, /The blackhole is NOT used: 10\.233\.101\.224 is in this node's block 10\.233\.101\.192\/26, but the \/32 route is more specific/);
    assert.match(text, /an address of the block WITHOUT a pod matches only the blackhole/);
    assert.match(text, /No NAT/);
    assert.match(text, /No VXLAN/);
    assert.match(text, /No physical NIC/);
    // The hop diagram, in order: Pod A → veth → cali (A) → routing (/32) → cali (B) → veth → Pod B.
    const lines = text.split('\n');
    const a = indexOfLine(lines, `Pod A (${POD_A})`);
    const veth1 = indexOfLine(lines, '| veth', a);
    const ca = indexOfLine(lines, IIF_A, veth1);
    const routing = lines.findIndex((l, i) => i > ca && l.includes('| Linux routing (/32 match'));
    const cb = indexOfLine(lines, IF_B, routing);
    const veth2 = indexOfLine(lines, '| veth', cb);
    const b = indexOfLine(lines, `Pod B (${POD_B})`, veth2);
    assert.ok(a >= 0 && veth1 > a && ca > veth1 && routing > ca && cb > routing && veth2 > cb && b > veth2, 'hop diagram in the walkthrough order');
    const k1 = await kernelGet(node1, POD_B, POD_A, IIF_A);
    assert.equal(k1.dev, IF_B, 'the kernel agrees: out through Pod B\'s cali interface');

    // 2. Cross node: VXLAN with the outer header from neighbour + FDB + underlay route.
    const json = JSON.parse(await explainCli([POD_A, REMOTE_POD, '--iif', IIF_A, '--netns', node1, '--json'])) as Prediction;
    assert.equal(json.decision, 'unicast');
    assert.equal(json.route, '10.233.100.128/26 via 10.233.100.128 dev vxlan.calico onlink');
    assert.equal(json.calico, 'vxlan-tunnel');
    assert.equal(json.dev, 'vxlan.calico');
    assert.equal(json.gateway, '10.233.100.128');
    assert.deepEqual(json.egressPath, ['vxlan.calico', 'ens3']);
    assert.equal(json.outer?.src, '172.27.71.11');
    assert.equal(json.outer?.dst, '172.27.71.12');
    assert.equal(json.outer?.vni, 4096);
    assert.equal(json.outer?.dstPort, 4789);
    assert.ok(json.steps && json.steps.some((s) => s.title === 'Why VXLAN is used'));
    const k2 = await kernelGet(node1, REMOTE_POD, POD_A, IIF_A);
    assert.equal(k2.dev, 'vxlan.calico');
    assert.equal(k2.gateway, '10.233.100.128');

    // 3. An address of the block with no pod: the IPAM-block blackhole.
    const bh = JSON.parse(await explainCli([POD_A, NO_POD, '--iif', IIF_A, '--netns', node1, '--json'], true)) as Prediction;
    assert.equal(bh.decision, 'blackhole');
    assert.equal(bh.errno, 'EINVAL');
    assert.equal(bh.route, 'blackhole 10.233.101.192/26 proto 80');
    assert.equal(bh.calico, 'ipam-block-blackhole');
    assert.deepEqual(bh.egressPath, []);
    const k3 = await kernelGet(node1, NO_POD, POD_A, IIF_A);
    assert.match(k3.error ?? '', /Invalid argument/, 'the kernel refuses with EINVAL');

    // The same questions from the seed's pasted `ip r` give the same routes as the live node.
    const fixture = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'seed-ip-route.txt');
    for (const [dst, live] of [
      [POD_B, { decision: 'unicast', route: '10.233.101.224 dev caliaa479e31ff6 scope link' }],
      [NO_POD, { decision: bh.decision, route: bh.route }],
    ] as const) {
      const pasted = JSON.parse(await explainCli([POD_A, dst, '--iif', IIF_A, '--routes', fixture, '--json'], live.decision === 'blackhole')) as Prediction;
      assert.equal(pasted.decision, live.decision, `paste and live agree on ${dst}`);
      assert.equal(pasted.route, live.route);
      assert.ok(pasted.unknowns && pasted.unknowns.length > 0, 'the paste says what it cannot know');
    }

    // 4. Live model: a pod appears at .230 (a /32 on a new cali), then goes away (the kernel flushes the /32
    // with the link and sends no route-delete message).
    const model = createRouteModel({ netns: node1 });
    const stamps: { t: number; line: string }[] = [];
    const mon = spawn('ip', ['-n', node1, '-ts', 'monitor', 'link', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
    mon.stdout.setEncoding('utf8');
    let buf = '';
    mon.stdout.on('data', (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})\d*\]\s(.*)$/.exec(line);
        if (m) stamps.push({ t: new Date(m[1]).getTime(), line: m[2] }); // ip prints local time, as Date parses it
      }
    });
    // Route changes as the model announced them, with the model's own timestamp.
    const changes: { t: number; text: string }[] = [];
    model.on('change', (ev) => {
      for (const c of ev.changes) if (c.kind === 'route') changes.push({ t: ev.timeMs, text: `${c.action} ${c.text}` });
    });
    try {
      await model.start();
      const has230 = (s: typeof model.state) => s.routes.some((r) => r.dst === `${NO_POD}/32` && r.table === 254);
      assert.equal(has230(model.state), false);
      const addLatency: number[] = [];
      const delLatency: number[] = [];
      for (let cycle = 0; cycle < 3; cycle++) {
        const appeared = model.waitFor(has230, 10_000);
        const pod = await podAdd({ prefix: lab.prefix, node: 'node1', namespace: 'ems', name: `calitrace-probe-${cycle}`, ip: NO_POD });
        await appeared;
        const p = predict(model, { src: POD_A, dst: NO_POD, iif: IIF_A });
        assert.equal(p.decision, 'unicast', 'with a pod at .230 the /32 wins over the blackhole');
        assert.equal(p.calico, 'local-workload');
        assert.equal(p.dev, pod.ifname);
        const k4 = await kernelGet(node1, NO_POD, POD_A, IIF_A);
        assert.equal(k4.dev, pod.ifname, 'the kernel agrees with the updated model');

        const gone = model.waitFor((s) => !has230(s), 10_000);
        await podDel({ prefix: lab.prefix, ip: NO_POD });
        await gone;
        assert.equal(predict(model, { src: POD_A, dst: NO_POD, iif: IIF_A }).decision, 'blackhole', 'back to the blackhole');
        // Subscribers were told what changed, route by route — including the /32 the kernel flushed silently.
        const routeText = `${NO_POD} dev ${pod.ifname} scope link`;
        const added = changes.find((c) => c.text === `added ${routeText}`);
        const removed = changes.find((c) => c.text === `removed ${routeText}`);
        assert.ok(added, `route-added event (got ${JSON.stringify(changes.map((c) => c.text))})`);
        assert.ok(removed, 'route-removed event for the silently flushed /32');
        const kernelAdd = stamps.find((x) => x.line.startsWith(`${NO_POD} dev ${pod.ifname}`))?.t;
        const linkGone = stamps.find((x) => x.line.startsWith('Deleted') && x.line.includes(pod.ifname))?.t;
        if (kernelAdd !== undefined) addLatency.push(added.t - kernelAdd);
        if (linkGone !== undefined) delLatency.push(removed.t - linkGone);
      }
      const fmt = (xs: number[]) => (xs.length ? `${xs.join(', ')} ms (max ${Math.max(...xs)})` : 'n/a (no kernel timestamp)');
      console.log(`routing-lab: model update after the kernel's notification (independent ip -ts monitor → model change event) — pod add (/32 route): ${fmt(addLatency)}; pod delete (link deleted, /32 flushed silently): ${fmt(delLatency)}`);
    } finally {
      mon.kill();
      await model.stop();
    }
  });
});

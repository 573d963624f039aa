// The client commands against a real `calitrace serve` on a lab node, run as a user runs them:
// `status` (health, every loss counter with explicit zeros, interfaces, route model age, pod names),
// `explain --server` and `--routes` (a paste of the node's `ip route`) giving the live namespace's answer
// (exit status by outcome, --iif checked),
// `observe` (verdicts by default, hops with --type, the JSON `trace` prints too) and `observe -o table`
// in a real terminal (a pty) of two widths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withLab } from '../helpers/lab';
import { mustExec } from '../helpers/path-lab';
import { PtyScreen } from '../helpers/tui-pty';
import { nodeNetns } from '../../src/lab';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'calitrace.js');
const POD_A = '10.233.101.222';
const POD_B = '10.233.101.224';
const NO_POD = '10.233.101.230';

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (err as { code?: number }).code : 0;
      resolve({ code: typeof code === 'number' ? code : -1, stdout, stderr });
    });
  });
}

interface Bg {
  out: () => string;
  err: () => string;
  done: Promise<number>;
  stop: () => void;
}

function background(args: string[]): Bg {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)));
  return { out: () => out, err: () => err, done, stop: () => child.kill('SIGINT') };
}

async function until<T>(get: () => T | undefined | null | false, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('status, explain --server, observe and its table against a running serve', { timeout: 300_000 }, async () => {
  await withLab(async (lab) => {
    const netns = nodeNetns(lab.prefix, 'node1');
    // Verdicts per packet (observe's lines are matched to trace's by fingerprint): packet mode, asked for.
    const serve = background(['serve', '--netns', netns, '--mode', 'packet', '--listen', '127.0.0.1:0']);
    try {
      const server = await until(() => /API on (127\.0\.0\.1:\d+)/.exec(serve.err())?.[1], 60_000, `serve to listen (stderr: ${serve.err()})`);

      // status: serving, nothing lost — and every counter printed, zeros included.
      const st = await cli(['status', '--server', server]);
      assert.equal(st.code, 0, st.stderr);
      assert.match(st.stdout, /^Health: +SERVING$/m);
      assert.match(st.stdout, new RegExp(`^Version: +calitrace \\S+, node ems203-w2, netns ${netns}, packet mode$`, 'm'));
      assert.match(st.stdout, /^Route model: +generation \d+, last changed \d+s ago/m);
      assert.match(st.stdout, new RegExp(`^Pod names: +the lab '${lab.prefix}'`, 'm'));
      assert.match(st.stdout, /^ {2}cali11299111064 +ifindex \d+ +attached \(ingress, egress\)$/m);
      assert.match(st.stdout, /^Losses: +nothing lost$/m);
      for (const c of ['lost_kernel', 'lost_pipe', 'lost_collector', 'lost_subscribers', 'loader_restarts']) {
        assert.match(st.stdout, new RegExp(`^ {2}${c} +0 `, 'm'), `${c} printed as an explicit 0`);
      }
      const js = JSON.parse((await cli(['status', '--server', server, '--json'])).stdout);
      assert.equal(js.health, 'SERVING');
      assert.equal(js.counters.lostKernel, 0);
      assert.ok(js.routeChangedMs > 0 && js.routeChangedMs <= Date.now());
      assert.match(js.podNames, new RegExp(`the lab '${lab.prefix}'`));
      const nobody = await cli(['status', '--server', '127.0.0.1:1']);
      assert.equal(nobody.code, 3);
      assert.match(nobody.stderr, /is 'calitrace serve' or 'calitrace trace' running at 127\.0\.0\.1:1\?/);

      // explain --server: the same head as the live namespace, exit status by outcome, --iif checked there.
      const remote = await cli(['explain', POD_A, POD_B, '--server', server]);
      const local = await cli(['explain', POD_A, POD_B, '--netns', netns]);
      assert.equal(remote.code, 0, remote.stderr);
      assert.deepEqual(remote.stdout.split('\n').slice(0, 3), local.stdout.split('\n').slice(0, 3));
      assert.match(remote.stdout, /^Ingress: cali11299111064 — 10\.233\.101\.222 is a pod of this node/);
      assert.match(remote.stdout, /Exact \/32 route wins/);
      const refused = await cli(['explain', POD_A, NO_POD, '--server', server, '--short']);
      assert.equal(refused.code, 1);
      assert.match(refused.stdout, /REFUSED — dropped by a blackhole route/);
      const typo = await cli(['explain', POD_A, POD_B, '--server', server, '--iif', 'cali1129911106']);
      assert.equal(typo.code, 2);
      assert.match(typo.stderr, /--iif cali1129911106: no such interface in this namespace \(see: ip link\) \(did you mean cali11299111064\?\)/);
      const node = await cli(['explain', POD_A, POD_B, '--node', 'ems203-w2']);
      assert.equal(node.code, 2);
      assert.match(node.stderr, /--node N asks a relay: give --server ADDR too/);

      // A paste of this node's `ip route` and the live namespace give the same answer for the same routes.
      const { stdout: routes } = await new Promise<{ stdout: string }>((resolve, reject) =>
        execFile('ip', ['-n', netns, 'route'], (err, stdout) => (err ? reject(err) : resolve({ stdout }))),
      );
      const pasteFile = path.join(os.tmpdir(), `routes-${lab.prefix}.txt`);
      fs.writeFileSync(pasteFile, routes);
      for (const [src, dst] of [[POD_A, POD_B], [POD_A, NO_POD], [POD_A, '10.233.100.130'], ['172.27.71.11', POD_B], ['172.16.0.5', POD_B]]) {
        const live = await cli(['explain', src, dst, '--netns', netns, '--json']);
        const pasted = await cli(['explain', src, dst, '--routes', pasteFile, '--json']);
        assert.equal(pasted.code, live.code, `${src} → ${dst}: same exit status`);
        const a = JSON.parse(live.stdout);
        const b = JSON.parse(pasted.stdout);
        for (const k of ['decision', 'errno', 'route', 'dev', 'gateway', 'calico']) assert.deepEqual(b[k], a[k], `${src} → ${dst}: ${k}`);
        assert.equal(b.ingress.kind, a.ingress.kind, `${src} → ${dst}: ingress`);
        assert.equal(b.query.iif, a.query.iif, `${src} → ${dst}: iif`);
      }
      fs.rmSync(pasteFile);

      // Hook records become PACKET items only while someone follows them (src/api/feed.ts): a follower
      // for them, connected before the traffic.
      const hookFollower = background(['observe', '--server', server, '-f', '--type', 'packet']);
      for (let i = 0; i < 200; i++) {
        const st2 = await cli(['status', '--server', server, '--json']);
        if (JSON.parse(st2.stdout).subscribers?.length > 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }

      // Traffic, judged by serve; meanwhile a one-shot trace prints the same packets in JSON.
      const trace = background(['trace', '--no-ui', '-o', 'json', '--count', '1', '--no-api', '--netns', netns, '--src', POD_A, '--dst', POD_B]);
      await until(() => /judging/.test(trace.err()), 60_000, `trace to start (stderr: ${trace.err()})`);
      await mustExec(lab, POD_A, ['ping', '-n', '-c', '2', '-i', '0.2', '-W', '1', POD_B]);
      await mustExec(lab, POD_A, ['sh', '-c', `ping -n -c 1 -W 1 ${NO_POD} || true`]);
      assert.equal(await trace.done, 0, trace.err());
      const fromTrace = JSON.parse(trace.out().trim());

      // observe: verdicts (and losses) by default — no per-hop packets, no flow updates.
      const seen = await cli(['observe', '--server', server, '--last', '10']);
      assert.equal(seen.code, 0, seen.stderr);
      const lines = seen.stdout.trim().split('\n');
      assert.ok(lines.length >= 5, seen.stdout);
      for (const l of lines) assert.match(l, / (MATCHED|EXPECTED_DROP) /, `only verdicts: ${l}`);
      assert.match(seen.stdout, /EXPECTED_DROP +ems\/edgecloud-suse-adapter-df5d6d78b-m5zc2 \(10\.233\.101\.222\) > 10\.233\.101\.230 icmp echo-request seq 1 \| observed cali11299111064 → ✗drop:NOT_SPECIFIED@cali11299111064/);
      assert.match(seen.stdout, /MATCHED .* icmp echo-request seq 1 \| observed cali11299111064 → caliaa479e31ff6 \| latency [\d.]+µs \| predicted/);
      await until(() => /\] cali11299111064 ingress /.test(hookFollower.out()), 20_000, `the follower's hook lines (${hookFollower.err()})`);
      hookFollower.stop();
      assert.equal(await hookFollower.done, 0, hookFollower.err());
      const hops = await cli(['observe', '--server', server, '--last', '10', '--type', 'packet,flow']);
      assert.match(hops.stdout, /\] cali11299111064 ingress /);
      assert.match(hops.stdout, /\] FLOW /);
      assert.doesNotMatch(hops.stdout, / MATCHED +ems\//, 'no verdict lines when only packets and flows are asked for');

      // The JSON observe prints for a verdict is the one trace printed: same fields, same values.
      const obsJson = (await cli(['observe', '--server', server, '--all', '-o', 'json', `src=${POD_A}`, `dst=${POD_B}`])).stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, any>);
      const twin = obsJson.find((o) => o.fingerprint === fromTrace.fingerprint);
      assert.ok(twin, `observe has the packet trace printed (${fromTrace.fingerprint})`);
      assert.deepEqual(Object.keys(twin).sort(), Object.keys(fromTrace).sort());
      for (const k of ['schema', 'verdict', 'protocol', 'src', 'dst', 'srcPod', 'dstPod', 'icmp', 'predicted', 'decision', 'route', 'flow', 'fingerprint', 'family', 'length']) {
        assert.deepEqual(twin[k], fromTrace[k], k);
      }
      assert.deepEqual(twin.observed.map((h: any) => [h.interface, h.direction]), fromTrace.observed.map((h: any) => [h.interface, h.direction]));

      // The table in a real terminal: as wide as the terminal, with POD and REASON.
      for (const cols of [90, 160]) {
        const screen = new PtyScreen(process.execPath, [BIN, 'observe', '--server', server, '--last', '5', '-o', 'table'], { cols, rows: 20 });
        try {
          await screen.waitForText(/EXPECTED_DROP/);
          await screen.exited;
          const raw = screen.raw.replace(/\r/g, '').split('\n').filter((l) => l.length);
          const header = raw.find((l) => l.startsWith('TIME'))!;
          assert.ok(header, screen.raw);
          assert.match(header, /\bPOD\b.*\bREASON\b/);
          for (const l of raw) assert.ok([...l].length <= cols, `${cols} columns: ${[...l].length}: ${l}`);
          if (cols >= 160) assert.match(header, /OBSERVED/);
        } finally {
          await screen.kill();
        }
      }
    } finally {
      serve.stop();
      await serve.done;
    }
  });
});

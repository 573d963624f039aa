// `calitrace trace --no-ui` as a user runs it, in a lab node: verdict lines (compact and JSON) and flow lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { withLab } from '../helpers/lab';
import { mustExec } from '../helpers/path-lab';
import { nodeNetns } from '../../src/lab';
import { POD_A, POD_B, WEB_0, SERVICE } from '../helpers/path-fixtures';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'calitrace.js');

interface Run {
  stdout: () => string;
  stderr: () => string;
  done: Promise<number>;
  kill: () => void;
}

function trace(args: string[]): Run {
  const child = spawn(process.execPath, [BIN, 'trace', '--no-ui', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)));
  return { stdout: () => out, stderr: () => err, done, kill: () => child.kill('SIGINT') };
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('trace --no-ui: JSON verdicts in the schema calitrace.verdict/v1 (the one observe prints), with pod names', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const run = trace(['-o', 'json', '--count', '2', '--netns', nodeNetns(lab.prefix, 'node1'), '--src', POD_A]);
    try {
      await until(() => /judging/.test(run.stderr()), 30_000, `the trace to start (stderr: ${run.stderr()})`);
      await mustExec(lab, POD_A, ['ping', '-n', '-c', '1', '-W', '1', POD_B]);
      await mustExec(lab, POD_A, ['ping', '-n', '-c', '1', '-W', '1', WEB_0]);
      assert.equal(await run.done, 0, run.stderr());
    } finally {
      run.kill();
    }
    const lines = run.stdout().trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    assert.equal(lines.length, 2, run.stdout());
    const [same, cross] = lines;
    assert.equal(same.verdict, 'MATCHED');
    assert.equal(same.src, POD_A);
    assert.equal(same.dst, POD_B);
    assert.equal(same.schema, 'calitrace.verdict/v1');
    assert.equal(same.protocol, 'icmp');
    assert.equal(same.icmp.name, 'echo-request');
    assert.equal(same.srcPod, 'ems/edgecloud-suse-adapter-df5d6d78b-m5zc2', 'pod names on trace lines (the lab names its pods)');
    assert.equal(same.dstPod, 'ems/ems-a10nsp-accounting-89c69b796-rpb9k');
    assert.match(same.fingerprint, /^[0-9a-f]{16}$/);
    assert.deepEqual(same.observed.map((h: any) => [h.interface, h.direction]), [['cali11299111064', 'ingress'], ['caliaa479e31ff6', 'egress']]);
    assert.deepEqual(same.predicted, ['cali11299111064', 'caliaa479e31ff6']);
    assert.equal(same.kernel.interface, 'caliaa479e31ff6');
    assert.equal(typeof same.latencyUs, 'number');
    assert.equal(typeof same.reason, 'string');
    assert.equal(cross.verdict, 'MATCHED');
    assert.deepEqual(cross.predicted, ['cali11299111064', 'vxlan.calico', 'ens3']);
    assert.equal(cross.observed[2].tunnel.outerDst, '172.27.71.12');
    assert.match(run.stderr(), /lost: 0 in kernel, 0 in pipe/);
  });
});

test('trace --no-ui compact: one line per packet with both paths; --flows: one line per flow with both directions', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const netns = nodeNetns(lab.prefix, 'node1');
    const packets = trace(['--count', '2', '--netns', netns, '--dst', '10.233.101.230']);
    try {
      await until(() => /judging/.test(packets.stderr()), 30_000, 'the trace to start');
      await mustExec(lab, POD_A, ['sh', '-c', 'ping -n -c 2 -i 0.2 -W 1 10.233.101.230 || true']);
      assert.equal(await packets.done, 0, packets.stderr());
    } finally {
      packets.kill();
    }
    const lines = packets.stdout().trim().split('\n');
    assert.equal(lines.length, 2);
    for (const l of lines) {
      assert.match(l, /EXPECTED_DROP/);
      assert.match(l, /observed cali11299111064 → ✗drop:NOT_SPECIFIED@cali11299111064/);
      assert.match(l, /ems\/edgecloud-suse-adapter-df5d6d78b-m5zc2 \(10\.233\.101\.222\) > 10\.233\.101\.230 icmp echo-request seq [12] \|/);
      assert.match(l, /predicted cali11299111064 \|/);
      assert.match(l, /blackhole/);
    }

    const flows = trace(['--flows', '--count', '1', '--netns', netns, '--src', `${POD_A}`]);
    try {
      await until(() => /judging/.test(flows.stderr()), 30_000, 'the flow trace to start');
      await mustExec(lab, POD_A, ['ping', '-n', '-c', '3', '-i', '0.2', '-W', '1', POD_B]);
      assert.equal(await flows.done, 0, flows.stderr());
    } finally {
      flows.kill();
    }
    const flowLine = flows.stdout().trim();
    assert.match(flowLine, /flow active +icmp/);
    assert.match(flowLine, /10\.233\.101\.222 <> 10\.233\.101\.224/);
    assert.match(flowLine, /\[MATCHED \d\]/);
    assert.match(flowLine, /observed cali11299111064 → caliaa479e31ff6 predicted cali11299111064 → caliaa479e31ff6/);
  });
});

test('trace --no-ui through a Service DNAT: the compact line names the translation, JSON carries nat', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    await mustExec(lab, 'node1', ['sh', '-c', [
      'nft add table ip calitrace_nat',
      "nft add chain ip calitrace_nat pre '{ type nat hook prerouting priority -100; }'",
      `nft add rule ip calitrace_nat pre ip daddr 10.96.0.10 meta l4proto icmp dnat to ${POD_B}`,
    ].join(' && ')]);
    const netns = nodeNetns(lab.prefix, 'node1');
    const compact = trace(['--count', '1', '--netns', netns, '--src', POD_A, '--dst', SERVICE]);
    const json = trace(['-o', 'json', '--count', '1', '--netns', netns, '--src', POD_A, '--dst', SERVICE, '--no-api']);
    try {
      await until(() => /judging/.test(compact.stderr()) && /judging/.test(json.stderr()), 30_000, `both traces to start (stderr: ${compact.stderr()} ${json.stderr()})`);
      await mustExec(lab, POD_A, ['ping', '-n', '-c', '1', '-W', '1', SERVICE]);
      assert.equal(await compact.done, 0, compact.stderr());
      assert.equal(await json.done, 0, json.stderr());
    } finally {
      compact.kill();
      json.kill();
    }
    assert.match(compact.stdout(), /MATCHED .*10\.233\.101\.222\) > 10\.96\.0\.10 icmp echo-request seq 1 \(DNAT → 10\.233\.101\.224\) \| observed cali11299111064 → caliaa479e31ff6 \| latency [\d.]+µs \| predicted cali11299111064 → caliaa479e31ff6/);
    const v = JSON.parse(json.stdout().trim()) as Record<string, any>;
    assert.equal(v.verdict, 'MATCHED');
    assert.deepEqual(v.nat, { src: null, dst: { from: SERVICE, to: POD_B } });
    assert.deepEqual(v.predicted, ['cali11299111064', 'caliaa479e31ff6']);
    assert.match(v.reason, /^NAT on this node/);
  });
});

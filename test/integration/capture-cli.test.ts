// `calitrace trace --no-ui --events` (raw hook events; verdicts are the path tests' business) as a user
// runs it: a real process, real packets, parsed output.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { labUp, labDown, randomPrefix, nodeNetns, LabInfo } from '../../src/lab';
import { packageRoot } from '../../src/util/package-root';
import { ping } from '../helpers/capture-lab';
import { POD_A as A, POD_B as B, WEB_0 as REMOTE } from '../helpers/path-fixtures';

const BIN = path.join(packageRoot(), 'bin', 'calitrace.js');

let lab: LabInfo;
before(async () => {
  lab = await labUp({ prefix: randomPrefix() });
});
after(async () => {
  if (lab) await labDown({ prefix: lab.prefix });
});

interface Run {
  code: Promise<number>;
  stdout: () => string;
  stderr: () => string;
  /** Resolves when stderr says tracing started (the loader is attached). */
  tracing: Promise<void>;
}

function trace(args: string[]): Run {
  const child = spawn(process.execPath, [BIN, 'trace', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let onTracing!: () => void;
  const tracing = new Promise<void>((r) => (onTracing = r));
  child.stdout.setEncoding('utf8').on('data', (t: string) => (out += t));
  child.stderr.setEncoding('utf8').on('data', (t: string) => {
    err += t;
    if (/: tracing /.test(err)) onTracing();
  });
  const code = new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 30000);
  void code.then(() => clearTimeout(killer));
  return { code, stdout: () => out, stderr: () => err, tracing };
}

async function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, rej) => (t = setTimeout(() => rej(new Error(`${what}: no result within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

test('-o json --count 4 with a filter: four JSON lines with the required fields, then exit 0 with loss counters', async () => {
  const run = trace(['--no-ui', '--events', '-o', 'json', '--count', '4', '--netns', nodeNetns(lab.prefix, 'node1'), '--src', A, '--proto', 'icmp']);
  await deadline(run.tracing, 15000, 'trace start');
  await ping(lab, A, B, 2);
  assert.equal(await deadline(run.code, 15000, 'trace exit'), 0, run.stderr());
  const lines = run.stdout().trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
  assert.equal(lines.length, 4);
  for (const l of lines) {
    for (const k of ['time', 'iface', 'dir', 'src', 'dst', 'proto', 'sport', 'dport', 'fingerprint']) assert.ok(k in l, `field ${k} in ${JSON.stringify(l)}`);
    assert.ok(!Number.isNaN(Date.parse(l.time)) && Math.abs(Date.parse(l.time) - Date.now()) < 60000, `time ${l.time} is now-ish wall clock`);
    assert.equal(l.src, A);
    assert.equal(l.dst, B);
    assert.equal(l.proto, 'icmp');
    assert.match(l.fingerprint, /^[0-9a-f]{16}$/);
    assert.equal('tunnel' in l, false);
  }
  const ingress = lines.filter((l) => l.dir === 'ingress');
  const egress = lines.filter((l) => l.dir === 'egress');
  assert.deepEqual(ingress.map((l) => l.iface), ['cali11299111064', 'cali11299111064']);
  assert.deepEqual(egress.map((l) => l.iface), ['caliaa479e31ff6', 'caliaa479e31ff6']);
  assert.deepEqual(ingress.map((l) => l.kernel.iface), ['caliaa479e31ff6', 'caliaa479e31ff6']);
  assert.equal('kernel' in egress[0], false);
  assert.deepEqual(new Set(ingress.map((l) => l.fingerprint)), new Set(egress.map((l) => l.fingerprint)));
  assert.match(run.stderr(), /4 printed, \d+ received, lost: 0 in kernel, 0 in pipe, 0 loader restarts/);
});

test('cross-node in compact and json: the tunnel field appears on the uplink', async () => {
  const run = trace(['--no-ui', '--events', '-o', 'json', '--count', '3', '--netns', nodeNetns(lab.prefix, 'node1'), '--dst', REMOTE, '--proto', 'icmp']);
  await deadline(run.tracing, 15000, 'trace start');
  await ping(lab, A, REMOTE, 1);
  assert.equal(await deadline(run.code, 15000, 'trace exit'), 0, run.stderr());
  const lines = run.stdout().trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
  assert.deepEqual(lines.map((l) => `${l.iface}/${l.dir}`), ['cali11299111064/ingress', 'vxlan.calico/egress', 'ens3/egress']);
  assert.deepEqual(lines[2].tunnel && { ...lines[2].tunnel, udpSport: 0 }, { outerSrc: '172.27.71.11', outerDst: '172.27.71.12', vni: 4096, udpSport: 0, udpDport: 4789 });
  assert.equal(new Set(lines.map((l) => l.fingerprint)).size, 1);

  const compact = trace(['--no-ui', '--events', '--count', '3', '--netns', nodeNetns(lab.prefix, 'node1'), '--dst', REMOTE, '--proto', 'icmp']);
  await deadline(compact.tracing, 15000, 'trace start');
  await ping(lab, A, REMOTE, 1);
  assert.equal(await deadline(compact.code, 15000, 'trace exit'), 0, compact.stderr());
  const text = compact.stdout().trim().split('\n');
  assert.equal(text.length, 3);
  assert.match(text[0], /cali11299111064 in .* icmp +10\.233\.101\.222 > 10\.233\.100\.130 echo-request .* fib success -> vxlan\.calico via 10\.233\.100\.128/);
  assert.match(text[2], /ens3 out .* vxlan vni 4096 172\.27\.71\.11 > 172\.27\.71\.12/);
});

test('--duration ends the trace; without --no-ui and without a terminal the user is told to add --no-ui', async () => {
  const started = Date.now();
  const run = trace(['--no-ui', '--events', '--duration', '1', '--netns', nodeNetns(lab.prefix, 'node1'), '--port', '1']);
  assert.equal(await deadline(run.code, 15000, 'trace exit'), 0, run.stderr());
  assert.ok(Date.now() - started >= 1000);
  assert.match(run.stderr(), /0 printed/);

  const ui = trace(['--netns', nodeNetns(lab.prefix, 'node1')]);
  assert.equal(await ui.code, 2);
  // The test's pipes are not a terminal, so the live UI cannot open: the message must name the fix.
  assert.match(ui.stderr(), /needs a terminal .*add --no-ui/);
});

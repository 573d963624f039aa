// `calitrace explain` on pasted routes, run as a user runs it (the real CLI in a child process): the seed's
// question pasted as-is, the ingress taken from a pod's own route and said first, the answer's head
// (ingress, outcome, route, caveats) before the story, --short, the exit status, typos caught with
// "did you mean", the component that programs each route, "unknown" for what a paste cannot know.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'seed-ip-route.txt');
const BIN = path.join(ROOT, 'bin', 'calitrace.js');

function explain(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'explain', ...args], (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? -1) : 0;
      resolve({ code: typeof code === 'number' ? code : -1, stdout, stderr });
    });
  });
}

function pasteFile(text: string): string {
  const f = path.join(mkdtempSync(path.join(tmpdir(), 'explain-cli-')), 'routes.txt');
  writeFileSync(f, text);
  return f;
}

test("the seed's question pasted as-is gets the seed's answer: the pod's cali interface is the ingress, the /32 wins", async () => {
  const r = await explain(['10.233.101.222', '10.233.101.224', '--routes', FIXTURE]);
  assert.equal(r.code, 0, 'delivered: exit status 0');
  const lines = r.stdout.split('\n');
  assert.match(lines[0], /^Ingress: cali11299111064 — 10\.233\.101\.222 is a pod of this node \(route "10\.233\.101\.222 dev cali11299111064 scope link"\)/);
  assert.match(lines[1], /^Answer: 10\.233\.101\.222 → 10\.233\.101\.224: delivered to the pod 10\.233\.101\.224 on caliaa479e31ff6 \(local workload\)$/);
  assert.match(lines[2], /^Route: +10\.233\.101\.224 dev caliaa479e31ff6 scope link — local workload .* programmed by Calico: the CNI plugin at pod creation, kept by Felix/);
  assert.match(r.stdout, /Exact \/32 route wins/);
  assert.match(r.stdout, /The blackhole is NOT used: 10\.233\.101\.224 is in this node's block 10\.233\.101\.192\/26, but the \/32 route is more specific/);
  assert.match(r.stdout, /Pod A \(10\.233\.101\.222\)\n\s+\|\n\s+\| veth\n\s+\|\n\s+cali11299111064/, 'the diagram starts at Pod A and its veth');
  assert.doesNotMatch(r.stdout, /this node \(10\.233\.101\.222\)|The node itself sends/, 'a pod IP is never drawn as the node');
});

test('caveats come before the story; --short is the head alone', async () => {
  const full = await explain(['10.233.101.222', '10.233.101.224', '--routes', FIXTURE]);
  const caveats = full.stdout.indexOf('Caveats');
  const story = full.stdout.indexOf('1. Packet enters');
  assert.ok(caveats > 0 && story > caveats, 'caveats first, then the numbered story');
  assert.doesNotMatch(full.stdout, /\d+\. (Warnings|Cannot be known from a paste)/, 'no caveats repeated at the end');
  const short = await explain(['10.233.101.222', '10.233.101.224', '--routes', FIXTURE, '--short']);
  assert.equal(short.code, 0);
  assert.deepEqual(short.stdout.split('\n').slice(0, 3), full.stdout.split('\n').slice(0, 3), 'the same head');
  assert.match(short.stdout, /Caveats/);
  assert.doesNotMatch(short.stdout, /Packet enters|Visual datapath/);
  assert.ok(short.stdout.trim().split('\n').length < full.stdout.trim().split('\n').length / 2);
});

test('a refused packet exits 1, and the blackhole story does not contradict itself', async () => {
  const bh = await explain(['10.233.101.222', '10.233.101.230', '--routes', FIXTURE]);
  assert.equal(bh.code, 1, 'exit status 1: refused');
  assert.match(bh.stdout.split('\n')[1], /^Answer: .*REFUSED — dropped by a blackhole route \(the IPAM-block blackhole: no pod has 10\.233\.101\.230 here\) \[EINVAL\]/);
  assert.match(bh.stdout, /The blackhole IS used/);
  // An address of the node's block asked from a source that is neither a pod nor the node: refused before
  // the lookup, and the story says so instead of "contains X" followed by "X is not in this node's block".
  const m = await explain(['172.16.0.5', '10.233.101.224', '--routes', FIXTURE]);
  assert.equal(m.code, 1);
  assert.match(m.stdout.split('\n')[0], /^Ingress: unknown — 172\.16\.0\.5 is not an address of this node .*try --iif ens3 \(the route back to 172\.16\.0\.5 leaves through ens3\)/);
  assert.match(m.stdout, /The blackhole is NOT reached: 10\.233\.101\.224 is in this node's block 10\.233\.101\.192\/26, but the kernel refuses the packet before the route lookup \(martian\)/);
  assert.doesNotMatch(m.stdout, /not in this node's block/);
  // The offered --iif works.
  const tried = await explain(['172.16.0.5', '10.233.101.224', '--routes', FIXTURE, '--iif', 'ens3']);
  assert.equal(tried.code, 0);
  assert.match(tried.stdout, /^Ingress: ens3 \(given with --iif\)/);
});

test('--iif is checked against the paste, and unknown flags get "did you mean"', async () => {
  const typo = await explain(['10.233.101.222', '10.233.101.224', '--iif', 'cali1129911106', '--routes', FIXTURE]);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /--iif cali1129911106: no such interface among the interfaces of the pasted routes \(did you mean cali11299111064\?\)/);
  assert.match(typo.stderr, /They are: ens3, cali11299111064, caliaa479e31ff6/);
  const flag = await explain(['10.233.101.222', '10.233.101.224', '--routes', FIXTURE, '--jsno']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /^calitrace explain: unknown option --jsno \(did you mean --json\?\)\nSee: calitrace explain --help\n$/);
  const missing = await explain(['10.233.101.222', '10.233.101.224', '--routes']);
  assert.match(missing.stderr, /--routes needs a value/);
  assert.doesNotMatch(missing.stderr + flag.stderr, /To specify a positional argument/);
});

test('who programs each route: Felix (proto 80) in VXLAN mode, BIRD with BGP, the host for static; unknown, not 0, for what a paste lacks', async () => {
  const vxlan = pasteFile(
    [
      'default via 172.27.71.254 dev ens3 proto static',
      'blackhole 10.233.101.192/26 proto 80',
      '10.233.100.128/26 via 10.233.100.128 dev vxlan.calico onlink',
      '10.233.101.222 dev cali11299111064 scope link',
    ].join('\n'),
  );
  const r = await explain(['10.233.101.222', '10.233.100.130', '--routes', vxlan]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^Route: +10\.233\.100\.128\/26 via 10\.233\.100\.128 dev vxlan\.calico onlink — VXLAN tunnel .* programmed by Calico: Felix's route manager \(VXLAN mode; proto boot\)$/m);
  assert.match(r.stdout, /Programmed by Calico: Felix's route manager \(proto 80\): Calico installs a blackhole/);
  assert.match(r.stdout, /programmed by the host's network configuration \(proto static\), not Calico/);
  assert.match(r.stdout, /VXLAN VNI unknown, outer unknown → unknown, UDP unknown/);
  assert.doesNotMatch(r.stdout, /VNI 0|BIRD/);
  const json = JSON.parse((await explain(['10.233.101.222', '10.233.100.130', '--routes', vxlan, '--json'])).stdout);
  assert.equal(json.outer.vni, undefined, 'no invented VNI in JSON either');
  assert.equal(json.ingress.kind, 'pod');
  assert.equal(json.query.iif, 'cali11299111064');

  const bgp = pasteFile('blackhole 10.233.101.192/26 proto bird\n10.233.100.128/26 via 172.27.71.12 dev ens3 proto bird\n10.233.101.222 dev cali11299111064 scope link\n');
  const b = await explain(['10.233.101.222', '10.233.100.130', '--routes', bgp]);
  assert.match(b.stdout, /^Route: .* no-encap .* programmed by Calico: BIRD, the BGP daemon of calico-node \(proto bird\)$/m);
});

test('help and README document the exit status', async () => {
  const h = await explain(['--help']);
  assert.match(h.stdout, /Exit status: 0 the packet is delivered or forwarded .* 1 the node\nrefuses it/);
});

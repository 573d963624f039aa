// The seed's pasted `ip r` (test/fixtures/seed-ip-route.txt, copied from the walkthrough: prompt line, the
// four routes, a note, and the whole block pasted twice) and `calitrace explain --routes/--batch` on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { parsePastedRoutes, parseRouteLine } from '../../src/routing/paste';
import { parseV6, formatV6 } from '../../src/routing/addr';

const ROOT = path.join(__dirname, '..', '..', '..');
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'seed-ip-route.txt');
const BIN = path.join(ROOT, 'bin', 'calitrace.js');
const run = promisify(execFile);

/** `calitrace explain ARGS` whose exit status must be 1: the node refuses the packet (the answer is still on stdout). */
async function refused(args: string[]): Promise<{ stdout: string }> {
  const e = await run(process.execPath, [BIN, 'explain', ...args]).then(
    () => assert.fail(`explain ${args.join(' ')} exited 0 for a refused packet`),
    (err: { code?: number; stdout?: string }) => err,
  );
  assert.equal(e.code, 1, 'exit status 1: refused');
  return { stdout: e.stdout ?? '' };
}

test('the seed paste: four routes, repeats counted once, prose skipped', () => {
  const r = parsePastedRoutes(readFileSync(FIXTURE, 'utf8'));
  assert.deepEqual(
    r.state.routes.map((x) => x.text),
    [
      'default via 172.27.71.254 dev ens3 proto static',
      'blackhole 10.233.101.192/26 proto 80',
      '10.233.101.222 dev cali11299111064 scope link',
      '10.233.101.224 dev caliaa479e31ff6 scope link',
    ],
  );
  const bh = r.state.routes[1];
  assert.equal(bh.type, 'blackhole');
  assert.equal(bh.dst, '10.233.101.192/26');
  assert.equal(bh.protocol, '80');
  assert.equal(r.duplicates, 4);
  assert.deepEqual(r.ignored, ['root@ems203-w2:/home/labadmin# ip r', '** Both IPs are in: 10.233.101.192/26', '** Both IPs are in: 10.233.101.192/26']);
  assert.equal(r.state.complete.rules, false);
});

test('route lines: multipath continuation, via inet6, odd lines rejected', () => {
  const r = parsePastedRoutes('10.7.0.0/16 proto 80\n\tnexthop via 10.1.0.2 dev v0 weight 1\n\tnexthop via 10.1.0.3 dev v1 weight 2\n');
  assert.equal(r.state.routes[0].nexthops.length, 2);
  assert.equal(r.state.routes[0].nexthops[1].weight, 2);
  assert.equal(parseRouteLine('Pod A (10.233.101.222) sends traffic to:'), undefined);
  assert.equal(parseRouteLine('10.233.101.222 sends traffic'), undefined);
  assert.equal(parseRouteLine('fd00::/64 via inet6 fe80::1 dev eth0 metric 1024 pref medium')?.nexthops[0].gateway, 'fe80::1');
  assert.equal(parseRouteLine('fd00::/64 dev eth0 metric 256')?.family, 6);
});

test('IPv6 text: parse and RFC 5952 format', () => {
  assert.equal(formatV6(parseV6('2001:db8:0:0:0:0:0:1')!), '2001:db8::1');
  assert.equal(formatV6(parseV6('::ffff:10.0.0.1')!), '::ffff:a00:1');
  assert.equal(formatV6(parseV6('fd00:1:0:0:1::')!), 'fd00:1:0:0:1::');
  assert.equal(parseV6('1::2::3'), undefined);
});

test('calitrace explain --routes on the seed paste tells the story and what a paste cannot know', async () => {
  const { stdout } = await run(process.execPath, [BIN, 'explain', '10.233.101.222', '10.233.101.224', '--iif', 'cali11299111064', '--routes', FIXTURE]);
  assert.match(stdout, /=> 10\.233\.101\.224 dev caliaa479e31ff6 scope link\s+\[\/32; local workload\] WINS/);
  assert.match(stdout, /Exact \/32 route wins/);
  assert.match(stdout, /VXLAN is NOT used/);
  assert.match(stdout, /The blackhole is NOT used/);
  assert.match(stdout, /Caveats \(! warning, \? cannot be known from a paste\)/);
  assert.match(stdout, /ip rules: a pasted `ip route` has no rules/);
  const json = JSON.parse((await refused(['10.233.101.222', '10.233.101.230', '--iif', 'cali11299111064', '--routes', FIXTURE, '--json'])).stdout);
  assert.equal(json.decision, 'blackhole');
  assert.equal(json.errno, 'EINVAL');
  assert.equal(json.route, 'blackhole 10.233.101.192/26 proto 80');
  assert.equal(json.calico, 'ipam-block-blackhole');
  assert.deepEqual(json.egressPath, []);
  assert.ok(Array.isArray(json.steps) && json.steps.length > 3);
  assert.ok(Array.isArray(json.candidates) && json.candidates.length === 2);
});

test('calitrace explain --batch: one JSON answer per query line, errors per line', async () => {
  const child = spawn(process.execPath, [BIN, 'explain', '--batch', '--routes', FIXTURE], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stdin.end('10.233.101.222 10.233.101.224 iif cali11299111064\n# a comment\n\n10.233.101.222 10.233.101.230 iif cali11299111064 mark 0x10\nnot-an-ip 1.2.3.4\n10.233.101.222 8.8.8.8\n');
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? -1)));
  const lines = out.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 4);
  assert.equal(lines[0].decision, 'unicast');
  assert.equal(lines[0].dev, 'caliaa479e31ff6');
  assert.equal(lines[1].decision, 'blackhole');
  assert.equal(lines[1].query.mark, 0x10);
  assert.equal(lines[2].line, 5);
  assert.match(lines[2].error, /not an IP address/);
  assert.equal(lines[3].gateway, '172.27.71.254');
  assert.equal(code, 1, 'exit status 1 when a line could not be answered');
});

test('an `ip -j route` paste is read like the text', async () => {
  const json = JSON.stringify([
    { dst: 'default', gateway: '172.27.71.254', dev: 'ens3', protocol: 'static', flags: [] },
    { type: 'blackhole', dst: '10.233.101.192/26', protocol: '80', flags: [] },
    { dst: '10.233.101.224', dev: 'caliaa479e31ff6', scope: 'link', flags: [] },
  ]);
  const r = parsePastedRoutes(json);
  assert.deepEqual(
    r.state.routes.map((x) => x.text),
    ['default via 172.27.71.254 dev ens3 proto static', 'blackhole 10.233.101.192/26 proto 80', '10.233.101.224 dev caliaa479e31ff6 scope link'],
  );
  // From the pod whose route the paste has (10.233.101.224): its cali interface is the ingress.
  const child = spawn(process.execPath, [BIN, 'explain', '10.233.101.224', '10.233.101.230', '--routes', '-', '--json'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stdin.end(json);
  await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(JSON.parse(out).decision, 'blackhole');
});

test('calitrace explain of a multicast group arriving on the uplink: membership decides, and a paste cannot know it', async () => {
  const { stdout } = await refused(['172.27.71.254', '224.0.0.22', '--iif', 'ens3', '--routes', FIXTURE]);
  assert.match(stdout, /multicast_not_joined/);
  assert.match(stdout, /Multicast: membership decides, not the routing tables/);
  assert.match(stdout, /ens3 has not been seen to join \(groups are not known here, assumed not\) 224\.0\.0\.22: the kernel discards the packet/);
  assert.match(stdout, /A packet from 172\.27\.71\.254 to the group 224\.0\.0\.22 arrives on ens3\./);
  assert.match(stdout, /IGMP reports to 224\.0\.0\.22/);
  assert.match(stdout, /multicast group check \(not joined\)/, 'the hop diagram');
  assert.match(stdout, /multicast group memberships \(`ip maddr`\)/, 'what a paste cannot know');
  assert.doesNotMatch(stdout, /default via 172\.27\.71\.254 dev ens3 proto static\s+\[.*WINS/, 'no route decides a group on the input path');
  const json = JSON.parse((await run(process.execPath, [BIN, 'explain', '172.27.71.254', '224.0.0.1', '--iif', 'ens3', '--routes', FIXTURE, '--json'])).stdout);
  assert.equal(json.decision, 'multicast', 'all-hosts is joined by every interface');
  assert.equal(json.dev, 'lo');
  assert.deepEqual(json.egressPath, []);
});

// The built-in lab end to end, with real namespaces and real packets: seed routes, TTLs, VXLAN, blackhole,
// TCP both ways, idempotent up, pod churn, exec, status, two coexisting labs, rollback of a failed up, and a
// root namespace left exactly as it was.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { labDown, labExec, labStatus, labUp, podAdd, randomPrefix, runTraffic } from '../../src/lab';
import { listNetns } from '../../src/lab/netns';
import { withLab } from '../helpers/lab';

const BIN = resolve(__dirname, '../../../bin/calitrace.js');

interface Out { code: number; stdout: string; stderr: string }

function cli(args: string[]): Promise<Out> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', rej);
    child.on('close', (code) => res({ code: code ?? -1, stdout, stderr }));
  });
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

function sha1Hex(text: string): string {
  return execFileSync('sha1sum', { input: text, encoding: 'utf8' }).split(/\s/)[0];
}

/**
 * The root namespace as `ip` shows it: links, IPv4 and IPv6 routes of every table. Only the countdown of
 * router-advertised routes ("expires 1790sec") is blanked: it changes by itself between two reads.
 */
function rootSnapshot() {
  const routes = (family: string) => sh('ip', [family, 'route', 'show', 'table', 'all']).replace(/expires \d+sec/g, 'expires Nsec');
  return {
    links: sh('ip', ['-o', 'link', 'show']),
    routes4: routes('-4'),
    routes6: routes('-6'),
  };
}

function ownNamespaces(prefix: string): string[] {
  return listNetns().filter((n) => n.startsWith(`${prefix}-`));
}

function lines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter(Boolean);
}

async function mustExec(prefix: string, target: string, argv: string[]): Promise<string> {
  const r = await labExec(prefix, target, argv);
  assert.equal(r.code, 0, `${target}: ${argv.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

async function ping(prefix: string, from: string, to: string, count = 3): Promise<{ code: number; ttls: number[]; received: number }> {
  const r = await labExec(prefix, from, ['ping', '-n', '-c', String(count), '-i', '0.2', '-W', '1', to]);
  const ttls = [...r.stdout.matchAll(/ttl=(\d+)/g)].map((m) => Number(m[1]));
  const received = Number(/(\d+) received/.exec(r.stdout)?.[1] ?? 0);
  return { code: r.code, ttls, received };
}

async function linkStats(prefix: string, node: string, ifname: string): Promise<{ tx: number; rx: number }> {
  const [link] = JSON.parse(await mustExec(prefix, node, ['ip', '-s', '-j', 'link', 'show', 'dev', ifname])) as {
    stats64: { tx: { packets: number }; rx: { packets: number } };
  }[];
  return { tx: link.stats64.tx.packets, rx: link.stats64.rx.packets };
}

// The routes of ems203-w2 as the issue quotes them from the seed, line for line.
const SEED_NODE1_ROUTES = [
  'default via 172.27.71.254 dev ens3 proto static',
  'blackhole 10.233.101.192/26 proto 80',
  '10.233.101.222 dev cali11299111064 scope link',
  '10.233.101.224 dev caliaa479e31ff6 scope link',
  '10.233.101.128/26 via 10.233.101.128 dev vxlan.calico onlink',
  '10.233.100.128/26 via 10.233.100.128 dev vxlan.calico onlink',
];

describe('calitrace lab', () => {
  const A = randomPrefix();
  const B = randomPrefix();
  const C = randomPrefix();
  const fakeNetns = `/run/netns/${C}-caliaa479e31ff6`;
  let rootBefore: ReturnType<typeof rootSnapshot>;

  before(async () => {
    rootBefore = rootSnapshot();
    assert.deepEqual(ownNamespaces(A), []);
    const up = await cli(['lab', 'up', '--prefix', A]);
    assert.equal(up.code, 0, up.stderr + up.stdout);
  });

  after(async () => {
    // Always clean up, whatever failed above.
    for (const p of [A, B, C]) await labDown({ prefix: p }).catch(() => undefined);
    rmSync(fakeNetns, { force: true });
  });

  test('node1 `ip route` has the seed routes line for line, plus the connected underlay route', async () => {
    const r = await cli(['lab', 'exec', 'node1', '--prefix', A, '--', 'ip', 'route']);
    assert.equal(r.code, 0, r.stderr);
    const got = lines(r.stdout);
    for (const want of SEED_NODE1_ROUTES) assert.ok(got.includes(want), `missing '${want}' in:\n${r.stdout}`);
    assert.ok(got.includes('172.27.71.0/24 dev ens3 proto kernel scope link src 172.27.71.11'), r.stdout);
    assert.equal(got.length, SEED_NODE1_ROUTES.length + 1, `unexpected extra routes:\n${r.stdout}`);
  });

  test('node2 owns 10.233.100.128/26 with a pod and routes node1\'s block over VXLAN', async () => {
    const got = lines(await mustExec(A, 'node2', ['ip', 'route']));
    assert.ok(got.includes('blackhole 10.233.100.128/26 proto 80'), got.join('\n'));
    assert.ok(got.includes(`10.233.100.130 dev cali${sha1Hex('default.web-0').slice(0, 11)} scope link`), got.join('\n'));
    assert.ok(got.includes('10.233.101.192/26 via 10.233.101.192 dev vxlan.calico onlink'), got.join('\n'));
    assert.ok(got.includes('default via 172.27.71.254 dev ens3 proto static'), got.join('\n'));
  });

  test('Calico wiring: vxlan.calico, VTEP neighbours + FDB, cali host side, pod side', async () => {
    const vx = await mustExec(A, 'node1', ['ip', '-d', 'link', 'show', 'dev', 'vxlan.calico']);
    assert.match(vx, /mtu 1450 /);
    assert.match(vx, /link\/ether 66:27:39:67:b9:64 /); // printf ems203-w2 | sha1sum → 273967b964…
    assert.match(vx, /vxlan id 4096 local 172\.27\.71\.11 dev ens3 .*dstport 4789 nolearning/);
    assert.match(await mustExec(A, 'node1', ['ip', '-4', 'addr', 'show', 'dev', 'vxlan.calico']), /inet 10\.233\.101\.192\/32 /);
    const neigh = lines(await mustExec(A, 'node1', ['ip', 'neigh', 'show', 'dev', 'vxlan.calico']));
    assert.ok(neigh.includes('10.233.100.128 lladdr 66:e2:e9:96:9f:82 PERMANENT'), neigh.join('\n'));
    assert.ok(neigh.includes('10.233.101.128 lladdr 66:ae:75:42:69:72 PERMANENT'), neigh.join('\n'));
    const fdb = lines(await mustExec(A, 'node1', ['bridge', 'fdb', 'show', 'dev', 'vxlan.calico']));
    assert.ok(fdb.includes('66:e2:e9:96:9f:82 dst 172.27.71.12 self permanent'), fdb.join('\n'));
    assert.ok(fdb.includes('66:ae:75:42:69:72 dst 172.27.71.13 self permanent'), fdb.join('\n'));

    const cali = 'cali11299111064';
    assert.match(await mustExec(A, 'node1', ['ip', 'link', 'show', 'dev', cali]), /link\/ether ee:ee:ee:ee:ee:ee /);
    // Calico gives both ends of a pod's veth the VXLAN MTU (underlay 1500 − 50), so pods never send
    // packets that cannot be encapsulated.
    assert.match(await mustExec(A, 'node1', ['ip', 'link', 'show', 'dev', cali]), / mtu 1450 /);
    assert.match(await mustExec(A, '10.233.101.222', ['ip', 'link', 'show', 'dev', 'eth0']), / mtu 1450 /);
    const sysctls = await mustExec(A, 'node1', ['sysctl', '-n', `net.ipv4.conf.${cali}.proxy_arp`, `net.ipv4.neigh.${cali}.proxy_delay`,
      `net.ipv4.conf.${cali}.route_localnet`, `net.ipv4.conf.${cali}.forwarding`]);
    assert.deepEqual(lines(sysctls), ['1', '0', '1', '1']);
    const [eth0] = JSON.parse(await mustExec(A, '10.233.101.222', ['ip', '-j', 'link', 'show', 'dev', 'eth0'])) as { address: string }[];
    assert.deepEqual(lines(await mustExec(A, 'node1', ['ip', 'neigh', 'show', '10.233.101.222'])), [
      `10.233.101.222 dev ${cali} lladdr ${eth0.address} PERMANENT`,
    ]);
    assert.deepEqual(lines(await mustExec(A, '10.233.101.222', ['ip', 'route'])), [
      'default via 169.254.1.1 dev eth0',
      '169.254.1.1 dev eth0 scope link',
    ]);
    assert.match(await mustExec(A, '10.233.101.222', ['ip', '-4', 'addr', 'show', 'dev', 'eth0']), /inet 10\.233\.101\.222\/32 /);
  });

  test('same-node ping 10.233.101.222 → .224 answers with TTL 63', async () => {
    const p = await ping(A, '10.233.101.222', '10.233.101.224');
    assert.equal(p.code, 0);
    assert.equal(p.received, 3);
    assert.deepEqual(p.ttls, [63, 63, 63]);
  });

  test('cross-node ping to node2\'s pod answers with TTL 62 and goes through vxlan.calico', async () => {
    const before1 = await linkStats(A, 'node1', 'vxlan.calico');
    const before2 = await linkStats(A, 'node2', 'vxlan.calico');
    const p = await ping(A, '10.233.101.222', '10.233.100.130', 5);
    assert.equal(p.code, 0);
    assert.deepEqual(p.ttls, [62, 62, 62, 62, 62]);
    const after1 = await linkStats(A, 'node1', 'vxlan.calico');
    const after2 = await linkStats(A, 'node2', 'vxlan.calico');
    assert.ok(after1.tx - before1.tx >= 5, `node1 vxlan.calico tx ${before1.tx} → ${after1.tx}`);
    assert.ok(after2.rx - before2.rx >= 5, `node2 vxlan.calico rx ${before2.rx} → ${after2.rx}`);
  });

  test('TCP works both ways, same node and across VXLAN', async () => {
    const results = await runTraffic({
      prefix: A,
      flows: [
        { name: 'out', kind: 'tcp', from: '10.233.101.222', to: '10.233.100.130', rate: 200, durationS: 1, port: 7001 },
        { name: 'back', kind: 'tcp', from: '10.233.100.130', to: '10.233.101.222', rate: 200, durationS: 1, port: 7002 },
        { name: 'local', kind: 'tcp', from: '10.233.101.224', to: '10.233.101.222', rate: 200, durationS: 1, port: 7003 },
      ],
    });
    for (const r of results) {
      assert.ok(r.ok, `${r.name}: ${r.detail}`);
      assert.ok(r.sent > 0 && r.received === r.sent, `${r.name}: ${r.detail}`);
    }
  });

  test('runTraffic flows can be stopped early and still report what they sent and what arrived', async () => {
    const before = await linkStats(A, 'node1', 'cali11299111064');
    const stop = new AbortController();
    const running = runTraffic({
      prefix: A,
      signal: stop.signal,
      flows: [
        { name: 'p', kind: 'ping', from: '10.233.101.222', to: '10.233.100.130', rate: 20, durationS: 30 },
        { name: 'u', kind: 'udp', from: '10.233.101.222', to: '10.233.100.130', rate: 20, durationS: 30, port: 7011 },
        { name: 't', kind: 'tcp', from: '10.233.101.222', to: '10.233.101.224', rate: 20, durationS: 30, port: 7012 },
      ],
    });
    // Stop once the pod has visibly been sending for a while (node1 receives on its cali), deadline 15 s.
    const deadline = Date.now() + 15000;
    while ((await linkStats(A, 'node1', 'cali11299111064')).rx - before.rx < 40) {
      assert.ok(Date.now() < deadline, 'traffic did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    stop.abort();
    const results = await running;
    for (const r of results) {
      assert.equal(r.interrupted, true, r.name);
      assert.ok(r.sent > 0, `${r.name}: ${r.detail}`);
      assert.ok(r.kind !== 'ping' || r.sent < 600, `${r.name} was not stopped: ${r.detail}`);
      if (r.kind === 'ping') assert.ok(r.received >= r.sent - 1, r.detail); // the last echo may be in flight
      else assert.equal(r.received, r.sent, `${r.name}: ${r.detail}`);
    }
  });

  test('10.233.101.230 (in the block, no pod) is dropped by the blackhole', async () => {
    const p = await ping(A, '10.233.101.222', '10.233.101.230', 2);
    assert.notEqual(p.code, 0);
    assert.equal(p.received, 0);
    const get = await labExec(A, 'node1', ['ip', 'route', 'get', '10.233.101.230']);
    assert.notEqual(get.code, 0);
    assert.match(get.stderr, /Invalid argument/);
    const fwd = await labExec(A, 'node1', ['ip', 'route', 'get', '10.233.101.230', 'from', '10.233.101.222', 'iif', 'cali11299111064']);
    assert.notEqual(fwd.code, 0);
    assert.match(fwd.stderr, /Invalid argument/);
  });

  test('lab traffic (CLI) runs named ping/UDP flows and reports per flow', async () => {
    const r = await cli(['lab', 'traffic', '--prefix', A, '--json', '--rate', '50', '--duration', '1',
      '--flow', 'icmp=ping:10.233.101.224:10.233.100.130', '--flow', 'dns=udp:10.233.100.130:10.233.101.224:5353']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const flows = JSON.parse(r.stdout) as { name: string; kind: string; sent: number; received: number; dport?: number }[];
    assert.deepEqual(flows.map((f) => [f.name, f.kind]), [['icmp', 'ping'], ['dns', 'udp']]);
    assert.equal(flows[0].sent, 50);
    assert.equal(flows[0].received, 50);
    assert.equal(flows[1].dport, 5353);
    assert.ok(flows[1].sent >= 40 && flows[1].received === flows[1].sent, JSON.stringify(flows[1]));
    const bad = await cli(['lab', 'traffic', '--prefix', A, '--duration', '1', '--flow', 'x=ping:10.233.101.222:10.233.101.230']);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /FAIL x/);
  });

  test('lab up is idempotent: nothing is recreated or changed', async () => {
    const snap = async () =>
      Promise.all([
        mustExec(A, 'node1', ['ip', '-o', 'link', 'show']),
        mustExec(A, 'node1', ['ip', 'route']),
        mustExec(A, 'node1', ['ip', 'neigh', 'show', 'nud', 'permanent']),
        mustExec(A, 'node2', ['bridge', 'fdb', 'show', 'dev', 'vxlan.calico']),
        mustExec(A, '10.233.101.224', ['ip', '-o', 'link', 'show']),
      ]);
    const before1 = await snap();
    const nsBefore = ownNamespaces(A);
    const up = await cli(['lab', 'up', '--prefix', A]);
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual(await snap(), before1);
    assert.deepEqual(ownNamespaces(A), nsBefore);
  });

  test('lab status: text and --json, healthy flags, and a broken route shows up and is repaired by up', async () => {
    const text = await cli(['lab', 'status', '--prefix', A]);
    assert.equal(text.code, 0, text.stdout);
    assert.match(text.stdout, /healthy/);
    assert.match(text.stdout, /ems\/edgecloud-suse-adapter-df5d6d78b-m5zc2\s+10\.233\.101\.222\s+cali11299111064\s+healthy/);
    assert.match(text.stdout, /ems\/ems-a10nsp-accounting-89c69b796-rpb9k\s+10\.233\.101\.224\s+caliaa479e31ff6\s+healthy/);
    assert.match(text.stdout, /node2\s+ems203-w1 .*healthy/);
    const json = await cli(['lab', 'status', '--prefix', A, '--json']);
    assert.equal(json.code, 0);
    const s = JSON.parse(json.stdout) as { healthy: boolean; nodes: { name: string; healthy: boolean }[]; pods: { namespace: string; name: string; ip: string; ifname: string; healthy: boolean; problems: string[] }[] };
    assert.equal(s.healthy, true);
    assert.deepEqual(s.nodes.map((n) => [n.name, n.healthy]), [['ems203-w2', true], ['ems203-w1', true]]);
    assert.deepEqual(s.pods.map((p) => `${p.namespace}/${p.name} ${p.ip} ${p.ifname} ${p.healthy}`).sort(), [
      `default/web-0 10.233.100.130 cali${sha1Hex('default.web-0').slice(0, 11)} true`,
      'ems/edgecloud-suse-adapter-df5d6d78b-m5zc2 10.233.101.222 cali11299111064 true',
      'ems/ems-a10nsp-accounting-89c69b796-rpb9k 10.233.101.224 caliaa479e31ff6 true',
    ]);

    await mustExec(A, 'node1', ['ip', 'route', 'del', '10.233.101.224/32']);
    const broken = await cli(['lab', 'status', '--prefix', A, '--json']);
    assert.equal(broken.code, 1);
    const bs = JSON.parse(broken.stdout) as typeof s;
    assert.equal(bs.healthy, false);
    const pod224 = bs.pods.find((p) => p.ip === '10.233.101.224');
    assert.equal(pod224?.healthy, false);
    assert.match(pod224?.problems.join(';') ?? '', /route 10\.233\.101\.224 dev caliaa479e31ff6 missing/);
    assert.equal((await ping(A, '10.233.101.222', '10.233.101.224', 1)).received, 0);

    assert.equal((await cli(['lab', 'up', '--prefix', A])).code, 0);
    assert.equal((await labStatus({ prefix: A })).healthy, true);
    assert.deepEqual((await ping(A, '10.233.101.222', '10.233.101.224', 1)).ttls, [63]);

    // The pod side counts too: a pod without its default route is unhealthy until up repairs it.
    await mustExec(A, '10.233.101.222', ['ip', 'route', 'del', 'default']);
    const podBroken = await labStatus({ prefix: A });
    assert.deepEqual(podBroken.pods.find((p) => p.ip === '10.233.101.222')?.problems, ['pod default route via 169.254.1.1 missing']);
    await labUp({ prefix: A });
    assert.equal((await labStatus({ prefix: A })).healthy, true);
    assert.deepEqual((await ping(A, '10.233.101.222', '10.233.101.224', 1)).ttls, [63]);
  });

  test('lab exec by node name, Kubernetes node name and pod IP; exit code and streams pass through', async () => {
    const byNode = await cli(['lab', 'exec', 'node1', '--prefix', A, '--', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'ens3']);
    assert.match(byNode.stdout, /inet 172\.27\.71\.11\/24/);
    const byK8s = await cli(['lab', 'exec', 'ems203-w1', '--prefix', A, '--', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'ens3']);
    assert.match(byK8s.stdout, /inet 172\.27\.71\.12\/24/);
    const byPod = await cli(['lab', 'exec', '10.233.101.222', '--prefix', A, '--', 'ping', '-c1', '-W1', '10.233.101.224']);
    assert.equal(byPod.code, 0, byPod.stderr);
    assert.match(byPod.stdout, /ttl=63/);
    const codes = await cli(['lab', 'exec', '10.233.101.224', '--prefix', A, '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    assert.deepEqual([codes.code, codes.stdout, codes.stderr], [7, 'out\n', 'err\n']);
    const unknown = await cli(['lab', 'exec', '10.9.9.9', '--prefix', A, '--', 'true']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /not a node or pod .*calitrace lab status/);

    // Streaming: the first line arrives while the command is still running.
    const child = spawn(process.execPath, [BIN, 'lab', 'exec', 'node2', '--prefix', A, '--', 'sh', '-c', 'echo first; sleep 1; echo second'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = '';
    const firstWhileRunning = await new Promise<boolean>((res) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        seen += d;
        if (seen.includes('first') && !seen.includes('second')) res(child.exitCode === null);
      });
      child.on('close', () => res(false));
    });
    const code = await new Promise<number | null>((res) => (child.exitCode !== null ? res(child.exitCode) : child.on('close', res)));
    assert.ok(firstWhileRunning, 'first line was not streamed before the command ended');
    assert.equal(code, 0);
    assert.equal(seen, 'first\nsecond\n');
  });

  test('lab exec puts this checkout\'s calitrace on PATH: explain runs inside node1 against its live routes', async () => {
    const r = await cli(['lab', 'exec', 'node1', '--prefix', A, '--', 'calitrace', 'explain', '10.233.101.222', '10.233.101.224',
      '--iif', 'cali11299111064', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const answer = JSON.parse(r.stdout) as { decision: string; dev: string; route: string };
    // The seed's answer: the pod's /32 on its cali interface wins.
    assert.equal(answer.decision, 'unicast');
    assert.equal(answer.dev, 'caliaa479e31ff6');
    assert.equal(answer.route, '10.233.101.224 dev caliaa479e31ff6 scope link');
  });

  test('pod add/del at run time the Calico way (route, neighbour, sysctls, naming), on both nodes', async () => {
    const ifname = 'cali' + sha1Hex('ems.churn-1').slice(0, 11);
    const add = await cli(['lab', 'pod', 'add', 'ems/churn-1', '10.233.101.230', '--prefix', A]);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, new RegExp(`interface ${ifname}`));
    assert.ok(lines(await mustExec(A, 'node1', ['ip', 'route'])).includes(`10.233.101.230 dev ${ifname} scope link`));
    const [eth0] = JSON.parse(await mustExec(A, '10.233.101.230', ['ip', '-j', 'link', 'show', 'dev', 'eth0'])) as { address: string }[];
    assert.deepEqual(lines(await mustExec(A, 'node1', ['ip', 'neigh', 'show', '10.233.101.230'])), [
      `10.233.101.230 dev ${ifname} lladdr ${eth0.address} PERMANENT`,
    ]);
    assert.deepEqual(lines(await mustExec(A, 'node1', ['sysctl', '-n', `net.ipv4.conf.${ifname}.proxy_arp`, `net.ipv4.neigh.${ifname}.proxy_delay`,
      `net.ipv4.conf.${ifname}.route_localnet`, `net.ipv4.conf.${ifname}.forwarding`])), ['1', '0', '1', '1']);
    assert.match(await mustExec(A, 'node1', ['ip', 'link', 'show', 'dev', ifname]), /link\/ether ee:ee:ee:ee:ee:ee /);
    assert.ok(ownNamespaces(A).includes(`${A}-${ifname}`));
    // The new pod's very first packet needs proxy ARP for 169.254.1.1 to answer at once (proxy_delay=0).
    const first = await ping(A, '10.233.101.230', '10.233.101.222', 1);
    assert.deepEqual(first.ttls, [63]);
    assert.deepEqual((await ping(A, '10.233.100.130', '10.233.101.230', 1)).ttls, [62]);

    const add2 = await cli(['lab', 'pod', 'add', 'default/web-1', '10.233.100.131', '--node', 'node2', '--prefix', A]);
    assert.equal(add2.code, 0, add2.stderr);
    assert.deepEqual((await ping(A, '10.233.101.222', '10.233.100.131', 1)).ttls, [62]);
    const st = await labStatus({ prefix: A });
    assert.ok(st.healthy);
    assert.deepEqual(st.pods.filter((p) => p.name === 'churn-1' || p.name === 'web-1').map((p) => `${p.node} ${p.ip} ${p.healthy}`).sort(),
      ['node1 10.233.101.230 true', 'node2 10.233.100.131 true']);

    await assert.rejects(podAdd({ prefix: A, node: 'node1', namespace: 'ems', name: 'dup', ip: '10.233.101.224' }),
      /10\.233\.101\.224 already belongs to pod ems\/ems-a10nsp-accounting-89c69b796-rpb9k/);
    await assert.rejects(podAdd({ prefix: A, node: 'node1', namespace: 'ems', name: 'churn-1', ip: '10.233.101.231' }),
      /pod ems\/churn-1 already exists with IP 10\.233\.101\.230/);
    assert.ok(!ownNamespaces(A).includes(`${A}-cali${sha1Hex('ems.dup').slice(0, 11)}`));

    const wrongBlock = await cli(['lab', 'pod', 'add', 'ems/x', '10.233.100.140', '--node', 'node1', '--prefix', A]);
    assert.notEqual(wrongBlock.code, 0);
    assert.match(wrongBlock.stderr, /not in node1's IPAM block 10\.233\.101\.192\/26/);

    assert.equal((await cli(['lab', 'pod', 'del', '10.233.101.230', '--prefix', A])).code, 0);
    assert.equal((await cli(['lab', 'pod', 'del', 'default/web-1', '--prefix', A])).code, 0);
    assert.ok(!lines(await mustExec(A, 'node1', ['ip', 'route'])).some((l) => l.startsWith('10.233.101.230 ')));
    assert.equal((await mustExec(A, 'node1', ['ip', 'neigh', 'show', '10.233.101.230'])).trim(), '');
    assert.notEqual((await labExec(A, 'node1', ['ip', 'link', 'show', 'dev', ifname])).code, 0);
    assert.ok(!ownNamespaces(A).includes(`${A}-${ifname}`));
    assert.ok(!lines(await mustExec(A, 'node2', ['ip', 'route'])).some((l) => l.startsWith('10.233.100.131 ')));
    const get = await labExec(A, 'node1', ['ip', 'route', 'get', '10.233.101.230']);
    assert.match(get.stderr, /Invalid argument/);
    assert.equal((await labStatus({ prefix: A })).pods.length, 3);
  });

  test('a second lab with another prefix coexists, and taking it down leaves the first intact', async () => {
    const b = await labUp({ prefix: B });
    assert.equal(b.prefix, B);
    assert.deepEqual(b.nodes.map((n) => n.netns), [`${B}-node1`, `${B}-node2`]);
    assert.equal(ownNamespaces(B).length, 6);
    assert.deepEqual((await ping(B, '10.233.101.222', '10.233.100.130', 1)).ttls, [62]);
    assert.deepEqual((await ping(A, '10.233.101.222', '10.233.100.130', 1)).ttls, [62]);
    const down = await cli(['lab', 'down', '--prefix', B]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(ownNamespaces(B), []);
    assert.equal((await labStatus({ prefix: A })).healthy, true);
    assert.deepEqual((await ping(A, '10.233.101.222', '10.233.100.130', 1)).ttls, [62]);
  });

  test('a failure halfway through up removes what that run made and nothing else', async () => {
    // A plain file where a pod namespace should be: `ip netns add` skips it and wiring into it fails.
    writeFileSync(fakeNetns, '');
    try {
      await assert.rejects(labUp({ prefix: C }), /caliaa479e31ff6/);
      assert.deepEqual(ownNamespaces(C), [`${C}-caliaa479e31ff6`]); // only the file we made ourselves
      assert.ok(!existsSync(`/run/calitrace/${C}`));
      assert.equal((await labStatus({ prefix: A })).healthy, true);
    } finally {
      rmSync(fakeNetns, { force: true });
    }
  });

  test('withLab gives a fresh lab under a random prefix and tears it down even when the body throws', async () => {
    let prefix = '';
    await assert.rejects(
      withLab(async (lab) => {
        prefix = lab.prefix;
        assert.equal(ownNamespaces(prefix).length, 6);
        assert.deepEqual((await ping(prefix, '10.233.101.224', '10.233.100.130', 1)).ttls, [62]);
        throw new Error('body failed');
      }),
      /body failed/,
    );
    assert.match(prefix, /^[a-z][a-z0-9]+$/);
    assert.notEqual(prefix, A);
    assert.deepEqual(ownNamespaces(prefix), []);
  });

  test('lab down removes exactly what the lab made: root links, routes and namespaces are as before', async () => {
    // Something still running inside the lab must not keep its namespace (and veths) alive.
    const sleeper = spawn('ip', ['netns', 'exec', `${A}-node1`, 'sleep', '120'], { stdio: 'ignore' });
    const sleeperGone = new Promise<void>((res) => sleeper.on('close', () => res()));
    const down = await cli(['lab', 'down', '--prefix', A]);
    await sleeperGone;
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /removed 6 namespaces/);
    assert.deepEqual(ownNamespaces(A), []);
    assert.ok(!existsSync(`/run/calitrace/${A}`));
    assert.deepEqual(rootSnapshot(), rootBefore);
    const again = await cli(['lab', 'down', '--prefix', A]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /nothing to remove/);
    const status = await cli(['lab', 'status', '--prefix', A]);
    assert.equal(status.code, 1);
    assert.match(status.stdout, /is down/);
  });
});

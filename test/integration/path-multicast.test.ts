// Multicast reaching node1's uplink from the underlay, judged by the real collector: a group ens3 has not
// joined is discarded by the kernel before routing, which must be EXPECTED_DROP (the noise every node sees:
// IGMP reports, mDNS, SSDP), not an unexplained DROPPED; once a socket on node1 joins the group on ens3 the
// same packets are delivered there, and the model notices the membership without any netlink event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { withLab } from '../helpers/lab';
import { mustExec, withNodeCollector } from '../helpers/path-lab';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { labExecArgv, nodeNetns } from '../../src/lab';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'calitrace.js');

/** `calitrace explain ROUTER GROUP --iif ens3 --netns <node1> --json`, as a user would ask it. */
async function explainGroup(prefix: string): Promise<{ decision: string; steps: { title: string; lines: string[] }[] }> {
  // Exit status 1 means the node refuses the packet (a group nobody joined); the answer is on stdout either way.
  const { stdout } = await promisify(execFile)(process.execPath, [BIN, 'explain', ROUTER, GROUP, '--iif', 'ens3', '--netns', nodeNetns(prefix, 'node1'), '--json']).catch(
    (e: { code?: number; stdout?: string }) => {
      if (e.code !== 1) throw e;
      return { stdout: e.stdout ?? '' };
    },
  );
  return JSON.parse(stdout);
}
import type { PacketVerdict } from '../../src/path/types';
import { ROUTER } from '../helpers/path-fixtures';

const GROUP = '239.1.2.3';
const PORT = 5000;

/** Sends `count` UDP datagrams to the group from the underlay router (the lab's `net` namespace). */
function sendFromRouter(lab: { prefix: string }, payload: string, count = 3): Promise<string> {
  const py = [
    'import socket, time',
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    `s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("${ROUTER}"))`,
    's.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)',
    `for i in range(${count}):`,
    `    s.sendto(b"${payload}", ("${GROUP}", ${PORT}))`,
    '    time.sleep(0.05)',
  ].join('\n');
  return mustExec(lab as never, 'net', ['python3', '-c', py]);
}

test('multicast on the uplink: a group not joined is EXPECTED_DROP; joined, it is delivered and MATCHED', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    await withNodeCollector(lab, async (h) => {
      // 1. Nobody on node1 has joined the group.
      await sendFromRouter(lab, 'unjoined');
      const dropped = await h.waitVerdict((v) => v.dst === GROUP && v.src === ROUTER, 10_000, 'a verdict for the unjoined group');
      assert.equal(dropped.verdict, 'EXPECTED_DROP', h.dump());
      assert.equal(dropped.decision, 'multicast_not_joined');
      assert.deepEqual(dropped.observed.map((x) => `${x.iface}:${x.dir}`), ['ens3:ingress', 'ens3:drop']);
      assert.match(dropped.reason, /239\.1\.2\.3 is a multicast group ens3 has not joined/);
      const before = await explainGroup(lab.prefix);
      assert.equal(before.decision, 'multicast_not_joined');
      assert.ok(before.steps.some((st) => st.lines.some((l) => l.includes('ens3 has NOT joined 239.1.2.3'))), JSON.stringify(before.steps));

      // 2. A receiver on node1 joins the group on ens3, listens on the port and stays until told to go.
      const receiverPy = [
        'import socket, struct, sys',
        's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        `s.bind(("", ${PORT}))`,
        `s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack("4s4si", socket.inet_aton("${GROUP}"), socket.inet_aton("0.0.0.0"), socket.if_nametoindex("ens3")))`,
        'print("joined", flush=True)',
        'for i in range(3):',
        '    data, addr = s.recvfrom(100)',
        '    print("got", data.decode(), addr[0], flush=True)',
        'sys.stdin.read()',
      ].join('\n');
      const argv = labExecArgv(lab.prefix, 'node1', ['python3', '-c', receiverPy]);
      const receiver = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      receiver.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      receiver.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<void>((r) => receiver.on('close', () => r()));
      const isGroupVerdict = (from: number) => (v: PacketVerdict) => h.verdicts.indexOf(v) >= from && v.dst === GROUP && v.src === ROUTER;
      try {
        await h.waitUntil(() => out.includes('joined'), 10_000, 'the receiver to join the group');
        // No netlink event announces the join: the model's membership poll must find it.
        await h.rc.model.waitFor((s) => (s.memberships ?? []).some((m) => m.ifname === 'ens3' && m.group === GROUP), 5_000);
        assert.equal((await explainGroup(lab.prefix)).decision, 'multicast', 'explain reads the group lists too');
        const before = h.verdicts.length;
        await sendFromRouter(lab, 'joined');
        await h.waitUntil(() => out.split('got joined').length - 1 === 3, 10_000, `the receiver to get 3 datagrams (output: ${out})`);
        await h.waitUntil(() => h.verdicts.filter(isGroupVerdict(before)).length === 3, 10_000, 'a verdict for each of the 3 datagrams');
        for (const v of h.verdicts.filter(isGroupVerdict(before))) {
          assert.equal(v.verdict, 'MATCHED', h.dump());
          assert.equal(v.decision, 'multicast');
          assert.match(v.reason, /delivered on this node/);
          assert.deepEqual(v.observed.map((x) => `${x.iface}:${x.dir}`), ['ens3:ingress']);
        }
      } finally {
        receiver.stdin!.end();
        await exited;
      }

      // 3. The receiver is gone, and with it the membership: dropped again, and expected again.
      await h.rc.model.waitFor((s) => !(s.memberships ?? []).some((m) => m.ifname === 'ens3' && m.group === GROUP), 5_000);
      const after = h.verdicts.length;
      await sendFromRouter(lab, 'left', 2);
      await h.waitUntil(() => h.verdicts.filter(isGroupVerdict(after)).length === 2, 10_000, 'a verdict for each datagram after the leave');
      for (const v of h.verdicts.filter(isGroupVerdict(after))) assert.equal(v.verdict, 'EXPECTED_DROP', h.dump());

      // Nothing on the uplink was left unexplained: the router's own IGMP reports (224.0.0.22) are expected drops too.
      const c = h.rc.collector.counters();
      assert.equal(c.verdicts.DROPPED + c.verdicts.DIVERGED + c.verdicts.STALE_MODEL, 0, h.dump());
    });
  });
});

test('delivered to the node but refused by its stack: DROPPED, with routing cleared and the listener named', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    await withNodeCollector(lab, async (h) => {
      const udp = (dst: string, port: number) =>
        [
          'import socket',
          's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
          `s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("${ROUTER}"))`,
          `s.sendto(b"x", ("${dst}", ${port}))`,
        ].join('\n');
      // UDP to a closed port of the node's own address.
      await mustExec(lab, 'net', ['python3', '-c', udp('172.27.71.11', 5999)]);
      const closed = await h.waitVerdict((v) => v.dst === '172.27.71.11' && v.dport === 5999, 10_000, 'the UDP datagram to the node');
      assert.equal(closed.verdict, 'DROPPED', h.dump());
      assert.equal(closed.decision, 'local');
      assert.match(closed.reason, /NO_SOCKET/);
      assert.match(closed.reason, /routing was right/);
      assert.match(closed.reason, /nothing listens on UDP port 5999/);

      // UDP to all-hosts (joined by every interface) where nothing listens on the port.
      await mustExec(lab, 'net', ['python3', '-c', udp('224.0.0.1', 5998)]);
      const group = await h.waitVerdict((v) => v.dst === '224.0.0.1' && v.dport === 5998, 10_000, 'the UDP datagram to 224.0.0.1');
      assert.equal(group.verdict, 'DROPPED', h.dump());
      assert.equal(group.decision, 'multicast');
      assert.match(group.reason, /no socket on this node listens on UDP port 5998/);

      // A ping to all-hosts: the node ignores echo requests to groups by default.
      await mustExec(lab, 'net', ['sh', '-c', 'ping -n -c 1 -W 1 -I br0 224.0.0.1 || true']);
      const echo = await h.waitVerdict((v) => v.dst === '224.0.0.1' && v.proto === 1, 10_000, 'the echo request to 224.0.0.1');
      assert.equal(echo.verdict, 'DROPPED', h.dump());
      assert.match(echo.reason, /icmp_echo_ignore_broadcasts/);
    });
  });
});

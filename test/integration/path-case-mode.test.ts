// Case mode — the default of trace, serve and ui — tells the stories packet mode tells, with real packets
// in the lab. A case's first packet is a verdict line and the rest are counted with it, so these tests
// read the flows' per-verdict counts (every packet) next to the lines (every new path): an egress the FIB
// did not choose, a route replaced mid-flow, a pod deleted mid-flow (its blackhole), a TTL that runs out,
// packets of one ping flow on either side of an MTU, and packets queued for ARP that die seconds later.
// (NAT: path-nat.test.ts runs in both modes.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../helpers/lab';
import { labNode, podDel } from '../../src/lab';
import { pingVerdicts, withFault } from '../helpers/faults';
import { mustExec, redirectToUplink, startPing, withNodeCollector, PathHarness } from '../helpers/path-lab';
import { CALI_A, POD_A, POD_B, WEB_0 } from '../helpers/path-fixtures';
import type { FlowSummary } from '../../src/path/types';

const CASE = { mode: 'case' as const };
const fwd = (to: string) => (v: { src: string; dst: string }) => v.src === POD_A && v.dst === to;

/** The ICMP flow from pod A to `to` once its counts (from the kernel's epochs) reach `packets` forward. */
async function flowTo(h: PathHarness, to: string, packets: number, what: string): Promise<FlowSummary> {
  const find = () => [...h.flows.values()].find((f) => f.proto === 1 && f.forward.src === POD_A && f.forward.dst === to);
  await h.waitUntil(() => (find()?.forward.packets ?? 0) >= packets, 10_000, `${what}: ${packets} packets counted`).catch((err: Error) => {
    throw new Error(`${err.message} (counted: ${JSON.stringify(find()?.forward.verdicts)})\n${h.dump()}`);
  });
  return find()!;
}

test('case mode: a tc redirect after routing is DIVERGED, line and counts', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    await withNodeCollector(lab, async (h) => {
      await redirectToUplink(lab, CALI_A, POD_B);
      const r = await mustExec(lab, POD_A, ['sh', '-c', `ping -n -c 3 -i 0.1 -W 1 ${POD_B} || true`]);
      assert.match(r, /100% packet loss/);
      const v = await h.waitVerdict((x) => fwd(POD_B)(x), 10_000, 'the line for the redirected ping');
      assert.equal(v.verdict, 'DIVERGED', h.dump());
      assert.deepEqual(v.observed.map((x) => `${x.iface}:${x.dir}`), [`${CALI_A}:ingress`, 'ens3:egress']);
      assert.deepEqual(v.predicted, [CALI_A, 'caliaa479e31ff6']);
      const f = await flowTo(h, POD_B, 3, 'the redirected pings');
      assert.equal(f.forward.packets, 3);
      assert.equal(f.forward.verdicts.DIVERGED, 3, JSON.stringify(f.forward.verdicts));
      assert.equal(h.rc.collector.counters().caseUnknown, 0);
    }, 'node1', CASE);
  });
});

test('case mode: a route replaced mid-flow gives ROUTE_CHANGED and the new path, every packet counted', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    await withNodeCollector(lab, async (h) => {
      const ping = startPing(lab.prefix, POD_A, WEB_0, 0.05);
      try {
        await flowTo(h, WEB_0, 5, 'packets through VXLAN');
        // A line per path (the first packet's neighbour resolution changes the model once: a new case).
        const before = h.verdicts.filter(fwd(WEB_0));
        assert.ok(before.length >= 1 && before.length <= 2, h.dump(fwd(WEB_0)));
        for (const v of before) {
          assert.deepEqual(v.predicted, [CALI_A, 'vxlan.calico', 'ens3']);
          assert.equal(v.verdict, 'MATCHED');
        }

        await mustExec(lab, 'node1', ['ip', 'route', 'replace', '10.233.100.128/26', 'via', '172.27.71.12', 'dev', 'ens3']);
        const changed = await h.waitVerdict((v) => fwd(WEB_0)(v) && v.warnings.includes('ROUTE_CHANGED'), 10_000, 'a ROUTE_CHANGED line');
        assert.deepEqual(changed.predicted, [CALI_A, 'ens3']);
        assert.equal(changed.verdict, 'MATCHED', h.dump(fwd(WEB_0)));
        assert.deepEqual(changed.observed.map((x) => x.iface), [CALI_A, 'ens3']);
        const counted = (await flowTo(h, WEB_0, 1, 'the flow')).forward.packets;
        await flowTo(h, WEB_0, counted + 10, 'packets on the new route');
      } finally {
        await ping.stop();
      }
      const f = await flowTo(h, WEB_0, 1, 'the flow');
      await h.waitUntil(() => h.rc.collector.counters().correlatorPending === 0, 10_000, 'every line judged');
      // Every packet: MATCHED, or judged against the old model between the kernel's change and the model's.
      const v = f.forward.verdicts;
      assert.equal(v.DIVERGED + v.DROPPED + v.INCOMPLETE + v.EXPECTED_DROP, 0, JSON.stringify(v));
      assert.ok(v.MATCHED >= 15, JSON.stringify(v));
      assert.ok(f.warnings.includes('ROUTE_CHANGED'));
      assert.deepEqual(f.forward.predicted, [CALI_A, 'ens3']);
      // A line per path: a handful, not one per packet.
      assert.ok(h.verdicts.filter(fwd(WEB_0)).length <= 4, h.dump(fwd(WEB_0)));
    }, 'node1', CASE);
  });
});

test('case mode: a pod deleted mid-flow turns its flow to EXPECTED_DROP, a line per drop', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    await withNodeCollector(lab, async (h) => {
      const ping = startPing(lab.prefix, POD_A, POD_B, 0.05);
      try {
        await flowTo(h, POD_B, 5, 'packets to pod B');
        await podDel({ prefix: lab.prefix, ip: POD_B });
        await h.waitUntil(() => h.verdicts.filter((v) => fwd(POD_B)(v) && v.verdict === 'EXPECTED_DROP').length >= 5, 10_000, 'drops after the delete');
      } finally {
        await ping.stop();
      }
      await h.waitUntil(() => h.rc.collector.counters().correlatorPending === 0, 10_000, 'every line judged');
      const drops = h.verdicts.filter((v) => fwd(POD_B)(v) && v.verdict === 'EXPECTED_DROP');
      for (const v of drops) {
        assert.equal(v.route, 'blackhole 10.233.101.192/26 proto 80');
        assert.ok(v.observed.some((x) => x.dir === 'drop'));
      }
      // Each drop is its own line and its own count (flow updates follow the lines within flowUpdateMs).
      await flowTo(h, POD_B, 10, 'the flow');
      const now = () => flowTo(h, POD_B, 1, 'the flow');
      for (let i = 0; i < 50 && (await now()).forward.verdicts.EXPECTED_DROP !== drops.length; i++) await new Promise((r) => setTimeout(r, 100));
      const f = await now();
      assert.equal(f.forward.verdicts.EXPECTED_DROP, drops.length, 'each drop is its own line and its own count');
      assert.ok(f.forward.verdicts.MATCHED >= 5, JSON.stringify(f.forward.verdicts));
      assert.equal(f.forward.verdicts.DIVERGED + f.forward.verdicts.DROPPED + f.forward.verdicts.INCOMPLETE, 0, JSON.stringify(f.forward.verdicts));
      assert.ok(f.warnings.includes('ROUTE_CHANGED'));
    }, 'node1', CASE);
  });
});

test('case mode: the same ping flow below and above an MTU, and with TTL 1, makes cases of its own', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    await withNodeCollector(lab, async (h) => {
      // The pod's MTU at 1500 with vxlan.calico at 1450 (path-mtu-incomplete's misconfiguration). One ping
      // process (one ICMP id, one flow) sends 1428-byte then 1468-byte packets with DF: the small ones fit,
      // the big ones do not — packets of one flow that only their size tells apart.
      await mustExec(lab, 'node1', ['ip', 'link', 'set', CALI_A, 'mtu', '1500']);
      await mustExec(lab, POD_A, ['ip', 'link', 'set', 'eth0', 'mtu', '1500']);
      await mustExec(lab, POD_A, ['python3', '-c', [
        'import socket, struct, time',
        's = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)',
        // IP_MTU_DISCOVER = IP_PMTUDISC_PROBE: DF on every packet, and sent whatever PMTU the first drop taught
        's.setsockopt(socket.IPPROTO_IP, 10, 3)',
        'def csum(b):',
        '    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))',
        '    s = (s >> 16) + (s & 0xffff); s += s >> 16',
        '    return ~s & 0xffff',
        'for seq, size in enumerate([1400, 1400, 1400, 1440, 1440]):',
        '    h = struct.pack("!BBHHH", 8, 0, 0, 4711, seq) + bytes(size)',
        '    h = h[:2] + struct.pack("!H", csum(h)) + h[4:]',
        `    s.sendto(h, ("${WEB_0}", 0))`,
        '    time.sleep(0.1)',
      ].join('\n')]);
      const f = await flowTo(h, WEB_0, 5, 'the five pings');
      // The collector gave the kernel the node's MTUs as size marks, and the loader took them (a refusal
      // is a collector warning); it checks what it is given.
      assert.deepEqual(h.errors.map((e) => e.message), []);
      await assert.rejects(h.rc.capture.setSizes([1514, 70000]), /usage: sizes/);
      await assert.rejects(h.rc.capture.setSizes(Array.from({ length: 17 }, (_, i) => 1000 + i)), /at most 16/);
      const lines = h.verdicts.filter(fwd(WEB_0));
      const small = lines.filter((v) => v.verdict === 'MATCHED');
      const big = lines.filter((v) => v.verdict === 'DROPPED');
      // A line for the packets that fit (two when the MTU change reaches the model after the first one).
      assert.ok(small.length >= 1 && small.length <= 2, h.dump(fwd(WEB_0)));
      for (const v of small) assert.deepEqual(v.warnings, []);
      assert.equal(big.length, 2, 'every drop is a line');
      for (const v of big) assert.ok(v.warnings.includes('MTU_EXCEEDED'), h.dump(fwd(WEB_0)));
      assert.equal(f.forward.verdicts.MATCHED, 3, JSON.stringify(f.forward.verdicts));
      assert.equal(f.forward.verdicts.DROPPED, 2);

      // TTL 1 across the node: the kernel does not forward it (a drop line each, its reason named), and
      // the flow's earlier cases do not absorb it.
      await mustExec(lab, POD_A, ['sh', '-c', `ping -n -c 2 -i 0.2 -t 1 -W 1 ${WEB_0} || true`]);
      const expired = () => h.verdicts.filter((v) => fwd(WEB_0)(v) && v.observed.some((x) => x.dir === 'drop') && !v.observed.some((x) => x.dir === 'egress'));
      await h.waitUntil(() => expired().length >= 2, 10_000, `the TTL-1 drops\n${h.dump(fwd(WEB_0))}`);
      for (const v of expired()) assert.notEqual(v.verdict, 'MATCHED', h.dump(fwd(WEB_0)));
      assert.equal(h.rc.collector.counters().caseUnknown, 0);
    }, 'node1', CASE);
  });
});

test('case mode: packets queued for an ARP that fails die seconds later: a DROPPED line each, each counted once', { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const mac2 = labNode(lab, 'node2').vxlanMac;
    await withNodeCollector(lab, async (h) => {
      // node2's VTEP sent to an address nobody has: the kernel queues the encapsulated packets while it
      // asks ARP for 172.27.71.13 on ens3, then drops them with NEIGH_FAILED (~3 s): the drop hop comes
      // epochs after the packet's other hops.
      await withFault(lab, {
        name: 'FDB dst nobody has',
        target: 'node1',
        inject: [['bridge', 'fdb', 'replace', mac2, 'dev', 'vxlan.calico', 'dst', '172.27.71.13', 'self', 'permanent']],
        repair: [['bridge', 'fdb', 'replace', mac2, 'dev', 'vxlan.calico', 'dst', '172.27.71.12', 'self', 'permanent'], ['ip', 'neigh', 'del', '172.27.71.13', 'dev', 'ens3']],
      }, async () => {
        // One ping process: one path; every echo request its own DROPPED line, its own sequence.
        const vs = await pingVerdicts(h, lab, POD_A, WEB_0);
        for (const v of vs) {
          assert.equal(v.verdict, 'DROPPED', h.dump(fwd(WEB_0)));
          assert.ok(v.observed.some((x) => x.dir === 'drop' && x.iface === 'ens3'), h.dump(fwd(WEB_0)));
          assert.deepEqual(v.observed.filter((x) => x.dir !== 'drop').map((x) => `${x.iface}:${x.dir}`), [`${CALI_A}:ingress`, 'vxlan.calico:egress']);
        }
        // Counted once each: the epochs where they seemed to end at vxlan.calico gave them back.
        await h.waitUntil(() => h.rc.collector.counters().packets >= 3, 10_000, 'the packets counted');
        await new Promise((r) => setTimeout(r, 1500)); // two more epochs: a double count would show now
        const f = await flowTo(h, WEB_0, 3, 'the flow');
        assert.deepEqual({ packets: f.forward.packets, DROPPED: f.forward.verdicts.DROPPED }, { packets: 3, DROPPED: 3 }, JSON.stringify(f.forward.verdicts));
        assert.equal(h.rc.collector.counters().caseUnknown, 0);
      });
    }, 'node1', CASE);
  });
});

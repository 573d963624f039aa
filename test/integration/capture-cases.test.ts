// Case mode with real packets: every packet is counted in the kernel into the case of each hop it takes,
// user space judges each path once and counts its packets exactly. Two healthy UDP streams through node1
// (same node, and across nodes through VXLAN) and pings into the IPAM-block blackhole: the MATCHED counts
// of the streams lie between what iperf3's server received and what its client sent (+ its opening
// datagram), every blackholed
// ping is an EXPECTED_DROP, and only a handful of records (verdict lines) crossed the ring buffer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab } from '../helpers/lab';
import { startCollector } from '../../src/collector/start';
import { labExec, nodeNetns, runTraffic } from '../../src/lab';
import type { PacketVerdict } from '../../src/path/types';

const POD_A = '10.233.101.222';
const POD_B = '10.233.101.224';
const WEB_0 = '10.233.100.130';
const NO_POD = '10.233.101.230';

test('case mode: every packet judged and counted, a record only for what is new', { timeout: 180_000 }, async () => {
  await withLab(async (lab) => {
    const rc = await startCollector({ netns: nodeNetns(lab.prefix, 'node1'), mode: 'case', flowUpdateMs: 50 });
    const lines: PacketVerdict[] = [];
    rc.collector.on('verdict', (v) => lines.push(v));
    try {
      const [same, cross] = await runTraffic({
        prefix: lab.prefix,
        flows: [
          { name: 'same-node', kind: 'udp', from: POD_A, to: POD_B, rate: 4000, durationS: 3, size: 64, port: 5601 },
          { name: 'cross-node', kind: 'udp', from: POD_A, to: WEB_0, rate: 3000, durationS: 3, size: 64, port: 5602 },
        ],
      });
      const ping = await labExec(lab.prefix, POD_A, ['ping', '-n', '-q', '-c', '20', '-i', '0.01', '-W', '1', NO_POD]);
      assert.match(ping.stdout, /20 packets transmitted/);
      await rc.capture.requestStats();
      const flowOf = (dst: string, port: number) => rc.collector.flows().find((f) => f.proto === 17 && f.forward.dst === dst && f.forward.dport === port);
      const counts = () => ({ same: flowOf(POD_B, 5601)?.forward.verdicts, cross: flowOf(WEB_0, 5602)?.forward.verdicts });
      // Counts arrive one epoch (200 ms) at a time, two epochs after the packets: wait until they settle.
      let last = '';
      for (let stable = 0, until = Date.now() + 15_000; stable < 5 && Date.now() < until; ) {
        await new Promise((r) => setTimeout(r, 200));
        const now = JSON.stringify(counts());
        stable = now === last ? stable + 1 : 0;
        last = now;
      }
      const c = rc.collector.counters();
      const { same: sv, cross: cv } = counts();
      console.log(`# same-node: sent ${same.sent}, received ${same.received}, verdicts ${JSON.stringify(sv)}`);
      console.log(`# cross-node: sent ${cross.sent}, received ${cross.received}, verdicts ${JSON.stringify(cv)}`);
      console.log(`# judged ${c.packets}, verdict lines ${lines.length} (case lines ${c.caseLines}), cases ${c.cases}, unknown ${c.caseUnknown}, lost ${c.lostKernel}/${c.lostPipe}`);
      assert.equal(c.lostKernel + c.lostPipe, 0, 'nothing lost');
      assert.equal(c.caseUnknown, 0);
      assert.ok(sv && cv, 'both streams became flows');
      for (const [name, v, r] of [['same-node', sv!, same], ['cross-node', cv!, cross]] as const) {
        // iperf3 opens a UDP test with one datagram of its own that its counts leave out: sent + 1.
        assert.ok(v.MATCHED >= r.received && v.MATCHED <= r.sent + 1, `${name}: MATCHED ${v.MATCHED} between received ${r.received} and sent ${r.sent} + 1`);
        assert.equal(v.DIVERGED + v.STALE_MODEL + v.DROPPED + v.INCOMPLETE, 0, `${name}: ${JSON.stringify(v)}`);
      }
      // Every ping into the blackhole dropped, each with its own record and verdict line.
      const holes = lines.filter((v) => v.dst === NO_POD);
      assert.equal(holes.length, 20, holes.map((v) => v.verdict).join(' '));
      assert.ok(holes.every((v) => v.verdict === 'EXPECTED_DROP'));
      // The streams' thousands of packets came as a few records (the first packet of each case).
      assert.ok(lines.length < 200, `${lines.length} verdict lines`);
      assert.ok(c.packets >= sv!.MATCHED + cv!.MATCHED + 20);
    } finally {
      await rc.stop();
    }
  });
});

test("case mode tells the seed's story with the same counts: .224 MATCHED, node2 MATCHED through VXLAN, .230 EXPECTED_DROP", { timeout: 120_000 }, async () => {
  await withLab(async (lab) => {
    const rc = await startCollector({ netns: nodeNetns(lab.prefix, 'node1'), mode: 'case', flowUpdateMs: 50 });
    const lines: PacketVerdict[] = [];
    rc.collector.on('verdict', (v) => lines.push(v));
    try {
      for (const dst of [POD_B, WEB_0]) {
        const r = await labExec(lab.prefix, POD_A, ['ping', '-n', '-q', '-c', '5', '-i', '0.05', '-W', '1', dst]);
        assert.match(r.stdout, /5 received/, r.stdout);
      }
      await labExec(lab.prefix, POD_A, ['ping', '-n', '-q', '-c', '5', '-i', '0.05', '-W', '1', NO_POD]);
      const flow = (dst: string) => rc.collector.flows().find((f) => f.proto === 1 && (f.forward.dst === dst || f.reverse?.dst === dst));
      const want = (dst: string, verdict: 'MATCHED' | 'EXPECTED_DROP') => (flow(dst)?.forward.verdicts[verdict] ?? 0) >= 5;
      const until = Date.now() + 10_000;
      while (!(want(POD_B, 'MATCHED') && want(WEB_0, 'MATCHED') && want(NO_POD, 'EXPECTED_DROP')) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 800)); // one more epoch: nothing more may come
      const same = flow(POD_B)!;
      const cross = flow(WEB_0)!;
      const hole = flow(NO_POD)!;
      assert.deepEqual([same.forward.verdicts.MATCHED, same.reverse?.verdicts.MATCHED], [5, 5], JSON.stringify(same));
      assert.deepEqual([cross.forward.verdicts.MATCHED, cross.reverse?.verdicts.MATCHED], [5, 5], JSON.stringify(cross));
      assert.equal(hole.forward.verdicts.EXPECTED_DROP, 5, JSON.stringify(hole));
      assert.deepEqual(cross.forward.observed, ['cali11299111064', 'vxlan.calico', 'ens3']);
      const first = lines.find((v) => v.dst === WEB_0)!;
      assert.equal(first.verdict, 'MATCHED');
      assert.match(first.reason, /encapsulated to 172\.27\.71\.12/);
      const c = rc.collector.counters();
      assert.ok(c.caseLines < 10, `case lines ${c.caseLines}: one per path, not one per ping`);
    } finally {
      await rc.stop();
    }
  });
});

// Loss is counted, never hidden: a collector that stops reading (its event loop blocked) while a UDP
// flood crosses node1 makes the kernel ring buffer overflow, and the books balance exactly: every packet
// the hooks matched is either a record the collector received or a ring-buffer reserve failure the
// loader reported (lostKernel), and the number of packets the hooks matched is checked against counts
// the tracer has no part in: nftables counters next to the two hooks, in node1's namespace.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { labUp, labDown, randomPrefix, runTraffic, nodeNetns, LabInfo } from '../../src/lab';
import { withCapture, ping } from '../helpers/capture-lab';
import { installCounters } from '../helpers/nft-count';
import { parseFilter } from '../../src/capture/filter';
import { POD_A as A, POD_B as B } from '../helpers/path-fixtures';

const PORT = 5399;
/** iperf3's client port, fixed so that only the destination port can be PORT. */
const CPORT = 40111;

let lab: LabInfo;
before(async () => {
  lab = await labUp({ prefix: randomPrefix() });
});
after(async () => {
  if (lab) await labDown({ prefix: lab.prefix });
});

/** The node-side interface of a pod: the device of the node's route to it, as the kernel answers. */
function podDevice(netns: string, pod: string): string {
  const [r] = JSON.parse(execFileSync('ip', ['-n', netns, '-j', 'route', 'get', pod], { encoding: 'utf8' })) as { dev: string }[];
  return r.dev;
}

test('a stalled collector loses records in the kernel, and received + lost = packets the hooks matched, exactly', async () => {
  // Only the data datagrams (not iperf3's TCP control connection): each one is 2 records, A's cali
  // ingress and B's cali egress. The smallest ring (1 MiB, ~5.7 k records) overflows quickly.
  const filter = parseFilter({ dst: B, proto: 'udp', port: String(PORT) });
  const node1 = nodeNetns(lab.prefix, 'node1');
  const devA = podDevice(node1, A);
  const devB = podDevice(node1, B);
  // The capture's "port" is either port: count both, each datagram once.
  const sel = `ip daddr ${B} meta l4proto udp`;
  const ports = (p: string) => [
    { name: `${p}_dport`, extra: `udp dport ${PORT}` },
    { name: `${p}_sport`, extra: `udp sport ${PORT} udp dport != ${PORT}` },
  ];
  const counters = installCounters(node1, [
    ...ports('in').map((x) => ({ name: x.name, hook: 'prerouting' as const, match: `iifname "${devA}" ${sel} ${x.extra}` })),
    ...ports('out').map((x) => ({ name: x.name, hook: 'postrouting' as const, match: `oifname "${devB}" ${sel} ${x.extra}` })),
  ]);
  try {
    // Resolve B's neighbour entry first: a flood into an unresolved neighbour would queue (and drop)
    // datagrams between the postrouting counter and the egress hook.
    await ping(lab, A, B);
    await withCapture(lab, { filter, loaderArgs: ['--ringbuf-mb', '1'] }, async (cap, log) => {
      let stalled = false;
      cap.on('event', () => {
        if (stalled) return;
        stalled = true;
        // Block the collector's event loop: nothing reads the loader's stdout, the loader blocks on its
        // write, and the kernel ring buffer fills up behind it.
        const until = Date.now() + 2500;
        while (Date.now() < until) {
          /* busy: this is the stall under test */
        }
      });
      const [flow] = await runTraffic({
        prefix: lab.prefix,
        flows: [{ name: 'flood', kind: 'udp', from: A, to: B, rate: 15000, durationS: 3, size: 64, port: PORT, sport: CPORT }],
      });
      assert.ok(flow.sent > 10000, `iperf3 sent ${flow.sent} datagrams (${flow.detail})`);
      // Let the loader drain what it holds, then take its final word on reserve failures.
      const quietBy = Date.now() + 10000;
      for (let last = -1; log.events.length !== last && Date.now() < quietBy; ) {
        last = log.events.length;
        await new Promise((r) => setTimeout(r, 300));
      }
      await cap.requestStats();
      const c = cap.counters();
      const stats = cap.loaderStats()!;
      const n = counters.read();
      const hookIn = n.in_dport + n.in_sport;
      const hookOut = n.out_dport + n.out_sport;
      const received = log.events.length;
      const kinds: Record<string, number> = {};
      for (const e of log.events) kinds[e.kind] = (kinds[e.kind] ?? 0) + 1;
      console.log(
        `# iperf3: ${flow.sent} datagrams sent, ${flow.received} received; nft: ${hookIn} into node1 from ${devA}, ${hookOut} out to ${devB}; ` +
          `loader: ${stats.pktsMatched} matched at the hooks, ${stats.dropsSeen} drops seen; capture: ${received} records received ${JSON.stringify(kinds)}, ` +
          `${c.lostKernel} lost in the kernel (per CPU ${stats.rbFailPerCpu.join('/')}), ${c.lostPipe} in the pipe`,
      );
      assert.ok(c.lostKernel > 0, 'the overflow is reported');
      assert.equal(c.lostKernel, stats.rbFailTotal);
      assert.equal(stats.rbFailPerCpu.reduce((a, b) => a + b, 0), stats.rbFailTotal);
      assert.equal(c.lostPipe, 0, 'nothing is lost between loader and collector: the pipe applies back-pressure');
      assert.equal(c.received, received);
      // The hooks matched exactly what the kernel's own counters saw pass them…
      assert.equal(stats.pktsMatched, hookIn + hookOut, `matched at the hooks ${stats.pktsMatched} = nft ${hookIn} + ${hookOut}`);
      // …and every one of those (and every drop record, none expected) is a record received or a counted loss.
      assert.equal(received + c.lostKernel, hookIn + hookOut + stats.dropsSeen, `${received} received + ${c.lostKernel} lost = ${hookIn} + ${hookOut} at the hooks + ${stats.dropsSeen} drops`);
      assert.equal((kinds.packet ?? 0) + (kinds.drop ?? 0), received, 'packet mode: packet and drop records only');
      // Every datagram that entered node1 from A left towards B (nothing was dropped inside node1), and
      // iperf3's client sent at least the datagrams it counted (plus its few handshake ones on the data port).
      assert.equal(hookIn, hookOut + stats.dropsSeen, `${hookIn} in = ${hookOut} out + ${stats.dropsSeen} dropped in node1`);
      assert.ok(hookIn >= flow.sent, `${hookIn} datagrams into node1 ≥ ${flow.sent} iperf3 counted as sent`);
    });
  } finally {
    counters.remove();
  }
});

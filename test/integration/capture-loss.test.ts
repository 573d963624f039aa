// Loss is counted, never hidden: a collector that stops reading (its event loop blocked) while a UDP
// flood crosses node1 makes the kernel ring buffer overflow; the capture reports those records as
// lostKernel, and received + lostKernel accounts for every datagram the receiver got, at both hooks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { labUp, labDown, randomPrefix, runTraffic, LabInfo } from '../../src/lab';
import { withCapture } from '../helpers/capture-lab';
import { parseFilter } from '../../src/capture/filter';
import { POD_A as A, POD_B as B } from '../helpers/path-fixtures';

const PORT = 5399;

let lab: LabInfo;
before(async () => {
  lab = await labUp({ prefix: randomPrefix() });
});
after(async () => {
  if (lab) await labDown({ prefix: lab.prefix });
});

test('a stalled collector loses records in the kernel, and the counters say exactly how many', async () => {
  // Only the data datagrams (not iperf3's control connection): each one is 2 events, A's cali ingress
  // and B's cali egress. The smallest ring (1 MiB, ~5.7 k records) overflows quickly.
  const filter = parseFilter({ dst: B, proto: 'udp', port: String(PORT) });
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
      flows: [{ name: 'flood', kind: 'udp', from: A, to: B, rate: 15000, durationS: 3, size: 64, port: PORT }],
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
    const received = log.events.length;
    console.log(
      `# ${flow.sent} datagrams sent, ${flow.received} received by iperf3; capture: ${received} events received, ` +
        `${c.lostKernel} lost in the kernel (per CPU ${stats.rbFailPerCpu.join('/')}), ${c.lostPipe} in the pipe`,
    );
    assert.ok(c.lostKernel > 0, 'the overflow is reported');
    assert.equal(c.lostKernel, stats.rbFailTotal);
    assert.equal(stats.rbFailPerCpu.reduce((a, b) => a + b, 0), stats.rbFailTotal);
    assert.equal(c.lostPipe, 0, 'nothing is lost between loader and collector: the pipe applies back-pressure');
    assert.equal(c.received, received);
    // Every datagram the receiver got crossed both hooks: it is either an event or a counted loss.
    assert.ok(received + c.lostKernel >= 2 * flow.received, `${received} + ${c.lostKernel} ≥ 2 × ${flow.received}`);
    // …and nothing is counted that was never sent (iperf3 also sends a few handshake datagrams to the
    // data port that its packet count leaves out: at most 4 here).
    assert.ok(received + c.lostKernel <= 2 * (flow.sent + 4), `${received} + ${c.lostKernel} ≤ 2 × (${flow.sent} + 4)`);
  });
});

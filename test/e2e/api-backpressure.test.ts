// Backpressure over real gRPC: a stalled subscriber beside a fast one (the fast one gets every event, the
// stalled one gets lost notices whose counts add up, the server's memory stays bounded), and 100
// concurrent subscribers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { startTestApi, verdict, waitUntil, collect } from '../helpers/api';
import { BATCH } from '../../src/api/client';

v8.setFlagsFromString('--expose_gc');
const gc = vm.runInNewContext('gc') as () => void;
function heapMb(): number {
  gc();
  gc();
  return v8.getHeapStatistics().used_heap_size / 1e6;
}

const nextTick = () => new Promise((r) => setImmediate(r));

test('a stalled subscriber loses events (counted) while a fast one gets every event; memory stays bounded', async () => {
  const QUEUE = 256;
  const t = await startTestApi({ hub: { queueCapacity: QUEUE, historyCapacity: 1000 } });
  try {
    const c = t.client();
    // The stalled reader: subscribed, then never reads (the HTTP/2 window and its queue fill up).
    const stalled = c.observe({ follow: true });
    stalled.call.pause();
    const fast = c.observe({ follow: true, batch: BATCH });
    await waitUntil(() => t.feed.hub.stats().subscribers === 2, 'both subscribers');
    const [stalledSub, fastSub] = [...(t.feed.hub as unknown as { subscribers: Set<{ queued: number; lost: number; id: number }> }).subscribers];

    // Counted, not kept: the test must not be what holds memory.
    let fastGot = 0;
    let fastInOrder = true;
    let fastLost = 0;
    const fastDone = (async () => {
      for await (const m of fast) {
        if (m.item === 'lost') fastLost += Number(m.lost!.count);
        else if (m.verdict!.reason !== String(++fastGot)) fastInOrder = false;
      }
    })();

    let published = 0;
    let maxStalledQueue = 0;
    let maxPublishBatchMs = 0;
    const publish = async (n: number) => {
      for (let done = 0; done < n; done += 100) {
        const t0 = performance.now();
        for (let i = 0; i < 100; i++) t.feed.verdict(verdict('10.233.101.224', 'MATCHED', { reason: String(++published) }));
        maxPublishBatchMs = Math.max(maxPublishBatchMs, performance.now() - t0);
        maxStalledQueue = Math.max(maxStalledQueue, stalledSub.queued);
        // Pace the publisher by the fast reader only: if the stalled one held anything up, this would hang.
        const end = Date.now() + 20000;
        do {
          await nextTick();
          if (Date.now() > end) throw new Error('the fast subscriber did not keep up within 20 s');
        } while (fastSub.queued >= QUEUE / 2);
      }
    };

    await publish(20000);
    const heapAfter20k = heapMb();
    await publish(60000);
    const heapAfter80k = heapMb();
    await waitUntil(() => fastGot === published, `the fast subscriber to receive all ${published}`, 30000);

    // The fast one: every event, in order, no loss.
    assert.equal(fastLost, 0);
    assert.equal(fastGot, 80000);
    assert.ok(fastInOrder, 'fast subscriber got every event in order');

    // Memory: the stalled reader's queue never exceeds its capacity, and 60k more events held back
    // from it did not grow the heap (buffering them would hold well over 60 MB: see the figure printed).
    assert.ok(maxStalledQueue <= QUEUE, `stalled queue peaked at ${maxStalledQueue} > ${QUEUE}`);
    const growth = heapAfter80k - heapAfter20k;
    assert.ok(growth < 20, `heap grew ${growth.toFixed(1)} MB while 60k events were held back from a stalled reader`);
    assert.ok(stalledSub.lost > 70000, `stalled subscriber lost ${stalledSub.lost}`);
    console.log(`# published ${published}; stalled lost ${stalledSub.lost}, queue peak ${maxStalledQueue}/${QUEUE}; heap ${heapAfter20k.toFixed(1)} → ${heapAfter80k.toFixed(1)} MB; slowest 100-event publish ${maxPublishBatchMs.toFixed(2)} ms`);

    // The stalled reader wakes up: what it got plus what its notices say it lost is everything.
    const lostBefore = stalledSub.lost;
    let stalledItems = 0;
    let stalledLostNotices = 0;
    let stalledLostCount = 0;
    stalled.call.resume();
    const stalledDone = (async () => {
      for await (const m of stalled) {
        if (m.item === 'lost') {
          stalledLostNotices++;
          stalledLostCount += Number(m.lost!.count);
          assert.equal(m.lost!.source, 4 /* SUBSCRIBER */);
        } else stalledItems++;
        if (stalledItems + stalledLostCount === published) break;
      }
    })();
    await Promise.race([stalledDone, waitUntil(() => false, 'the stalled reader to drain', 20000).catch(() => undefined)]);
    assert.ok(stalledLostNotices >= 1, 'stalled subscriber got a lost notice');
    assert.equal(stalledLostCount, lostBefore);
    assert.equal(stalledItems + stalledLostCount, published);
    const status = await c.status();
    assert.equal(Number(status.counters!.lostSubscribers), lostBefore);
    fast.cancel();
    stalled.cancel();
    await fastDone;
  } finally {
    await t.close();
  }
});

test('100 concurrent subscribers each get every event', async () => {
  const t = await startTestApi();
  try {
    const clients = Array.from({ length: 4 }, () => t.client());
    // Half filter, half not; half batched, half one item per message.
    const streams = Array.from({ length: 100 }, (_, i) =>
      clients[i % 4].observe({ follow: true, allow: i % 2 ? [{ sourceIp: ['10.233.101.222'] }] : [], batch: i % 4 < 2 ? BATCH : 0 }),
    );
    await waitUntil(() => t.feed.hub.stats().subscribers === 100, '100 subscribers', 20000);
    const status = await clients[0].status();
    assert.equal(status.subscribers.length, 100);
    // Generous deadline: 100 000 deliveries on a 2-core machine that other suites share.
    const readers = streams.map((s) => collect(s, 1000, 120000));
    for (let i = 0; i < 1000; i++) {
      t.feed.verdict(verdict('10.233.100.130', 'MATCHED', { reason: String(i) }));
      if (i % 100 === 99) await nextTick();
    }
    const results = await Promise.all(readers);
    for (const got of results) {
      assert.equal(got.length, 1000);
      assert.ok(got.every((m, i) => m.item === 'verdict' && m.verdict!.reason === String(i)));
    }
    streams.forEach((s) => s.cancel());
    await waitUntil(() => t.feed.hub.stats().subscribers === 0, 'all 100 freed');
  } finally {
    await t.close();
  }
});

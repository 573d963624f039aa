// A subscriber's pump (the server side of Observe) must not hold the event loop for its whole backlog:
// the collector that publishes runs on the same loop, and while the pump encodes, the capture's records
// wait in the pipe. On a busy lab node one turn of the pump encoded up to 4 096 items and took up to
// 1.3 s (docs/benchmarks.md, issue 10 latency); the bound is one batch per turn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BATCH } from '../../src/api/client';
import { YIELD_ITEMS } from '../../src/api/server';
import { startTestApi, verdict, waitUntil, collect } from '../helpers/api';

test('the pump encodes one batch per event-loop turn, then lets queued work run; every item still arrives in order', async () => {
  const ITEMS = 8 * BATCH;
  const t = await startTestApi({ hub: { queueCapacity: 2 * ITEMS, historyCapacity: 16 } });
  try {
    const stream = t.client().observe({ follow: true, batch: BATCH });
    await waitUntil(() => t.feed.hub.stats().subscribers === 1, 'the subscriber');
    const received = collect(stream, ITEMS);
    for (let i = 1; i <= ITEMS; i++) t.feed.verdict(verdict('10.233.101.224', 'MATCHED', { reason: String(i) }));
    // Work that became ready behind the publishing, as the capture's next read of the pipe does.
    const sentWhenOtherWorkRan = await new Promise<number>((resolve) => setImmediate(() => resolve(t.feed.hub.subscriberStats()[0].sent)));
    assert.ok(sentWhenOtherWorkRan > 0, 'the pump started before the next turn');
    assert.ok(sentWhenOtherWorkRan <= YIELD_ITEMS, `the pump took ${sentWhenOtherWorkRan} of ${ITEMS} items before other work could run`);
    const got = await received;
    assert.deepEqual(got.map((m) => m.verdict?.reason), Array.from({ length: ITEMS }, (_, i) => String(i + 1)));
    assert.equal(t.feed.hub.subscriberStats()[0].lost, 0);
  } finally {
    await t.close();
  }
});

// Observe over a real gRPC socket: allow/deny filters, last, since, follow, invalid filters, the
// subscriber cap, and cancellation freeing the subscription. The hub is fed directly here: the
// filters and the stream mechanics are what is under test (api-lab.test.ts feeds it from the lab).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { all, collect, startTestApi, verdict, waitUntil } from '../helpers/api';
import { parseFilterText } from '../../src/hub/filter';
import { filterSetToRequest } from '../../src/api/client';
import { calitrace } from '../../src/api/proto';

const V = calitrace.v1.Verdict;

test('allow and deny filters, from the wire and from the text language', async () => {
  const t = await startTestApi();
  try {
    t.feed.verdict(verdict('10.233.101.224', 'MATCHED', { proto: 6, dport: 80 }));
    t.feed.verdict(verdict('10.233.100.130', 'MATCHED'));
    t.feed.verdict(verdict('10.233.101.230', 'EXPECTED_DROP', { proto: 17, dport: 53 }));
    t.feed.verdict(verdict('10.233.100.131', 'DROPPED'));
    const c = t.client();
    const dsts = (ms: calitrace.v1.ObserveResponse[]) => ms.map((m) => m.verdict!.dst);

    // Two allow filters ORed; fields within one ANDed.
    const allow = await all(c.observe({
      allHistory: true,
      allow: [{ destinationIp: ['10.233.100.0/24'], verdict: [V.DROPPED] }, { protocol: ['udp'] }],
    }));
    assert.deepEqual(dsts(allow), ['10.233.101.230', '10.233.100.131']);

    // Deny only.
    const deny = await all(c.observe({ allHistory: true, deny: [{ verdict: [V.MATCHED] }] }));
    assert.deepEqual(dsts(deny), ['10.233.101.230', '10.233.100.131']);

    // Allow and deny together, written in the text language.
    const text = await all(c.observe({ allHistory: true, ...filterSetToRequest(parseFilterText('src=10.233.101.0/24 !dst=10.233.100.0/24 !port=53')) }));
    assert.deepEqual(dsts(text), ['10.233.101.224']);
    assert.equal(text[0].verdict!.verdict, V.MATCHED);
    assert.equal(text[0].node, 'ems203-w2');
  } finally {
    await t.close();
  }
});

test('an invalid filter is INVALID_ARGUMENT with the reason, and no data', async () => {
  const t = await startTestApi();
  try {
    t.feed.verdict(verdict('10.233.101.224', 'MATCHED'));
    const c = t.client();
    for (const [filter, reason] of [
      [{ sourceIp: ['10.233.101.300'] }, /not an IP address or CIDR/],
      [{ protocol: ['tcpp'] }, /protocol 'tcpp' is unknown/],
      [{ destinationIp: ['10.0.0.0/40'] }, /prefix length/],
    ] as [calitrace.v1.IFilter, RegExp][]) {
      const got: unknown[] = [];
      await assert.rejects(
        (async () => {
          for await (const m of c.observe({ allHistory: true, allow: [filter] })) got.push(m);
        })(),
        (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT && reason.test(err.details),
      );
      assert.equal(got.length, 0);
    }
  } finally {
    await t.close();
  }
});

test('last N returns the newest matching history, since filters by time, follow continues live', async () => {
  const t = await startTestApi({ hub: { historyCapacity: 50 } });
  try {
    const t0 = Date.now();
    for (let i = 0; i < 100; i++) t.feed.verdict(verdict(`10.233.100.${i % 2 ? 131 : 130}`, 'MATCHED', { timeMs: t0 + i, reason: `n${i}` }));
    const c = t.client();
    const last3 = await all(c.observe({ last: 3, allow: [{ destinationIp: ['10.233.100.130'] }] }));
    assert.deepEqual(last3.map((m) => m.verdict!.reason), ['n94', 'n96', 'n98']);
    // The history holds the newest 50 only.
    const since = await all(c.observe({ sinceMs: t0 + 90 }));
    assert.deepEqual(since.map((m) => m.verdict!.reason), ['n90', 'n91', 'n92', 'n93', 'n94', 'n95', 'n96', 'n97', 'n98', 'n99']);
    const everything = await all(c.observe({ allHistory: true }));
    assert.equal(everything.length, 50);
    assert.equal(everything[0].verdict!.reason, 'n50');
    // seq numbers are the hub's publish order.
    assert.equal(Number(everything[49].seq), 100);

    // Follow: 2 from history, then live ones as they are published.
    const stream = c.observe({ follow: true, last: 2 });
    const reading = collect(stream, 5);
    await waitUntil(() => t.feed.hub.stats().subscribers === 1, 'the follower to subscribe');
    for (let i = 0; i < 3; i++) t.feed.verdict(verdict('10.233.101.224', 'MATCHED', { reason: `live${i}` }));
    const got = await reading;
    assert.deepEqual(got.map((m) => m.verdict!.reason), ['n98', 'n99', 'live0', 'live1', 'live2']);
    stream.cancel();
  } finally {
    await t.close();
  }
});

test('cancelling a follow stream frees its subscription on the server', async () => {
  const t = await startTestApi();
  try {
    const c = t.client();
    const streams = [c.observe({ follow: true }), c.observe({ follow: true })];
    await waitUntil(() => t.feed.hub.stats().subscribers === 2, 'two subscribers');
    const status = await c.status();
    assert.equal(status.subscribers.length, 2);
    streams[0].cancel();
    await waitUntil(() => t.feed.hub.stats().subscribers === 1, 'the cancelled subscription to be freed');
    streams[1].cancel();
    await waitUntil(() => t.feed.hub.stats().subscribers === 0, 'all subscriptions freed');
  } finally {
    await t.close();
  }
});

test('past the subscriber cap: RESOURCE_EXHAUSTED with a message that says the fix', async () => {
  const t = await startTestApi({ hub: { maxSubscribers: 2 } });
  try {
    const c = t.client();
    const keep = [c.observe({ follow: true }), c.observe({ follow: true })];
    await waitUntil(() => t.feed.hub.stats().subscribers === 2, 'two subscribers');
    await assert.rejects(
      all(c.observe({ follow: true })),
      (err: grpc.ServiceError) => err.code === grpc.status.RESOURCE_EXHAUSTED && /2 of 2.*--max-subscribers/.test(err.details),
    );
    keep.forEach((s) => s.cancel());
  } finally {
    await t.close();
  }
});

test('Status reports mode, counters, subscribers, version and uptime', async () => {
  const t = await startTestApi();
  try {
    t.feed.verdict(verdict('10.233.101.224', 'MATCHED'));
    t.feed.lost('KERNEL', 5, 5, 'ring buffer full');
    const c = t.client();
    const s = await c.status();
    // The version is package.json's, whatever it is: read it here, not through the code under test.
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '../../../package.json'), 'utf8')) as { version: string };
    assert.equal(s.version, pkg.version);
    assert.equal(s.mode, 'none');
    assert.equal(s.node, 'ems203-w2');
    assert.equal(Number(s.counters!.published), 2);
    assert.ok(s.uptimeSeconds >= 0 && s.uptimeSeconds < 3600);
    // Lost notices from upstream are delivered whatever the filter.
    const got = await all(c.observe({ allHistory: true, allow: [{ verdict: [V.DIVERGED] }] }));
    assert.equal(got.length, 1);
    assert.equal(got[0].item, 'lost');
    assert.equal(Number(got[0].lost!.count), 5);
  } finally {
    await t.close();
  }
});

test('batching: the same items in order, fewer gRPC messages; batch 1 sends one item per message', async () => {
  const t = await startTestApi();
  try {
    for (let i = 0; i < 120; i++) t.feed.verdict(verdict('10.233.101.224', 'MATCHED', { reason: `b${i}` }));
    const c = t.client();
    for (const batch of [1, 50]) {
      const stream = c.observe({ allHistory: true, batch });
      let messages = 0;
      stream.call.on('data', () => messages++);
      const items = await all(stream);
      assert.deepEqual(items.map((m) => m.verdict!.reason), Array.from({ length: 120 }, (_, i) => `b${i}`));
      assert.deepEqual(items.map((m) => Number(m.seq)), Array.from({ length: 120 }, (_, i) => i + 1));
      if (batch === 1) assert.equal(messages, 120);
      else assert.ok(messages >= 3 && messages < 120, `${messages} messages for 120 items in batches of ${batch}`);
    }
  } finally {
    await t.close();
  }
});

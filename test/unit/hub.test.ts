// The hub: bounded queues with counted loss at the gap, history for last/since, the subscriber cap, and
// cancellation that frees everything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hub, HubFullError, Delivery } from '../../src/hub/hub';

function drain<T>(pull: () => Delivery<T> | undefined): Delivery<T>[] {
  const out: Delivery<T>[] = [];
  for (let d = pull(); d; d = pull()) out.push(d);
  return out;
}

test('a full queue drops the newest items, counts them, and reports the gap where it happened', () => {
  const hub = new Hub<number>({ queueCapacity: 3 });
  const slow = hub.subscribe({ follow: true });
  const fast = hub.subscribe({ follow: true, queueCapacity: 100 });
  for (let i = 1; i <= 10; i++) hub.publish(i);
  assert.equal(slow.lost, 7);
  assert.equal(fast.lost, 0);
  const got = drain(() => slow.pull());
  assert.deepEqual(got.map((d) => (d.kind === 'item' ? d.item.value : `lost ${d.count}/${d.total}`)), [1, 2, 3, 'lost 7/7']);
  hub.publish(11);
  hub.publish(12);
  assert.deepEqual(drain(() => slow.pull()).map((d) => (d.kind === 'item' ? d.item.value : 'lost')), [11, 12]);
  assert.deepEqual(drain(() => fast.pull()).map((d) => (d.kind === 'item' ? d.item.value : 'lost')), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.equal(hub.stats().lostBySubscribers, 7);
});

test('a gap between queued items is reported between them', () => {
  const hub = new Hub<number>({ queueCapacity: 2 });
  const sub = hub.subscribe({ follow: true });
  hub.publish(1);
  hub.publish(2);
  hub.publish(3); // the queue is full: lost
  const first = sub.pull();
  assert.equal(first?.kind === 'item' && first.item.value, 1);
  hub.publish(4); // room again: queued after the gap
  assert.deepEqual(drain(() => sub.pull()).map((d) => (d.kind === 'item' ? d.item.value : `lost ${d.count}`)), [2, 'lost 1', 4]);
});

test('history: last N matching, since a time, all; the snapshot is taken atomically with the subscription', () => {
  const hub = new Hub<number>({ historyCapacity: 5 });
  for (let i = 1; i <= 8; i++) hub.publish(i, 1000 + i);
  assert.equal(hub.stats().historySize, 5);
  const even = hub.subscribe({ follow: false, match: (v) => v % 2 === 0, history: { last: 2 } });
  assert.deepEqual(drain(() => even.pull()).map((d) => d.kind === 'item' && d.item.value), [6, 8]);
  assert.equal(even.done, true);
  const since = hub.subscribe({ follow: false, history: { sinceMs: 1006 } });
  assert.deepEqual(drain(() => since.pull()).map((d) => d.kind === 'item' && d.item.value), [6, 7, 8]);
  const all = hub.subscribe({ follow: false, history: { all: true } });
  assert.deepEqual(drain(() => all.pull()).map((d) => d.kind === 'item' && d.item.value), [4, 5, 6, 7, 8]);
  const follow = hub.subscribe({ follow: true, history: { last: 1 } });
  hub.publish(9, 1009);
  assert.deepEqual(drain(() => follow.pull()).map((d) => d.kind === 'item' && d.item.value), [8, 9]);
  assert.equal(follow.done, false);
});

test('until ends a follow subscription at the first later item', async () => {
  const hub = new Hub<number>();
  const sub = hub.subscribe({ follow: true, untilMs: 2000 });
  hub.publish(1, 1500);
  hub.publish(2, 2500);
  hub.publish(3, 1600);
  assert.deepEqual(drain(() => sub.pull()).map((d) => d.kind === 'item' && d.item.value), [1]);
  assert.equal(sub.done, true);
  assert.equal(hub.stats().subscribers, 0);
  await sub.wait(); // resolves at once: nothing more will come
});

test('the cap refuses one subscriber too many with a message that says the fix; close frees the slot', () => {
  const hub = new Hub<number>({ maxSubscribers: 2 });
  const a = hub.subscribe({ follow: true });
  hub.subscribe({ follow: true });
  assert.throws(() => hub.subscribe({ follow: true }), (e: Error) => e instanceof HubFullError && /2 of 2.*--max-subscribers/.test(e.message));
  a.close();
  assert.equal(hub.stats().subscribers, 1);
  hub.subscribe({ follow: true });
});

test('close frees the queue, wakes a waiting reader, and stops further offers', async () => {
  const hub = new Hub<number>({ queueCapacity: 10 });
  const sub = hub.subscribe({ follow: true });
  hub.publish(1);
  const waiting = (async () => {
    sub.pull();
    await sub.wait();
    return sub.done;
  })();
  sub.close();
  assert.equal(await waiting, true);
  hub.publish(2);
  assert.equal(sub.queued, 0);
  assert.equal(sub.pull(), undefined);
  assert.equal(hub.stats().subscribers, 0);
});

test('per subscriber, offered = sent (live) + lost + queued at every moment; history is counted apart (and queued is exact right after the history)', () => {
  const hub = new Hub<number>({ queueCapacity: 4 });
  hub.publish(0); // before anyone subscribed: published, offered to nobody
  const sub = hub.subscribe({ follow: true, history: { last: 1 }, match: (v) => v % 2 === 0 });
  for (let i = 1; i <= 20; i++) {
    hub.publish(i);
    if (i % 7 === 0) sub.pull();
    const s = sub.stats();
    // queued counts history not yet delivered as well: only the live part enters the invariant.
    const historyQueued = s.sentHistory === 0 ? 1 : 0;
    assert.equal(s.offered, s.sent - s.sentHistory + s.lost + s.queued - historyQueued, `after ${i}: ${JSON.stringify(s)}`);
  }
  drain(() => sub.pull());
  const s = sub.stats();
  assert.equal(s.offered, 10, 'the even items 2..20, not item 0 published before it subscribed');
  assert.equal(s.sentHistory, 1);
  assert.equal(s.offered, s.sent - s.sentHistory + s.lost);
  assert.ok(s.lost > 0);
});

test('following(topic): true while a live subscriber accepts the topic (or every topic), false once none does', () => {
  const hub = new Hub<string>({ followGraceMs: 0 });
  assert.equal(hub.following('PACKET'), false, 'nobody subscribed');
  const oneShot = hub.subscribe({ follow: false, topics: new Set(['PACKET']), history: { all: true } });
  assert.equal(hub.following('PACKET'), false, 'a history-only subscriber follows nothing');
  oneShot.close();
  const verdicts = hub.subscribe({ follow: true, topics: new Set(['VERDICT']) });
  assert.equal(hub.following('PACKET'), false);
  assert.equal(hub.following('VERDICT'), true);
  const packets1 = hub.subscribe({ follow: true, topics: new Set(['PACKET', 'FLOW']) });
  const packets2 = hub.subscribe({ follow: true, topics: new Set(['PACKET']) });
  assert.equal(hub.following('PACKET'), true);
  packets1.close();
  assert.equal(hub.following('PACKET'), true, 'one of two left');
  assert.equal(hub.following('FLOW'), false);
  packets2.close();
  assert.equal(hub.following('PACKET'), false, 'both left (no grace)');
  const everything = hub.subscribe({ follow: true });
  assert.equal(hub.following('PACKET'), true, 'no topics: every topic');
  everything.close();
  assert.equal(hub.following('PACKET'), false);
  assert.equal(hub.following('VERDICT'), true);
  verdicts.close();
  assert.equal(hub.following('VERDICT'), false);
});

test('following(topic) stays true for the grace period after its last follower left (a reconnect resumes without a gap)', () => {
  const hub = new Hub<string>({ followGraceMs: 3_600_000 });
  const sub = hub.subscribe({ follow: true, topics: new Set(['PACKET']) });
  sub.close();
  assert.equal(hub.following('PACKET'), true);
  assert.equal(hub.following('FLOW'), false, 'only the topic it followed');
  const all = hub.subscribe({ follow: true });
  all.close();
  assert.equal(hub.following('FLOW'), true, 'a subscriber of every topic leaves every topic followed for the grace period');
});

test('a subscription that ends at until stops counting as a follower', () => {
  const hub = new Hub<string>({ followGraceMs: 0 });
  hub.subscribe({ follow: true, topics: new Set(['PACKET']), untilMs: 1000 });
  assert.equal(hub.following('PACKET'), true);
  hub.publish('late', 2000); // later than until: the subscription ends
  assert.equal(hub.following('PACKET'), false);
});

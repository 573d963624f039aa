// SnapshotJoin: judged packets meet their hooks' snapshots whichever comes first; what never meets is
// handed out and counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotJoin, JoinedPacket } from '../../src/pcapng/join';
import type { Snapshot } from '../../src/capture/snap';
import type { TraceEvent } from '../../src/capture/event';
import type { PacketVerdict } from '../../src/path/types';

const ev = (fp: string, timeNs: number, ifindex: number): TraceEvent => ({ fingerprint: fp, timeNs, ifindex, iface: `if${ifindex}`, kind: 'packet', dir: 'ingress' }) as TraceEvent;
const snap = (fp: string, timeNs: number, ifindex: number): Snapshot => ({ fingerprint: fp, timeNs, ifindex, iface: `if${ifindex}`, dir: 'ingress', link: 'ethernet', wireLen: 60, data: Buffer.from([ifindex]) });
const verdict = (fp: string) => ({ fingerprint: fp, verdict: 'MATCHED' }) as PacketVerdict;

function harness() {
  let now = 0;
  const packets: JoinedPacket[] = [];
  const unclaimed: [Snapshot, string][] = [];
  const j = new SnapshotJoin({ waitMs: 1000, now: () => now, onPacket: (p) => packets.push(p), onUnclaimed: (s, why) => unclaimed.push([s, why]) });
  return { j, packets, unclaimed, tick: (ms: number) => (now += ms) };
}

test('snapshots first: the verdict takes them at once, in hop order', () => {
  const h = harness();
  h.j.snapFrame({ snaplen: 128, lostTotal: 0, snapshots: [snap('a', 20, 2), snap('a', 10, 1)] });
  h.j.judged(verdict('a'), [ev('a', 20, 2), ev('a', 10, 1)]);
  assert.equal(h.packets.length, 1);
  assert.deepEqual(h.packets[0].events.map((e) => e.timeNs), [10, 20]);
  assert.deepEqual(h.packets[0].snapshots.map((s) => s!.data[0]), [1, 2]);
});

test('verdict first: it waits for the missing snapshot, then goes out complete', () => {
  const h = harness();
  h.j.snapFrame({ snaplen: 128, lostTotal: 0, snapshots: [snap('b', 10, 1)] });
  h.j.judged(verdict('b'), [ev('b', 10, 1), ev('b', 30, 3)]);
  assert.equal(h.packets.length, 0);
  h.tick(500);
  h.j.expire();
  assert.equal(h.packets.length, 0);
  h.j.snapFrame({ snaplen: 128, lostTotal: 0, snapshots: [snap('b', 30, 3)] });
  assert.equal(h.packets.length, 1);
  assert.deepEqual(h.packets[0].snapshots.map((s) => s!.data[0]), [1, 3]);
  assert.equal(h.j.counters.eventsWithoutSnapshot, 0);
});

test('a snapshot that never comes: the packet goes out after the wait, the hole counted; a late one is unclaimed', () => {
  const h = harness();
  h.j.judged(verdict('c'), [ev('c', 10, 1)]);
  h.tick(1001);
  h.j.expire();
  assert.equal(h.packets.length, 1);
  assert.equal(h.packets[0].snapshots[0], undefined);
  assert.equal(h.j.counters.eventsWithoutSnapshot, 1);
  h.j.snapFrame({ snaplen: 128, lostTotal: 5, snapshots: [snap('c', 10, 1)] });
  h.tick(1001);
  h.j.expire();
  assert.equal(h.unclaimed.length, 1);
  assert.match(h.unclaimed[0][1], /no verdict claimed it/);
  // kernel losses add up across a loader restart (its count starts again at 0)
  h.j.snapFrame({ snaplen: 128, lostTotal: 2, snapshots: [] });
  assert.equal(h.j.counters.snapsLost, 7);
});

test('close hands out what waits on both sides', () => {
  const h = harness();
  h.j.judged(verdict('d'), [ev('d', 10, 1)]);
  h.j.snapFrame({ snaplen: 128, lostTotal: 0, snapshots: [snap('e', 10, 1)] });
  h.j.close();
  assert.equal(h.packets.length, 1);
  assert.equal(h.unclaimed.length, 1);
  assert.match(h.unclaimed[0][1], /ended before/);
});

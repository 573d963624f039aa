// Pairs judged packets with their hooks' snapshots. Snapshots (SNAP frames) and event records travel in
// different ring buffers, so either may come first: a judged packet waits (bounded, `waitMs`) until every
// hook of it has its snapshot; a snapshot no judged packet claims in time is handed out alone. Both
// tables are bounded; whatever leaves early is counted, never silently gone.
import type { TraceEvent } from '../capture/event';
import { SnapFrame, Snapshot, snapKey } from '../capture/snap';
import type { PacketVerdict } from '../path/types';

export interface JoinedPacket {
  verdict: PacketVerdict;
  /** The packet's hook events in time order. */
  events: TraceEvent[];
  /** snapshots[i] belongs to events[i]; undefined when it never came. */
  snapshots: (Snapshot | undefined)[];
}

export interface SnapshotJoinOptions {
  /** A judged packet with all its snapshots (or, after waitMs, with those that came). */
  onPacket(p: JoinedPacket): void;
  /** A snapshot no judged packet claimed within waitMs (or left when the table was full, or at close). */
  onUnclaimed(s: Snapshot, why: string): void;
  /** How long each side waits for the other. Default 2000 ms. */
  waitMs?: number;
  /** Most entries per table. Default 65536. */
  maxPending?: number;
  now?: () => number;
}

export interface SnapshotJoinCounters {
  /** Hook events of judged packets whose snapshot never came (see snapsLost for why). */
  eventsWithoutSnapshot: number;
  /** Snapshots the kernel could not queue (SNAP frames' running totals, across loader restarts). */
  snapsLost: number;
}

interface Waiting {
  packet: JoinedPacket;
  missing: number;
  sinceMs: number;
}

export class SnapshotJoin {
  readonly counters: SnapshotJoinCounters = { eventsWithoutSnapshot: 0, snapsLost: 0 };
  private readonly snaps = new Map<string, { snap: Snapshot; sinceMs: number }>();
  /** Hook key → the judged packet waiting for that hook's snapshot. */
  private readonly wanted = new Map<string, Waiting>();
  private readonly waiting = new Set<Waiting>();
  private lostBase = 0;
  private lostInstance = 0;
  private readonly now: () => number;
  private readonly max: number;
  private readonly waitMs: number;

  constructor(private readonly o: SnapshotJoinOptions) {
    this.now = o.now ?? Date.now;
    this.max = o.maxPending ?? 65536;
    this.waitMs = o.waitMs ?? 2000;
  }

  snapFrame(f: SnapFrame): void {
    if (f.lostTotal < this.lostInstance) this.lostBase += this.lostInstance; // a restarted loader counts from 0
    this.lostInstance = f.lostTotal;
    this.counters.snapsLost = this.lostBase + this.lostInstance;
    const now = this.now();
    for (const s of f.snapshots) {
      const key = snapKey(s.fingerprint, s.timeNs, s.ifindex);
      const w = this.wanted.get(key);
      if (w) {
        this.wanted.delete(key);
        w.packet.snapshots[w.packet.events.findIndex((e) => snapKey(e.fingerprint, e.timeNs, e.ifindex) === key)] = s;
        if (--w.missing === 0) this.release(w);
        continue;
      }
      if (this.snaps.size >= this.max) {
        const [oldKey, oldest] = this.snaps.entries().next().value as [string, { snap: Snapshot }];
        this.snaps.delete(oldKey);
        this.o.onUnclaimed(oldest.snap, 'the table of snapshots waiting for a verdict was full');
      }
      this.snaps.set(key, { snap: s, sinceMs: now });
    }
  }

  judged(verdict: PacketVerdict, events: TraceEvent[]): void {
    const sorted = [...events].sort((a, b) => a.timeNs - b.timeNs);
    const packet: JoinedPacket = { verdict, events: sorted, snapshots: new Array(sorted.length) };
    const w: Waiting = { packet, missing: 0, sinceMs: this.now() };
    const keys: string[] = [];
    sorted.forEach((e, i) => {
      const key = snapKey(e.fingerprint, e.timeNs, e.ifindex);
      const got = this.snaps.get(key);
      if (got) {
        this.snaps.delete(key);
        packet.snapshots[i] = got.snap;
      } else {
        w.missing++;
        keys.push(key);
      }
    });
    if (w.missing === 0 || this.waiting.size >= this.max) {
      this.release(w);
      return;
    }
    for (const k of keys) this.wanted.set(k, w);
    this.waiting.add(w);
  }

  /** Releases what waited too long on either side. Call every 100 ms or so. */
  expire(): void {
    const limit = this.now() - this.waitMs;
    for (const w of this.waiting) {
      if (w.sinceMs > limit) break; // insertion order = arrival order
      this.release(w);
    }
    for (const [key, s] of this.snaps) {
      if (s.sinceMs > limit) break;
      this.snaps.delete(key);
      this.o.onUnclaimed(s.snap, 'no verdict claimed it in time (its packet was not judged)');
    }
  }

  /** At the end: every waiting packet with what it has, then every unclaimed snapshot. */
  close(): void {
    for (const w of [...this.waiting]) this.release(w);
    for (const s of this.snaps.values()) this.o.onUnclaimed(s.snap, 'the trace ended before a verdict claimed it');
    this.snaps.clear();
  }

  private release(w: Waiting): void {
    this.waiting.delete(w);
    if (w.missing > 0) {
      w.packet.events.forEach((e, i) => {
        if (!w.packet.snapshots[i]) this.wanted.delete(snapKey(e.fingerprint, e.timeNs, e.ifindex));
      });
      this.counters.eventsWithoutSnapshot += w.missing;
      w.missing = 0;
    }
    this.o.onPacket(w.packet);
  }
}

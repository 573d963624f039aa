// The fan-out between one publisher (the collector) and many subscribers (API streams, the UI).
// Domain-neutral: it moves opaque items. Publishing is O(subscribers) and never waits: each subscriber
// has a bounded queue, and when it is full the newest item is dropped and counted, so a stalled reader
// costs nobody else anything and learns exactly how much it missed (a 'lost' delivery at the gap).
// A bounded ring of recent items serves `last N` / `since` to new subscribers.

export interface HubItem<T> {
  /** 1, 2, 3… in publish order. */
  seq: number;
  /** Wall-clock ms of the item (for `since` / `until`). */
  timeMs: number;
  value: T;
}

export type Delivery<T> = { kind: 'item'; item: HubItem<T> } | { kind: 'lost'; count: number; total: number };

export interface HistorySelection {
  /** The last N matching items of the history. */
  last?: number;
  /** Items at or after this wall-clock ms. */
  sinceMs?: number;
  /** Every matching item in the history (when neither last nor since is given). */
  all?: boolean;
}

export interface SubscribeOptions<T> {
  /** Which items this subscriber wants; everything when absent. */
  match?: (value: T) => boolean;
  history?: HistorySelection;
  /** Stay subscribed for live items after the history. */
  follow: boolean;
  /** End the subscription at the first item later than this wall-clock ms. */
  untilMs?: number;
  /** Queue capacity for live items; the hub default when absent. */
  queueCapacity?: number;
  /** Shown in stats: who this is (peer address) and what it asked for (filter text). */
  peer?: string;
  description?: string;
  /**
   * The kinds of item (topics) this subscriber can accept at all; every kind when absent. Only read by
   * `following()`: a publisher asks it before building an item no live subscriber could take.
   */
  topics?: ReadonlySet<string>;
}

export interface HubOptions {
  /** Items kept for `last` / `since`. */
  historyCapacity?: number;
  /** Live items queued per subscriber before it starts losing them. */
  queueCapacity?: number;
  maxSubscribers?: number;
  /**
   * `following(topic)` stays true this long after the last subscriber that accepted the topic left, so a
   * client that reconnects (the relay after a blip, backoff ≤ 30 s) resumes from the history without a gap.
   */
  followGraceMs?: number;
}

export interface SubscriberStats {
  id: number;
  peer: string;
  description: string;
  sinceMs: number;
  sent: number;
  lost: number;
  queued: number;
  queueCapacity: number;
  /** Live items that matched since it subscribed. Invariant: offered = sentLive + lost + queued (live). */
  offered: number;
  /** Items delivered from the history (not part of `offered`). */
  sentHistory: number;
}

export interface HubStats {
  published: number;
  subscribers: number;
  maxSubscribers: number;
  historySize: number;
  historyCapacity: number;
  /** Items lost by all subscriptions, ever (closed ones included). */
  lostBySubscribers: number;
}

/** Past the subscriber cap. */
export class HubFullError extends Error {}

export const DEFAULTS = { historyCapacity: 10000, queueCapacity: 4096, maxSubscribers: 128, followGraceMs: 60_000 };

/** A bounded FIFO ring; each slot remembers how many items were lost just before it. */
class BoundedQueue<T> {
  private readonly items: (HubItem<T> | undefined)[];
  private readonly gaps: number[];
  private head = 0;
  length = 0;
  /** Lost after the current tail (no slot to carry it yet). */
  pendingLost = 0;

  constructor(readonly capacity: number) {
    this.items = new Array(capacity);
    this.gaps = new Array(capacity).fill(0);
  }

  /** False when full: the item was dropped and counted. */
  push(item: HubItem<T>): boolean {
    if (this.length === this.capacity) {
      this.pendingLost++;
      return false;
    }
    const slot = (this.head + this.length) % this.capacity;
    this.items[slot] = item;
    this.gaps[slot] = this.pendingLost;
    this.pendingLost = 0;
    this.length++;
    return true;
  }

  /** The next delivery: a gap notice first when items were lost before the head. */
  shift(): { lost: number } | HubItem<T> | undefined {
    if (this.length === 0) {
      if (this.pendingLost === 0) return undefined;
      const lost = this.pendingLost;
      this.pendingLost = 0;
      return { lost };
    }
    if (this.gaps[this.head] > 0) {
      const lost = this.gaps[this.head];
      this.gaps[this.head] = 0;
      return { lost };
    }
    const item = this.items[this.head]!;
    this.items[this.head] = undefined; // let it be collected
    this.head = (this.head + 1) % this.capacity;
    this.length--;
    return item;
  }

  clear(): void {
    this.items.fill(undefined);
    this.length = 0;
    this.pendingLost = 0;
  }
}

export class Subscription<T> {
  sent = 0;
  lost = 0;
  /** Live items offered (queued or lost), and history items delivered: sent = sentHistory + delivered live. */
  offered = 0;
  sentHistory = 0;
  readonly sinceMs = Date.now();
  private closed = false;
  private ended = false;
  private waiter: (() => void) | undefined;
  private backlogIndex = 0;

  constructor(
    readonly id: number,
    private readonly hub: Hub<T>,
    private backlog: HubItem<T>[],
    private readonly queue: BoundedQueue<T>,
    readonly options: SubscribeOptions<T>,
  ) {
    if (!options.follow) this.ended = true;
  }

  get queued(): number {
    return this.queue.length + (this.backlog.length - this.backlogIndex);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Called by the hub for a live item this subscriber matched. Never blocks. */
  offer(item: HubItem<T>): void {
    if (this.ended) return;
    if (this.options.untilMs !== undefined && item.timeMs > this.options.untilMs) {
      this.end();
      return;
    }
    this.offered++;
    if (!this.queue.push(item)) this.lost++;
    this.wake();
  }

  /**
   * The next delivery without waiting: a history item, a live item, a lost notice, or undefined when
   * nothing is queued right now (see `wait()`, `done`).
   */
  pull(): Delivery<T> | undefined {
    if (this.closed) return undefined;
    if (this.backlogIndex < this.backlog.length) {
      const item = this.backlog[this.backlogIndex++];
      if (this.backlogIndex === this.backlog.length) {
        // Both together: `queued` reads backlog.length - backlogIndex.
        this.backlog = [];
        this.backlogIndex = 0;
      }
      this.sent++;
      this.sentHistory++;
      return { kind: 'item', item };
    }
    this.backlogIndex = 0;
    const next = this.queue.shift();
    if (next === undefined) return undefined;
    if ('lost' in next) return { kind: 'lost', count: next.lost, total: this.lost };
    this.sent++;
    return { kind: 'item', item: next };
  }

  /** True when nothing more will ever be delivered (not following, or ended/closed, and drained). */
  get done(): boolean {
    return this.closed || (this.ended && this.queued === 0 && this.queue.pendingLost === 0);
  }

  /** Resolves when there may be something to pull, or the subscription ended. */
  wait(): Promise<void> {
    if (this.done || this.queued > 0 || this.queue.pendingLost > 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Frees the queue and leaves the hub. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ended = true;
    this.queue.clear();
    this.backlog = [];
    this.hub.remove(this);
    this.wake();
  }

  stats(): SubscriberStats {
    return {
      id: this.id,
      peer: this.options.peer ?? '',
      description: this.options.description ?? '',
      sinceMs: this.sinceMs,
      sent: this.sent,
      lost: this.lost,
      queued: this.queued,
      queueCapacity: this.queue.capacity,
      offered: this.offered,
      sentHistory: this.sentHistory,
    };
  }

  private end(): void {
    this.ended = true;
    this.hub.remove(this);
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w();
    }
  }
}

export class Hub<T> {
  private readonly history: (HubItem<T> | undefined)[];
  private historyHead = 0;
  private historySize = 0;
  private seq = 0;
  private nextId = 1;
  private readonly subscribers = new Set<Subscription<T>>();
  /** Live subscribers per topic they accept, and those that accept every topic (no `topics`). */
  private readonly followersByTopic = new Map<string, number>();
  private followersOfAll = 0;
  /** Per topic (and '' for every topic): until when it still counts as followed after its last follower left. */
  private readonly followedUntil = new Map<string, number>();
  private lostByClosed = 0;
  readonly historyCapacity: number;
  readonly queueCapacity: number;
  readonly maxSubscribers: number;
  readonly followGraceMs: number;

  constructor(options: HubOptions = {}) {
    this.followGraceMs = options.followGraceMs ?? DEFAULTS.followGraceMs;
    this.historyCapacity = options.historyCapacity ?? DEFAULTS.historyCapacity;
    this.queueCapacity = options.queueCapacity ?? DEFAULTS.queueCapacity;
    this.maxSubscribers = options.maxSubscribers ?? DEFAULTS.maxSubscribers;
    this.history = new Array(this.historyCapacity);
  }

  /** Publishes one item to history and every matching live subscriber. Never waits. */
  publish(value: T, timeMs: number = Date.now()): HubItem<T> {
    const item: HubItem<T> = { seq: ++this.seq, timeMs, value };
    if (this.historyCapacity > 0) {
      this.history[(this.historyHead + this.historySize) % this.historyCapacity] = item;
      if (this.historySize < this.historyCapacity) this.historySize++;
      else this.historyHead = (this.historyHead + 1) % this.historyCapacity;
    }
    for (const sub of this.subscribers) {
      const match = sub.options.match;
      if (!match || match(value)) sub.offer(item);
    }
    return item;
  }

  /**
   * Subscribes: the selected history first, then (with follow) live items. Throws HubFullError past the
   * cap. The history snapshot and the registration happen together, so no item is missed or doubled.
   */
  subscribe(options: SubscribeOptions<T>): Subscription<T> {
    if (options.follow && this.subscribers.size >= this.maxSubscribers) {
      throw new HubFullError(
        `too many subscribers: ${this.subscribers.size} of ${this.maxSubscribers} are connected; ` +
          'close one, or start the server with a higher --max-subscribers',
      );
    }
    const backlog = this.selectHistory(options);
    const sub = new Subscription<T>(
      this.nextId++,
      this,
      backlog,
      new BoundedQueue<T>(options.follow ? (options.queueCapacity ?? this.queueCapacity) : 1),
      options,
    );
    if (options.follow) {
      this.subscribers.add(sub);
      this.countFollower(options.topics, +1);
    }
    return sub;
  }

  /**
   * Whether a live subscriber may accept items of this topic now (or one left less than followGraceMs
   * ago). False: nobody following could take it, so a publisher may skip it (and count that it did); a
   * later subscriber's history will not have it.
   */
  following(topic: string): boolean {
    if (this.followersOfAll > 0 || (this.followersByTopic.get(topic) ?? 0) > 0) return true;
    if (this.followedUntil.size === 0) return false;
    const now = Date.now();
    return (this.followedUntil.get(topic) ?? 0) > now || (this.followedUntil.get('') ?? 0) > now;
  }

  /** Called by a subscription that closes or ends. */
  remove(sub: Subscription<T>): void {
    if (this.subscribers.delete(sub)) {
      this.lostByClosed += sub.lost;
      this.countFollower(sub.options.topics, -1);
    }
  }

  private countFollower(topics: ReadonlySet<string> | undefined, delta: number): void {
    const until = Date.now() + this.followGraceMs;
    if (!topics) {
      this.followersOfAll += delta;
      if (this.followersOfAll === 0) this.followedUntil.set('', until);
      return;
    }
    for (const t of topics) {
      const n = (this.followersByTopic.get(t) ?? 0) + delta;
      this.followersByTopic.set(t, n);
      if (n === 0) this.followedUntil.set(t, until);
    }
  }

  stats(): HubStats {
    let lost = this.lostByClosed;
    for (const s of this.subscribers) lost += s.lost;
    return {
      published: this.seq,
      subscribers: this.subscribers.size,
      maxSubscribers: this.maxSubscribers,
      historySize: this.historySize,
      historyCapacity: this.historyCapacity,
      lostBySubscribers: lost,
    };
  }

  subscriberStats(): SubscriberStats[] {
    return [...this.subscribers].map((s) => s.stats());
  }

  /** Ends every subscription (server shutdown). */
  closeAll(): void {
    for (const s of [...this.subscribers]) s.close();
  }

  private selectHistory(options: SubscribeOptions<T>): HubItem<T>[] {
    const h = options.history ?? {};
    const wanted = h.last !== undefined && h.last > 0;
    const since = h.sinceMs !== undefined && h.sinceMs > 0;
    if (!wanted && !since && !h.all) return [];
    const limit = wanted ? h.last! : Infinity;
    const out: HubItem<T>[] = [];
    // Newest first, so `last N` stops early; reversed at the end.
    for (let i = this.historySize - 1; i >= 0 && out.length < limit; i--) {
      const item = this.history[(this.historyHead + i) % this.historyCapacity]!;
      if (since && item.timeMs < h.sinceMs!) continue;
      if (options.untilMs !== undefined && item.timeMs > options.untilMs) continue;
      if (options.match && !options.match(item.value)) continue;
      out.push(item);
    }
    return out.reverse();
  }
}

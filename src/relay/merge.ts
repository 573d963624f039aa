// Time-ordered merge of many nodes' streams within a bounded window. Every item waits until the window
// has passed over its time, so items from nodes whose streams arrive a little late still come out in time
// order; nothing waits for a node that has gone quiet or dead (the clock releases items, not the other
// nodes). An item stamped in the future (a node whose clock runs ahead) is ordered at its arrival time,
// so a skewed clock cannot hold it back. Each node holds at most `perNodeCapacity` items here: past it the
// newest are refused and the caller counts them, so one flooding node cannot take the others' room.

export interface MergeOptions {
  /** How long an item waits for earlier items from other nodes (ms). */
  windowMs: number;
  /** Items one node may have waiting; past it pushes are refused (counted by the caller). */
  perNodeCapacity: number;
}

interface Entry<T> {
  key: number;
  order: number;
  arrivedMs: number;
  node: string;
  value: T;
}

export interface Released<T> {
  node: string;
  value: T;
  /** Time the item spent in the window (ms). */
  waitedMs: number;
}

export class MergeWindow<T> {
  private readonly heap: Entry<T>[] = [];
  private readonly perNode = new Map<string, number>();
  private order = 0;

  constructor(readonly options: MergeOptions) {}

  get size(): number {
    return this.heap.length;
  }

  /** Items waiting for `node`. */
  queued(node: string): number {
    return this.perNode.get(node) ?? 0;
  }

  /** False when the node's share is full: the item was not taken. */
  push(node: string, timeMs: number, value: T, nowMs: number): boolean {
    const n = this.perNode.get(node) ?? 0;
    if (n >= this.options.perNodeCapacity) return false;
    this.perNode.set(node, n + 1);
    const e: Entry<T> = { key: timeMs > 0 && timeMs < nowMs ? timeMs : nowMs, order: this.order++, arrivedMs: nowMs, node, value };
    this.heap.push(e);
    this.up(this.heap.length - 1);
    return true;
  }

  /** Everything the window has passed over by `nowMs`, oldest first. `all` empties the window. */
  release(nowMs: number, all = false): Released<T>[] {
    const out: Released<T>[] = [];
    const limit = nowMs - this.options.windowMs;
    while (this.heap.length > 0 && (all || this.heap[0].key <= limit)) {
      const e = this.pop();
      const n = this.perNode.get(e.node)! - 1;
      if (n === 0) this.perNode.delete(e.node);
      else this.perNode.set(e.node, n);
      out.push({ node: e.node, value: e.value, waitedMs: nowMs - e.arrivedMs });
    }
    return out;
  }

  private less(a: Entry<T>, b: Entry<T>): boolean {
    return a.key < b.key || (a.key === b.key && a.order < b.order);
  }

  private pop(): Entry<T> {
    const top = this.heap[0];
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
    return top;
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l], h[m])) m = l;
      if (r < h.length && this.less(h[r], h[m])) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}

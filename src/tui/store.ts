// The UI's state: flows aggregated from packet verdicts, recent packets and drops, the live route model,
// loss counters, selection, sort, filter, pause. Pure: no terminal, no network, time passed in, so it can
// be driven by a packet storm in a unit test. Ingesting is O(1) per event; sorting and filtering happen
// only when a view asks for rows (at most ~10 times a second, see throttle.ts).
//
// A flow here is the collector's flow (src/path/flows.ts): the key the API sends with each verdict puts
// both directions, and both sides of a NAT rewrite, under one row, named as its first packet was seen —
// the same flows, with the same counts, that `calitrace observe --type flow` prints.
import { flowKey as pathFlowKey } from '../path/flows';
import { emptyVerdictCounts, protocolName } from '../vocabulary';
import {
  Explanation,
  LossCounter,
  NodeStatus,
  PodRef,
  RouteChange,
  RouteEntry,
  StitchedView,
  UiVerdict,
  Verdict,
  UiFlowCounts,
} from './model';

/** Stitched cross-node paths kept for the detail pane. */
const STITCHED_KEPT = 2000;

export type ViewName = 'flows' | 'packets' | 'routes' | 'drops';
export const VIEWS: ViewName[] = ['flows', 'packets', 'routes', 'drops'];

export type SortKey = 'last' | 'packets' | 'verdict' | 'latency' | 'src' | 'dst';
export const SORT_KEYS: SortKey[] = ['last', 'packets', 'verdict', 'latency', 'src', 'dst'];

/** Loss counters shown even before the server reports them, so a zero is visible as a zero. */
/** How old a live item must be when taken in for the UI to say it is reading a backlog. */
export const BEHIND_MS = 5000;

export const KNOWN_LOSS_COUNTERS = ['kernel', 'pipe', 'collector', 'subscribers', 'this-client'];

export interface FlowRow {
  key: string;
  /** The forward direction: the flow's first packet as it entered the node (before any NAT). */
  src: string;
  dst: string;
  srcPod?: PodRef;
  dstPod?: PodRef;
  proto: number;
  sport: number;
  dport: number;
  /** Paths of the latest forward packet (the API's Flow.predicted and Flow.path). */
  predicted: string[];
  observed: string[];
  /** Verdict of the latest forward packet: the flow's current state, as the API's Flow.verdict. */
  verdict: Verdict;
  reason: string;
  /** Packets per verdict, both directions. */
  counts: Record<Verdict, number>;
  /** Packets, both directions. */
  packets: number;
  /** Of which replies (the reverse direction). */
  replies: number;
  /** Verdict of the latest reply, once one is seen. */
  replyVerdict?: Verdict;
  /** The latest reply, once one is seen. */
  lastReply?: UiVerdict;
  firstMs: number;
  lastMs: number;
  latencyUs?: number;
  /** The latest forward packet, for the detail pane (hops, kernel view, drop reason) and explain. */
  last: UiVerdict;
  /**
   * Per node (a relay merges nodes), what its verdict lines counted and its latest flow counts (case
   * mode): the row's counts are the sum over its nodes of whichever is ahead.
   */
  byNode: Map<string, NodeTally>;
}

/** One node's share of a flow row. */
interface NodeTally {
  lines: number;
  replies: number;
  counts: Record<Verdict, number>;
  flow?: UiFlowCounts;
}

export interface RouteRow {
  route: RouteEntry;
  /** Set while the change is recent: the view highlights it. */
  change?: 'added' | 'removed' | 'changed';
  changedMs?: number;
}

export interface StoreOptions {
  maxFlows?: number;
  maxPackets?: number;
  maxDrops?: number;
  /** How long a route change stays highlighted. */
  routeHighlightMs?: number;
}

export const protoName = protocolName;

/** The collector's key when the server sent one (it always does); else the same rule computed here. */
function tallyOf(byNode: Map<string, NodeTally>, node: string | undefined): NodeTally {
  let t = byNode.get(node ?? '');
  if (!t) byNode.set(node ?? '', (t = { lines: 0, replies: 0, counts: emptyVerdictCounts() }));
  return t;
}

/** A row counted per node: each node's flow counts when they are ahead of its lines, else its lines. */
function recount(row: FlowRow): void {
  let packets = 0;
  let replies = 0;
  const counts = emptyVerdictCounts();
  for (const t of row.byNode.values()) {
    const f = t.flow && t.flow.packets >= t.lines ? t.flow : undefined;
    packets += f ? f.packets : t.lines;
    replies += f ? f.replies : t.replies;
    const c = f ? f.counts : t.counts;
    for (const k of Object.keys(counts) as Verdict[]) counts[k] += c[k];
  }
  row.packets = packets;
  row.replies = replies;
  row.counts = counts;
}

export function flowKey(v: UiVerdict): string {
  return v.flowKey || pathFlowKey(v);
}

/** Whether a packet goes the flow's first packet's way (a reply, even NATed, never does). */
function isForward(row: FlowRow, v: UiVerdict): boolean {
  return v.src === row.src && v.dst === row.dst && v.sport === row.sport && v.dport === row.dport;
}

/** Severity order used by the verdict sort: trouble first. */
const SEVERITY: Record<Verdict, number> = {
  DROPPED: 0,
  DIVERGED: 1,
  STALE_MODEL: 2,
  INCOMPLETE: 3,
  EXPECTED_DROP: 4,
  MATCHED: 5,
};

interface Frozen {
  flows: FlowRow[];
  packets: UiVerdict[];
  drops: UiVerdict[];
  routes: RouteRow[];
}

export class Store {
  readonly maxFlows: number;
  readonly maxPackets: number;
  readonly maxDrops: number;
  readonly routeHighlightMs: number;

  view: ViewName = 'flows';
  sort: SortKey = 'last';
  sortDescending = true;
  paused = false;
  helpOpen = false;
  helpScroll = 0;
  /** Flow key whose detail pane is open. */
  detailKey: string | null = null;
  detailScroll = 0;
  /** Row offset of the packets / routes / drops lists (0 = newest at top). */
  listScroll: Record<ViewName, number> = { flows: 0, packets: 0, routes: 0, drops: 0 };

  filterText = '';
  filterError: string | null = null;
  private filterMatch: ((v: UiVerdict) => boolean) | null = null;
  private flowMatch: ((r: FlowRow) => boolean) | null = null;

  status: NodeStatus = { node: '?', mode: '?', interfaces: [], subscribers: 0, counters: [] };
  connection: { state: 'connecting' | 'connected' | 'error'; message?: string } = { state: 'connecting' };

  /** Items stamped before the stream (re)connected are history: they say nothing of lag. */
  private liveSinceMs = Infinity;
  /** How old the newest live item was when this client took it in, and when that was. */
  private lag: { ms: number; atMs: number } | undefined;

  /** Every event this client ingested (keeps counting while paused). */
  eventsTotal = 0;
  /** Flows pushed out by the cap (not a loss of packets: a loss of history). */
  flowsEvicted = 0;

  /** In least-recently-seen order: a packet moves its flow to the end, so the first is the one to evict. */
  private readonly flows = new Map<string, FlowRow>();
  private packets: UiVerdict[] = [];
  private drops: UiVerdict[] = [];
  private routes = new Map<string, RouteRow>();
  private readonly localLoss = new Map<string, number>();
  private readonly explanations = new Map<string, Explanation>();
  /** A relay's stitched paths by fingerprint, the newest STITCHED_KEPT (oldest dropped first). */
  private readonly stitchedPaths = new Map<string, StitchedView>();
  private selectedKey: string | null = null;
  private selectedIndexHint = 0;
  private frozen: Frozen | null = null;
  private rateWindow: Array<{ t: number; n: number }> = [];

  constructor(opts: StoreOptions = {}) {
    this.maxFlows = opts.maxFlows ?? 5000;
    this.maxPackets = opts.maxPackets ?? 1000;
    this.maxDrops = opts.maxDrops ?? 500;
    this.routeHighlightMs = opts.routeHighlightMs ?? 10_000;
  }

  // ---------------------------------------------------------------- ingest

  /** The stream (re)connected at `nowMs`: what is stamped later is live. */
  markConnected(nowMs: number): void {
    this.liveSinceMs = nowMs;
    this.lag = undefined;
  }

  /** A live item stamped `itemMs` was taken in at `nowMs`. */
  noteLag(itemMs: number, nowMs: number): void {
    if (itemMs >= this.liveSinceMs) this.lag = { ms: nowMs - itemMs, atMs: nowMs };
  }

  /**
   * Whole seconds this client is behind the live stream while it reads a backlog, or undefined when it
   * keeps up. A client slower than the storm reads items queued seconds ago (its server-side queue,
   * gRPC's buffers), and hears of what its queue could not hold only when it reaches that point: the
   * screen must say it is showing the past. Behind = the newest live item was older than BEHIND_MS when
   * taken in (a packet held for ARP is judged ~3.5 s late, so less is not a backlog), and items still
   * arrive (none for 2 s: caught up, or quiet).
   */
  backlogS(nowMs: number): number | undefined {
    if (!this.lag || nowMs - this.lag.atMs > 2000 || this.lag.ms < BEHIND_MS) return undefined;
    return Math.round(this.lag.ms / 1000);
  }

  ingest(v: UiVerdict): void {
    this.eventsTotal++;
    const key = flowKey(v);
    let row = this.flows.get(key);
    if (row) {
      this.flows.delete(key);
    } else {
      if (this.flows.size >= this.maxFlows) this.evictOldestFlow();
      row = {
        key,
        src: v.src,
        dst: v.dst,
        proto: v.proto,
        sport: v.sport,
        dport: v.dport,
        predicted: v.predicted,
        observed: [],
        verdict: v.verdict,
        reason: v.reason,
        counts: emptyVerdictCounts(),
        packets: 0,
        replies: 0,
        firstMs: v.timeMs,
        lastMs: v.timeMs,
        last: v,
        byNode: new Map(),
      };
    }
    this.flows.set(key, row);
    const before = row.packets;
    const forward = isForward(row, v);
    // Each node's lines are kept apart: its flow updates (case mode) replace them once they are ahead.
    const t = tallyOf(row.byNode, v.node);
    t.lines++;
    t.counts[v.verdict]++;
    if (!forward) t.replies++;
    if (t.flow || row.byNode.size > 1) {
      recount(row);
      this.eventsTotal += row.packets - before - 1;
    } else {
      row.packets++;
      row.counts[v.verdict]++;
      if (!forward) row.replies++;
    }
    if (forward) {
      row.verdict = v.verdict;
      row.reason = v.reason;
      row.predicted = v.predicted;
      row.observed = observedPath(v);
      if (v.latencyUs !== undefined) row.latencyUs = v.latencyUs;
      if (v.srcPod) row.srcPod = v.srcPod;
      if (v.dstPod) row.dstPod = v.dstPod;
      row.last = v;
    } else {
      row.replyVerdict = v.verdict;
      row.lastReply = v;
      // A reply names the same two pods the other way round.
      if (v.dstPod) row.srcPod ??= v.dstPod;
      if (v.srcPod && !v.nat) row.dstPod ??= v.srcPod;
    }
    row.lastMs = Math.max(row.lastMs, v.timeMs);
    row.firstMs = Math.min(row.firstMs, v.timeMs);

    this.packets.push(v);
    if (this.packets.length > this.maxPackets * 2) this.packets = this.packets.slice(-this.maxPackets);
    if (v.verdict === 'DROPPED' || v.verdict === 'EXPECTED_DROP' || v.observed.some((h) => h.dir === 'drop')) {
      this.drops.push(v);
      if (this.drops.length > this.maxDrops * 2) this.drops = this.drops.slice(-this.maxDrops);
    }
  }

  /**
   * The collector's counts for a flow: they include packets that were counted but never sent as verdicts
   * (case mode), so once they are ahead of what this store counted from verdicts, they are the row's.
   * Behind (updates are throttled, verdicts are not), they change nothing. A flow with no row yet waits
   * for its first verdict. True when the row changed.
   */
  ingestFlowCounts(f: UiFlowCounts): boolean {
    const row = this.flows.get(f.key);
    if (!row) return false;
    const t = tallyOf(row.byNode, f.node);
    if (t.flow && f.packets <= t.flow.packets) return false;
    t.flow = f;
    const before = row.packets;
    recount(row);
    this.eventsTotal += Math.max(0, row.packets - before); // the header counts packets judged, sent or not
    if (row.packets === before) return false;
    this.flows.delete(f.key);
    this.flows.set(f.key, row); // seen now: the least recently seen is evicted first
    row.lastMs = Math.max(row.lastMs, f.lastMs);
    return true;
  }

  /** O(1): the Map's first entry is the flow seen least recently. */
  private evictOldestFlow(): void {
    const oldest = this.flows.keys().next();
    if (oldest.done) return;
    this.flows.delete(oldest.value);
    this.explanations.delete(oldest.value);
    this.flowsEvicted++;
  }

  setStatus(s: NodeStatus, nowMs = Date.now()): void {
    this.status = s;
    this.statusAtMs = nowMs;
  }

  /** Seconds since the last Status answer, when that is long enough to matter (else undefined). */
  statusAgeS(nowMs: number): number | undefined {
    if (!this.statusAtMs) return undefined;
    const age = Math.floor((nowMs - this.statusAtMs) / 1000);
    return age >= 3 ? age : undefined;
  }

  /** Loss this client observed itself (e.g. the server's lost-event notices to this subscriber). */
  addLoss(name: string, n: number): void {
    this.localLoss.set(name, (this.localLoss.get(name) ?? 0) + n);
  }

  /** A running total announced in the stream (lost notices carry one): newer than the last Status poll. */
  setLossTotal(name: string, total: number): void {
    this.localLoss.set(name, Math.max(this.localLoss.get(name) ?? 0, total));
  }

  /** When the header's server figures were last refreshed (Status can time out on a saturated node). */
  statusAtMs = 0;

  /** Every loss counter: the known ones always, then whatever else the server or this client counted. */
  lossCounters(): LossCounter[] {
    const byName = new Map<string, number>();
    for (const n of KNOWN_LOSS_COUNTERS) byName.set(n, 0);
    for (const c of this.status.counters) byName.set(c.name, c.value);
    for (const [n, v] of this.localLoss) {
      // A notice sent to us is the server's subscriber counter seen from this side: keep the larger.
      byName.set(n, Math.max(byName.get(n) ?? 0, v));
    }
    return [...byName].map(([name, value]) => ({ name, value }));
  }

  setRoutes(routes: RouteEntry[], nowMs: number): void {
    const next = new Map<string, RouteRow>();
    const first = this.routes.size === 0;
    for (const r of routes) {
      const prev = this.routes.get(r.key);
      if (!prev || prev.change === 'removed') next.set(r.key, first ? { route: r } : { route: r, change: 'added', changedMs: nowMs });
      else if (prev.route.text !== r.text) next.set(r.key, { route: r, change: 'changed', changedMs: nowMs });
      else next.set(r.key, { ...prev, route: r });
    }
    for (const [k, prev] of this.routes) {
      if (!next.has(k) && prev.change !== 'removed') next.set(k, { route: prev.route, change: 'removed', changedMs: nowMs });
    }
    this.routes = next;
  }

  applyRouteChange(c: RouteChange, nowMs: number): void {
    const prev = this.routes.get(c.route.key);
    if (c.kind === 'add') {
      const change = prev && prev.change !== 'removed' ? 'changed' : 'added';
      this.routes.set(c.route.key, { route: c.route, change, changedMs: nowMs });
    } else if (prev) {
      this.routes.set(c.route.key, { route: prev.route, change: 'removed', changedMs: nowMs });
    }
  }

  // ---------------------------------------------------------------- time

  /** Advances the clock: ages route highlights and samples the event rate. Call before each render. */
  tick(nowMs: number): void {
    for (const [k, r] of this.routes) {
      if (r.change && r.changedMs !== undefined && nowMs - r.changedMs >= this.routeHighlightMs) {
        if (r.change === 'removed') this.routes.delete(k);
        else this.routes.set(k, { route: r.route });
      }
    }
    this.rateWindow.push({ t: nowMs, n: this.eventsTotal });
    while (this.rateWindow.length > 2 && nowMs - this.rateWindow[1].t >= 1000) this.rateWindow.shift();
  }

  /** Events per second over the last second or so of ticks. */
  eventsPerSecond(): number {
    const w = this.rateWindow;
    if (w.length < 2) return 0;
    const a = w[0];
    const b = w[w.length - 1];
    const dt = b.t - a.t;
    return dt > 0 ? Math.round(((b.n - a.n) * 1000) / dt) : 0;
  }

  // ---------------------------------------------------------------- pause, filter, sort

  togglePause(): void {
    if (this.paused) {
      this.paused = false;
      this.frozen = null;
    } else {
      this.frozen = this.freeze();
      this.paused = true;
    }
  }

  /** Copies of the rows as they are now (flow rows are updated in place, so they are copied). */
  private freeze(): Frozen {
    return {
      flows: this.computeFlows().map((r) => ({ ...r, counts: { ...r.counts } })),
      packets: this.filtered(this.packets),
      drops: this.filtered(this.drops),
      routes: [...this.routes.values()],
    };
  }

  /**
   * Applies a filter already validated by the caller; `match` null clears it. Flows are matched as a
   * whole (`matchFlow`: their forward direction, as the API matches its flows), so a flow does not come
   * and go with the direction of its latest packet; without it, by their latest packet.
   */
  setFilter(text: string, match: ((v: UiVerdict) => boolean) | null, matchFlow?: (r: FlowRow) => boolean): void {
    this.filterText = match ? text : '';
    this.filterMatch = match;
    this.flowMatch = match ? matchFlow ?? ((r) => match(r.last)) : null;
    this.filterError = null;
    if (this.paused) this.frozen = this.freeze(); // the frozen rows, re-taken under the new filter
  }

  /** A filter the user typed that did not parse: shown, not applied. */
  rejectFilter(text: string, error: string): void {
    this.filterError = `invalid filter '${text}': ${error}`;
  }

  cycleSort(): void {
    const i = SORT_KEYS.indexOf(this.sort);
    this.sort = SORT_KEYS[(i + 1) % SORT_KEYS.length];
    this.sortDescending = this.sort === 'last' || this.sort === 'packets' || this.sort === 'latency';
  }

  reverseSort(): void {
    this.sortDescending = !this.sortDescending;
  }

  // ---------------------------------------------------------------- rows for views

  flowRows(): FlowRow[] {
    return this.frozen ? this.frozen.flows : this.computeFlows();
  }

  packetRows(): UiVerdict[] {
    const list = this.frozen ? this.frozen.packets : this.filtered(this.packets);
    return list.slice(-this.maxPackets).reverse();
  }

  dropRows(): UiVerdict[] {
    const list = this.frozen ? this.frozen.drops : this.filtered(this.drops);
    return list.slice(-this.maxDrops).reverse();
  }

  routeRows(): RouteRow[] {
    const rows = this.frozen ? this.frozen.routes : [...this.routes.values()];
    // The main table is what a person reads first (docs/explain.md). The kernel's local table last.
    const rank = (t = 'main') => (t === 'main' ? 0 : t === 'local' ? 2 : 1);
    return rows.sort(
      (a, b) =>
        rank(a.route.table) - rank(b.route.table) ||
        (a.route.table ?? '').localeCompare(b.route.table ?? '') ||
        a.route.text.localeCompare(b.route.text, 'en', { numeric: true }),
    );
  }

  flowCount(): number {
    return this.flows.size;
  }

  private filtered(list: UiVerdict[]): UiVerdict[] {
    const m = this.filterMatch;
    return m ? list.filter((v) => m(v)) : list.slice();
  }

  private computeFlows(): FlowRow[] {
    const m = this.flowMatch;
    const rows = [...this.flows.values()].filter((r) => !m || m(r));
    const dir = this.sortDescending ? -1 : 1;
    const cmp = (a: FlowRow, b: FlowRow): number => {
      switch (this.sort) {
        case 'last':
          // Whole seconds: flows busy at the same time keep their order instead of swapping every frame.
          return Math.floor(a.lastMs / 1000) - Math.floor(b.lastMs / 1000);
        case 'packets':
          return a.packets - b.packets;
        case 'verdict':
          return SEVERITY[a.verdict] - SEVERITY[b.verdict];
        case 'latency':
          return (a.latencyUs ?? -1) - (b.latencyUs ?? -1);
        case 'src':
          return a.src.localeCompare(b.src, 'en', { numeric: true });
        case 'dst':
          return a.dst.localeCompare(b.dst, 'en', { numeric: true });
      }
    };
    // The key is the tie-break so equal rows never swap places between frames.
    return rows.sort((a, b) => dir * cmp(a, b) || a.key.localeCompare(b.key));
  }

  // ---------------------------------------------------------------- selection

  /** Index of the selected flow in flowRows(); follows the flow, not the position, as rows move. */
  selectedIndex(rows: FlowRow[] = this.flowRows()): number {
    if (rows.length === 0) return -1;
    if (this.selectedKey !== null) {
      const i = rows.findIndex((r) => r.key === this.selectedKey);
      if (i >= 0) {
        this.selectedIndexHint = i;
        return i;
      }
    }
    // The selected flow is gone (evicted or filtered out): stay at the same height.
    const i = Math.min(this.selectedIndexHint, rows.length - 1);
    this.selectedKey = rows[i].key;
    return i;
  }

  selectedFlow(): FlowRow | undefined {
    const rows = this.flowRows();
    const i = this.selectedIndex(rows);
    return i >= 0 ? rows[i] : undefined;
  }

  moveSelection(delta: number): void {
    if (this.view !== 'flows') {
      this.listScroll[this.view] = Math.max(0, this.listScroll[this.view] + delta);
      return;
    }
    const rows = this.flowRows();
    if (rows.length === 0) return;
    const cur = this.selectedIndex(rows);
    const next = Math.max(0, Math.min(rows.length - 1, cur + delta));
    this.selectedKey = rows[next].key;
    this.selectedIndexHint = next;
  }

  selectKey(key: string): void {
    this.selectedKey = key;
  }

  // ---------------------------------------------------------------- detail pane

  openDetail(): FlowRow | undefined {
    const f = this.selectedFlow();
    if (f) {
      this.detailKey = f.key;
      this.detailScroll = 0;
    }
    return f;
  }

  closeDetail(): void {
    this.detailKey = null;
  }

  /** The flow shown in the detail pane: live data, or the frozen copy while paused. */
  detailFlow(): FlowRow | undefined {
    if (!this.detailKey) return undefined;
    return this.flowRows().find((r) => r.key === this.detailKey) ?? this.flows.get(this.detailKey);
  }

  setExplanation(key: string, e: Explanation): void {
    this.explanations.set(key, e);
  }

  explanation(key: string): Explanation | undefined {
    return this.explanations.get(key);
  }

  addStitched(s: StitchedView): void {
    this.stitchedPaths.delete(s.fingerprint);
    this.stitchedPaths.set(s.fingerprint, s);
    if (this.stitchedPaths.size > STITCHED_KEPT) this.stitchedPaths.delete(this.stitchedPaths.keys().next().value as string);
  }

  /** The cross-node path of the packet with this fingerprint, when a relay stitched it. */
  stitchedFor(fingerprint: string): StitchedView | undefined {
    return this.stitchedPaths.get(fingerprint);
  }

  scrollDetail(delta: number): void {
    this.detailScroll = Math.max(0, this.detailScroll + delta);
  }
}

/** Interfaces in the order the packet was seen, each once (ingress and egress of one device collapse). */
export function observedPath(v: UiVerdict): string[] {
  const out: string[] = [];
  for (const h of v.observed) {
    if (out[out.length - 1] !== h.iface) out.push(h.iface);
  }
  return out;
}

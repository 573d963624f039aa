// The relay: many nodes' calitrace serve behind one calitrace API. Items from every node go through one
// bounded, time-ordered merge window into a hub of its own (so `last N` means the cluster's last N), each
// still carrying its node; node up/down/reconnect and the relay's own losses are items too; cross-node
// packets are stitched from both nodes' halves. Explain and GetRoutes are forwarded to the node asked for,
// and Status lists every node. The gRPC plumbing (TLS policy, health, reflection, Observe) is the node
// server's own (src/api/server.ts).
import * as grpc from '@grpc/grpc-js';
import { ObserveFeed, FeedItem } from '../api/feed';
import { HubItem } from '../hub/hub';
import type { EventTypeName, FilterSubject, VerdictName } from '../hub/filter';
import { ApiBackend, ApiServer, startApiServer, statusMessage, VERSION } from '../api/server';
import type { SecurityOptions } from '../api/security';
import type { ClientOptions } from '../api/client';
import { calitrace, pb } from '../api/proto';
import { flowSubject, packetSubject, verdictSubject } from '../api/convert';
import { MergeWindow } from './merge';
import { RawItem, RawItemKind, restamp } from './wire';
import { BackoffOptions, NodeChange, NodeStateName, Upstream } from './upstream';
import { NodeClock, Stitcher } from './stitch';

const TYPE_OF: Record<RawItemKind, EventTypeName> = {
  packet: 'PACKET', verdict: 'VERDICT', flow: 'FLOW', routeChange: 'ROUTE_CHANGE', lost: 'LOST', nodeEvent: 'NODE', stitched: 'STITCHED', none: 'LOST',
};

/** A node's item, forwarded as the bytes the node encoded; decoded only if a filter needs to look inside. */
class ForwardedItem extends FeedItem {
  constructor(readonly raw: RawItem, decoded?: calitrace.v1.ObserveResponse) {
    super(TYPE_OF[raw.kind], () => {
      const message = decoded ?? pb.ObserveResponse.decode(raw.bytes);
      return { message, subject: subjectOf(message, raw.node) };
    });
  }
}

function subjectOf(m: calitrace.v1.IObserveResponse, node: string): FilterSubject {
  if (m.packet) return packetSubject(m.packet, node);
  if (m.verdict) return verdictSubject(m.verdict, node);
  if (m.flow) return flowSubject(m.flow, node);
  if (m.stitched) return stitchedSubject(m.stitched);
  if (m.routeChange) return { type: 'ROUTE_CHANGE', node };
  if (m.nodeEvent) return { type: 'NODE', node };
  return { type: 'LOST', node };
}

/** A stitched path matches the filters either half would, plus its own end-to-end verdict. */
function stitchedSubject(s: calitrace.v1.IStitchedPath): FilterSubject {
  const halves = (s.halves ?? []).map((h) => verdictSubject(h.verdict ?? {}, h.node ?? ''));
  const first = halves[0] ?? { type: 'VERDICT' as const };
  return {
    ...first,
    type: 'STITCHED',
    interfaces: halves.flatMap((h) => h.interfaces ?? []),
    directions: halves.flatMap((h) => h.directions ?? []),
    verdict: pb.Verdict[s.verdict ?? 0] as VerdictName,
    node: s.srcNode ?? '',
  };
}

/** The relay's hub: forwarded items are restamped with the relay's seq instead of re-encoded. */
class RelayFeed extends ObserveFeed {
  override encode(item: HubItem<FeedItem>): Uint8Array {
    const v = item.value;
    if (v instanceof ForwardedItem) {
      if (!v.bytes) v.bytes = restamp(v.raw.bytes, item.seq, v.raw.seq);
      return v.bytes;
    }
    return super.encode(item);
  }

  /** An item the relay makes itself (node events, its own losses, stitched paths). */
  own(type: EventTypeName, message: calitrace.v1.IObserveResponse, subject: FilterSubject): FeedItem {
    return new FeedItem(type, () => ({ message, subject }));
  }
}

export interface RelayOptions {
  /** Name stamped on the relay's own items and shown by Status. */
  name: string;
  listen: string;
  security: SecurityOptions;
  hub: { maxSubscribers: number; historyCapacity: number; queueCapacity: number };
  /** TLS / token towards the nodes. */
  peerClient: Omit<ClientOptions, 'server'>;
  /** How long items wait for earlier items of other nodes (ms). */
  mergeWindowMs: number;
  /** Items one node may have waiting in the merge window before the relay drops (and counts) its newest. */
  nodeQueue: number;
  /** How long a cross-node half waits for its other half (ms). */
  stitchWindowMs: number;
  backoff: BackoffOptions;
  /** Items asked of each node's history when it first connects (fills the relay's history). */
  nodeHistory: number;
  log?: (msg: string) => void;
  warn?: (msg: string) => void;
}

const STATE: Record<NodeStateName, number> = {
  UP: pb.NodeState.NODE_UP, DOWN: pb.NodeState.NODE_DOWN, CONNECTING: pb.NodeState.NODE_CONNECTING, REMOVED: pb.NodeState.NODE_REMOVED,
};

type Pending = { kind: 'forward'; up: Upstream; item: ForwardedItem } | { kind: 'own'; item: FeedItem; timeMs: number };

const TICK_MS = 20;

export class Relay {
  readonly feed: RelayFeed;
  private readonly upstreams = new Map<string, Upstream>();
  private readonly merge: MergeWindow<Pending>;
  private readonly stitcher: Stitcher;
  private readonly lostRelay = new Map<string, { total: number; unreported: number }>();
  private readonly addressOwner = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private api: ApiServer | undefined;
  /** Merge-window waits (ms) of released items, for the benchmark; bounded. */
  readonly waits: number[] = [];
  recordWaits = false;

  constructor(private readonly opts: RelayOptions) {
    this.feed = new RelayFeed({ node: opts.name, hub: opts.hub });
    this.merge = new MergeWindow<Pending>({ windowMs: opts.mergeWindowMs, perNodeCapacity: opts.nodeQueue });
    this.stitcher = new Stitcher(
      {
        windowMs: opts.stitchWindowMs,
        capacity: 65536,
        clockOf: (node) => this.clockOf(node),
        nodeOfAddress: (ip) => this.addressOwner.get(ip),
      },
      (s) => this.ownItem('STITCHED', { node: s.srcNode, timeMs: Number(s.timeMs) || Date.now(), stitched: s }, stitchedSubject(s)),
    );
  }

  /** Starts serving; nodes can be added before or after. */
  async start(): Promise<ApiServer> {
    const backend: ApiBackend = {
      version: VERSION,
      mode: () => 'relay',
      interfaces: () => [],
      counters: () => this.counters(),
    };
    this.api = await startApiServer({
      listen: this.opts.listen,
      ...this.opts.security,
      feed: this.feed,
      backend,
      warn: this.opts.warn,
      overrides: {
        Explain: (call, cb) => this.forward(call.request.node, cb, (up) => up.unary.explain({ ...call.request, node: '' })),
        GetRoutes: (call, cb) => this.forward(call.request.node, cb, (up) => up.unary.getRoutes({ ...call.request, node: '' })),
        Status: (_call, cb) => {
          this.status(backend).then((s) => cb(null, s), (err: Error) => cb({ code: grpc.status.INTERNAL, details: err.message }));
        },
      },
    });
    this.timer = setInterval(() => this.tick(), TICK_MS);
    return this.api;
  }

  /** A node to follow (static --peer, or discovered). Adding an address twice is a no-op. */
  addNode(address: string, name?: string): void {
    if (this.upstreams.has(address)) return;
    const up = new Upstream({
      address,
      name,
      client: this.opts.peerClient,
      history: this.opts.nodeHistory,
      backoff: this.opts.backoff,
      onItems: (u, items) => this.onItems(u, items),
      onChange: (u, c) => this.onChange(u, c),
    });
    this.upstreams.set(address, up);
    up.start();
  }

  removeNode(address: string): void {
    const up = this.upstreams.get(address);
    if (!up) return;
    this.upstreams.delete(address);
    up.stop(true);
  }

  nodes(): Upstream[] {
    return [...this.upstreams.values()];
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const up of this.upstreams.values()) up.stop(false);
    this.upstreams.clear();
    this.tick(true);
    await this.api?.close();
  }

  private onItems(up: Upstream, items: RawItem[]): void {
    const now = Date.now();
    for (const raw of items) {
      let decoded: calitrace.v1.ObserveResponse | undefined;
      if (raw.kind === 'verdict') {
        decoded = pb.ObserveResponse.decode(raw.bytes);
        this.stitcher.offer(raw.node || up.name, decoded.verdict!, now);
      }
      const item = new ForwardedItem(raw, decoded);
      if (!this.merge.push(up.name, raw.timeMs, { kind: 'forward', up, item }, now)) {
        const l = this.lostRelay.get(up.name) ?? { total: 0, unreported: 0 };
        l.total++;
        l.unreported++;
        this.lostRelay.set(up.name, l);
      }
    }
  }

  private onChange(up: Upstream, c: NodeChange): void {
    const now = Date.now();
    if (c.missed > 0) {
      const lost = { source: pb.LostEvents.Source.NODE_DOWN, count: c.missed, total: c.missed, detail: `items ${up.name} published while the relay was disconnected, no longer in its history` };
      this.ownItem('LOST', { node: up.name, timeMs: now, lost }, { type: 'LOST', node: up.name });
      return;
    }
    if (c.state === 'UP') void this.learnAddresses(up);
    this.opts.log?.(`node ${up.name} (${up.address}) ${c.state.toLowerCase()}: ${c.reason}${c.retryInMs ? `; retrying in ${(c.retryInMs / 1000).toFixed(1)} s` : ''}`);
    const nodeEvent: calitrace.v1.INodeEvent = {
      node: up.name, address: up.address, state: STATE[c.state], reason: c.reason, attempt: c.attempt, retryInMs: c.retryInMs, downSinceMs: c.downSinceMs,
    };
    this.ownItem('NODE', { node: up.name, timeMs: now, nodeEvent }, { type: 'NODE', node: up.name });
  }

  /** The node's addresses, so a one-sided stitched path can name the node behind an outer IP. */
  private async learnAddresses(up: Upstream): Promise<void> {
    try {
      const routes = await up.unary.getRoutes({}, 5000);
      for (const a of routes.addresses) if (a.scope !== 'host' && a.address) this.addressOwner.set(a.address, up.name);
    } catch {
      /* best effort: the stitched story then says 'the node at <IP>' */
    }
  }

  private ownItem(type: EventTypeName, message: calitrace.v1.IObserveResponse, subject: FilterSubject): void {
    const timeMs = Number(message.timeMs) || Date.now();
    // The relay's own items go through the window too, so a node's 'down' comes after its last items;
    // they are never refused (the relay's share is not a node's).
    const item = this.feed.own(type, message, subject);
    if (!this.merge.push('', timeMs, { kind: 'own', item, timeMs }, Date.now())) this.feed.hub.publish(item, timeMs);
  }

  private tick(all = false): void {
    const now = Date.now();
    this.stitcher.sweep(now);
    for (const r of this.merge.release(now, all)) {
      const p = r.value;
      if (p.kind === 'forward') this.feed.hub.publish(p.item, p.item.raw.timeMs || now);
      else this.feed.hub.publish(p.item, p.timeMs);
      if (this.recordWaits && this.waits.length < 1_000_000) this.waits.push(r.waitedMs);
    }
    for (const [node, l] of this.lostRelay) {
      if (l.unreported === 0) continue;
      const lost = { source: pb.LostEvents.Source.RELAY, count: l.unreported, total: l.total, detail: `the relay's queue for ${node} was full (${this.opts.nodeQueue} items)` };
      l.unreported = 0;
      this.feed.hub.publish(this.feed.own('LOST', { node, timeMs: now, lost }, { type: 'LOST', node }), now);
    }
  }

  private clockOf(node: string): NodeClock | undefined {
    for (const up of this.upstreams.values()) if (up.name === node) return up.clock();
    return undefined;
  }

  private counters() {
    const other: Record<string, number> = {};
    let lost = 0;
    for (const l of this.lostRelay.values()) lost += l.total;
    const st = this.stitcher.counters();
    other.relay_nodes = this.upstreams.size;
    other.relay_nodes_up = this.nodes().filter((u) => u.state === 'UP').length;
    other.relay_lost_node_queues = lost;
    other.relay_merge_waiting = this.merge.size;
    other.stitched = st.stitched;
    other.stitched_one_sided = st.oneSided;
    other.stitch_evicted = st.evicted;
    other.stitch_waiting = st.waiting;
    const received = this.nodes().reduce((n, u) => n + u.received, 0);
    return { received, lostCollector: lost, other };
  }

  private async status(backend: ApiBackend): Promise<calitrace.v1.StatusResponse> {
    const base = statusMessage(this.feed, backend);
    const nodes = await Promise.all(
      this.nodes().map(async (up) => {
        if (up.state === 'UP') {
          try {
            up.status = await up.unary.status(2000);
          } catch {
            /* the last known status stays; the stream's own error marks the node down */
          }
        }
        const l = this.lostRelay.get(up.name);
        return {
          name: up.name, address: up.address, state: STATE[up.state], lastError: up.lastError, reconnects: up.reconnects,
          upSinceMs: up.upSinceMs, downSinceMs: up.downSinceMs, received: up.received, lostRelay: l?.total ?? 0,
          lostUpstream: up.lostUpstream, queued: this.merge.queued(up.name), status: up.state === 'UP' ? up.status : undefined,
        } satisfies calitrace.v1.INodeStatus;
      }),
    );
    nodes.sort((a, b) => a.name.localeCompare(b.name));
    return pb.StatusResponse.fromObject({ ...base, role: 'relay', bootId: '', wallMinusMonotonicNs: 0, nodes });
  }

  private forward<T>(node: string, cb: grpc.sendUnaryData<unknown>, call: (up: Upstream) => Promise<T>): void {
    const all = this.nodes();
    const names = all.map((u) => u.name).sort();
    let up: Upstream | undefined;
    if (!node) {
      if (all.length !== 1) {
        return cb({
          code: grpc.status.INVALID_ARGUMENT,
          details: `this is a relay for ${all.length} nodes (${names.join(', ') || 'none yet'}): say which node answers with the request's node field (e.g. grpcurl -d '{"node":"${names[0] ?? 'NODE'}", …}')`,
        });
      }
      up = all[0];
    } else {
      up = all.find((u) => u.name === node || u.address === node);
      if (!up) return cb({ code: grpc.status.NOT_FOUND, details: `no node '${node}' behind this relay; known: ${names.join(', ') || 'none yet'}` });
    }
    if (up.state !== 'UP') {
      return cb({ code: grpc.status.UNAVAILABLE, details: `node ${up.name} is ${up.state.toLowerCase()}${up.lastError ? ` (${up.lastError})` : ''}; the relay keeps reconnecting` });
    }
    const target = up;
    call(target).then(
      (res) => cb(null, res),
      (err: grpc.ServiceError) => cb({ code: err.code ?? grpc.status.UNAVAILABLE, details: `node ${target.name}: ${err.details ?? err.message}` }),
    );
  }
}

// The UI's data source: a gRPC client of the calitrace API. The same code runs on the node (unix socket
// or loopback) and remotely (TLS), so the terminal shows exactly what any other subscriber gets.
// Observe streams verdicts, route changes and lost notices; Status is polled once a second for the
// header; GetRoutes is fetched at start and again after each route change; Explain runs on demand.
import * as grpc from '@grpc/grpc-js';
import { calitrace } from '../api/generated/calitrace';
import { BATCH, CalitraceClient, ClientOptions, ObserveStream } from '../api/client';
import type { UiSink, UiSource } from './app';
import type { Explanation } from './model';
import type { FlowRow } from './store';
import { explanationFromApi, routesFromApi, statusFromApi, stitchedFromApi, flowCountsFromApi, verdictFromApi } from './convert';
import { parseEndpoint } from '../path/endpoint';

const v1 = calitrace.v1;

export interface GrpcSourceOptions extends ClientOptions {
  /** How many recent verdicts to ask for on connect. */
  last?: number;
  statusIntervalMs?: number;
}

export class GrpcSource implements UiSource {
  private readonly client: CalitraceClient;
  private sink: UiSink | null = null;
  private stream: ObserveStream | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private routesTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private lastSeenMs = 0;
  private failed = false;

  constructor(private readonly opts: GrpcSourceOptions) {
    this.client = new CalitraceClient(opts);
  }

  start(sink: UiSink): void {
    this.sink = sink;
    this.observe();
    this.pollStatus();
    this.statusTimer = setInterval(() => this.pollStatus(), this.opts.statusIntervalMs ?? 1000);
    this.fetchRoutes();
  }

  close(): void {
    this.closed = true;
    if (this.statusTimer) clearInterval(this.statusTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.routesTimer) clearTimeout(this.routesTimer);
    this.stream?.cancel();
    this.client.close();
  }

  explain(flow: FlowRow): Promise<Explanation> {
    return this.client.explain(explainRequestFor(flow), 5000).then(explanationFromApi, (err: grpc.ServiceError) => {
      throw new Error(err.details || err.message);
    });
  }

  private observe(): void {
    if (this.closed || !this.sink) return;
    const sink = this.sink;
    // While retrying, the last error stays on screen until a stream really connects.
    if (!this.failed) sink.connection('connecting');
    const req: calitrace.v1.IObserveRequest = {
      follow: true,
      // Resuming after a broken stream: only what came after the last item we saw.
      ...(this.lastSeenMs ? { sinceMs: this.lastSeenMs + 1 } : { last: this.opts.last ?? 500 }),
      // STITCHED: a relay's cross-node paths (a node's own server sends none).
      // FLOW: the collector's counts per flow (in case mode most packets are only counted there).
      allow: [{ eventType: [v1.EventType.VERDICT, v1.EventType.FLOW, v1.EventType.ROUTE_CHANGE, v1.EventType.STITCHED] }],
      // Under load many items per message (the iterator unpacks them); when quiet, one at a time as before.
      batch: BATCH,
    };
    const stream = this.client.observe(req);
    this.stream = stream;
    let connected = false;
    const connectedNow = () => {
      if (connected) return;
      connected = true;
      this.failed = false;
      sink.connection('connected');
    };
    stream.call.on('metadata', connectedNow);
    // The client's iterator owns flow control (it pauses the call while items wait): read through it.
    void (async () => {
      let why = 'the server ended the stream';
      try {
        for await (const m of stream) {
          connectedNow();
          this.handle(m, sink);
        }
      } catch (err) {
        const e = err as grpc.ServiceError;
        why = `${grpc.status[e.code] ?? e.code ?? 'error'}: ${e.details || e.message}`;
      }
      if (this.closed || this.stream !== stream) return;
      this.stream = null;
      this.failed = true;
      sink.connection('error', `${why} (retrying)`);
      this.retryTimer = setTimeout(() => this.observe(), 1000);
    })();
  }

  private handle(m: calitrace.v1.ObserveResponse, sink: UiSink): void {
    if (m.timeMs) this.lastSeenMs = Math.max(this.lastSeenMs, Number(m.timeMs));
    if (m.verdict) sink.verdict(verdictFromApi(m.verdict, m.node));
    else if (m.flow) sink.flowCounts?.(flowCountsFromApi(m.flow, m.node || undefined));
    else if (m.stitched) sink.stitched?.(stitchedFromApi(m.stitched));
    else if (m.routeChange) this.scheduleRoutes();
    else if (m.lost) {
      const n = Number(m.lost.count ?? 0);
      const src = m.lost.source;
      if (src === v1.LostEvents.Source.SUBSCRIBER) sink.lost('this-client', n);
      else {
        // The notice carries the running total: the header shows it now, even if Status is slow.
        const name = src === v1.LostEvents.Source.KERNEL ? 'kernel' : src === v1.LostEvents.Source.PIPE ? 'pipe' : 'collector';
        sink.lossTotal(name, Number(m.lost.total ?? 0));
        this.pollStatus();
      }
    }
  }

  private pollStatus(): void {
    this.client.status(2000).then(
      (s) => this.sink?.status(statusFromApi(s)),
      () => undefined, // the Observe stream reports the connection state
    );
  }

  private scheduleRoutes(): void {
    if (this.routesTimer || this.closed) return;
    this.routesTimer = setTimeout(() => {
      this.routesTimer = null;
      this.fetchRoutes();
    }, 100);
  }

  private fetchRoutes(): void {
    this.client.getRoutes({}, 5000).then(
      (r) => this.sink?.routes(routesFromApi(r)),
      () => undefined,
    );
  }
}

/**
 * The question the route model answered for the flow's latest packet: asked where the prediction was
 * made (the first ingress that is not an encapsulated outer packet: vxlan.calico for a packet from
 * another node, not the uplink) and for the destination it was routed to (after a DNAT, the backend).
 */
export function explainRequestFor(flow: FlowRow): calitrace.v1.IExplainRequest {
  const v = flow.last;
  const at = v.observed.find((h) => h.dir === 'ingress' && !h.tunnel) ?? v.observed.find((h) => h.dir === 'ingress');
  const rewritten = v.nat?.dst ? parseEndpoint(v.nat.dst.to) : undefined;
  // The latest packet's own addresses: it may be a reply, going the flow's other way.
  return {
    src: v.src,
    dst: rewritten?.addr ?? v.dst,
    iif: at?.iface ?? '',
    protocol: v.proto,
    sport: v.sport,
    dport: rewritten?.port ?? v.dport,
    // Against a relay: the node that judged the packet answers (a node's own server ignores it).
    node: v.node ?? '',
  };
}

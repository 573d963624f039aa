// The UI's data source: a gRPC client of the calitrace API. The same code runs on the node (unix socket
// or loopback) and remotely (TLS), so the terminal shows exactly what any other subscriber gets.
// Observe streams verdicts, route changes and lost notices; Status is polled once a second for the
// header; GetRoutes is fetched at start and again after each route change; Explain runs on demand.
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { calitrace } from '../api/generated/calitrace';
import type { UiSink, UiSource } from './app';
import type { Explanation } from './model';
import type { FlowRow } from './store';
import { explanationFromApi, routesFromApi, statusFromApi, verdictFromApi } from './convert';

const v1 = calitrace.v1;
const SERVICE = '/calitrace.v1.Calitrace/';

export interface GrpcSourceOptions {
  /** 'unix:///run/calitrace.sock', '127.0.0.1:4245', 'node1.example:4245' */
  server: string;
  /** TLS: CA to verify the server with (PEM file); absent = plaintext (loopback/unix only). */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Bearer token sent with every call. */
  token?: string;
  /** How many recent verdicts to ask for on connect. */
  last?: number;
  statusIntervalMs?: number;
}

function credentials(o: GrpcSourceOptions): grpc.ChannelCredentials {
  let creds = o.caFile
    ? grpc.credentials.createSsl(
        readFileSync(o.caFile),
        o.keyFile ? readFileSync(o.keyFile) : null,
        o.certFile ? readFileSync(o.certFile) : null,
      )
    : grpc.credentials.createInsecure();
  if (o.token) {
    if (!o.caFile) throw new Error('--token needs TLS (--ca FILE): a bearer token is never sent in plaintext');
    const token = o.token;
    creds = grpc.credentials.combineChannelCredentials(
      creds,
      grpc.credentials.createFromMetadataGenerator((_p, cb) => {
        const md = new grpc.Metadata();
        md.set('authorization', `Bearer ${token}`);
        cb(null, md);
      }),
    );
  }
  return creds;
}

type Codec<T> = { encode(m: T): { finish(): Uint8Array }; decode(b: Uint8Array): T };

export class GrpcSource implements UiSource {
  private readonly client: grpc.Client;
  private sink: UiSink | null = null;
  private stream: grpc.ClientReadableStream<calitrace.v1.ObserveResponse> | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private routesTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private lastSeenMs = 0;

  constructor(private readonly opts: GrpcSourceOptions) {
    this.client = new grpc.Client(opts.server, credentials(opts), {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    });
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
    const firstIngress = flow.last.observed.find((h) => h.dir === 'ingress');
    const req: calitrace.v1.IExplainRequest = {
      src: flow.src,
      dst: flow.dst,
      iif: firstIngress?.iface ?? '',
      protocol: flow.proto,
      sport: flow.sport,
      dport: flow.dport,
    };
    return this.unary('Explain', v1.ExplainRequest, v1.ExplainResponse, req).then(explanationFromApi);
  }

  private unary<Q, R>(method: string, reqType: Codec<Q>, resType: Codec<R>, req: Q): Promise<R> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        SERVICE + method,
        (m: Q) => Buffer.from(reqType.encode(m).finish()),
        (b: Buffer) => resType.decode(b),
        req,
        { deadline: Date.now() + 5000 },
        (err, res) => (err ? reject(new Error(err.details || err.message)) : resolve(res as R)),
      );
    });
  }

  private observe(): void {
    if (this.closed || !this.sink) return;
    const sink = this.sink;
    sink.connection('connecting');
    const req: calitrace.v1.IObserveRequest = {
      follow: true,
      // Resuming after a broken stream: only what came after the last item we saw.
      ...(this.lastSeenMs ? { sinceMs: this.lastSeenMs + 1 } : { last: this.opts.last ?? 500 }),
      allow: [{ eventType: [v1.EventType.VERDICT, v1.EventType.ROUTE_CHANGE] }],
    };
    const stream = this.client.makeServerStreamRequest(
      SERVICE + 'Observe',
      (m: calitrace.v1.IObserveRequest) => Buffer.from(v1.ObserveRequest.encode(m).finish()),
      (b: Buffer) => v1.ObserveResponse.decode(b),
      req,
    );
    this.stream = stream;
    let connected = false;
    stream.on('metadata', () => {
      connected = true;
      sink.connection('connected');
    });
    stream.on('data', (m: calitrace.v1.ObserveResponse) => {
      if (!connected) {
        connected = true;
        sink.connection('connected');
      }
      if (m.timeMs) this.lastSeenMs = Math.max(this.lastSeenMs, Number(m.timeMs));
      if (m.verdict) sink.verdict(verdictFromApi(m.verdict, m.node));
      else if (m.routeChange) this.scheduleRoutes();
      else if (m.lost) {
        const n = Number(m.lost.count ?? 0);
        if (m.lost.source === v1.LostEvents.Source.SUBSCRIBER) sink.lost('this-client', n);
        // Other sources are in Status's counters; poll now so the header shows them at once.
        else this.pollStatus();
      }
    });
    const retry = (message: string) => {
      if (this.closed || this.stream !== stream) return;
      this.stream = null;
      sink.connection('error', message);
      this.retryTimer = setTimeout(() => this.observe(), 1000);
    };
    stream.on('error', (err: grpc.ServiceError) => retry(`${grpc.status[err.code] ?? err.code}: ${err.details || err.message}`));
    stream.on('end', () => retry('the server ended the stream'));
  }

  private pollStatus(): void {
    this.unary('Status', v1.StatusRequest, v1.StatusResponse, {}).then(
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
    this.unary('GetRoutes', v1.GetRoutesRequest, v1.GetRoutesResponse, {}).then(
      (r) => this.sink?.routes(routesFromApi(r)),
      () => undefined,
    );
  }
}

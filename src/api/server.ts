// The gRPC adapter: binds an ObserveFeed (hub) and the collector's status/routing to calitrace.v1,
// plus grpc.health.v1 and server reflection. Thin: policy lives in hub/, security.ts and the backend.
import * as fs from 'node:fs';
import { isIP } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Prediction, Query, RoutingState } from '../routing/types';
import { QueryError } from '../routing/predict';
import { acceptedTypes, compileFilterSet, EventTypeName, FilterError, FilterSet, formatFilterSet } from '../hub/filter';
import { HubFullError, Subscription } from '../hub/hub';
import { ObserveFeed, FeedItem } from './feed';
import { calitrace, calitraceServiceDefinition, CALITRACE_SERVICE, HEALTH_SERVICE } from './proto';
import { explainMessage, filterFromWire, routesMessage } from './convert';
import { addHealthToServer, HealthStatus } from './health';
import { addReflectionToServer } from './reflection';
import { authInterceptor, checkListenPolicy, parseListenAddress, SecurityOptions, serverCredentials } from './security';

export interface AttachedInterfaceInfo {
  ifindex: number;
  name: string;
  attached: boolean;
  hooks?: string[];
}

export interface LossCountersInfo {
  received?: number;
  lostKernel?: number;
  lostPipe?: number;
  loaderRestarts?: number;
  lostCollector?: number;
  other?: Record<string, number>;
}

/** What the server asks of the rest of calitrace (the collector, the route model). */
export interface ApiBackend {
  version: string;
  netns?: string;
  mode(): string;
  interfaces(): AttachedInterfaceInfo[];
  counters(): LossCountersInfo;
  /** The live route model, when the server has one. */
  routes?(): { state: RoutingState; generation: number } | undefined;
  /** predict() + explain() over the live model. */
  explain?(q: Query): { prediction: Prediction; generation: number };
  /** When the route model last changed (ms since the epoch). */
  routeChangedMs?(): number;
  /** Where pod names come from (the description the server logged), if it names pods. */
  podNames?: string;
}

const startedMs = Date.now();

function fail(call: { emit(e: 'error', err: Partial<grpc.StatusObject>): unknown }, code: grpc.status, details: string): void {
  call.emit('error', { code, details });
}

/** Unary handlers another front end (the relay) answers itself instead of from a local backend. */
export type UnaryOverrides = Partial<Record<'Explain' | 'GetRoutes' | 'Status', grpc.handleUnaryCall<any, unknown>>>;

/** Registers calitrace.v1.Calitrace on a server. */
export function addCalitraceToServer(server: grpc.Server, feed: ObserveFeed, backend: ApiBackend, overrides: UnaryOverrides = {}): void {
  server.addService(calitraceServiceDefinition, {
    Observe: (call: grpc.ServerWritableStream<calitrace.v1.ObserveRequest, Uint8Array>) => {
      // A bug in one stream ends that stream with INTERNAL, never the server.
      observe(feed, call).catch((err: Error) => fail(call, grpc.status.INTERNAL, `observe failed: ${err.message}`));
    },
    Explain: (call: grpc.ServerUnaryCall<calitrace.v1.ExplainRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const r = call.request;
      if (!backend.explain) return cb({ code: grpc.status.UNIMPLEMENTED, details: 'this server has no route model to explain with' });
      if (isIP(r.dst) === 0) return cb({ code: grpc.status.INVALID_ARGUMENT, details: `dst '${r.dst}' is not an IP address; Explain needs dst (and optionally src, iif)` });
      if (r.src && isIP(r.src) === 0) return cb({ code: grpc.status.INVALID_ARGUMENT, details: `src '${r.src}' is not an IP address` });
      const q: Query = { dst: r.dst };
      if (r.src) q.src = r.src;
      if (r.iif) q.iif = r.iif;
      if (r.oif) q.oif = r.oif;
      if (r.mark) q.mark = r.mark;
      if (r.tos) q.tos = r.tos;
      if (r.protocol) q.ipproto = r.protocol;
      if (r.sport) q.sport = r.sport;
      if (r.dport) q.dport = r.dport;
      try {
        const { prediction, generation } = backend.explain(q);
        cb(null, calitrace.v1.ExplainResponse.fromObject(explainMessage(prediction, generation)));
      } catch (err) {
        if (err instanceof QueryError) return cb({ code: grpc.status.INVALID_ARGUMENT, details: err.message });
        cb({ code: grpc.status.INTERNAL, details: `explain failed: ${(err as Error).message}` });
      }
    },
    GetRoutes: (call: grpc.ServerUnaryCall<calitrace.v1.GetRoutesRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const model = backend.routes?.();
      if (!model) return cb({ code: grpc.status.UNAVAILABLE, details: 'the route model is not loaded (yet); retry in a moment' });
      const { family, table } = call.request;
      if (family !== 0 && family !== 4 && family !== 6) return cb({ code: grpc.status.INVALID_ARGUMENT, details: `family must be 0 (both), 4 or 6, got ${family}` });
      cb(null, calitrace.v1.GetRoutesResponse.fromObject(routesMessage(model.state, model.generation, family, table)));
    },
    Status: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      cb(null, statusMessage(feed, backend));
    },
    ...overrides,
  });
}

/** The kernel's boot id: nodes (namespaces) with the same one share one monotonic clock. */
function readBootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}
const bootId = readBootId();
// performance.timeOrigin + now() is the wall clock at sub-ms precision; hrtime is CLOCK_MONOTONIC, the
// clock of the BPF timestamps (bpf_ktime_get_ns). Their difference lets a relay compare nodes' hop times.
function wallMinusMonotonicNs(): number {
  const wallNs = (performance.timeOrigin + performance.now()) * 1e6;
  return Math.round(wallNs - Number(process.hrtime.bigint()));
}

export function statusMessage(feed: ObserveFeed, backend: ApiBackend): calitrace.v1.IStatusResponse {
  const hub = feed.hub.stats();
  const c = backend.counters();
  return {
    version: backend.version,
    uptimeSeconds: (Date.now() - startedMs) / 1000,
    startedMs,
    mode: backend.mode(),
    node: feed.node,
    netns: backend.netns ?? '',
    interfaces: backend.interfaces().map((i) => ({ ifindex: i.ifindex, name: i.name, attached: i.attached, hooks: i.hooks ?? [] })),
    counters: {
      received: c.received ?? 0,
      lostKernel: c.lostKernel ?? 0,
      lostPipe: c.lostPipe ?? 0,
      loaderRestarts: c.loaderRestarts ?? 0,
      lostCollector: c.lostCollector ?? 0,
      lostSubscribers: hub.lostBySubscribers,
      published: hub.published,
      other: c.other ?? {},
    },
    subscribers: feed.hub.subscriberStats().map((s) => ({
      id: s.id, peer: s.peer, sinceMs: s.sinceMs, sent: s.sent, lost: s.lost, queued: s.queued, queueCapacity: s.queueCapacity, filter: s.description, offered: s.offered,
    })),
    maxSubscribers: hub.maxSubscribers,
    historySize: hub.historySize,
    historyCapacity: hub.historyCapacity,
    routeGeneration: backend.routes?.()?.generation ?? 0,
    routeChangedMs: backend.routeChangedMs?.() ?? 0,
    podNames: backend.podNames ?? '',
    bootId,
    wallMinusMonotonicNs: wallMinusMonotonicNs(),
    role: 'node',
  };
}

const MAX_BATCH = 1024;
// ObserveResponse.batch is field 20, length-delimited: tag (20 << 3 | 2) as a varint.
const BATCH_TAG = Buffer.from([0xa2, 0x01]);

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** Already-encoded ObserveResponses → one ObserveResponse carrying them in `batch`, without re-encoding. */
export function encodeBatch(parts: Uint8Array[]): Buffer {
  const chunks: Uint8Array[] = [];
  for (const p of parts) chunks.push(BATCH_TAG, varint(p.length), p);
  return Buffer.concat(chunks);
}

async function observe(feed: ObserveFeed, call: grpc.ServerWritableStream<calitrace.v1.ObserveRequest, Uint8Array>): Promise<void> {
  const req = call.request;
  let filters: FilterSet;
  let match: (s: FeedItem['subject']) => boolean;
  let types: Set<EventTypeName> | undefined;
  try {
    filters = { allow: req.allow.map(filterFromWire), deny: req.deny.map(filterFromWire) };
    match = compileFilterSet(filters);
    types = acceptedTypes(filters);
  } catch (err) {
    if (err instanceof FilterError) return fail(call, grpc.status.INVALID_ARGUMENT, `invalid filter: ${err.message}`);
    throw err;
  }
  let sub: Subscription<FeedItem>;
  try {
    sub = feed.hub.subscribe({
      // Upstream loss notices go to everyone: a filter must never hide that data is missing.
      match: (v) => v.type === 'LOST' || v.type === 'NODE' || ((!types || types.has(v.type)) && match(v.subject)),
      follow: req.follow,
      history: { last: req.last, sinceMs: req.sinceMs, all: req.allHistory },
      untilMs: req.untilMs > 0 ? req.untilMs : undefined,
      peer: call.getPeer(),
      description: formatFilterSet(filters),
      // Lets the feed skip items of a type no live subscriber asked for (hook records: ObserveFeed.packet).
      topics: types,
    });
  } catch (err) {
    if (err instanceof HubFullError) return fail(call, grpc.status.RESOURCE_EXHAUSTED, err.message);
    throw err;
  }
  let cancelled = false;
  let wakeDrain: (() => void) | undefined;
  const stop = () => {
    cancelled = true;
    sub.close(); // frees the queue now, and wakes the pump
    wakeDrain?.();
  };
  call.on('cancelled', stop);
  call.on('error', stop);
  call.on('drain', () => wakeDrain?.());
  const batch = Math.max(1, Math.min(req.batch || 1, MAX_BATCH));
  const encode = (d: NonNullable<ReturnType<typeof sub.pull>>) => (d.kind === 'item' ? feed.encode(d.item) : feed.subscriberLost(d.count, d.total));
  try {
    while (!cancelled) {
      const d = sub.pull();
      if (!d) {
        if (sub.done) break;
        await sub.wait();
        continue;
      }
      let bytes = encode(d);
      if (batch > 1) {
        const parts = [bytes];
        for (let next = parts.length < batch ? sub.pull() : undefined; next; next = parts.length < batch ? sub.pull() : undefined) parts.push(encode(next));
        bytes = encodeBatch(parts);
      }
      // write() false: grpc-js has its 16 messages queued for this client; wait for them instead of
      // piling up there, so this subscriber's backlog stays in its own bounded hub queue.
      if (!call.write(bytes)) await new Promise<void>((resolve) => (wakeDrain = resolve));
      wakeDrain = undefined;
    }
    if (!cancelled) call.end();
  } finally {
    sub.close();
    call.off('cancelled', stop);
    call.off('error', stop);
    call.removeAllListeners('drain');
  }
}

export interface ApiServerOptions extends SecurityOptions {
  /** '127.0.0.1:4245', 'localhost:0', 'unix:/path'. */
  listen: string;
  feed: ObserveFeed;
  backend: ApiBackend;
  /** Where the loud --insecure warning goes (stderr by default). */
  warn?: (msg: string) => void;
  /** Explain/GetRoutes/Status answered elsewhere (the relay forwards them to nodes). */
  overrides?: UnaryOverrides;
}

export interface ApiServer {
  server: grpc.Server;
  health: HealthStatus;
  /** The address clients dial: 'host:port' with the real port, or 'unix:/path'. */
  address: string;
  close(): Promise<void>;
}

/** Binds the API on the listen address with the security options; resolves once it accepts calls. */
export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const addr = parseListenAddress(opts.listen);
  checkListenPolicy(addr, opts, opts.warn ?? ((m) => process.stderr.write(m + '\n')));
  const interceptor = authInterceptor(opts, new Set([`/${HEALTH_SERVICE}/Check`, `/${HEALTH_SERVICE}/Watch`, `/${HEALTH_SERVICE}/List`]));
  const server = new grpc.Server({ interceptors: interceptor ? [interceptor] : [] });
  const health = new HealthStatus();
  addCalitraceToServer(server, opts.feed, opts.backend, opts.overrides);
  addHealthToServer(server, health);
  addReflectionToServer(server, [CALITRACE_SERVICE, HEALTH_SERVICE]);
  if (addr.unixPath && fs.existsSync(addr.unixPath)) {
    // A socket left by a killed server; a live one would still answer, so only remove sockets.
    if (fs.statSync(addr.unixPath).isSocket()) fs.unlinkSync(addr.unixPath);
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(addr.bind, serverCredentials(opts), (err, p) => (err ? reject(new Error(`cannot listen on ${opts.listen}: ${err.message}${inUseHint(err.message)}`)) : resolve(p))),
  );
  if (addr.unixPath) fs.chmodSync(addr.unixPath, 0o600);
  health.set('', 'SERVING');
  health.set(CALITRACE_SERVICE, 'SERVING');
  const address = addr.unixPath ? `unix:${addr.unixPath}` : `${addr.host === '0.0.0.0' || addr.host === '::' ? 'localhost' : addr.bind.replace(/:\d+$/, '')}:${port}`;
  return {
    server,
    health,
    address,
    close: async () => {
      health.shutdown();
      opts.feed.hub.closeAll();
      // Streams stuck behind a stalled client never finish on their own: give the rest a moment.
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      if (addr.unixPath && fs.existsSync(addr.unixPath)) fs.unlinkSync(addr.unixPath);
    },
  };
}

/** The usual cause of a busy port is another calitrace: say how to find it and how to step aside. */
function inUseHint(message: string): string {
  return /EADDRINUSE/.test(message)
    ? ' — another process listens there, often a calitrace serve or trace already running (calitrace status --server ADDR asks it; ss -ltnp names it); stop it or give --listen with another address'
    : '';
}

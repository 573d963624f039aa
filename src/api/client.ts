// Client helpers for `calitrace observe`, the terminal UI and the tests: connect with TLS/token options,
// Observe as an async iterable, and the unary calls as promises.
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { calitrace, calitraceServiceDefinition, healthPb, healthServiceDefinition, PLAIN } from './proto';
import { filterToWire } from './convert';
import type { grpc as generated } from './generated/calitrace';
import type { FilterSet } from '../hub/filter';

export interface ClientOptions {
  /** 'host:port' or 'unix:/path'. */
  server: string;
  /** Use TLS. Implied by any of the files below. */
  tls?: boolean;
  /** CA that signed the server certificate (system roots when absent). */
  caFile?: string;
  /** Client certificate + key, for servers that require mutual TLS. */
  certFile?: string;
  keyFile?: string;
  /** Name to verify in the server certificate when it differs from the dialled host. */
  serverName?: string;
  /** Bearer token, sent as `authorization: Bearer <token>`. */
  token?: string;
  /** HTTP/2 receive window in bytes, per stream and for the connection (default CLIENT_WINDOW). */
  flowControlWindow?: number;
}

/**
 * The receive window a client announces. A batch of BATCH verdicts is ≈ 100 KB: with grpc-js's 64 KiB
 * default every batch waited for the client's acknowledgement, a round trip that costs event-loop turns
 * on both sides of a busy node (docs/benchmarks.md, issue 10: 2–3× fewer verdicts/s, seconds more
 * latency). 4 MiB holds dozens of batches; a client that stops reading still stops the server (it then
 * buffers at most this much).
 */
export const CLIENT_WINDOW = 4 * 1024 * 1024;

export type ObserveMessage = calitrace.v1.ObserveResponse;

/** A good batch size for clients that iterate: many items per gRPC message, still small messages. */
export const BATCH = 256;

const ServiceClient = grpc.makeGenericClientConstructor(calitraceServiceDefinition, 'Calitrace');
const HealthClient = grpc.makeGenericClientConstructor(healthServiceDefinition, 'Health');

function read(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read ${what} '${file}': ${(err as Error).message}`);
  }
}

export function channelCredentials(o: ClientOptions): grpc.ChannelCredentials {
  const tls = o.tls || o.caFile || o.certFile || o.keyFile;
  if (!tls) return grpc.credentials.createInsecure();
  if (!!o.certFile !== !!o.keyFile) throw new Error('a client certificate needs both --tls-client-cert and --tls-client-key');
  return grpc.credentials.createSsl(
    o.caFile ? read(o.caFile, 'CA file') : null,
    o.keyFile ? read(o.keyFile, 'client key') : null,
    o.certFile ? read(o.certFile, 'client certificate') : null,
  );
}

/** An Observe stream: iterate it for messages; cancel() ends it (the server frees its subscription). */
export interface ObserveStream extends AsyncIterable<ObserveMessage> {
  cancel(): void;
  /** The underlying call, for pause()/resume() (backpressure) and events. */
  readonly call: grpc.ClientReadableStream<ObserveMessage>;
}

export class CalitraceClient {
  private readonly client: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  private readonly health: grpc.Client & Record<string, (...args: unknown[]) => unknown>;

  constructor(private readonly options: ClientOptions) {
    const creds = channelCredentials(options);
    const channelOptions: grpc.ChannelOptions = { 'grpc.max_receive_message_length': 64 * 1024 * 1024 };
    if (options.serverName) channelOptions['grpc.ssl_target_name_override'] = options.serverName;
    channelOptions['grpc-node.flow_control_window'] = options.flowControlWindow ?? CLIENT_WINDOW;
    this.client = new ServiceClient(options.server, creds, channelOptions) as never;
    this.health = new HealthClient(options.server, creds, channelOptions) as never;
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.options.token) md.set('authorization', `Bearer ${this.options.token}`);
    return md;
  }

  /**
   * Observe. Iterating yields items one by one whatever the batching; set `batch` (e.g. BATCH) for
   * throughput. Raw `call` 'data' listeners see ObserveResponses as sent: with batch > 1, items are in
   * `m.batch`.
   */
  observe(request: calitrace.v1.IObserveRequest): ObserveStream {
    const req = calitrace.v1.ObserveRequest.fromObject(request);
    const call = this.client.Observe(req, this.metadata()) as grpc.ClientReadableStream<ObserveMessage>;
    const iterator = iterate(call);
    return {
      call,
      cancel: () => call.cancel(),
      [Symbol.asyncIterator]: () => iterator,
    };
  }

  explain(request: calitrace.v1.IExplainRequest, deadlineMs = 10000): Promise<calitrace.v1.ExplainResponse> {
    return this.unary('Explain', calitrace.v1.ExplainRequest.fromObject(request), deadlineMs);
  }

  getRoutes(request: calitrace.v1.IGetRoutesRequest = {}, deadlineMs = 10000): Promise<calitrace.v1.GetRoutesResponse> {
    return this.unary('GetRoutes', calitrace.v1.GetRoutesRequest.fromObject(request), deadlineMs);
  }

  status(deadlineMs = 10000): Promise<calitrace.v1.StatusResponse> {
    return this.unary('Status', calitrace.v1.StatusRequest.create(), deadlineMs);
  }

  /** grpc.health.v1 Check: 'SERVING', 'NOT_SERVING', … */
  async healthCheck(service = '', deadlineMs = 10000): Promise<string> {
    const res = await new Promise<generated.health.v1.HealthCheckResponse>((resolve, reject) =>
      this.health.Check({ service }, this.metadata(), { deadline: Date.now() + deadlineMs }, (err: Error | null, r: generated.health.v1.HealthCheckResponse) =>
        err ? reject(err) : resolve(r),
      ),
    );
    return healthPb.HealthCheckResponse.ServingStatus[res.status];
  }

  /** Resolves when the channel is connected, rejects after the deadline with the reason. */
  waitForReady(deadlineMs = 5000): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.waitForReady(Date.now() + deadlineMs, (err?: Error) => (err ? reject(new Error(`cannot reach ${this.options.server}: ${err.message}`)) : resolve())),
    );
  }

  close(): void {
    this.client.close();
    this.health.close();
  }

  private unary<T>(method: string, request: unknown, deadlineMs: number): Promise<T> {
    return new Promise((resolve, reject) =>
      this.client[method](request, this.metadata(), { deadline: Date.now() + deadlineMs }, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))),
    );
  }
}


/**
 * Records errors at once (a stream cancelled before anyone iterates must not throw unhandled); reads data
 * only once iteration starts, so a caller that prefers raw `call` 'data' listeners is not paused by us.
 */
function iterate(call: grpc.ClientReadableStream<ObserveMessage>): AsyncGenerator<ObserveMessage> {
  const queue: ObserveMessage[] = [];
  let error: Error | undefined;
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  call.on('error', (err: Error) => {
    error = err;
    notify();
  });
  call.on('end', () => {
    ended = true;
    notify();
  });
  return (async function* () {
    call.on('data', (m: ObserveMessage) => {
      if (m.batch.length > 0) queue.push(...(m.batch as ObserveMessage[]));
      else queue.push(m);
      // Let grpc-js apply HTTP/2 flow control while the consumer is behind.
      if (queue.length > 1000) call.pause();
      notify();
    });
    try {
      for (;;) {
        if (queue.length > 0) {
          const m = queue.shift()!;
          if (queue.length < 100 && call.isPaused()) call.resume();
          yield m;
          continue;
        }
        if (error) {
          if ((error as grpc.ServiceError).code === grpc.status.CANCELLED) return;
          throw error;
        }
        if (ended) return;
        await new Promise<void>((r) => (wake = r));
      }
    } finally {
      if (!ended && !error) call.cancel();
    }
  })();
}

/** A decoded message as plain JSON-able data: enum names, numbers, defaults filled, oneof named. */
export function toPlain(m: ObserveMessage | calitrace.v1.StatusResponse | calitrace.v1.ExplainResponse | calitrace.v1.GetRoutesResponse): Record<string, unknown> {
  return (m.constructor as unknown as { toObject(m: unknown, o: unknown): Record<string, unknown> }).toObject(m, PLAIN);
}

/** A text-language filter set as ObserveRequest fields. */
export function filterSetToRequest(set: FilterSet): Pick<calitrace.v1.IObserveRequest, 'allow' | 'deny'> {
  return { allow: set.allow.map(filterToWire), deny: set.deny.map(filterToWire) };
}

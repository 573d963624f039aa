// One node's calitrace serve, as the relay sees it: a Status call to learn its name and clock, then a
// follow Observe stream read as raw bytes (the relay restamps and forwards them without re-encoding). A
// broken stream marks the node down and retries with exponential backoff; a stream back to the same
// serve process resumes from the last item seen, so a network blip loses nothing that is still in the
// node's history, and what is not is counted from the node's own sequence numbers.
import * as grpc from '@grpc/grpc-js';
import { CalitraceClient, ClientOptions, channelCredentials } from '../api/client';
import { calitrace, pb } from '../api/proto';
import { RawItem, splitResponse } from './wire';

export type NodeStateName = 'CONNECTING' | 'UP' | 'DOWN' | 'REMOVED';

export interface NodeChange {
  state: NodeStateName;
  reason: string;
  attempt: number;
  retryInMs: number;
  downSinceMs: number;
  /** Items the node published while the relay was away and that its history no longer had. */
  missed: number;
}

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export interface UpstreamOptions {
  /** 'host:port' or 'unix:/path'. */
  address: string;
  /** The name to show until the node's Status says its own (e.g. the Kubernetes node name). */
  name?: string;
  /** TLS / token for the node's API (the address comes from `address`). */
  client: Omit<ClientOptions, 'server'>;
  /** History to ask for on the first connection (the relay's own history fills from it). */
  history: number;
  backoff: BackoffOptions;
  onItems(up: Upstream, items: RawItem[]): void;
  onChange(up: Upstream, change: NodeChange): void;
}

const OBSERVE_PATH = '/calitrace.v1.Calitrace/Observe';
const BATCH = 256;

export class Upstream {
  name: string;
  readonly address: string;
  state: NodeStateName = 'CONNECTING';
  lastError = '';
  reconnects = 0;
  upSinceMs = 0;
  downSinceMs = 0;
  received = 0;
  lostUpstream = 0;
  /** The node's last Status (undefined until the first connection). */
  status: calitrace.v1.StatusResponse | undefined;
  readonly unary: CalitraceClient;

  private readonly raw: grpc.Client;
  private call: grpc.ClientReadableStream<Buffer> | undefined;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastSeq = 0;
  private lastTimeMs = 0;
  private startedMs = 0;
  private everUp = false;

  constructor(private readonly opts: UpstreamOptions) {
    this.address = opts.address;
    this.name = opts.name ?? opts.address;
    const clientOptions: ClientOptions = { ...opts.client, server: opts.address };
    this.unary = new CalitraceClient(clientOptions);
    const channelOptions: grpc.ChannelOptions = {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      // A node that stops answering (frozen, partitioned) must show as down, not as a silent stream.
      'grpc.keepalive_time_ms': 10000,
      'grpc.keepalive_timeout_ms': 5000,
      'grpc.keepalive_permit_without_calls': 1,
    };
    if (opts.client.serverName) channelOptions['grpc.ssl_target_name_override'] = opts.client.serverName;
    this.raw = new grpc.Client(opts.address, channelCredentials(clientOptions), channelOptions);
  }

  start(): void {
    void this.connect();
  }

  /** The node left discovery (or the relay stops): no more reconnects. */
  stop(removed = true): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.call?.cancel();
    this.unary.close();
    this.raw.close();
    if (removed) this.change('REMOVED', 'no longer discovered');
  }

  /** The wall clock minus the monotonic clock of the node (ns), and its kernel's boot id. */
  clock(): { bootId: string; offsetNs: number } | undefined {
    if (!this.status) return undefined;
    return { bootId: this.status.bootId, offsetNs: Number(this.status.wallMinusMonotonicNs) };
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.opts.client.token) md.set('authorization', `Bearer ${this.opts.client.token}`);
    return md;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let status: calitrace.v1.StatusResponse;
    try {
      status = await this.unary.status(5000);
    } catch (err) {
      return this.down(describe(err));
    }
    if (this.stopped) return;
    const sameProcess = this.everUp && Number(status.startedMs) === this.startedMs;
    const restarted = this.everUp && !sameProcess;
    this.status = status;
    if (status.node) this.name = status.node;
    this.startedMs = Number(status.startedMs);
    if (!sameProcess) this.lastSeq = 0;
    const request: calitrace.v1.IObserveRequest = { follow: true, batch: BATCH };
    // Back to the same process: resume where the stream broke. First time: the relay's history fills
    // from the node's. A restarted node: its history is all new to us.
    if (sameProcess) request.sinceMs = this.lastTimeMs;
    else if (this.opts.history > 0) request.last = this.opts.history;
    const call = this.raw.makeServerStreamRequest<calitrace.v1.IObserveRequest, Buffer>(
      OBSERVE_PATH,
      (r) => Buffer.from(pb.ObserveRequest.encode(r).finish()),
      (b) => b,
      request,
      this.metadata(),
      {},
    );
    this.call = call;
    let resumeGap = sameProcess ? -1 : 0;
    call.on('data', (bytes: Buffer) => {
      if (this.call !== call) return;
      let items = splitResponse(bytes);
      if (this.lastSeq > 0) items = items.filter((i) => i.seq === 0 || i.seq > this.lastSeq);
      if (items.length === 0) return;
      if (resumeGap < 0) {
        // The first item after a resume: a jump in the node's seq is what its history no longer had.
        const first = items.find((i) => i.seq > 0);
        if (first) {
          resumeGap = Math.max(0, first.seq - this.lastSeq - 1);
          if (resumeGap > 0) this.opts.onChange(this, { ...this.snapshot('UP', 'resumed'), missed: resumeGap });
        }
      }
      for (const i of items) {
        if (i.seq > this.lastSeq) this.lastSeq = i.seq;
        if (i.timeMs > this.lastTimeMs) this.lastTimeMs = i.timeMs;
        if (i.kind === 'lost') this.lostUpstream++;
      }
      this.received += items.length;
      this.opts.onItems(this, items);
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (this.call === call && !this.stopped) this.down(describe(err));
    });
    call.on('end', () => {
      if (this.call === call && !this.stopped) this.down('the node ended the stream (shutting down?)');
    });
    const wasDown = this.state === 'DOWN';
    const downFor = this.downSinceMs ? Date.now() - this.downSinceMs : 0;
    this.state = 'UP';
    this.upSinceMs = Date.now();
    this.lastError = '';
    const attempts = this.attempt;
    this.attempt = 0;
    if (wasDown) this.reconnects++;
    this.everUp = true;
    const reason = !wasDown
      ? `connected (${status.mode} mode, calitrace ${status.version})`
      : `reconnected after ${(downFor / 1000).toFixed(1)} s (${attempts} attempt${attempts === 1 ? '' : 's'})` +
        (restarted ? '; the node\'s calitrace restarted, so what it saw while disconnected was not traced' : sameProcess ? '; resuming from the last item seen' : '');
    this.opts.onChange(this, this.snapshot('UP', reason));
    if (wasDown) this.downSinceMs = 0;
  }

  private down(reason: string): void {
    if (this.stopped) return;
    this.call?.cancel();
    this.call = undefined;
    const first = this.state !== 'DOWN';
    this.state = 'DOWN';
    this.lastError = reason;
    if (first) this.downSinceMs = Date.now();
    const base = Math.min(this.opts.backoff.maxMs, this.opts.backoff.initialMs * 2 ** this.attempt);
    // ±20 % jitter: a relay restart must not make every node's reconnects arrive in lockstep.
    const retryInMs = Math.round(base * (0.8 + 0.4 * Math.random()));
    this.attempt++;
    if (first) this.opts.onChange(this, this.snapshot('DOWN', reason, retryInMs));
    this.timer = setTimeout(() => void this.connect(), retryInMs);
  }

  private change(state: NodeStateName, reason: string): void {
    this.state = state;
    this.opts.onChange(this, this.snapshot(state, reason));
  }

  private snapshot(state: NodeStateName, reason: string, retryInMs = 0): NodeChange {
    return { state, reason, attempt: this.attempt, retryInMs, downSinceMs: this.downSinceMs, missed: 0 };
  }
}

function describe(err: unknown): string {
  const e = err as grpc.ServiceError;
  if (e && typeof e.code === 'number') return `${grpc.status[e.code] ?? e.code}: ${e.details || e.message}`;
  return (err as Error).message ?? String(err);
}

// The capture: the loader's frames as a stream of TraceEvents, with loss counters that never hide.
//
//   const cap = startCapture({ netns: 'ct-node1', mode: 'packet', filter: parseFilter({ src: '10.233.101.222' }) });
//   cap.on('event', (ev: TraceEvent) => …);      // every record (packet, flow, drop)
//   cap.on('link', (l: LinkEvent) => …);         // an interface attached / detached / failed
//   cap.on('gap', (g: GapInfo) => …);            // the loader died and was restarted: what was missed
//   cap.on('loader-error', (e: LoaderError) => …); // a non-fatal ERROR frame (e.g. one attach failed)
//   cap.on('error', (err: Error) => …);          // unrecoverable: capture is over (stop() still safe)
//   await cap.ready();                           // HELLO seen and the initial interfaces attached
//   await cap.setFilter(spec); await cap.setMode('flow'); // resolve when the kernel has it (ACK)
//   cap.counters();                              // CaptureCounters: received, lostKernel, lostPipe, restarts
//   await cap.stop();                            // clean detach (stdin EOF), waits for the loader to exit
//
// An EventEmitter rather than an async iterator: the collector fans one stream out to several consumers
// and must never apply back-pressure to the loader (a stalled pipe becomes kernel-side loss).
// With `reuseEvents: true` every 'event' gets the same object, refilled per record: for consumers that
// format or aggregate and do not keep the event (zero per-event allocation besides strings).
//
// Loss accounting: lostKernel = ring-buffer reserve failures the loader reports (per instance, summed
// across restarts); lostPipe = records a loader says it wrote that never arrived, records in a frame cut
// by a crash, and for every restart gap the packets that crossed the traced interfaces while no loader
// ran (interface counters before/after — a lower bound: the moments between the loader's death and our
// noticing it are not counted).
import { EventEmitter } from 'node:events';
import { execFile } from 'node:child_process';
import type { CaptureCounters, TraceEvent } from './event';
import { FrameParser, FrameError } from './frames';
import { LoaderProcess } from './loader-process';
import {
  Ack,
  DecodeContext,
  Hello,
  LinkEvent,
  LoaderError,
  LoaderStats,
  decodeAck,
  decodeCases,
  decodeError,
  decodeHello,
  decodeLink,
  decodeRecord,
  decodeStats,
  forEachRecord,
  newDecodeContext,
} from './decode';
import { FrameType } from './wire';
import { SNAP_FRAME_TYPE, decodeSnapFrame } from './snap';
import { FilterSpec, filterWords } from './filter';

/** packet: a record per packet and hop; flow: counters per flow and hop; case: every packet counted into
 * its path's case in the kernel, a record only for a case's first packet and for drops ('cases' events). */
export type CaptureMode = 'packet' | 'flow' | 'case';

export interface CaptureOptions {
  /** Network namespace to trace (/var/run/netns/NAME); default: the current one. */
  netns?: string;
  /** Interface glob patterns; when given they replace the loader's defaults (cali*, vxlan.calico, uplink). */
  patterns?: string[];
  mode?: CaptureMode;
  filter?: FilterSpec;
  /** Defaults to bpf/.output/calitrace-loader under the package root. */
  loaderPath?: string;
  /** Extra loader arguments (e.g. ['--stats-ms', '200']). */
  loaderArgs?: string[];
  reuseEvents?: boolean;
  /** Restart backoff (first delay; doubles up to maxBackoffMs). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Loader stderr lines (libbpf diagnostics). Default: dropped unless CALITRACE_LOADER_STDERR=1. */
  onLoaderStderr?: (line: string) => void;
}

export interface GapInfo {
  /** How the loader ended: 'signal SIGKILL', 'exit code 1', … */
  reason: string;
  /** Wall-clock ms when the crash was noticed. */
  startedMs: number;
  /** Until the restarted loader had attached again. */
  durationMs: number;
  /** Packets that crossed traced interfaces during the gap plus records cut off by the crash. */
  lost: number;
  /** false when the interface counters could not be read: the gap is then reported with lost = cut records only. */
  counted: boolean;
}

interface PendingCommand {
  line: string;
  /** Our own readiness probe, or case settings given again to a restarted loader: belongs to one loader instance, never re-sent. */
  internal?: boolean;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class Capture extends EventEmitter {
  private readonly loader: LoaderProcess;
  private parser: FrameParser;
  private readonly ctx: DecodeContext = newDecodeContext();
  private readonly attached = new Map<number, LinkEvent>();
  private hello: Hello | undefined;
  private mode: CaptureMode;
  /** The last accepted case-mode settings, given again to a restarted loader. */
  private readonly caseSettings: { generation?: string; sizes?: string } = {};
  /** This loader instance said HELLO (it reads commands after it). */
  private helloSeen = false;
  private filter: FilterSpec;
  private readonly reused: TraceEvent | undefined;
  private pending: PendingCommand[] = [];
  private readyWaiters: { resolve: (h: Hello) => void; reject: (e: Error) => void }[] = [];
  private isReady = false;
  private fatal: Error | undefined;
  private stopped = false;
  private lastLoaderError: LoaderError | undefined;

  // Counters. Per-instance values are folded into the bases when an instance ends.
  private received = 0;
  private receivedThisInstance = 0;
  private lostKernelBase = 0;
  private lostKernelInstance = 0;
  private lostPipe = 0;
  private restarts = 0;
  private lastStats: LoaderStats | undefined;
  /** Records this instance's STATS said were written but never arrived (already added to lostPipe). */
  private pipeMissingInstance = 0;
  private gap: { reason: string; startedMs: number; before: Promise<Map<string, number> | undefined>; cut: number } | undefined;

  constructor(private readonly opts: CaptureOptions = {}) {
    super();
    this.mode = opts.mode ?? 'packet';
    this.filter = opts.filter ?? {};
    this.reused = opts.reuseEvents ? ({} as TraceEvent) : undefined;
    this.parser = this.newParser();
    const stderr =
      opts.onLoaderStderr ?? (process.env.CALITRACE_LOADER_STDERR === '1' ? (l: string) => process.stderr.write(`loader: ${l}\n`) : undefined);
    this.loader = new LoaderProcess({
      loaderPath: opts.loaderPath,
      args: () => this.loaderArgs(),
      onStdout: (chunk) => this.onChunk(chunk),
      onSpawn: () => {
        this.parser = this.newParser();
        this.receivedThisInstance = 0;
        this.helloSeen = false;
        this.lastStats = undefined;
        this.pipeMissingInstance = 0;
      },
      onCrash: (info) => this.onCrash(info.signal ? `signal ${info.signal}` : `exit code ${info.code}`),
      onFatal: (err) => this.failWith(this.lastLoaderError ? new Error(`${this.lastLoaderError.message}\n${err.message}`) : err),
      onStderrLine: stderr,
      initialBackoffMs: opts.initialBackoffMs,
      maxBackoffMs: opts.maxBackoffMs,
    });
  }

  /** Started by startCapture(); separate so listeners can be added first. */
  start(): this {
    this.loader.start();
    return this;
  }

  /** Resolves once the loader said HELLO and its initial interfaces are attached. */
  ready(): Promise<Hello> {
    if (this.fatal) return Promise.reject(this.fatal);
    if (this.isReady && this.hello) return Promise.resolve(this.hello);
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  counters(): CaptureCounters {
    return {
      received: this.received,
      lostKernel: this.lostKernelBase + this.lostKernelInstance,
      lostPipe: this.lostPipe,
      loaderRestarts: this.restarts,
    };
  }

  /** The running loader's latest STATS frame (packets seen/matched, per-CPU reserve failures). */
  loaderStats(): LoaderStats | undefined {
    return this.lastStats;
  }

  /** Interfaces attached right now. */
  links(): LinkEvent[] {
    return [...this.attached.values()];
  }

  /** The pid of the running loader (for tests that kill it). */
  get loaderPid(): number | undefined {
    return this.loader.pid;
  }

  /** Replaces the filter; resolves when the kernel applies it, rejects with the loader's reason. */
  async setFilter(spec: FilterSpec): Promise<void> {
    const words = filterWords(spec);
    await this.command(words.length ? `filter ${words.join(' ')}` : 'filter clear');
    // Only an accepted filter becomes what a restarted loader is started with.
    this.filter = spec;
  }

  /** Case mode: the route model's generation, part of every case (a new model makes new cases, judged again). */
  async setGeneration(generation: number): Promise<void> {
    await this.caseSetting('generation', `generation ${generation >>> 0}`);
  }

  /**
   * Case mode: frame lengths that change a verdict (an MTU plus the L2 header); packets on either side
   * of one fall into different cases. At most 16.
   */
  async setSizes(lengths: number[]): Promise<void> {
    await this.caseSetting('sizes', ['sizes', ...lengths.map((n) => String(n >>> 0))].join(' '));
  }

  /** Before this loader's HELLO the setting only waits for it (the HELLO hands it over), after it is sent. */
  private async caseSetting(key: 'generation' | 'sizes', line: string): Promise<void> {
    if (!this.helloSeen) {
      this.caseSettings[key] = line;
      return;
    }
    await this.command(line);
    this.caseSettings[key] = line;
  }

  async setMode(mode: CaptureMode): Promise<void> {
    await this.command(`mode ${mode}`);
    this.mode = mode;
  }

  /** Asks for a STATS frame now; resolves when the loader acknowledged (the frame precedes the ACK). */
  requestStats(): Promise<void> {
    return this.command('stats');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.loader.stop();
    for (const p of this.pending.splice(0)) p.reject(new Error(`capture stopped before the loader acknowledged '${p.line}'`));
    for (const w of this.readyWaiters.splice(0)) w.reject(new Error('capture stopped before the loader was ready'));
  }

  private command(line: string): Promise<void> {
    if (this.fatal) return Promise.reject(this.fatal);
    if (this.stopped) return Promise.reject(new Error(`capture is stopped: cannot send '${line}'`));
    return new Promise((resolve, reject) => {
      this.pending.push({ line, resolve, reject });
      this.loader.write(line);
    });
  }

  private loaderArgs(): string[] {
    const args: string[] = [];
    if (this.opts.netns) args.push('--netns', this.opts.netns);
    if (this.opts.patterns && this.opts.patterns.length) {
      args.push('--no-default-ifaces');
      for (const p of this.opts.patterns) args.push('--iface', p);
    }
    args.push('--mode', this.mode);
    const words = filterWords(this.filter);
    if (words.length) args.push('--filter', words.join(' '));
    if (this.opts.loaderArgs) args.push(...this.opts.loaderArgs);
    return args;
  }

  private newParser(): FrameParser {
    return new FrameParser((type, _seq, buf, off, len) => this.onFrame(type, buf, off, len));
  }

  private onChunk(chunk: Buffer): void {
    if (this.fatal) return;
    try {
      this.parser.push(chunk);
    } catch (err) {
      // A corrupt stream cannot be resynchronised; a restart would hide the problem, so stop.
      this.failWith(err instanceof FrameError ? err : new Error(`cannot decode the loader's output: ${(err as Error).message}`));
      void this.loader.stop(500);
    }
  }

  private onFrame(type: number, buf: Buffer, off: number, len: number): void {
    switch (type) {
      case FrameType.EVENTS: {
        forEachRecord(buf, off, len, (b, recOff, size) => {
          this.received++;
          this.receivedThisInstance++;
          this.emit('event', decodeRecord(b, recOff, this.ctx, this.reused, size));
        });
        return;
      }
      case FrameType.CASES:
        this.emit('cases', decodeCases(buf, off, len));
        return;
      case FrameType.HELLO: {
        const hello = decodeHello(buf, off, len);
        this.hello = hello;
        this.helloSeen = true;
        this.ctx.dropReasons = hello.dropReasons;
        this.ctx.realtimeOffsetNs = hello.realtimeOffsetNs;
        this.attached.clear();
        // The loader reads stdin only after its initial attach; the ACK of this marks "ready". Commands
        // the previous instance never acknowledged follow, in their order (ACKs come back in order).
        this.pending = this.pending.filter((p) => !p.internal);
        this.pending.unshift({ line: 'stats', internal: true, resolve: () => this.onInstanceReady(), reject: () => undefined });
        // Every loader starts with generation 0 and no size marks: the case settings given so far follow.
        let at = 1;
        for (const line of [this.caseSettings.generation, this.caseSettings.sizes]) {
          if (line && !this.pending.some((p) => p.line === line)) this.pending.splice(at++, 0, { line, internal: true, resolve: () => undefined, reject: () => undefined });
        }
        for (const p of this.pending) this.loader.write(p.line);
        this.emit('hello', hello);
        return;
      }
      case FrameType.LINK: {
        const link = decodeLink(buf, off, len);
        this.ctx.linkNames.set(link.ifindex, link.name);
        if (link.state === 'attached') this.attached.set(link.ifindex, link);
        else this.attached.delete(link.ifindex);
        this.emit('link', link);
        return;
      }
      case FrameType.STATS: {
        const stats = decodeStats(buf, off, len);
        this.lastStats = stats;
        this.lostKernelInstance = stats.rbFailTotal;
        // The pipe is ordered: every record written before this frame has arrived by now.
        const missing = stats.eventsSent - this.receivedThisInstance;
        if (missing > this.pipeMissingInstance) {
          this.lostPipe += missing - this.pipeMissingInstance;
          this.pipeMissingInstance = missing;
        }
        this.emit('stats', stats);
        return;
      }
      case FrameType.ACK:
        this.onAck(decodeAck(buf, off, len));
        return;
      case FrameType.ERROR: {
        const e = decodeError(buf, off, len);
        this.lastLoaderError = e;
        if (!e.fatal) this.emit('loader-error', e);
        return;
      }
      case FrameType.BYE:
        return;
      case SNAP_FRAME_TYPE: // packet bytes for pcapng (loader --snaplen; src/capture/snap.ts)
        if (this.listenerCount('snap') > 0) this.emit('snap', decodeSnapFrame(buf, off, len, this.ctx));
        return;
      default:
        return; // unknown frame types are skipped by length (protocol rule)
    }
  }

  private onAck(ack: Ack): void {
    const i = this.pending.findIndex((p) => p.line === ack.line);
    if (i < 0) return;
    const [p] = this.pending.splice(i, 1);
    if (ack.status === 0) p.resolve();
    else p.reject(new Error(`the loader refused '${ack.line}': ${ack.message || `errno ${-ack.status}`}`));
  }

  private onInstanceReady(): void {
    // Healthy only once attached and reading commands: a loader that dies between HELLO and here
    // counts as a failed start, so a persistent start-up failure ends in one error, not a restart loop.
    this.loader.markHealthy();
    if (this.gap) void this.closeGap();
    this.isReady = true;
    for (const w of this.readyWaiters.splice(0)) w.resolve(this.hello!);
  }

  private onCrash(reason: string): void {
    this.restarts++;
    this.isReady = false;
    this.lostKernelBase += this.lostKernelInstance;
    this.lostKernelInstance = 0;
    const cut = this.parser.cutRecords();
    const names = [...this.attached.values()].map((l) => l.name);
    // The dead loader's TCX links died with it: say so, the restarted one announces its own.
    for (const link of this.attached.values()) this.emit('link', { ...link, state: 'detached' } as LinkEvent);
    this.attached.clear();
    this.gap = {
      reason,
      startedMs: Date.now(),
      before: interfacePackets(this.opts.netns, names),
      cut,
    };
  }

  private async closeGap(): Promise<void> {
    const gap = this.gap!;
    this.gap = undefined;
    const durationMs = Date.now() - gap.startedMs;
    const before = await gap.before;
    const after = before ? await interfacePackets(this.opts.netns, [...before.keys()]) : undefined;
    let lost = gap.cut;
    let counted = false;
    if (before && after) {
      counted = true;
      for (const [name, n] of before) {
        const m = after.get(name);
        if (m !== undefined && m > n) lost += m - n;
      }
    }
    this.lostPipe += lost;
    const info: GapInfo = { reason: gap.reason, startedMs: gap.startedMs, durationMs, lost, counted };
    this.emit('gap', info);
  }

  private failWith(err: Error): void {
    if (this.fatal) return;
    this.fatal = err;
    for (const w of this.readyWaiters.splice(0)) w.reject(err);
    for (const p of this.pending.splice(0)) p.reject(err);
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

/** rx+tx packets per interface in `netns` (ip -s -j link), or undefined when it cannot be read. */
function interfacePackets(netns: string | undefined, names: string[]): Promise<Map<string, number> | undefined> {
  if (names.length === 0) return Promise.resolve(new Map());
  const argv = [...(netns ? ['-n', netns] : []), '-s', '-j', 'link', 'show'];
  return new Promise((resolve) => {
    execFile('ip', argv, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout) => {
      if (err) return resolve(undefined);
      try {
        const want = new Set(names);
        const out = new Map<string, number>();
        for (const l of JSON.parse(stdout) as { ifname: string; stats64?: { rx: { packets: number }; tx: { packets: number } } }[]) {
          if (want.has(l.ifname) && l.stats64) out.set(l.ifname, l.stats64.rx.packets + l.stats64.tx.packets);
        }
        resolve(out);
      } catch {
        resolve(undefined);
      }
    });
  });
}

export function startCapture(opts: CaptureOptions = {}): Capture {
  const cap = new Capture(opts);
  // Start on the next tick so the caller's on('event'/'error') listeners are in place first.
  process.nextTick(() => cap.start());
  return cap;
}

// The collector: capture events in, verdicts / flow updates / route-model changes / loss counters out.
// It owns the composition only — correlating, judging and flow accounting live in src/path, predicting
// in src/routing, the kernel side in src/capture — and publishes through a typed emitter.
import type { CaptureCounters, TraceEvent } from '../capture/event';
import type { CaseCounts } from '../capture/decode';
import { CaseBook, sizeMarks, stamp } from '../path/cases';
import { Correlator, ObservedPacket, Origin, PredictionAt, UnfinishedPacket } from '../path/correlate';
import { FlowHandle, FlowTable, emptyVerdictCounts } from '../path/flows';
import type { FlowSummary, Hop, PacketVerdict, VerdictCounts } from '../path/types';
import { judge, VerdictContext } from '../path/verdict';
import { senderNamesDevice } from '../routing/addr';
import { CauseEvidence, PodLookup, pendingResolution } from '../routing/causes';
import { WorkloadHistory } from '../routing/history';
import type { PodSide } from '../routing/peers';
import type { ModelChangeEvent, Prediction, Query, RouteModel, RoutingState } from '../routing/types';
import { TypedEmitter } from './emitter';
import { PredictionCache } from './prediction-cache';
import type { CollectorCounters, CollectorEventMap, CollectorEvents } from './types';

/**
 * How long an INCOMPLETE packet waits for the loader's next STATS frame before it is judged without one:
 * the loader sends one a second by default, and one after every drain round that saw loss, so this only
 * matters with --stats-ms 0 or a loader starved of CPU (then waiting longer is the truthful choice).
 */
const HOLD_FOR_REPORT_MS = 5000;

/** What the collector needs from a running capture (src/capture's startCapture result fits). */
export interface CaptureSource {
  on(event: 'event', fn: (ev: TraceEvent) => void): unknown;
  on(event: 'error', fn: (err: Error) => void): unknown;
  on(event: 'cases', fn: (c: CaseCounts) => void): unknown;
  /** The loader's periodic report; its loss counts are in counters() by the time it is emitted. */
  on(event: 'stats', fn: (s: unknown) => void): unknown;
  counters(): CaptureCounters;
  /** Removes a listener this collector added (stop() does; a stand-in without it keeps them). */
  off?(event: string, fn: (...args: any[]) => void): unknown; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Case mode: the route model's generation is part of every case. */
  setGeneration?(generation: number): Promise<void>;
  /** Case mode: the frame lengths that change a verdict (the node's MTUs) are part of every case. */
  setSizes?(lengths: number[]): Promise<void>;
}

/** What the collector needs from the route model (src/routing's RouteModel fits). */
export type ModelSource = Pick<RouteModel, 'state' | 'generation' | 'on'> & Partial<Pick<RouteModel, 'off'>>;

export type PredictFn = (state: RoutingState | RouteModel, q: Query) => Prediction;

export interface CollectorOptions {
  capture: CaptureSource;
  model: ModelSource;
  predict: PredictFn;
  /** Correlation window (ms). Default 100. */
  windowMs?: number;
  /** Extra wait for records still in flight (loader batching, pipe) before a window closes on an idle stream. Default 200 ms. */
  deliveryGraceMs?: number;
  maxPending?: number;
  maxFlows?: number;
  flowIdleMs?: number;
  /** Minimum interval between two updates of one flow. Default 250 ms. */
  flowUpdateMs?: number;
  /** Interval of the counters event. Default 1000 ms. */
  countersMs?: number;
  /** Whether a hook is attached to an interface, to say what was not traced. */
  isTraced?: (iface: string) => boolean | undefined;
  /** Kernel monotonic clock in ns (the clock of TraceEvent.timeNs). Injected by tests. */
  monotonicNs?: () => number;
  /** Pod names by IP (the lab's state or the Kubernetes API): evidence for the cause of a missing pod route. */
  pods?: PodLookup;
  /** This node's Kubernetes name. */
  nodeName?: string;
  /** Underlay IPs of the cluster's nodes, when known: an FDB entry pointing elsewhere is named. */
  knownNodes?: () => ReadonlySet<string> | undefined;
  /** The pod end of a cali veth (read from the pod's namespace), for faults on the pod's side. */
  podSide?: (hostIf: string) => PodSide | undefined;
}

const PREDICTION_CACHE_SIZE = 8192;

/**
 * Case mode: how long packets that seemed to end while their next hop's neighbour was being resolved are
 * held back before they are counted as their path's verdict (ARP gives up after ~3 s; their late hop is
 * counted one or two epochs later).
 */
const HOLD_ENDS_MS = 5000;

/**
 * Case mode: how long the verdict of a drop judged in full stands for the next drops of its case (their
 * earlier hops only counted). The evidence a verdict names besides its case (pods, node addresses) can
 * change without a new model generation: as the pod checks of verdict.ts, it is asked again after this.
 */
const DROP_TEMPLATE_MS = 1000;

/** A drop's verdict, judged in full, and the time of its drop record. */
interface DropTemplate {
  verdict: PacketVerdict;
  timeNs: number;
  atMs: number;
  generation: number;
  /** Its flow, once the flow table has it (FlowTable.observe's `known`). */
  flow?: FlowHandle;
}

const NO_CASE = '0000000000000000';
const NO_EVENTS: TraceEvent[] = [];

/**
 * The verdict of a drop of the template's case whose earlier hops were only counted. Its whole packet is
 * the case's hops replayed in front of its drop record (CaseBook.learn): the same hops, addresses, ports,
 * length, prediction, kernel answer and drop reason, with times at the same offsets from its drop — so
 * the same verdict, reason and latency. Its own are its fingerprint, its times and its ICMP sequence.
 */
function stampDrop(t: DropTemplate, drop: TraceEvent): PacketVerdict {
  const v = t.verdict;
  const shift = drop.timeNs - t.timeNs;
  const observed = new Array<Hop>(v.observed.length);
  for (let i = 0; i < observed.length; i++) {
    const h = v.observed[i];
    observed[i] = { iface: h.iface, dir: h.dir, timeNs: h.timeNs + shift, tunnel: h.tunnel, dropReason: h.dropReason };
  }
  return {
    ...v,
    fingerprint: drop.fingerprint,
    timeMs: drop.wallMs,
    warnings: v.warnings.length ? [...v.warnings] : [],
    observed,
    icmp: v.icmp && { type: v.icmp.type, code: v.icmp.code, id: v.icmp.id, seq: drop.icmpSeq },
  };
}

/** A path judged once for all its packets; `unfinished` when it stopped short of its prediction. */
interface ChainVerdict {
  verdict: PacketVerdict;
  unfinished?: UnfinishedPacket;
  /** Its flow, once the flow table has it (FlowTable.observe's `known`). */
  flow?: FlowHandle;
}

/**
 * Everything the collector reports on 'error'. `fatal`: the trace can no longer be trusted to go on (the
 * loader is gone, the route model stopped following the kernel, a bug); otherwise it was counted and the
 * collector carries on (one failed prediction, one failed model refresh).
 */
export class CollectorError extends Error {
  constructor(
    message: string,
    readonly fatal: boolean,
  ) {
    super(message);
  }
}

/** Routes the collector's errors: warnings are reported and tracing goes on; a fatal one ends it. */
export function onCollectorError(collector: Pick<Collector, 'on'>, handlers: { warn: (message: string) => void; fatal: (err: Error) => void }): void {
  collector.on('error', (err: Error) => {
    if (err instanceof CollectorError && !err.fatal) handlers.warn(err.message);
    else handlers.fatal(err);
  });
}

export class Collector extends TypedEmitter<CollectorEventMap> implements CollectorEvents {
  private readonly correlator: Correlator;
  private readonly flowTable: FlowTable;
  private readonly verdicts: VerdictCounts = emptyVerdictCounts();
  private readonly dirtyFlows = new Set<string>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly ctx: VerdictContext;
  private packets = 0;
  private predictErrors = 0;
  private mtuCache: { generation: number; byName: Map<string, number> } | undefined;
  private stopped = false;
  private readonly cache = new PredictionCache(PREDICTION_CACHE_SIZE);
  private readonly monotonicNs: () => number;
  private readonly caseBook = new CaseBook();
  private readonly chainVerdicts = new Map<string, ChainVerdict>();
  /** Case mode: packets whose path seemed to end at a case while the kernel resolves its next hop. */
  private readonly heldEnds = new Map<string, { packets: number; bytes: number; sinceMs: number }>();
  /**
   * INCOMPLETE packets judged before any loss was reported around them, waiting for the loader's next
   * report: a backlog's records arrive (and are closed by the clock) before the STATS frame that counts
   * what the ring lost meanwhile, and the verdict must say so if records were lost. `untilNs`: by then
   * (loader clock) every record of the packet was written or lost; `sinceMs`: when it was held.
   */
  private readonly awaitingLossReport: { p: ObservedPacket; sinceMs: number; untilNs: number }[] = [];
  private caseEntries: CaseCounts['entries'] = [];
  private caseLines = 0;
  private caseUnknown = 0;
  private readonly unlisten: (() => void)[] = [];
  private caseMode = false;
  private readonly history = new WorkloadHistory();
  /** Case mode: per drop case, the verdict of its last drop judged in full (see stampDrop). */
  private readonly dropTemplates = new Map<string, DropTemplate>();
  /** Case mode: the drop push() is correlating with its replayed hops, while it does. */
  private templating: { drop: TraceEvent; events: number } | undefined;

  constructor(private readonly opts: CollectorOptions) {
    super();
    this.monotonicNs = opts.monotonicNs ?? (() => Number(process.hrtime.bigint()));
    this.correlator = new Correlator({
      windowMs: opts.windowMs ?? 100,
      maxPending: opts.maxPending,
      predict: (ev, iif) => this.predictFor(ev, iif),
      origin: (ev) => this.originOf(ev),
      onPacket: (p) => this.onPacket(p),
      awaits: (u) => pendingResolution(u.predicted?.prediction, u.ingress?.kernel, this.evidence()),
      onHold: (fingerprint, pendingOn, first) => this.emit('pending', { fingerprint, pendingOn, src: first.src, dst: first.dst, proto: first.proto, timeMs: first.wallMs }),
    });
    this.flowTable = new FlowTable({
      maxFlows: opts.maxFlows,
      idleMs: opts.flowIdleMs,
      onEnd: (f) => {
        this.dirtyFlows.delete(f.key);
        this.emit('flow', f);
      },
    });
    this.ctx = {
      isTraced: opts.isTraced,
      mtuOf: (iface) => this.mtuOf(iface),
      lostEvents: (timeMs) => this.lostNear(timeMs),
      evidence: () => this.evidence(),
    };
    this.history.observe(opts.model.state);
    // stop() removes the data listeners: a collector stopped while its capture and model live on (a
    // session restarted over the same model) must not keep judging. The 'error' listeners stay: an
    // emitter's error with no listener would throw, and a stopping model or loader may still report one.
    const onHistory = () => this.history.observe(opts.model.state);
    const onEvent = (ev: TraceEvent) => this.push(ev);
    const onCases = (c: CaseCounts) => this.onCases(c);
    const onCaptureError = (err: Error) => this.emit('error', new CollectorError(err.message, true));
    const onStats = (s: unknown) => this.releaseReported((s as { tsNs?: number }).tsNs);
    const onChange = (ev: ModelChangeEvent) => {
      this.emit('route', ev);
      this.sendSizes();
      // Case mode: packets routed by the new model form new cases, judged again.
      if (this.caseMode) this.opts.capture.setGeneration?.(this.opts.model.generation).catch(() => undefined);
    };
    // The live model marks what it recovers from (RouteModelError.fatal === false); anything else is fatal.
    const onModelError = (err: Error) => this.emit('error', new CollectorError(err.message, (err as { fatal?: boolean }).fatal !== false));
    opts.model.on('change', onHistory);
    opts.capture.on('event', onEvent);
    opts.capture.on('cases', onCases);
    opts.capture.on('error', onCaptureError);
    opts.capture.on('stats', onStats);
    this.sendSizes();
    opts.model.on('change', onChange);
    opts.model.on('error', onModelError);
    this.unlisten.push(
      () => opts.model.off?.('change', onHistory),
      () => opts.model.off?.('change', onChange),
      () => opts.capture.off?.('event', onEvent),
      () => opts.capture.off?.('cases', onCases),
      () => opts.capture.off?.('stats', onStats),
    );
    const graceNs = (opts.deliveryGraceMs ?? 200) * 1e6;
    this.every(50, () => {
      this.sampleLoss();
      this.correlator.tick(this.monotonicNs() - graceNs);
    });
    // A loader that reports only on demand (--stats-ms 0), or is starved, sends no STATS: then the wait ends.
    this.every(250, () => this.releaseAwaitingLossReport(Date.now() - HOLD_FOR_REPORT_MS));
    this.every(opts.flowUpdateMs ?? 250, () => this.flushFlows());
    this.every(1000, () => this.flowTable.expire(Date.now()));
    this.every(opts.countersMs ?? 1000, () => this.emit('counters', this.counters()));
  }

  /** Feeds one event (the capture's 'event' listener calls this; tests and benchmarks may too). */
  push(ev: TraceEvent): void {
    if (this.stopped) return;
    if (ev.caseId === undefined) {
      this.correlator.push(ev);
      return;
    }
    // Case mode: a record whose earlier hops were only counted brings them back from the case book.
    this.caseMode = true;
    const isOpen = (e: TraceEvent) => this.correlator.isOpen(e.fingerprint) || this.correlator.continuesByNat(e);
    if (ev.kind === 'drop' && ev.prevCase !== undefined && ev.prevCase !== NO_CASE) {
      // A drop whose earlier hops were only counted: all of its packet but its identity is its case's.
      const t = this.dropTemplates.get(ev.caseId);
      if (t && t.generation === this.opts.model.generation && Date.now() - t.atMs < DROP_TEMPLATE_MS && this.caseBook.knows(ev) && this.caseBook.has(ev.prevCase) && !isOpen(ev)) {
        this.correlator.tick(ev.timeNs); // the clock the drop would have advanced
        // Its hops, as CaseBook.learn replays them, only for a listener that wants them.
        const events = this.listenerCount('judged') > 0 ? this.caseBook.learn(ev, isOpen).events : NO_EVENTS;
        const v = stampDrop(t, ev);
        t.flow = this.flowHandle(v, this.publishCounted(v, events, t.flow), t.flow);
        return;
      }
    }
    const { events } = this.caseBook.learn(ev, isOpen);
    if (ev.kind === 'drop' && events.length > 1) this.templating = { drop: ev, events: events.length };
    for (const e of events) this.correlator.push(e);
    this.templating = undefined;
  }

  counters(): CollectorCounters {
    const c = this.opts.capture.counters();
    const k = this.correlator.counters;
    const f = this.flowTable.counters;
    return {
      received: c.received,
      lostKernel: c.lostKernel,
      lostPipe: c.lostPipe,
      loaderRestarts: c.loaderRestarts,
      packets: this.packets,
      verdicts: { ...this.verdicts },
      correlatorEvictions: k.evictions,
      // Held for a loss report counts as pending: a reader that waits for 0 must see them judged.
      correlatorPending: k.pending + this.awaitingLossReport.length,
      dropsAfterEgress: k.dropsAfterEgress,
      natPaired: k.natPaired,
      flowRecords: k.ignored,
      flowsActive: this.flowTable.size,
      flowEvictions: f.evictions,
      flowsExpired: f.expired,
      predictErrors: this.predictErrors,
      modelGeneration: this.opts.model.generation,
      caseLines: this.caseLines,
      caseUnknown: this.caseUnknown,
      cases: this.caseBook.size,
    };
  }

  flows(): FlowSummary[] {
    return this.flowTable.all();
  }

  flow(key: string): FlowSummary | undefined {
    return this.flowTable.get(key);
  }

  /** Judges what is still open, publishes the last flow updates and counters, stops the timers. */
  stop(): void {
    if (this.stopped) return;
    this.correlator.flush();
    this.releaseAwaitingLossReport(Infinity);
    this.releaseHeld(Infinity);
    this.flushFlows();
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const off of this.unlisten.splice(0)) off();
    this.emit('counters', this.counters());
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(() => {
      try {
        fn();
      } catch (err) {
        this.emit('error', new CollectorError(`collector: ${(err as Error).message}`, true));
      }
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  private predictFor(ev: TraceEvent, iif: string | undefined): PredictionAt | undefined {
    const model = this.opts.model;
    try {
      const generation = model.generation;
      const ports = ev.proto === 6 || ev.proto === 17 || ev.proto === 132;
      // Packets of one flow ask the same question: answer it once per model generation. Ports and
      // protocol only change the answer when a policy rule selects on them; from 0.0.0.0 to a joined
      // group only IGMP is accepted (ip_route_input_mc).
      let extra = ev.mark ? `${ev.mark}` : '';
      if (this.rulesUsePorts(model.state)) extra += `|${ev.proto}|${ports ? ev.sport : 0}|${ports ? ev.dport : 0}`;
      else if (ev.src === '0.0.0.0') extra += `|${ev.proto}`;
      // Sent by this node to a group or a link-local address: the device it left through is the one its
      // sender named (what the kernel's lookup is given as oif), not the table's first of many equal routes.
      const oif = !iif && ev.dir === 'egress' && senderNamesDevice(ev.dst) ? ev.iface : undefined;
      if (oif) extra += `|oif ${oif}`;
      let prediction = this.cache.get(generation, iif ?? '', ev.src, ev.dst, extra);
      if (!prediction) {
        const q: Query = { src: ev.src, dst: ev.dst, ipproto: ev.proto };
        if (iif) q.iif = iif;
        if (oif) q.oif = oif;
        if (ev.mark) q.mark = ev.mark;
        if (ports) {
          q.sport = ev.sport;
          q.dport = ev.dport;
        }
        prediction = this.opts.predict(model as RouteModel, q);
        this.cache.set(iif ?? '', ev.src, ev.dst, extra, prediction);
      }
      return { prediction, generation };
    } catch (err) {
      this.predictErrors++;
      if (this.predictErrors === 1) this.emit('error', new CollectorError(`route prediction failed (counted as predict_errors from now on): ${(err as Error).message}`, false));
      return undefined;
    }
  }

  /**
   * Where a packet first seen at an egress (or in a drop) entered, from the node's own state: its source
   * is a node address ('local'); else the device the node routes that source through is where it must
   * have come in — traced: its ingress record was lost ('missing'); untraced: no hook could see it.
   */
  private originOf(ev: TraceEvent): Origin {
    const model = this.opts.model;
    if (this.originGeneration !== model.generation) {
      this.originGeneration = model.generation;
      this.originCache.clear();
      this.localAddrs = new Set(model.state.addresses.map((a) => a.address));
    }
    if (this.localAddrs.has(ev.src)) return 'local';
    const isTraced = this.opts.isTraced;
    if (!isTraced || !ev.src) return 'local';
    let dev = this.originCache.get(ev.src);
    if (dev === undefined) {
      try {
        dev = this.opts.predict(model as RouteModel, { dst: ev.src }).egressPath[0] ?? '';
      } catch {
        dev = '';
      }
      if (this.originCache.size >= PREDICTION_CACHE_SIZE) this.originCache.clear();
      this.originCache.set(ev.src, dev);
    }
    // No route back to the source (or only through an untraced device): no evidence of a lost record.
    return dev !== '' && isTraced(dev) ? 'missing' : 'untraced';
  }

  private originGeneration = -1;
  private readonly originCache = new Map<string, string>();
  private localAddrs = new Set<string>();

  /** (wall ms, lost total) every 50 ms for the last few seconds: loss is reported after the fact. */
  private readonly lossSamples: { ms: number; lost: number }[] = [];

  private sampleLoss(): void {
    const c = this.opts.capture.counters();
    this.lossSamples.push({ ms: Date.now(), lost: c.lostKernel + c.lostPipe });
    if (this.lossSamples.length > 120) this.lossSamples.shift();
  }

  /** Records lost from a second before `timeMs` until now (a loss is counted when the loader reports it). */
  private lostNear(timeMs: number): number {
    const c = this.opts.capture.counters();
    const now = c.lostKernel + c.lostPipe;
    let before = this.lossSamples.length ? this.lossSamples[0].lost : 0;
    for (const s of this.lossSamples) {
      if (s.ms > timeMs - 1000) break;
      before = s.lost;
    }
    return now - before;
  }

  private portRules: { state: RoutingState; uses: boolean } | undefined;

  private rulesUsePorts(state: RoutingState): boolean {
    if (this.portRules?.state !== state) {
      const uses = state.rules.some((r) => r.ipproto !== undefined || r.sport !== undefined || r.dport !== undefined || r.uidrange !== undefined);
      this.portRules = { state, uses };
    }
    return this.portRules.uses;
  }

  private sizesSent = '';

  /** The node's MTUs as the kernel's size marks (case mode), when they changed. */
  private sendSizes(): void {
    const marks = sizeMarks(this.opts.model.state.links.map((l) => l.mtu));
    const key = marks.join(' ');
    if (key === this.sizesSent || !this.opts.capture.setSizes) return;
    this.sizesSent = key;
    this.opts.capture.setSizes(marks).catch((err: Error) => this.emit('error', new CollectorError(`the kernel did not take the size marks (case mode judges packets of all sizes alike): ${err.message}`, false)));
  }

  /** Case mode: one CASES frame; at an epoch's last, its packets are counted into their judged paths. */
  private onCases(c: CaseCounts): void {
    if (this.stopped) return;
    this.caseMode = true;
    for (const e of c.entries) this.caseEntries.push(e);
    if (!c.last) return;
    const entries = this.caseEntries;
    this.caseEntries = [];
    const { ended, unknownPackets } = this.caseBook.epoch(c.epoch, entries);
    this.caseUnknown += unknownPackets;
    const now = Date.now();
    for (const t of ended) {
      const c = this.chainVerdict(t.caseId);
      if (!c) {
        this.caseUnknown += t.packets;
        continue;
      }
      if (t.packets < 0) {
        // A late hop took these packets on from here: first from those held back, then as a correction.
        const held = this.heldEnds.get(t.caseId);
        const back = held ? Math.min(held.packets, -t.packets) : 0;
        if (held && back > 0) {
          held.packets -= back;
          held.bytes = Math.max(0, held.bytes + Math.round((t.bytes * back) / t.packets));
          if (held.packets === 0) this.heldEnds.delete(t.caseId);
        }
        if (t.packets + back < 0) this.countPath(c, t.packets + back, t.bytes, now);
        continue;
      }
      // Still waiting for the kernel's neighbour resolution: their next hop may come (late) yet.
      if (c.unfinished && pendingResolution(c.unfinished.predicted?.prediction, c.unfinished.ingress?.kernel, this.evidence())) {
        const held = this.heldEnds.get(t.caseId) ?? { packets: 0, bytes: 0, sinceMs: now };
        held.packets += t.packets;
        held.bytes += t.bytes;
        this.heldEnds.set(t.caseId, held);
        continue;
      }
      this.countPath(c, t.packets, t.bytes, now);
    }
    this.releaseHeld(now - HOLD_ENDS_MS);
  }

  /** Held-back path ends older than `beforeMs` (all: Infinity) are counted as their path's verdict. */
  private releaseHeld(beforeMs: number): void {
    for (const [caseId, held] of this.heldEnds) {
      if (held.sinceMs > beforeMs) continue;
      this.heldEnds.delete(caseId);
      const c = this.chainVerdicts.get(caseId);
      if (c) this.countPath(c, held.packets, held.bytes, Date.now());
      else this.caseUnknown += held.packets;
    }
  }

  /** `packets` judged as the path verdict `v` (negative: an earlier epoch's count taken back). */
  private countPath(c: ChainVerdict, packets: number, bytes: number, now: number): void {
    const v = c.verdict;
    // A copy per epoch: flow-level warnings are added to the verdict they are found on.
    const copy: PacketVerdict = { ...v, timeMs: now, warnings: v.warnings.length ? [...v.warnings] : [] };
    const key = this.flowTable.observe(copy, packets, bytes, c.flow);
    c.flow = this.flowHandle(v, key, c.flow);
    this.packets += packets;
    this.verdicts[v.verdict] += packets;
    this.dirtyFlows.add(key);
    this.emit('counted', { verdict: copy, packets });
  }

  /**
   * A case's first packet whose records are its path's whole chain of cases — each case learnt from this
   * very record, from the first hop on — is what chainVerdict would replay and judge again when the
   * path's counts come: its verdict is that path's, but for the fingerprint (the case's, as stamp() gives
   * it). Taken before the flow table adds flow-level warnings to it. Judging each new path twice was a
   * good part of what a new flow cost.
   */
  private seedChainVerdict(p: ObservedPacket, v: PacketVerdict): void {
    const events = p.events;
    const last = events[events.length - 1];
    if (p.closedBy !== 'complete' || p.nat || p.pendingOn || p.missing || last.caseId === undefined || this.chainVerdicts.has(last.caseId)) return;
    let prev = NO_CASE;
    for (const e of events) {
      const taught = e.caseId !== undefined ? this.caseBook.hop(e.caseId) : undefined;
      if (e.prevCase !== prev || !taught || taught.fingerprint !== e.fingerprint || taught.timeNs !== e.timeNs) return;
      prev = e.caseId!;
    }
    this.rememberChainVerdict(last.caseId, { verdict: { ...v, fingerprint: last.caseId, warnings: [...v.warnings] } });
  }

  /** The verdict of every packet whose path ended at this case: the chain of its hops, judged once. */
  private chainVerdict(caseId: string): ChainVerdict | undefined {
    const known = this.chainVerdicts.get(caseId);
    if (known) return known;
    const chain = this.caseBook.chain(caseId);
    if (!chain) return undefined;
    let packet: ObservedPacket | undefined;
    const c = new Correlator({
      windowMs: this.correlator.windowMs,
      predict: (ev, iif) => this.predictFor(ev, iif),
      origin: (ev) => this.originOf(ev),
      onPacket: (p) => (packet ??= p),
    });
    for (const e of stamp(chain, caseId)) c.push(e);
    c.flush();
    if (!packet) return undefined;
    const p: ObservedPacket = packet;
    const v: ChainVerdict = { verdict: judge(p, this.ctx) };
    // Stopped short of its prediction: perhaps queued for neighbour resolution (asked at each epoch).
    if (p.closedBy === 'flush' && !p.drop) {
      const egress = [...new Set(p.events.filter((e) => e.kind !== 'drop' && e.dir === 'egress').map((e) => e.iface))];
      v.unfinished = { ingress: p.ingress, predicted: p.predicted, egress };
    }
    this.rememberChainVerdict(caseId, v);
    return v;
  }

  private rememberChainVerdict(caseId: string, v: ChainVerdict): void {
    // As many as the case book holds; when full, the oldest sixteenth goes (clearing all would judge
    // every path again in the next epoch).
    if (this.chainVerdicts.size >= this.caseBook.maxSize) {
      let n = this.caseBook.maxSize >> 4;
      for (const id of this.chainVerdicts.keys()) {
        if (n-- <= 0) break;
        this.chainVerdicts.delete(id);
      }
    }
    this.chainVerdicts.set(caseId, v);
  }

  private onPacket(p: ObservedPacket): void {
    const v: PacketVerdict = judge(p, this.ctx);
    const t = this.templating;
    // The drop push() replays judged as a whole packet of its own (nothing else joined it, no NAT, no wait):
    // the template of the next drops of its case.
    if (t && p.drop === t.drop && p.closedBy === 'drop' && p.events.length === t.events && !p.nat && !p.pendingOn && (v.verdict === 'EXPECTED_DROP' || v.verdict === 'DROPPED')) {
      if (this.dropTemplates.size >= this.caseBook.maxSize) this.dropTemplates.clear();
      this.dropTemplates.set(t.drop.caseId!, { verdict: { ...v, warnings: [...v.warnings] }, timeNs: t.drop.timeNs, atMs: Date.now(), generation: p.predicted?.generation ?? -1 });
    }
    if (v.verdict === 'INCOMPLETE' && !this.stopped && p.events.length > 0 && this.lostNear(p.events[0].wallMs) === 0) {
      this.awaitingLossReport.push({ p, sinceMs: Date.now(), untilNs: p.events[0].timeNs + p.windowMs * 1e6 });
      return;
    }
    this.publishPacket(p, v);
  }

  /**
   * A STATS frame sampled at `tsNs` (the loader's monotonic clock, the records' clock) counts every loss
   * up to then: the packets whose records were all written or lost by that time are judged again now. An
   * older frame still in the pipe (a busy collector reads behind the loader) releases nothing it cannot
   * vouch for: under load, judging on the first frame to arrive wrongly said "no loss" (a lab run at load
   * 15). A frame without a time releases everything, as before.
   */
  private releaseReported(tsNs: number | undefined): void {
    const q = this.awaitingLossReport;
    if (q.length === 0) return;
    if (tsNs === undefined) return this.releaseAwaitingLossReport(Infinity);
    const keep: typeof q = [];
    const ready: ObservedPacket[] = [];
    for (const h of q) {
      if (h.untilNs <= tsNs) ready.push(h.p);
      else keep.push(h);
    }
    if (ready.length === 0) return;
    q.splice(0, q.length, ...keep);
    for (const p of ready) this.publishPacket(p, judge(p, this.ctx));
  }

  /** Judges again, now with the loss the loader has reported since, the packets held for it. */
  private releaseAwaitingLossReport(heldBeforeMs: number): void {
    const q = this.awaitingLossReport;
    let n = 0;
    while (n < q.length && q[n].sinceMs <= heldBeforeMs) n++;
    for (const { p } of q.splice(0, n)) this.publishPacket(p, judge(p, this.ctx));
  }

  private publishPacket(p: ObservedPacket, v: PacketVerdict): void {
    // Case mode: a case's first packet is a verdict line; it is counted with its case's packets (its
    // hops, latency and warnings go to the flow now). A drop is counted here: it has its own record.
    if (!p.drop && p.events.some((e) => e.caseId !== undefined)) {
      this.seedChainVerdict(p, v);
      this.flowTable.observe(v, 0, 0);
      this.caseLines++;
      this.dirtyFlows.add(v.flowKey!);
      this.emit('verdict', v);
      if (this.listenerCount('judged') > 0) this.emit('judged', { verdict: v, events: p.events });
      return;
    }
    this.publishCounted(v, p.events);
  }

  /** The flow to hand back to the flow table for the next verdict like `v` (none through NAT). */
  private flowHandle(v: PacketVerdict, key: string, had: FlowHandle | undefined): FlowHandle | undefined {
    if (v.nat) return undefined;
    return had !== undefined && !had.removed && had.key === key ? had : this.flowTable.handle(key);
  }

  /** A packet judged from its own records: counted, and a verdict line. Returns its flow's key. */
  private publishCounted(v: PacketVerdict, events: TraceEvent[], known?: FlowHandle): string {
    const key = this.flowTable.observe(v, 1, v.len ?? 0, known);
    this.packets++;
    this.verdicts[v.verdict]++;
    this.dirtyFlows.add(key);
    this.emit('counted', { verdict: v, packets: 1 });
    this.emit('verdict', v);
    if (this.listenerCount('judged') > 0) this.emit('judged', { verdict: v, events });
    return key;
  }

  private flushFlows(): void {
    if (this.dirtyFlows.size === 0 || this.listenerCount('flow') === 0) {
      this.dirtyFlows.clear();
      return;
    }
    for (const key of this.dirtyFlows) {
      const f = this.flowTable.get(key);
      if (f) this.emit('flow', f);
    }
    this.dirtyFlows.clear();
  }

  private cluster: { pods?: PodLookup; knownNodes?: () => ReadonlySet<string> | undefined } = {};

  /**
   * What became known of the cluster after the start (the Kubernetes API's pods and nodes): evidence for the
   * causes verdicts name, in place of the options'.
   */
  useCluster(c: { pods?: PodLookup; knownNodes?: () => ReadonlySet<string> | undefined }): void {
    this.cluster = c;
  }

  private evidence(): CauseEvidence {
    const o = this.opts;
    const known = this.cluster.knownNodes ?? o.knownNodes;
    return { state: o.model.state, pods: this.cluster.pods ?? o.pods, nodeName: o.nodeName, knownNodes: known?.(), history: this.history, podSide: o.podSide };
  }

  private mtuOf(iface: string): number | undefined {
    const model = this.opts.model;
    if (!this.mtuCache || this.mtuCache.generation !== model.generation) {
      const byName = new Map<string, number>();
      for (const l of model.state.links) byName.set(l.name, l.mtu);
      this.mtuCache = { generation: model.generation, byName };
    }
    return this.mtuCache.byName.get(iface);
  }
}

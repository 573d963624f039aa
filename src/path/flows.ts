// Flows: packets grouped by 5-tuple with both directions under one key, so a reply is read next to its
// request. A flow keeps per-verdict counts, the last observed and predicted paths, first/last seen and
// latency percentiles (whole node and per hop). It also notices what only a sequence of packets shows:
// the route changing while the flow runs, and replies that come back another way (asymmetric return).
//
// Memory: at most maxFlows flows; a full table evicts one that was not seen recently (the CLOCK
// approximation of least-recently-seen: O(1) per packet, no reordering), counted; idle flows expire.
// A flow holds no per-packet object: what it keeps of a path (devices, ends, query shape) is one shared
// PathShape per distinct path, reasons are shared texts, per-verdict counts exist only once a direction
// saw two verdicts, and histograms keep a lone sample as a bare number — so 100 000 flows fit in well under
// 100 MB (docs/benchmarks.md, bench-path).
import { Fifo } from './fifo';
import { LatencyHistogram } from './histogram';
import { parseEndpoint } from './endpoint';
import { flat } from './flat';
import { emptyVerdictCounts, VerdictCounts } from '../vocabulary';
import type { FlowDirection, FlowSummary, Hop, LatencySummary, PacketVerdict, Verdict, Warning } from './types';

export { emptyVerdictCounts };

export interface FlowTableOptions {
  /** Default 100 000. */
  maxFlows?: number;
  /** A flow with no packet for this long ends. Default 60 s. */
  idleMs?: number;
  /** A flow left the table (expired or evicted): its final summary. */
  onEnd?: (flow: FlowSummary) => void;
}

export interface FlowCounters {
  active: number;
  created: number;
  evictions: number;
  expired: number;
}

interface DirState {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  packets: number;
  bytes: number;
  /** The verdict of every packet counted so far, while they all had the same (most flows)… */
  sole?: Verdict;
  /** …and the counts per verdict once two differ. */
  verdicts?: VerdictCounts;
  predicted: string[];
  route?: string;
  /**
   * How the last prediction was asked: from which ingress device (see queryShape); set once the
   * direction has a prediction, to notice a change, with the model generation it came from.
   */
  shape?: string;
  decision?: string;
  generation?: number;
  /** The path of the last packet (its devices and how each saw it, not its times). */
  path?: PathShape;
  lastVerdict?: Verdict;
  lastReason?: string;
  latency?: LatencyHistogram;
  /** Per egress hop; a handful of entries, so a list is smaller and faster than a Map. */
  hopLatency?: HopLatency[];
}

class HopLatency extends LatencyHistogram {
  constructor(readonly iface: string) {
    super();
  }
}

/** A flow as observe() may be handed it back: valid while not removed (expired, evicted). */
export interface FlowHandle {
  readonly key: string;
  readonly removed: boolean;
}

interface FlowState {
  key: string;
  family: 4 | 6;
  proto: number;
  forward: DirState;
  reverse?: DirState;
  firstSeenMs: number;
  lastSeenMs: number;
  /** Warnings seen during the flow's life (absent while there are none). */
  warnings?: Warning[];
  /** Seen since the eviction hand last passed it (second chance). */
  touched: boolean;
  removed: boolean;
}

/** One hop of a path as a flow keeps it: where and how, not when. */
interface Step {
  iface: string;
  dir: Hop['dir'];
  tunnelled: boolean;
}

/**
 * A distinct observed path, shared by every flow direction that took it (thousands of flows go
 * cali-a → cali-b), with what the flow table derives from it computed once.
 */
interface PathShape {
  steps: Step[];
  ifaces: string[];
  /** The question a prediction of a packet on this path answers (see queryShape). */
  shape: string;
  /** Node-side ends, for the asymmetry check (undefined without an ingress or an egress). */
  ends?: Ends;
  /** Index of the hop it entered the node by (see firstIngress), -1 when none. */
  ingressAt: number;
  /** Indexes of its egress hops. */
  egressAt: number[];
}

/** Distinct paths (and reasons) are few; past this many the table starts afresh (flows keep theirs). */
const SHARED_MAX = 4096;

type Endpoints = Pick<PacketVerdict, 'src' | 'sport' | 'dst' | 'dport'>;

/** The packet's endpoints after the NAT rewrite ("addr", "addr:port" or "[v6]:port"). */
function rewritten(v: PacketVerdict): Endpoints | undefined {
  const src = v.nat?.src ? parseEndpoint(v.nat.src.to) : undefined;
  const dst = v.nat?.dst ? parseEndpoint(v.nat.dst.to) : undefined;
  if (!src && !dst) return undefined;
  return {
    src: src?.addr ?? v.src,
    sport: src?.port ?? v.sport,
    dst: dst?.addr ?? v.dst,
    dport: dst?.port ?? v.dport,
  };
}

/** Both directions of a conversation give the same key. */
export function flowKey(v: Pick<PacketVerdict, 'family' | 'proto' | 'src' | 'dst' | 'sport' | 'dport' | 'icmp'>): string {
  if (v.icmp) {
    const echo = v.icmp.type === 8 || v.icmp.type === 0 || v.icmp.type === 128 || v.icmp.type === 129;
    const extra = echo ? `|id${v.icmp.id}` : `|t${v.icmp.type}`;
    return v.src < v.dst ? [v.proto, v.src, v.dst + extra].join('|') : [v.proto, v.dst, v.src + extra].join('|');
  }
  const a = `${v.src}:${v.sport}`;
  const b = `${v.dst}:${v.dport}`;
  // join, not a template: it builds one flat string (the table keeps it for the flow's life, and a
  // template's chain of pieces would cost several times its length).
  return a < b ? [v.proto, a, b].join('|') : [v.proto, b, a].join('|');
}

export class FlowTable {
  private readonly flows = new Map<string, FlowState>();
  /** Every flow once, in the order the eviction hand visits them. */
  private readonly hand = new Fifo<FlowState>();
  private readonly maxFlows: number;
  private readonly idleMs: number;
  /** Distinct paths seen, by their steps (see pathOf). */
  private readonly paths = new Map<string, PathShape>();
  /** One copy of each reason text flows keep. */
  private readonly reasons = new Map<string, string>();
  readonly counters: FlowCounters = { active: 0, created: 0, evictions: 0, expired: 0 };

  constructor(private readonly opts: FlowTableOptions = {}) {
    this.maxFlows = opts.maxFlows ?? 100_000;
    this.idleMs = opts.idleMs ?? 60_000;
  }

  get size(): number {
    return this.flows.size;
  }

  /**
   * Accounts one judged packet to its flow. Adds the flow-level warnings (ROUTE_CHANGED,
   * ASYMMETRIC_RETURN) to the verdict and its reason, and sets its flowKey. Returns the flow's key.
   * `known`: the flow (handle()) of an earlier verdict of the same endpoints (family, protocol, addresses,
   * ports, ICMP id/type) without NAT — a shortcut while that flow lives, never another flow.
   */
  observe(v: PacketVerdict, count = 1, bytes = (v.len ?? 0) * count, known?: FlowHandle): string {
    let as: Endpoints = v;
    // Building the key again and hashing it into the map was a third of this method, when case mode
    // counts the paths of known flows every epoch.
    let flow: FlowState | undefined = known !== undefined && !known.removed && !v.nat ? (known as FlowState) : undefined;
    let key: string = flow ? flow.key : '';
    if (!flow) {
      key = flowKey(v);
      // The reply of a NATed conversation enters with other addresses than the request left with (a
      // Service's backend answering, a masqueraded connection's answer). As its peer sees it, after the
      // rewrite, it is the reverse of an existing flow: count it there, so one conversation is one flow.
      if (v.nat && !this.flows.has(key)) {
        const seen = rewritten(v);
        const seenKey = seen && flowKey({ ...v, ...seen });
        if (seen && seenKey && this.flows.has(seenKey)) {
          key = seenKey;
          as = seen;
        }
      }
      flow = this.flows.get(key);
    }
    if (flow !== undefined) {
      flow.touched = true;
      key = flow.key;
    } else {
      if (this.flows.size >= this.maxFlows) this.evictOldest();
      flow = {
        key,
        family: v.family,
        proto: v.proto,
        forward: newDir(v),
        reverse: undefined,
        firstSeenMs: v.timeMs,
        lastSeenMs: v.timeMs,
        warnings: undefined,
        touched: false,
        removed: false,
      };
      this.flows.set(key, flow);
      this.hand.push(flow);
      this.counters.created++;
      this.counters.active = this.flows.size;
    }
    v.flowKey = key;
    const isForward = as.src === flow.forward.src && as.sport === flow.forward.sport && as.dst === flow.forward.dst;
    let dir: DirState;
    if (isForward) dir = flow.forward;
    else dir = flow.reverse ??= newDir(v);
    const other = isForward ? flow.reverse : flow.forward;

    if (v.timeMs > flow.lastSeenMs) flow.lastSeenMs = v.timeMs;
    if (v.timeMs < flow.firstSeenMs) flow.firstSeenMs = v.timeMs;
    // Case mode adds many packets of one judged path at once (count), and records a path's first packet
    // (count 0) only for its hops, latency and warnings: its packets come with the counts.
    if (count > 0) countVerdict(dir, v.verdict, count);
    dir.packets += count;
    dir.bytes += bytes;
    dir.lastVerdict = v.verdict;
    // Keep the texts and paths we already hold when this packet says the same: a flow that retained every
    // packet's fresh copy would make each of them survive the young-generation GC.
    if (dir.lastReason !== v.reason) dir.lastReason = this.shared(v.reason);
    if (!dir.path || !sameSteps(dir.path.steps, v.observed)) dir.path = this.pathOf(v.observed);
    const path = dir.path;

    // Verdicts are published when a packet's path is judged, which is not always ingress order (a packet
    // that waits for its window is judged after later ones that completed): only a prediction from the
    // same or a newer model generation than the last one can be a change of route.
    const fresh = v.generation === undefined || dir.generation === undefined || v.generation >= dir.generation;
    // Two predictions are only comparable when they answer the same question: a packet predicted from
    // its ingress device and one predicted as sent by the node (its ingress record lost, or seen only
    // encapsulated) get different answers from an unchanged route table.
    const shape = path.shape;
    const hasPrediction = dir.shape !== undefined;
    const comparable = !hasPrediction || dir.shape === shape;
    // A packet seen entering through its own device is the better reference: it replaces another shape.
    const adopt = !comparable && shape.startsWith('in:') && !dir.shape!.startsWith('in:');
    if ((v.predicted.length > 0 || v.decision) && fresh && (comparable || adopt)) {
      if (v.generation !== undefined) dir.generation = v.generation;
      // Most packets repeat the last prediction: compare fields before building any text.
      const same = hasPrediction && !adopt && dir.decision === v.decision && dir.route === v.route && sameTail(dir.predicted, v.predicted);
      if (!same) {
        if (hasPrediction && !adopt) {
          addWarning(
            v,
            'ROUTE_CHANGED',
            `the route changed during this flow: was ${describePrediction(dir.decision, dir.route, dir.predicted)}, ` +
              `now ${describePrediction(v.decision, v.route, v.predicted)}`,
          );
        }
        dir.decision = v.decision;
        dir.route = v.route;
      }
      dir.shape = shape;
      if (!sameList(dir.predicted, v.predicted)) dir.predicted = v.predicted;
    }

    // The asymmetry check needs both directions; a one-way flow never pays for it.
    const back = other?.path?.ends;
    const ends = back ? path.ends : undefined;
    if (ends && back && !returnsSameWay(ends, back)) {
      addWarning(
        v,
        'ASYMMETRIC_RETURN',
        `this direction enters on ${ends.ingresses.join(' → ')} and leaves via ${ends.egress.join(' → ')}, but the other direction ` +
          `entered on ${back.ingresses.join(' → ')} and left via ${back.egress.join(' → ')}: the return path is not the reverse of the forward path`,
      );
    }

    // Latencies are whole ns (the verdict's µs carry two decimals): a whole number is stored unboxed.
    if (v.latencyUs !== undefined) (dir.latency ??= new LatencyHistogram()).add(Math.round(v.latencyUs * 1000));
    if (path.ingressAt >= 0) {
      const t0 = v.observed[path.ingressAt].timeNs;
      for (const i of path.egressAt) {
        const h = v.observed[i];
        let hist: HopLatency | undefined;
        if (dir.hopLatency) for (const e of dir.hopLatency) if (e.iface === h.iface) hist = e;
        if (!hist) {
          hist = new HopLatency(h.iface);
          // New lists are allocated at their size; a list grown by push would reserve room for 16 more.
          dir.hopLatency = dir.hopLatency ? dir.hopLatency.concat(hist) : [hist];
        }
        // The difference of two large ns times is a boxed float even when whole: Math.round gives the small integer.
        hist.add(Math.round(h.timeNs - t0));
      }
    }
    if (v.warnings.length > 0) {
      const seen = (flow.warnings ??= []);
      for (const w of v.warnings) if (!seen.includes(w)) seen.push(w);
    }
    return key;
  }

  /** The flow under this key, for observe()'s `known`. */
  handle(key: string): FlowHandle | undefined {
    return this.flows.get(key);
  }

  get(key: string): FlowSummary | undefined {
    const flow = this.flows.get(key);
    return flow && summarize(flow, 'active');
  }

  all(): FlowSummary[] {
    return [...this.flows.values()].map((f) => summarize(f, 'active'));
  }

  /** Ends flows idle for longer than idleMs (wall clock, ms). One pass over the table: call it about once a second. */
  expire(nowMs: number): void {
    const limit = nowMs - this.idleMs;
    for (let n = this.hand.length; n > 0; n--) {
      const flow = this.hand.shift()!;
      if (flow.removed) continue;
      if (flow.lastSeenMs > limit) {
        this.hand.push(flow);
        continue;
      }
      this.remove(flow);
      this.counters.expired++;
      this.opts.onEnd?.(summarize(flow, 'expired'));
    }
    this.counters.active = this.flows.size;
  }

  private evictOldest(): void {
    for (;;) {
      const flow = this.hand.shift();
      if (!flow) return;
      if (flow.removed) continue;
      if (flow.touched) {
        flow.touched = false;
        this.hand.push(flow);
        continue;
      }
      this.remove(flow);
      this.counters.evictions++;
      this.opts.onEnd?.(summarize(flow, 'evicted'));
      return;
    }
  }

  private remove(flow: FlowState): void {
    flow.removed = true;
    this.flows.delete(flow.key);
  }

  /** The shared PathShape of these hops (made once per distinct path). */
  private pathOf(hops: Hop[]): PathShape {
    let id = '';
    for (const h of hops) id += `${h.dir}:${h.iface}${h.tunnel ? '+' : ''} `;
    let path = this.paths.get(id);
    if (!path) {
      if (this.paths.size >= SHARED_MAX) this.paths.clear();
      path = newPath(hops);
      this.paths.set(id, path);
    }
    return path;
  }

  /** One flat copy of a text many flows keep (a verdict's reason is built from pieces, per packet). */
  private shared(text: string): string {
    let kept = this.reasons.get(text);
    if (kept === undefined) {
      if (this.reasons.size >= SHARED_MAX) this.reasons.clear();
      kept = flat(text);
      this.reasons.set(kept, kept);
    }
    return kept;
  }
}

function newDir(v: PacketVerdict): DirState {
  return {
    src: v.src,
    dst: v.dst,
    sport: v.sport,
    dport: v.dport,
    packets: 0,
    bytes: 0,
    sole: undefined,
    verdicts: undefined,
    predicted: [],
    route: undefined,
    shape: undefined,
    decision: undefined,
    generation: undefined,
    path: undefined,
    lastVerdict: undefined,
    lastReason: undefined,
    latency: undefined,
    hopLatency: undefined,
  };
}

/** Adds `count` (> 0) packets with this verdict to the direction's counts. */
function countVerdict(dir: DirState, verdict: Verdict, count: number): void {
  if (dir.verdicts) dir.verdicts[verdict] += count;
  else if (dir.packets === 0 || dir.sole === verdict) dir.sole = verdict;
  else {
    const counts = emptyVerdictCounts();
    counts[dir.sole!] = dir.packets;
    counts[verdict] += count;
    dir.verdicts = counts;
    dir.sole = undefined;
  }
}

function verdictCounts(dir: DirState): VerdictCounts {
  if (dir.verdicts) return { ...dir.verdicts };
  const counts = emptyVerdictCounts();
  if (dir.sole) counts[dir.sole] = dir.packets;
  return counts;
}

function newPath(hops: Hop[]): PathShape {
  const steps = hops.map((h) => ({ iface: h.iface, dir: h.dir, tunnelled: h.tunnel !== undefined }));
  const egressAt: number[] = [];
  hops.forEach((h, i) => {
    if (h.dir === 'egress') egressAt.push(i);
  });
  return {
    steps,
    ifaces: hops.map((h) => h.iface),
    shape: queryShape(steps),
    ends: nodeEnds(steps),
    ingressAt: firstIngress(steps),
    egressAt,
  };
}

/** The question a packet's prediction answered: its plain ingress device, else how else it was seen. */
function queryShape(steps: Step[]): string {
  let tunnel: string | undefined;
  for (const h of steps) {
    if (h.dir !== 'ingress') continue;
    if (!h.tunnelled) return `in:${h.iface}`;
    tunnel ??= h.iface;
  }
  return tunnel !== undefined ? `tunnel:${tunnel}` : 'node';
}

/** Index of the hop it entered the node by: the first plain ingress, else the first ingress at all (-1: none). */
function firstIngress(steps: Step[]): number {
  let any = -1;
  for (let i = 0; i < steps.length; i++) {
    const h = steps[i];
    if (h.dir !== 'ingress') continue;
    if (!h.tunnelled) return i;
    if (any < 0) any = i;
  }
  return any;
}

function sameList(a: string[], b: string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Same devices, directions and encapsulation, hop by hop (times aside). */
function sameSteps(a: Step[], b: Hop[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].iface !== b[i].iface || a[i].dir !== b[i].dir || a[i].tunnelled !== (b[i].tunnel !== undefined)) return false;
  }
  return true;
}

/** Same predicted egress devices (the first entry is the ingress, which differs by direction anyway). */
function sameTail(a: string[], b: string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 1; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function addWarning(v: PacketVerdict, w: Warning, sentence: string): void {
  if (!v.warnings.includes(w)) v.warnings.push(w);
  v.reason = `${v.reason}; ${sentence}`;
}

function describePrediction(decision: string | undefined, route: string | undefined, predicted: string[]): string {
  const devs = predicted.slice(1);
  const via = devs.length ? ` via ${devs.join(' → ')}` : '';
  return route ? `\`${route}\` (${decision}${via})` : `${decision}${via}`;
}

interface Ends {
  /** Where it entered the node: its first plain ingress. */
  ingress: string;
  /** Every device it entered through (the uplink, then vxlan.calico, for a decapsulated packet). */
  ingresses: string[];
  egress: string[];
}

function nodeEnds(steps: Step[]): Ends | undefined {
  const ingresses = steps.filter((h) => h.dir === 'ingress').map((h) => h.iface);
  const plain = steps.find((h) => h.dir === 'ingress' && !h.tunnelled)?.iface ?? ingresses[0];
  const egress = steps.filter((h) => h.dir === 'egress').map((h) => h.iface);
  if (!plain || egress.length === 0) return undefined;
  return { ingress: plain, ingresses, egress };
}

/**
 * A reply takes the same way back when it enters through a device the request left by (vxlan.calico or
 * the uplink for a tunnelled flow) and leaves through a device the request came in on.
 */
function returnsSameWay(a: Ends, b: Ends): boolean {
  return b.ingresses.some((d) => a.egress.includes(d)) && a.ingresses.some((d) => b.egress.includes(d));
}

function summarizeHist(h: LatencyHistogram | undefined): LatencySummary | undefined {
  return h && h.samples > 0 ? h.summary() : undefined;
}

function summarizeDir(d: DirState): FlowDirection {
  const out: FlowDirection = {
    src: d.src,
    dst: d.dst,
    sport: d.sport,
    dport: d.dport,
    packets: d.packets,
    bytes: d.bytes,
    verdicts: verdictCounts(d),
    observed: d.path ? d.path.ifaces.slice() : [],
    predicted: d.predicted,
    hopLatency: {},
  };
  if (d.route) out.route = d.route;
  const lat = summarizeHist(d.latency);
  if (lat) out.latency = lat;
  if (d.hopLatency) for (const hist of d.hopLatency) out.hopLatency[hist.iface] = hist.summary();
  if (d.lastVerdict) out.lastVerdict = d.lastVerdict;
  if (d.lastReason) out.lastReason = d.lastReason;
  return out;
}

function summarize(f: FlowState, state: FlowSummary['state']): FlowSummary {
  const out: FlowSummary = {
    key: f.key,
    family: f.family,
    proto: f.proto,
    forward: summarizeDir(f.forward),
    firstSeenMs: f.firstSeenMs,
    lastSeenMs: f.lastSeenMs,
    warnings: f.warnings ? [...f.warnings] : [],
    state,
  };
  if (f.reverse) out.reverse = summarizeDir(f.reverse);
  return out;
}

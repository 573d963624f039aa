// Flows: packets grouped by 5-tuple with both directions under one key, so a reply is read next to its
// request. A flow keeps per-verdict counts, the last observed and predicted paths, first/last seen and
// latency percentiles (whole node and per hop). It also notices what only a sequence of packets shows:
// the route changing while the flow runs, and replies that come back another way (asymmetric return).
//
// Memory: at most maxFlows flows; a full table evicts one that was not seen recently (the CLOCK
// approximation of least-recently-seen: O(1) per packet, no reordering), counted; idle flows expire.
import { Fifo } from './fifo';
import { LatencyHistogram } from './histogram';
import { parseEndpoint } from './endpoint';
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
  verdicts: VerdictCounts;
  predicted: string[];
  route?: string;
  /** What the last prediction said, to notice a change, and the model generation it came from. */
  hasPrediction: boolean;
  /** How the last prediction was asked: from which ingress device (see queryShape). */
  shape?: string;
  decision?: string;
  generation?: number;
  /** The hops of the last packet; `ends` is derived from them when needed. */
  lastHops?: Hop[];
  endsOf?: Hop[];
  lastVerdict?: Verdict;
  lastReason?: string;
  /** Node-side ends of the last complete path, for the asymmetry check. */
  ends?: Ends;
  latency?: LatencyHistogram;
  /** Per egress hop; a handful of entries, so a list is smaller and faster than a Map. */
  hopLatency?: { iface: string; hist: LatencyHistogram }[];
}

interface FlowState {
  key: string;
  family: 4 | 6;
  proto: number;
  forward: DirState;
  reverse?: DirState;
  firstSeenMs: number;
  lastSeenMs: number;
  warnings: Warning[];
  /** Seen since the eviction hand last passed it (second chance). */
  touched: boolean;
  removed: boolean;
}

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
  let a = `${v.src}:${v.sport}`;
  let b = `${v.dst}:${v.dport}`;
  let extra = '';
  if (v.icmp) {
    const echo = v.icmp.type === 8 || v.icmp.type === 0 || v.icmp.type === 128 || v.icmp.type === 129;
    a = v.src;
    b = v.dst;
    extra = echo ? `|id${v.icmp.id}` : `|t${v.icmp.type}`;
  }
  return a < b ? `${v.proto}|${a}|${b}${extra}` : `${v.proto}|${b}|${a}${extra}`;
}

export class FlowTable {
  private readonly flows = new Map<string, FlowState>();
  /** Every flow once, in the order the eviction hand visits them. */
  private readonly hand = new Fifo<FlowState>();
  private readonly maxFlows: number;
  private readonly idleMs: number;
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
   */
  observe(v: PacketVerdict, count = 1, bytes = (v.len ?? 0) * count): string {
    let key = flowKey(v);
    let as: Endpoints = v;
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
    v.flowKey = key;
    let flow = this.flows.get(key);
    if (flow) {
      flow.touched = true;
    } else {
      if (this.flows.size >= this.maxFlows) this.evictOldest();
      flow = {
        key,
        family: v.family,
        proto: v.proto,
        forward: newDir(v),
        firstSeenMs: v.timeMs,
        lastSeenMs: v.timeMs,
        warnings: [],
        touched: false,
        removed: false,
      };
      this.flows.set(key, flow);
      this.hand.push(flow);
      this.counters.created++;
      this.counters.active = this.flows.size;
    }
    const isForward = as.src === flow.forward.src && as.sport === flow.forward.sport && as.dst === flow.forward.dst;
    let dir: DirState;
    if (isForward) dir = flow.forward;
    else dir = flow.reverse ??= newDir(v);
    const other = isForward ? flow.reverse : flow.forward;

    if (v.timeMs > flow.lastSeenMs) flow.lastSeenMs = v.timeMs;
    if (v.timeMs < flow.firstSeenMs) flow.firstSeenMs = v.timeMs;
    // Case mode adds many packets of one judged path at once (count), and records a path's first packet
    // (count 0) only for its hops, latency and warnings: its packets come with the counts.
    dir.packets += count;
    dir.bytes += bytes;
    dir.verdicts[v.verdict] += count;
    dir.lastVerdict = v.verdict;
    // Keep the objects we already hold when this packet says the same: a flow that retained every
    // packet's fresh copy would make each of them survive the young-generation GC.
    if (dir.lastReason !== v.reason) dir.lastReason = v.reason;
    if (!dir.lastHops || !sameHops(dir.lastHops, v.observed)) dir.lastHops = v.observed;

    // Verdicts are published when a packet's path is judged, which is not always ingress order (a packet
    // that waits for its window is judged after later ones that completed): only a prediction from the
    // same or a newer model generation than the last one can be a change of route.
    const fresh = v.generation === undefined || dir.generation === undefined || v.generation >= dir.generation;
    // Two predictions are only comparable when they answer the same question: a packet predicted from
    // its ingress device and one predicted as sent by the node (its ingress record lost, or seen only
    // encapsulated) get different answers from an unchanged route table.
    const shape = queryShape(v.observed);
    const comparable = !dir.hasPrediction || dir.shape === shape;
    // A packet seen entering through its own device is the better reference: it replaces another shape.
    const adopt = !comparable && shape.startsWith('in:') && !dir.shape?.startsWith('in:');
    if ((v.predicted.length > 0 || v.decision) && fresh && (comparable || adopt)) {
      if (adopt) dir.hasPrediction = false;
      dir.shape = shape;
      if (v.generation !== undefined) dir.generation = v.generation;
      // Most packets repeat the last prediction: compare fields before building any text.
      const same = dir.hasPrediction && dir.decision === v.decision && dir.route === v.route && sameTail(dir.predicted, v.predicted);
      if (!same) {
        if (dir.hasPrediction) {
          addWarning(
            v,
            'ROUTE_CHANGED',
            `the route changed during this flow: was ${describePrediction(dir.decision, dir.route, dir.predicted)}, ` +
              `now ${describePrediction(v.decision, v.route, v.predicted)}`,
          );
        }
        dir.hasPrediction = true;
        dir.decision = v.decision;
        dir.route = v.route;
      }
      if (!sameList(dir.predicted, v.predicted)) dir.predicted = v.predicted;
    }

    // The asymmetry check needs both directions; a one-way flow never pays for it.
    const back = other?.lastHops ? endsOf(other) : undefined;
    const ends = back ? endsOf(dir) : undefined;
    if (ends) {
      if (back && !returnsSameWay(ends, back)) {
        addWarning(
          v,
          'ASYMMETRIC_RETURN',
          `this direction enters on ${ends.ingresses.join(' → ')} and leaves via ${ends.egress.join(' → ')}, but the other direction ` +
            `entered on ${back.ingresses.join(' → ')} and left via ${back.egress.join(' → ')}: the return path is not the reverse of the forward path`,
        );
      }
    }

    if (v.latencyUs !== undefined) (dir.latency ??= new LatencyHistogram()).add(v.latencyUs * 1000);
    const ingressHop = firstIngress(v.observed);
    if (ingressHop) {
      for (const h of v.observed) {
        if (h.dir !== 'egress') continue;
        const list = (dir.hopLatency ??= []);
        let hist: LatencyHistogram | undefined;
        for (const e of list) if (e.iface === h.iface) hist = e.hist;
        if (!hist) list.push({ iface: h.iface, hist: (hist = new LatencyHistogram()) });
        hist.add(h.timeNs - ingressHop.timeNs);
      }
    }
    for (const w of v.warnings) if (!flow.warnings.includes(w)) flow.warnings.push(w);
    return key;
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
}

function newDir(v: PacketVerdict): DirState {
  return {
    src: v.src,
    dst: v.dst,
    sport: v.sport,
    dport: v.dport,
    packets: 0,
    bytes: 0,
    verdicts: emptyVerdictCounts(),
    predicted: [],
    route: undefined,
    hasPrediction: false,
    shape: undefined,
    decision: undefined,
    generation: undefined,
    lastVerdict: undefined,
    lastReason: undefined,
    lastHops: undefined,
    endsOf: undefined,
    ends: undefined,
    latency: undefined,
    hopLatency: undefined,
  };
}

/** The question a packet's prediction answered: its plain ingress device, else how else it was seen. */
function queryShape(hops: Hop[]): string {
  let tunnel: string | undefined;
  for (const h of hops) {
    if (h.dir !== 'ingress') continue;
    if (!h.tunnel) return `in:${h.iface}`;
    tunnel ??= h.iface;
  }
  return tunnel !== undefined ? `tunnel:${tunnel}` : 'node';
}

/** The hop it entered the node by: the first plain ingress, else the first ingress at all. */
function firstIngress(hops: Hop[]): Hop | undefined {
  let any: Hop | undefined;
  for (const h of hops) {
    if (h.dir !== 'ingress') continue;
    if (!h.tunnel) return h;
    any ??= h;
  }
  return any;
}

function sameList(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Same devices, directions and encapsulation, hop by hop (times aside). */
function sameHops(a: Hop[], b: Hop[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].iface !== b[i].iface || a[i].dir !== b[i].dir || !a[i].tunnel !== !b[i].tunnel) return false;
  }
  return true;
}

/** Same predicted egress devices (the first entry is the ingress, which differs by direction anyway). */
function sameTail(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 1; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function endsOf(d: DirState): Ends | undefined {
  if (d.endsOf !== d.lastHops) {
    d.ends = d.lastHops ? nodeEnds(d.lastHops) : undefined;
    d.endsOf = d.lastHops;
  }
  return d.ends;
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

function nodeEnds(hops: Hop[]): Ends | undefined {
  const ingresses = hops.filter((h) => h.dir === 'ingress').map((h) => h.iface);
  const plain = hops.find((h) => h.dir === 'ingress' && !h.tunnel)?.iface ?? ingresses[0];
  const egress = hops.filter((h) => h.dir === 'egress').map((h) => h.iface);
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
    verdicts: { ...d.verdicts },
    observed: d.lastHops ? d.lastHops.map((h) => h.iface) : [],
    predicted: d.predicted,
    hopLatency: {},
  };
  if (d.route) out.route = d.route;
  const lat = summarizeHist(d.latency);
  if (lat) out.latency = lat;
  if (d.hopLatency) for (const { iface, hist } of d.hopLatency) out.hopLatency[iface] = hist.summary();
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
    warnings: [...f.warnings],
    state,
  };
  if (f.reverse) out.reverse = summarizeDir(f.reverse);
  return out;
}

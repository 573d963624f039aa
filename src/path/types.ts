// Verdicts: the comparison of predicted (route model), kernel (FIB at ingress) and observed (hooks).

import type { Verdict, VerdictCounts } from '../vocabulary';

export type { Verdict, VerdictCounts };

/** CALICO_INTENT: the kernel did what its tables say, but the tables contradict what Calico programs. */
export type Warning = 'MTU_EXCEEDED' | 'ROUTE_CHANGED' | 'ASYMMETRIC_RETURN' | 'CALICO_INTENT';

export interface Hop {
  iface: string;
  dir: 'ingress' | 'egress' | 'drop';
  /** Kernel monotonic ns. */
  timeNs: number;
  /** VXLAN outer header when seen encapsulated. */
  tunnel?: { outerSrc: string; outerDst: string; vni: number };
  dropReason?: string;
}

export interface PacketVerdict {
  fingerprint: string;
  timeMs: number;
  family: 4 | 6;
  proto: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  verdict: Verdict;
  /** A sentence a person can act on. */
  reason: string;
  warnings: Warning[];
  observed: Hop[];
  /** Predicted interfaces in order, e.g. ['cali11299111064', 'caliaa479e31ff6']. */
  predicted: string[];
  /** The kernel FIB's egress device at ingress, when known. */
  kernel?: { result: string; iface?: string; nexthop?: string };
  /** Ingress → last egress on this node, microseconds. */
  latencyUs?: number;
  /** The predicted decision ('unicast', 'blackhole', 'local', …) and the route it used. */
  decision?: string;
  route?: string;
  /** Route-model generation the prediction was made with (the model as it was at ingress). */
  generation?: number;
  /** Key of the flow this packet belongs to (FlowSummary.key). */
  flowKey?: string;
  /** ICMP echo fields (the flow key of a ping uses the id). */
  icmp?: { type: number; code: number; id: number; seq: number };
  /** Bytes at the first hook (skb->len, link-layer header included). */
  len?: number;
  /** What netfilter NAT rewrote on this node ("addr:port" before → after), when it did. */
  nat?: { src?: { from: string; to: string }; dst?: { from: string; to: string } };
  /** The cause the evidence names (also in `reason`), when the path is broken or contradicts Calico's intent. */
  cause?: string;
}

/** Latency percentiles in microseconds (approximate: log buckets, ±10 %). */
export interface LatencySummary {
  samples: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** One direction of a flow. */
export interface FlowDirection {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  packets: number;
  bytes: number;
  verdicts: VerdictCounts;
  /** Interfaces of the last observed path, ingress → egress. */
  observed: string[];
  /** Interfaces of the last prediction. */
  predicted: string[];
  /** The route the last prediction used (as `ip route` prints it). */
  route?: string;
  /** Ingress → last egress on this node. */
  latency?: LatencySummary;
  /** Per hop (keyed by interface): time from ingress to this hop. */
  hopLatency: Record<string, LatencySummary>;
  lastVerdict?: Verdict;
  lastReason?: string;
}

export interface FlowSummary {
  /** Canonical key: both directions map to the same key. */
  key: string;
  family: 4 | 6;
  proto: number;
  /** The direction of the first packet seen. */
  forward: FlowDirection;
  /** Replies; absent until one is seen. */
  reverse?: FlowDirection;
  firstSeenMs: number;
  lastSeenMs: number;
  /** Warnings seen during the flow's life. */
  warnings: Warning[];
  /** 'active' while packets come; 'expired' (idle timeout) or 'evicted' (flow table full) at the end. */
  state: 'active' | 'expired' | 'evicted';
}

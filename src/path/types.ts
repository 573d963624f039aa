// Verdicts: the comparison of predicted (route model), kernel (FIB at ingress) and observed (hooks).

export type Verdict =
  | 'MATCHED' // observed path = predicted path
  | 'DIVERGED' // left through another device than predicted
  | 'DROPPED' // the kernel dropped it unexpectedly
  | 'EXPECTED_DROP' // prediction said blackhole/unreachable/prohibit and it was dropped
  | 'INCOMPLETE' // no egress and no drop seen within the window
  | 'STALE_MODEL'; // our prediction and the kernel view disagree

export type Warning = 'MTU_EXCEEDED' | 'ROUTE_CHANGED' | 'ASYMMETRIC_RETURN';

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
}

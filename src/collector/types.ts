// What the collector publishes, for the API hub and `calitrace trace --no-ui`. Plain data only.
import type { CaptureCounters, TraceEvent } from '../capture/event';
import type { ModelChangeEvent } from '../routing/types';
import type { FlowSummary, PacketVerdict, VerdictCounts } from '../path/types';

/** Every loss and every cap, as running totals: "lost" is always a number, never a silence. */
export interface CollectorCounters extends CaptureCounters {
  /** Packets judged (one verdict each). */
  packets: number;
  verdicts: VerdictCounts;
  /** Packets the correlator closed early because its table was full. */
  correlatorEvictions: number;
  /** Packets not judged yet: waiting for more hops, or (INCOMPLETE) for the loader's next loss report. */
  correlatorPending: number;
  /** Drop records of packets that had already left the node. */
  dropsAfterEgress: number;
  /** Packets followed across a netfilter NAT between two hooks (their NAT fingerprint paired them). */
  natPaired: number;
  /** Flow-mode counter records (not correlated per packet). */
  flowRecords: number;
  flowsActive: number;
  flowEvictions: number;
  flowsExpired: number;
  /** Packets whose prediction failed (route model not loaded, or an error in predict). */
  predictErrors: number;
  /** Current route-model generation. */
  modelGeneration: number;
  /** Case mode: verdict lines for a case's first packet (its packets are counted with the case). */
  caseLines: number;
  /** Case mode: packets counted at cases whose first record was lost (their path is not known: counted, not judged). */
  caseUnknown: number;
  /** Case mode: cases known. */
  cases: number;
}

export interface CollectorEventMap {
  /** One per packet, when its path is complete, dropped, or its window passed. */
  verdict: PacketVerdict;
  /**
   * Packets counted as judged, with the verdict they were judged by: one per verdict in packet mode; in
   * case mode one per path per epoch with its packet count (a case's verdict line is counted there, a
   * drop at its own line). Summed, it is `counters().packets` and `verdicts`.
   */
  counted: { verdict: PacketVerdict; packets: number };
  /** The same verdict with the hook events it was judged from (only built when someone listens). */
  judged: { verdict: PacketVerdict; events: TraceEvent[] };
  /** A flow changed (throttled: at most one update per flow per flowUpdateMs), or ended (state ≠ active). */
  flow: FlowSummary;
  /** The route model changed; predictions from now on use this generation. */
  route: ModelChangeEvent;
  /** Periodic loss and cap counters (every countersMs and once at stop). */
  counters: CollectorCounters;
  /** A packet whose window passed while the kernel resolves its next hop: its verdict comes when it is sent or dropped. */
  pending: { fingerprint: string; pendingOn: string; src: string; dst: string; proto: number; timeMs: number };
  error: Error;
}

/** The consumer side: subscribe with `on`, which returns the unsubscribe function. */
export interface CollectorEvents {
  on<K extends keyof CollectorEventMap>(event: K, fn: (value: CollectorEventMap[K]) => void): () => void;
}

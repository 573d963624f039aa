// What the UI knows about a node, independent of how it got it (gRPC today). The gRPC adapter
// (src/tui/source.ts) maps API messages onto these shapes; the store and views only see these.
import type { PacketVerdict } from '../path/types';
import { VERDICTS, Verdict } from '../vocabulary';

export type { PacketVerdict, Verdict };
export { VERDICTS };

/** One named loss counter. The header shows every one, zero or not. */
export interface LossCounter {
  name: string;
  value: number;
}

export interface NodeStatus {
  node: string;
  mode: string;
  interfaces: string[];
  subscribers: number;
  /** Every loss counter the server reports, by name (kernel, pipe, hub, subscriber, …). */
  counters: LossCounter[];
  /** Total events the server's collector received, when reported. */
  received?: number;
  version?: string;
}

/** One route of the live model, as `ip route` prints it. */
export interface RouteEntry {
  /** Stable identity (table + prefix + type …) so a change of the same route is recognised. */
  key: string;
  text: string;
  table?: string;
  /** Calico meaning: local workload, VXLAN tunnel, IPAM-block blackhole, host default, … */
  meaning?: string;
}

export interface RouteChange {
  kind: 'add' | 'del';
  route: RouteEntry;
}

/** A Kubernetes endpoint behind an IP, where the server knows it. */
export interface PodRef {
  namespace: string;
  name: string;
}

/** A packet verdict plus what the API knows about the endpoints. */
export interface UiVerdict extends PacketVerdict {
  srcPod?: PodRef;
  dstPod?: PodRef;
  /** The node the verdict comes from. */
  node?: string;
}

/** From a relay: one packet's path across two nodes, stitched from both nodes' verdicts. */
/**
 * A flow's counts as the collector keeps them (the API's flow updates): in case mode most packets are
 * counted there only, never sent one by one, so these are what a flow row shows once they arrive.
 */
export interface UiFlowCounts {
  key: string;
  /** The node that counted them (a relay streams every node's flows). */
  node?: string;
  /** Both directions. */
  packets: number;
  /** The reverse direction's packets. */
  replies: number;
  counts: Record<Verdict, number>;
  lastMs: number;
}

export interface StitchedView {
  fingerprint: string;
  verdict: Verdict;
  reason: string;
  srcNode: string;
  dstNode: string;
  /** Sender's uplink egress → receiver's uplink ingress (µs); undefined when unknown. */
  nodeToNodeUs?: number;
  /** 'monotonic' (one kernel: exact) or 'wall' (includes the nodes' clock skew). */
  latencyClock: string;
  halves: { node: string; verdict: UiVerdict }[];
}

/** The explainer's answer for one flow, fetched when the detail pane opens. */
export type Explanation =
  | { state: 'pending' }
  | { state: 'ready'; steps: ExplainStep[]; decision?: string; route?: string; warnings?: string[] }
  | { state: 'error'; message: string };

/** One step of the explainer's story (src/routing's Step): a title and its lines. */
export interface ExplainStep {
  title: string;
  lines: string[];
}

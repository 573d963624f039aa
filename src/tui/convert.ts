// API messages (calitrace.v1, generated) → the UI's model. Pure: tested without a server.
import { calitrace } from '../api/generated/calitrace';
import type { Hop } from '../path/types';
import { isVerdict } from '../vocabulary';
import type { ExplainStep, Explanation, LossCounter, NodeStatus, PodRef, RouteEntry, StitchedView, UiFlowCounts, UiVerdict } from './model';
import { emptyVerdictCounts } from '../vocabulary';

const v1 = calitrace.v1;

/** The wire enum's value names are the verdicts' names (proto/calitrace/v1, src/vocabulary). */
function verdictOf(id: number | null | undefined): UiVerdict['verdict'] {
  const name = v1.Verdict[id ?? 0];
  return name !== undefined && isVerdict(name) ? name : 'INCOMPLETE';
}

const DIR_BY_ID: Record<number, Hop['dir']> = {
  [v1.Direction.INGRESS]: 'ingress',
  [v1.Direction.EGRESS]: 'egress',
  [v1.Direction.DROP]: 'drop',
};

function pod(p: calitrace.v1.IPodRef | null | undefined): PodRef | undefined {
  return p && p.name ? { namespace: p.namespace ?? '', name: p.name } : undefined;
}

/** A flow update's counts (totals over both directions, as the API's flat fields count them). */
export function flowCountsFromApi(m: calitrace.v1.IFlow, node?: string): UiFlowCounts {
  const counts = emptyVerdictCounts();
  for (const [name, n] of Object.entries(m.verdicts ?? {})) if (isVerdict(name)) counts[name] = Number(n);
  const f: UiFlowCounts = { key: m.key ?? '', packets: Number(m.packets ?? 0), replies: Number(m.reverse?.packets ?? 0), counts, lastMs: Number(m.lastMs ?? 0) };
  if (node) f.node = node;
  return f;
}

export function verdictFromApi(m: calitrace.v1.IPacketVerdict, node?: string): UiVerdict {
  const observed: Hop[] = (m.observed ?? []).map((h) => ({
    iface: h.interface ?? '?',
    dir: DIR_BY_ID[h.direction ?? 0] ?? 'ingress',
    timeNs: Number(h.timeNs ?? 0),
    tunnel: h.tunnel && h.tunnel.outerDst ? { outerSrc: h.tunnel.outerSrc ?? '', outerDst: h.tunnel.outerDst, vni: h.tunnel.vni ?? 0 } : undefined,
    dropReason: h.dropReason || undefined,
  }));
  const k = m.kernel;
  return {
    fingerprint: m.fingerprint ?? '',
    timeMs: Number(m.timeMs ?? 0),
    family: m.family === 6 ? 6 : 4,
    proto: m.protocol ?? 0,
    src: m.src ?? '',
    dst: m.dst ?? '',
    sport: m.sport ?? 0,
    dport: m.dport ?? 0,
    verdict: verdictOf(m.verdict),
    reason: m.reason ?? '',
    warnings: (m.warnings ?? []) as UiVerdict['warnings'],
    observed,
    predicted: m.predicted ?? [],
    kernel: k && k.result ? { result: k.result, iface: k.interface || undefined, nexthop: k.nexthop || undefined } : undefined,
    latencyUs: m.latencyUs ? m.latencyUs : undefined,
    srcPod: pod(m.srcPod),
    dstPod: pod(m.dstPod),
    node: node || undefined,
    nat: natOf(m),
    // The collector's flow key: both directions and both sides of a NAT rewrite under one flow, as
    // every other subscriber (observe, the flows stream) counts them.
    flowKey: m.flowKey || undefined,
    icmp: m.protocol === 1 || m.protocol === 58 ? { type: m.icmpType ?? 0, code: m.icmpCode ?? 0, id: m.icmpId ?? 0, seq: m.icmpSeq ?? 0 } : undefined,
    decision: m.decision || undefined,
    route: m.route || undefined,
    len: m.length || undefined,
  };
}

export function stitchedFromApi(m: calitrace.v1.IStitchedPath): StitchedView {
  return {
    fingerprint: m.fingerprint ?? '',
    verdict: verdictOf(m.verdict),
    reason: m.reason ?? '',
    srcNode: m.srcNode ?? '',
    dstNode: m.dstNode ?? '',
    nodeToNodeUs: m.nodeToNodeUs ? m.nodeToNodeUs : undefined,
    latencyClock: m.latencyClock ?? '',
    halves: (m.halves ?? []).map((h) => ({ node: h.node ?? '', verdict: verdictFromApi(h.verdict ?? {}, h.node ?? '') })),
  };
}

function natOf(m: calitrace.v1.IPacketVerdict): UiVerdict['nat'] {
  const side = (r: calitrace.v1.INatRewrite | null | undefined) => (r && r.to ? { from: r.from ?? '', to: r.to } : undefined);
  const src = side(m.natSrc);
  const dst = side(m.natDst);
  return src || dst ? { src, dst } : undefined;
}

/** Counter names that count something lost: events, history, or work that failed. */
const LOSS_NAME = /lost|loss|evict|drop(ped)?_events|error|restart|overflow|truncat/i;

export function statusFromApi(m: calitrace.v1.IStatusResponse): NodeStatus {
  const c = m.counters ?? {};
  const counters: LossCounter[] = [
    { name: 'kernel', value: Number(c.lostKernel ?? 0) },
    { name: 'pipe', value: Number(c.lostPipe ?? 0) },
    { name: 'collector', value: Number(c.lostCollector ?? 0) },
    { name: 'subscribers', value: Number(c.lostSubscribers ?? 0) },
    { name: 'loader-restarts', value: Number(c.loaderRestarts ?? 0) },
  ];
  // `other` mixes loss counters with plain statistics (packets, active flows …): only losses go under
  // "lost". The collector's correlator evictions are already lostCollector.
  for (const [name, value] of Object.entries(c.other ?? {})) {
    if (LOSS_NAME.test(name) && name !== 'correlator_evictions') counters.push({ name, value: Number(value) });
  }
  return {
    node: m.node || '?',
    mode: m.mode || '?',
    interfaces: (m.interfaces ?? []).filter((i) => i.attached !== false).map((i) => i.name ?? String(i.ifindex)),
    subscribers: (m.subscribers ?? []).length,
    counters,
    received: Number(c.received ?? 0),
    version: m.version ?? undefined,
  };
}

const TABLE_NAMES: Record<number, string> = { 253: 'default', 254: 'main', 255: 'local' };

export function tableName(t: number | null | undefined): string {
  return TABLE_NAMES[t ?? 254] ?? String(t);
}

export function routesFromApi(m: calitrace.v1.IGetRoutesResponse): RouteEntry[] {
  return (m.routes ?? []).map((r) => ({
    // The kernel's own identity of a route: a different gateway for the same key is a change.
    key: `${r.family ?? 4} ${r.table ?? 254} ${r.type ?? 'unicast'} ${r.dst ?? ''}/${r.prefixLen ?? 0} tos ${r.tos ?? 0} metric ${r.metric ?? 0}`,
    text: r.text || `${r.dst}/${r.prefixLen}`,
    table: tableName(r.table),
    meaning: r.calico || undefined,
  }));
}

export function explanationFromApi(m: calitrace.v1.IExplainResponse): Explanation {
  const steps: ExplainStep[] = (m.steps ?? []).map((s) => ({ title: s.title ?? '', lines: s.lines ?? [] }));
  return {
    state: 'ready',
    steps,
    decision: m.decision || undefined,
    route: m.route || undefined,
    warnings: [...(m.warnings ?? []), ...(m.unknowns ?? []).map((u) => `unknown: ${u}`)],
  };
}

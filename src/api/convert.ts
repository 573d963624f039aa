// Domain objects → calitrace.v1 messages, and the filter subject of each (what filters match against).
// The only place that knows both the domain types and the wire types.
import type { TraceEvent } from '../capture/event';
import type { FlowDirection, FlowSummary, LatencySummary, PacketVerdict } from '../path/types';
import type { ModelChangeEvent, Prediction, RoutingState, Route, Nexthop } from '../routing/types';
import type { FilterSubject, FlowFilter, DirectionName, VerdictName } from '../hub/filter';
import type { PodDirectory } from '../pods/directory';
import { calitrace } from './proto';

type V1 = typeof calitrace.v1;
const pb: V1 = calitrace.v1;

const DIRECTION: Record<string, calitrace.v1.Direction> = {
  ingress: pb.Direction.INGRESS,
  egress: pb.Direction.EGRESS,
  drop: pb.Direction.DROP,
};

function verdictEnum(v: string | undefined): calitrace.v1.Verdict {
  const n = (pb.Verdict as unknown as Record<string, number>)[v ?? ''];
  return n ?? pb.Verdict.VERDICT_UNSPECIFIED;
}

function podRef(pods: PodDirectory | undefined, ip: string): calitrace.v1.IPodRef | undefined {
  const p = pods?.(ip);
  return p ? { namespace: p.namespace, name: p.name, node: p.node ?? '', interface: p.iface ?? '' } : undefined;
}

function podSubject(p: calitrace.v1.IPodRef | undefined | null): FilterSubject['srcPod'] {
  return p ? { namespace: p.namespace ?? '', name: p.name ?? '' } : undefined;
}

/** The fields every streamed item (packet, verdict, flow) carries alike: the 5-tuple and the pods. */
type EndpointMessage = Pick<calitrace.v1.IPacket, 'src' | 'dst' | 'sport' | 'dport' | 'protocol' | 'srcPod' | 'dstPod'>;

function endpointSubject(m: EndpointMessage): Pick<FilterSubject, 'src' | 'dst' | 'sport' | 'dport' | 'proto' | 'srcPod' | 'dstPod'> {
  return {
    src: m.src ?? undefined,
    dst: m.dst ?? undefined,
    sport: m.sport ?? 0,
    dport: m.dport ?? 0,
    proto: m.protocol ?? 0,
    srcPod: podSubject(m.srcPod),
    dstPod: podSubject(m.dstPod),
  };
}

export function packetMessage(e: TraceEvent, pods?: PodDirectory): calitrace.v1.IPacket {
  return {
    kind: e.kind,
    timeNs: e.timeNs,
    timeMs: e.wallMs,
    ifindex: e.ifindex,
    interface: e.iface,
    direction: e.kind === 'drop' ? pb.Direction.DROP : DIRECTION[e.dir] ?? pb.Direction.DIRECTION_UNSPECIFIED,
    length: e.len,
    family: e.family,
    protocol: e.proto,
    src: e.src,
    dst: e.dst,
    sport: e.sport,
    dport: e.dport,
    tcpFlags: e.tcpFlags,
    icmpType: e.icmpType,
    icmpCode: e.icmpCode,
    icmpId: e.icmpId,
    icmpSeq: e.icmpSeq,
    ipId: e.ipId,
    ttl: e.ttl,
    mark: e.mark,
    fingerprint: e.fingerprint,
    kernel: e.kernel
      ? { result: e.kernel.result, resultName: e.kernel.resultName, ifindex: e.kernel.ifindex, interface: e.kernel.iface ?? '', nexthop: e.kernel.nexthop ?? '' }
      : undefined,
    tunnel: e.tunnel,
    dropReason: e.dropReason ?? 0,
    dropReasonName: e.dropReasonName ?? '',
    packets: e.packets ?? 0,
    bytes: e.bytes ?? 0,
    anomalies: e.anomalies ?? [],
    srcPod: podRef(pods, e.src),
    dstPod: podRef(pods, e.dst),
  };
}

export function packetSubject(m: calitrace.v1.IPacket, node: string): FilterSubject {
  return {
    type: 'PACKET',
    ...endpointSubject(m),
    interfaces: [m.interface ?? ''],
    directions: [pb.Direction[m.direction ?? 0] as DirectionName],
    node,
  };
}

export function verdictMessage(v: PacketVerdict, pods?: PodDirectory): calitrace.v1.IPacketVerdict {
  return {
    fingerprint: v.fingerprint,
    timeMs: v.timeMs,
    family: v.family,
    protocol: v.proto,
    src: v.src,
    dst: v.dst,
    sport: v.sport,
    dport: v.dport,
    verdict: verdictEnum(v.verdict),
    reason: v.reason,
    warnings: v.warnings,
    observed: v.observed.map((h) => ({
      interface: h.iface,
      direction: DIRECTION[h.dir] ?? pb.Direction.DIRECTION_UNSPECIFIED,
      timeNs: h.timeNs,
      tunnel: h.tunnel ? { outerSrc: h.tunnel.outerSrc, outerDst: h.tunnel.outerDst, vni: h.tunnel.vni } : undefined,
      dropReason: h.dropReason ?? '',
    })),
    predicted: v.predicted,
    kernel: v.kernel ? { result: v.kernel.result, interface: v.kernel.iface ?? '', nexthop: v.kernel.nexthop ?? '' } : undefined,
    latencyUs: v.latencyUs ?? 0,
    srcPod: podRef(pods, v.src),
    dstPod: podRef(pods, v.dst),
    icmpType: v.icmp?.type ?? 0,
    icmpSeq: v.icmp?.seq ?? 0,
    icmpId: v.icmp?.id ?? 0,
    icmpCode: v.icmp?.code ?? 0,
    decision: v.decision ?? '',
    route: v.route ?? '',
    generation: v.generation ?? 0,
    flowKey: v.flowKey ?? '',
    length: v.len ?? 0,
    natSrc: v.nat?.src ? { from: v.nat.src.from, to: v.nat.src.to } : undefined,
    natDst: v.nat?.dst ? { from: v.nat.dst.from, to: v.nat.dst.to } : undefined,
  };
}

export function verdictSubject(m: calitrace.v1.IPacketVerdict, node: string): FilterSubject {
  const hops = m.observed ?? [];
  return {
    type: 'VERDICT',
    ...endpointSubject(m),
    interfaces: [...hops.map((h) => h.interface ?? ''), ...(m.predicted ?? [])],
    directions: hops.map((h) => pb.Direction[h.direction ?? 0] as DirectionName),
    verdict: pb.Verdict[m.verdict ?? 0] as VerdictName,
    node,
  };
}

function latencyMessage(l: LatencySummary | undefined): calitrace.v1.ILatencySummary | undefined {
  return l ? { samples: l.samples, p50: l.p50, p90: l.p90, p99: l.p99, max: l.max } : undefined;
}

function flowDirectionMessage(d: FlowDirection): calitrace.v1.IFlowDirection {
  const hop: Record<string, calitrace.v1.ILatencySummary> = {};
  for (const [iface, l] of Object.entries(d.hopLatency ?? {})) hop[iface] = latencyMessage(l)!;
  return {
    src: d.src, dst: d.dst, sport: d.sport, dport: d.dport, packets: d.packets, bytes: d.bytes,
    verdicts: { ...d.verdicts }, observed: d.observed, predicted: d.predicted, route: d.route ?? '',
    latency: latencyMessage(d.latency), hopLatency: hop, lastVerdict: verdictEnum(d.lastVerdict), lastReason: d.lastReason ?? '',
  };
}

/** A flow: the flat fields describe the forward direction (totals count both), details per direction. */
export function flowMessage(f: FlowSummary, pods?: PodDirectory): calitrace.v1.IFlow {
  const fw = f.forward;
  const verdicts: Record<string, number> = { ...fw.verdicts };
  for (const [k, n] of Object.entries(f.reverse?.verdicts ?? {})) verdicts[k] = (verdicts[k] ?? 0) + n;
  return {
    key: f.key,
    family: f.family,
    protocol: f.proto,
    src: fw.src,
    dst: fw.dst,
    sport: fw.sport,
    dport: fw.dport,
    packets: fw.packets + (f.reverse?.packets ?? 0),
    bytes: fw.bytes + (f.reverse?.bytes ?? 0),
    firstMs: f.firstSeenMs,
    lastMs: f.lastSeenMs,
    verdict: verdictEnum(fw.lastVerdict),
    verdicts,
    path: fw.observed,
    predicted: fw.predicted,
    reason: fw.lastReason ?? '',
    srcPod: podRef(pods, fw.src),
    dstPod: podRef(pods, fw.dst),
    forward: flowDirectionMessage(fw),
    reverse: f.reverse ? flowDirectionMessage(f.reverse) : undefined,
    warnings: f.warnings,
    state: f.state,
  };
}

export function flowSubject(m: calitrace.v1.IFlow, node: string): FilterSubject {
  return {
    type: 'FLOW',
    ...endpointSubject(m),
    interfaces: [...(m.path ?? []), ...(m.predicted ?? [])],
    verdict: pb.Verdict[m.verdict ?? 0] as VerdictName,
    node,
  };
}

export function routeChangeMessage(ev: ModelChangeEvent): calitrace.v1.IRouteChange {
  return { generation: ev.generation, changes: ev.changes.map((c) => ({ kind: c.kind, action: c.action, text: c.text })) };
}

/** Wire filter (decoded, plain) → the filter language's structure (same fields, enum names). */
export function filterFromWire(f: calitrace.v1.IFilter): FlowFilter {
  const names = <E>(values: E[] | null | undefined, en: Record<number, string>) =>
    values && values.length ? values.map((v) => (typeof v === 'number' ? en[v] ?? String(v) : String(v))) : undefined;
  const list = <X>(v: X[] | null | undefined) => (v && v.length ? v : undefined);
  return {
    sourceIp: list(f.sourceIp),
    destinationIp: list(f.destinationIp),
    ip: list(f.ip),
    sourcePod: list(f.sourcePod),
    destinationPod: list(f.destinationPod),
    pod: list(f.pod),
    namespace: list(f.namespace),
    sourceNamespace: list(f.sourceNamespace),
    destinationNamespace: list(f.destinationNamespace),
    interface: list(f.interface),
    direction: names(f.direction, pb.Direction) as FlowFilter['direction'],
    verdict: names(f.verdict, pb.Verdict) as FlowFilter['verdict'],
    protocol: list(f.protocol),
    port: list(f.port),
    sourcePort: list(f.sourcePort),
    destinationPort: list(f.destinationPort),
    node: list(f.node),
    eventType: names(f.eventType, pb.EventType) as FlowFilter['eventType'],
  };
}

/** The filter language's structure → wire filter (enum names → numbers). */
export function filterToWire(f: FlowFilter): calitrace.v1.IFilter {
  const nums = (values: string[] | undefined, en: Record<string, number | string>) =>
    (values ?? []).map((v) => en[v] as number);
  return {
    sourceIp: f.sourceIp ?? [],
    destinationIp: f.destinationIp ?? [],
    ip: f.ip ?? [],
    sourcePod: f.sourcePod ?? [],
    destinationPod: f.destinationPod ?? [],
    pod: f.pod ?? [],
    namespace: f.namespace ?? [],
    sourceNamespace: f.sourceNamespace ?? [],
    destinationNamespace: f.destinationNamespace ?? [],
    interface: f.interface ?? [],
    direction: nums(f.direction, pb.Direction as unknown as Record<string, number>),
    verdict: nums(f.verdict, pb.Verdict as unknown as Record<string, number>),
    protocol: f.protocol ?? [],
    port: f.port ?? [],
    sourcePort: f.sourcePort ?? [],
    destinationPort: f.destinationPort ?? [],
    node: f.node ?? [],
    eventType: nums(f.eventType, pb.EventType as unknown as Record<string, number>),
  };
}

function nexthopMessage(n: Nexthop): calitrace.v1.INexthop {
  return { gateway: n.gateway ?? '', dev: n.dev ?? '', weight: n.weight, onlink: n.onlink, flags: n.flags };
}

export function explainMessage(p: Prediction, generation: number): calitrace.v1.IExplainResponse {
  return {
    decision: p.decision,
    errno: p.errno ?? '',
    table: p.table ?? 0,
    route: p.route ?? '',
    rule: p.rule ?? '',
    dev: p.dev ?? '',
    gateway: p.gateway ?? '',
    nexthops: (p.nexthops ?? []).map(nexthopMessage),
    candidates: (p.candidates ?? []).map((c) => ({
      route: c.route, table: c.table, prefixLen: c.prefixLen, metric: c.metric, type: c.type, calico: c.calico, verdict: c.verdict, reason: c.reason,
    })),
    rulesWalked: (p.rulesWalked ?? []).map((r) => ({ priority: r.priority, rule: r.rule, matched: r.matched, outcome: r.outcome })),
    calico: p.calico ?? '',
    outer: p.outer
      ? {
          vxlanDev: p.outer.vxlanDev, vni: p.outer.vni, dstPort: p.outer.dstPort, innerDstMac: p.outer.innerDstMac ?? '',
          src: p.outer.src ?? '', dst: p.outer.dst ?? '', underlayDev: p.outer.underlayDev ?? '',
          underlayGateway: p.outer.underlayGateway ?? '', underlayRoute: p.outer.underlayRoute ?? '',
          underlayMtu: p.outer.underlayMtu ?? 0, overhead: p.outer.overhead, missing: p.outer.missing,
        }
      : undefined,
    egressPath: p.egressPath ?? [],
    steps: (p.steps ?? []).map((s) => ({ title: s.title, lines: s.lines })),
    unknowns: p.unknowns ?? [],
    warnings: p.warnings ?? [],
    family: p.family,
    generation,
  };
}

function routeMessage(r: Route): calitrace.v1.IRoute {
  return {
    family: r.family, type: r.type, table: r.table, dst: r.dst, prefixLen: r.prefixLen, src: r.src ?? '', tos: r.tos,
    metric: r.metric, protocol: r.protocol, scope: r.scope, prefsrc: r.prefsrc ?? '', nexthops: r.nexthops.map(nexthopMessage),
    flags: r.flags, text: r.text,
  };
}

export function routesMessage(s: RoutingState, generation: number, family = 0, table = 0): calitrace.v1.IGetRoutesResponse {
  const fam = <X extends { family: number }>(x: X) => family === 0 || x.family === family;
  return {
    generation,
    netns: s.netns ?? '',
    routes: s.routes.filter(fam).filter((r) => table === 0 || r.table === table).map(routeMessage),
    rules: s.rules.filter(fam).map((r) => ({ family: r.family, priority: r.priority, action: r.action, table: r.table ?? 0, text: r.text })),
    links: s.links.map((l) => ({ ifindex: l.ifindex, name: l.name, kind: l.kind ?? '', mtu: l.mtu, up: l.up, carrier: l.carrier, mac: l.mac ?? '', master: l.master ?? '' })),
    addresses: s.addresses.filter(fam).map((a) => ({ family: a.family, ifname: a.ifname, address: a.address, prefixLen: a.prefixLen, scope: a.scope })),
    neighbours: s.neighbours.filter(fam).map((n) => ({ family: n.family, dst: n.dst, dev: n.dev, lladdr: n.lladdr ?? '', state: n.state })),
    fdb: s.fdb.map((f) => ({ mac: f.mac, dev: f.dev, dst: f.dst ?? '', vni: f.vni ?? 0, port: f.port ?? 0, state: f.state, flags: f.flags })),
  };
}

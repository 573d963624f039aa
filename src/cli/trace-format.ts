// How `calitrace trace --no-ui` prints one event: a compact human line or one JSON object per line.
// Kept apart from trace.ts so later features (verdicts) extend the record in one place:
// `eventRecord` builds the JSON shape; `compactLine` renders the same facts for people.
import type { TraceEvent } from '../capture/event';
import type { FlowDirection, FlowSummary, Hop, PacketVerdict } from '../path/types';
import { formatEndpoint } from '../path/endpoint';
import { protocolName } from '../vocabulary';

export type OutputFormat = 'compact' | 'json';

const TCP_FLAG_LETTERS = ['F', 'S', 'R', 'P', '.', 'U', 'E', 'C'];

export function tcpFlagsText(flags: number): string {
  let out = '';
  for (let i = 0; i < 8; i++) if (flags & (1 << i)) out += TCP_FLAG_LETTERS[i];
  return out || '-';
}

/** The JSON object for one event. Field names are part of the CLI's output contract. */
export function eventRecord(ev: TraceEvent): Record<string, unknown> {
  const rec: Record<string, unknown> = {
    time: new Date(ev.wallMs).toISOString(),
    timeNs: ev.timeNs,
    kind: ev.kind,
    iface: ev.iface,
    ifindex: ev.ifindex,
    // A drop was not seen at a tc hook: it has no direction (the record's dir byte is 'none').
    dir: ev.kind === 'drop' ? 'drop' : ev.dir,
    family: ev.family,
    src: ev.src,
    dst: ev.dst,
    proto: protocolName(ev.proto),
    sport: ev.sport,
    dport: ev.dport,
    len: ev.len,
    ttl: ev.ttl,
    ipId: ev.ipId,
    mark: ev.mark,
    fingerprint: ev.fingerprint,
  };
  if (ev.proto === 6) rec.tcpFlags = tcpFlagsText(ev.tcpFlags);
  if (ev.proto === 1 || ev.proto === 58) {
    rec.icmp = { type: ev.icmpType, code: ev.icmpCode, id: ev.icmpId, seq: ev.icmpSeq };
  }
  if (ev.kernel) rec.kernel = { ...ev.kernel };
  if (ev.tunnel) rec.tunnel = { ...ev.tunnel };
  if (ev.kind === 'drop') rec.drop = { reason: ev.dropReason, name: ev.dropReasonName };
  if (ev.kind === 'flow') {
    rec.packets = ev.packets;
    rec.bytes = ev.bytes;
  }
  if (ev.anomalies && ev.anomalies.length) rec.anomalies = [...ev.anomalies];
  return rec;
}


/** One line for people: time, hook, tuple, detail, fingerprint, kernel view, tunnel. */
export function compactLine(ev: TraceEvent): string {
  const t = new Date(ev.wallMs).toISOString().slice(11, 23);
  const hook = ev.kind === 'drop' ? `${ev.iface || '-'} DROP` : `${ev.iface} ${ev.dir === 'ingress' ? 'in ' : 'out'}`;
  let detail = '';
  if (ev.proto === 6) detail = ` [${tcpFlagsText(ev.tcpFlags)}]`;
  else if (ev.proto === 1 || ev.proto === 58) detail = ` type ${ev.icmpType}/${ev.icmpCode} id ${ev.icmpId} seq ${ev.icmpSeq}`;
  let line =
    `${t} ${hook.padEnd(20)} ${protocolName(ev.proto).padEnd(6)} ` +
    `${formatEndpoint(ev.src, ev.sport, ev.proto)} > ${formatEndpoint(ev.dst, ev.dport, ev.proto)}` +
    `${detail} len ${ev.len} fp ${ev.fingerprint}`;
  if (ev.kind === 'drop') line += ` reason ${ev.dropReasonName ?? ev.dropReason}`;
  if (ev.kind === 'flow') line += ` flow ${ev.packets} pkts ${ev.bytes} B`;
  if (ev.kernel) {
    line += ` fib ${ev.kernel.resultName}`;
    if (ev.kernel.iface || ev.kernel.ifindex) line += ` -> ${ev.kernel.iface ?? `if${ev.kernel.ifindex}`}`;
    if (ev.kernel.nexthop) line += ` via ${ev.kernel.nexthop}`;
  }
  if (ev.tunnel) line += ` vxlan vni ${ev.tunnel.vni} ${ev.tunnel.outerSrc} > ${ev.tunnel.outerDst}`;
  if (ev.anomalies && ev.anomalies.length) line += ` !${ev.anomalies.join(',')}`;
  return line;
}

export function formatEvent(ev: TraceEvent, format: OutputFormat): string {
  return format === 'json' ? JSON.stringify(eventRecord(ev)) : compactLine(ev);
}

// ---- verdicts (path engine) ---------------------------------------------------------------------

/**
 * The JSON object for one judged packet: the event fields of the hop it entered by (or its first hop),
 * plus the comparison. `latency_us` is ingress → last egress on this node.
 */
export function verdictRecord(v: PacketVerdict, events: TraceEvent[]): Record<string, unknown> {
  const entry = events.find((e) => e.kind !== 'drop' && e.dir === 'ingress' && !e.tunnel) ?? events[0];
  const rec: Record<string, unknown> = entry ? eventRecord(entry) : { time: new Date(v.timeMs).toISOString() };
  rec.verdict = v.verdict;
  rec.reason = v.reason;
  rec.warnings = [...v.warnings];
  rec.observed = v.observed.map(hopRecord);
  rec.predicted = [...v.predicted];
  // The ingress event's own kernel object (result code, name, ifindex, iface, nexthop) when there is one.
  if (rec.kernel === undefined) rec.kernel = v.kernel ? { ...v.kernel } : null;
  rec.latency_us = v.latencyUs ?? null;
  if (v.decision) rec.decision = v.decision;
  if (v.route) rec.route = v.route;
  if (v.generation !== undefined) rec.modelGeneration = v.generation;
  if (v.flowKey) rec.flow = v.flowKey;
  if (v.nat) rec.nat = v.nat;
  return rec;
}

function hopRecord(h: Hop): Record<string, unknown> {
  const r: Record<string, unknown> = { iface: h.iface, dir: h.dir, timeNs: h.timeNs };
  if (h.tunnel) r.tunnel = { ...h.tunnel };
  if (h.dropReason) r.dropReason = h.dropReason;
  return r;
}

/** Observed hops for people: `cali11299111064 → vxlan.calico → ens3[vxlan 172.27.71.12]`, drops as `✗NAME`. */
export function observedText(hops: Hop[]): string {
  if (hops.length === 0) return '-';
  return hops
    .map((h) => {
      if (h.dir === 'drop') return `✗${h.dropReason ?? 'drop'}${h.iface ? `@${h.iface}` : ''}`;
      return h.tunnel ? `${h.iface}[vxlan ${h.dir === 'egress' ? h.tunnel.outerDst : h.tunnel.outerSrc}]` : h.iface;
    })
    .join(' → ');
}

/** One line per packet: time, verdict, tuple, observed and predicted paths, latency, warnings, reason. */
/** ' (DNAT → 10.233.101.224:8080)' / ' (SNAT → 172.27.71.11)': what NAT made of the packet on this node. */
function natShort(v: PacketVerdict): string {
  const parts: string[] = [];
  if (v.nat?.dst) parts.push(`DNAT → ${v.nat.dst.to}`);
  if (v.nat?.src) parts.push(`SNAT → ${v.nat.src.to}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

export function verdictLine(v: PacketVerdict): string {
  const t = new Date(v.timeMs).toISOString().slice(11, 23);
  const icmp = v.icmp ? ` icmp ${v.icmp.type}/${v.icmp.code} seq ${v.icmp.seq}` : '';
  const lat = v.latencyUs !== undefined ? ` ${v.latencyUs}µs` : '';
  const warn = v.warnings.length ? ` !${v.warnings.join(',')}` : '';
  const predicted = v.predicted.length ? v.predicted.join(' → ') : '-';
  let line =
    `${t} ${v.verdict.padEnd(13)} ${protocolName(v.proto).padEnd(6)} ` +
    `${formatEndpoint(v.src, v.sport, v.proto)} > ${formatEndpoint(v.dst, v.dport, v.proto)}${icmp}${natShort(v)}` +
    ` | observed ${observedText(v.observed)}${lat} | predicted ${predicted}${warn}`;
  if (v.verdict !== 'MATCHED' || v.warnings.length) line += ` | ${v.reason}`;
  return line;
}

function dirText(d: FlowDirection): string {
  const counts = Object.entries(d.verdicts)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const lat = d.latency ? ` p50 ${d.latency.p50}µs p99 ${d.latency.p99}µs` : '';
  const predicted = d.predicted.length ? d.predicted.join(' → ') : '-';
  return `${d.packets} pkts [${counts}] observed ${d.observed.join(' → ') || '-'} predicted ${predicted}${lat}`;
}

/** One line per flow update. */
export function flowLine(f: FlowSummary): string {
  const t = new Date(f.lastSeenMs).toISOString().slice(11, 23);
  const a = f.forward;
  const head = `${t} flow ${f.state.padEnd(7)} ${protocolName(f.proto).padEnd(6)} ${formatEndpoint(a.src, a.sport, f.proto)} <> ${formatEndpoint(a.dst, a.dport, f.proto)}`;
  const rev = f.reverse ? ` | reply: ${dirText(f.reverse)}` : '';
  const warn = f.warnings.length ? ` !${f.warnings.join(',')}` : '';
  return `${head} | ${dirText(a)}${rev}${warn}`;
}

export function formatVerdict(v: PacketVerdict, events: TraceEvent[], format: OutputFormat): string {
  return format === 'json' ? JSON.stringify(verdictRecord(v, events)) : verdictLine(v);
}

export function formatFlow(f: FlowSummary, format: OutputFormat): string {
  return format === 'json' ? JSON.stringify(f) : flowLine(f);
}

// How `calitrace trace --no-ui` prints one event: a compact human line or one JSON object per line.
// Kept apart from trace.ts so later features (verdicts) extend the record in one place:
// `eventRecord` builds the JSON shape; `compactLine` renders the same facts for people.
import type { TraceEvent } from '../capture/event';
import type { FlowDirection, FlowSummary, PacketVerdict } from '../path/types';
import { formatEndpoint } from '../path/endpoint';
import { verdictMessage } from '../api/convert';
import type { PodDirectory } from '../pods/directory';
import { icmpTypeName, ifacePath, protocolName, verdictJson, verdictLine } from './verdict-format';

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
  else if (ev.proto === 1 || ev.proto === 58) detail = ` ${icmpTypeName(ev.proto, ev.icmpType)}${ev.icmpCode ? ` code ${ev.icmpCode}` : ''} id ${ev.icmpId} seq ${ev.icmpSeq}`;
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
// A verdict judged here prints exactly as one that came over the API (src/cli/verdict-format.ts): it goes
// through the same wire message, with the pod names the directory knows.

/** Who prints: the node name shown on every verdict line, and the pod directory (when pod names are known). */
export interface VerdictPrinter {
  node: string;
  pods?: PodDirectory;
}

export function formatVerdict(v: PacketVerdict, format: OutputFormat, printer: VerdictPrinter): string {
  const m = verdictMessage(v, printer.pods);
  return format === 'json' ? JSON.stringify(verdictJson(m, printer.node)) : verdictLine(m, printer.node);
}

function dirText(d: FlowDirection): string {
  const counts = Object.entries(d.verdicts)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const lat = d.latency ? ` latency p50 ${d.latency.p50}µs p99 ${d.latency.p99}µs` : '';
  const predicted = d.predicted.length ? d.predicted.join(' → ') : '-';
  const dropped = (d.verdicts.DROPPED ?? 0) + (d.verdicts.EXPECTED_DROP ?? 0) > 0 && d.observed.length > 0;
  return `${d.packets} pkts [${counts}] observed ${ifacePath(d.observed, dropped)} predicted ${predicted}${lat}`;
}

/** One line per flow update, with the same protocol names and drop marker as verdict lines. */
export function flowLine(f: FlowSummary): string {
  const t = new Date(f.lastSeenMs).toISOString().slice(11, 23);
  const a = f.forward;
  const head = `${t} flow ${f.state.padEnd(7)} ${protocolName(f.proto).padEnd(6)} ${formatEndpoint(a.src, a.sport, f.proto)} <> ${formatEndpoint(a.dst, a.dport, f.proto)}`;
  const rev = f.reverse ? ` | reply: ${dirText(f.reverse)}` : '';
  const warn = f.warnings.length ? ` !${f.warnings.join(',')}` : '';
  return `${head} | ${dirText(a)}${rev}${warn}`;
}

export function formatFlow(f: FlowSummary, format: OutputFormat): string {
  return format === 'json' ? JSON.stringify(f) : flowLine(f);
}

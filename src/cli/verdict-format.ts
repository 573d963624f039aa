// One verdict, printed one way whoever prints it: `calitrace trace` (a verdict judged in this process) and
// `calitrace observe` (one that came over the API) both hand the wire message (api/convert's
// verdictMessage is the one conversion) to the functions here, so the JSON object (schema
// calitrace.verdict/v1, docs/output.md), the compact line and the table row cannot drift apart.
import { calitrace } from '../api/proto';
import { protocolName } from '../vocabulary';

type PB = calitrace.v1.IPacketVerdict;
const V = calitrace.v1;

/** Written into every JSON verdict; bumped when a field changes meaning or goes away (docs/output.md). */
export const VERDICT_SCHEMA = 'calitrace.verdict/v1';

// Protocol names come from the one table every filter accepts (src/vocabulary).
export { protocolName };

const ICMP4: Record<number, string> = { 0: 'echo-reply', 3: 'unreachable', 5: 'redirect', 8: 'echo-request', 11: 'time-exceeded', 12: 'parameter-problem' };
const ICMP6: Record<number, string> = { 1: 'unreachable', 2: 'packet-too-big', 3: 'time-exceeded', 128: 'echo-request', 129: 'echo-reply', 133: 'router-solicitation', 134: 'router-advertisement', 135: 'neighbor-solicitation', 136: 'neighbor-advertisement' };

/** ICMP type by name ('echo-request'), or 'type N' for the rest. */
export function icmpTypeName(protocol: number, type: number): string {
  return (protocol === 58 ? ICMP6 : ICMP4)[type] ?? `type ${type}`;
}

function isIcmp(p: number): boolean {
  return p === 1 || p === 58;
}

const DIRECTIONS: Record<number, 'ingress' | 'egress' | 'drop' | 'unspecified'> = {
  [V.Direction.INGRESS]: 'ingress',
  [V.Direction.EGRESS]: 'egress',
  [V.Direction.DROP]: 'drop',
};

function directionName(d: number | null | undefined): string {
  return DIRECTIONS[d ?? 0] ?? 'unspecified';
}

function podName(p: calitrace.v1.IPodRef | null | undefined): string | null {
  return p && p.name ? `${p.namespace}/${p.name}` : null;
}

/** The verdict as one JSON object (schema calitrace.verdict/v1): the same fields from trace and observe. */
export function verdictJson(v: PB, node: string): Record<string, unknown> {
  const protocol = v.protocol ?? 0;
  return {
    schema: VERDICT_SCHEMA,
    time: new Date(Number(v.timeMs ?? 0)).toISOString(),
    node,
    verdict: V.Verdict[v.verdict ?? 0],
    reason: v.reason ?? '',
    warnings: v.warnings ?? [],
    family: v.family ?? 4,
    protocol: protocolName(protocol),
    src: v.src ?? '',
    dst: v.dst ?? '',
    sport: v.sport ?? 0,
    dport: v.dport ?? 0,
    srcPod: podName(v.srcPod),
    dstPod: podName(v.dstPod),
    icmp: isIcmp(protocol) ? { type: v.icmpType ?? 0, name: icmpTypeName(protocol, v.icmpType ?? 0), code: v.icmpCode ?? 0, id: v.icmpId ?? 0, seq: v.icmpSeq ?? 0 } : null,
    length: v.length ?? 0,
    observed: (v.observed ?? []).map((h) => {
      const hop: Record<string, unknown> = { interface: h.interface ?? '', direction: directionName(h.direction), timeNs: Number(h.timeNs ?? 0) };
      if (h.tunnel) hop.tunnel = { outerSrc: h.tunnel.outerSrc ?? '', outerDst: h.tunnel.outerDst ?? '', vni: h.tunnel.vni ?? 0 };
      if (h.dropReason) hop.dropReason = h.dropReason;
      return hop;
    }),
    predicted: v.predicted ?? [],
    kernel: v.kernel ? { result: v.kernel.result ?? '', interface: v.kernel.interface || null, nexthop: v.kernel.nexthop || null } : null,
    latencyUs: v.latencyUs ? v.latencyUs : null,
    decision: v.decision || null,
    route: v.route || null,
    generation: v.generation ? Number(v.generation) : null,
    flow: v.flowKey || null,
    nat: v.natSrc || v.natDst ? { src: v.natSrc ? { from: v.natSrc.from, to: v.natSrc.to } : null, dst: v.natDst ? { from: v.natDst.from, to: v.natDst.to } : null } : null,
    fingerprint: v.fingerprint ?? '',
  };
}

/** "ems/pod-a (10.233.101.222:80)" when the pod is known, else the address. */
export function endpointText(ip: string, port: number, pod?: calitrace.v1.IPodRef | null): string {
  const addr = port ? (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`) : ip;
  const name = podName(pod);
  return name ? `${name} (${addr})` : addr;
}

/** "icmp echo-request seq 3", "tcp", "udp". */
export function protocolText(protocol: number, icmpType?: number | null, icmpSeq?: number | null): string {
  if (!isIcmp(protocol) || icmpType === undefined || icmpType === null) return protocolName(protocol);
  return `${protocolName(protocol)} ${icmpTypeName(protocol, icmpType ?? 0)}${icmpSeq ? ` seq ${icmpSeq}` : ''}`;
}

/** The drop marker, the same in verdict lines, flow lines and the table: ✗ and the kernel's reason. */
export function dropMarker(reason?: string | null, iface?: string | null): string {
  return `✗drop${reason ? `:${reason}` : ''}${iface ? `@${iface}` : ''}`;
}

/** Observed hops: `cali11299111064 → vxlan.calico → ens3[vxlan 172.27.71.12]`, a drop as its marker. */
export function observedPath(hops: calitrace.v1.IHop[]): string {
  if (hops.length === 0) return '-';
  return hops
    .map((h) => {
      if (h.direction === V.Direction.DROP) return dropMarker(h.dropReason, h.interface);
      const t = h.tunnel;
      return t ? `${h.interface}[vxlan ${h.direction === V.Direction.EGRESS ? t.outerDst : t.outerSrc}]` : (h.interface ?? '');
    })
    .join(' → ');
}

/** Interfaces of a path, with the drop marker where the packet died (flows: the last observed path). */
export function ifacePath(ifaces: string[], dropped = false): string {
  const p = ifaces.length ? ifaces.join(' → ') : '-';
  return dropped ? `${p} → ${dropMarker()}` : p;
}

function natText(v: PB): string {
  const parts: string[] = [];
  if (v.natDst?.to) parts.push(`DNAT → ${v.natDst.to}`);
  if (v.natSrc?.to) parts.push(`SNAT → ${v.natSrc.to}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

export function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

/**
 * One line for people, shared by trace and observe:
 * `12:00:01.123 [node] MATCHED  ems/a (10.233.101.222) > ems/b (10.233.101.224) icmp echo-request seq 1
 *  | observed cali… → cali… | latency 152µs | predicted cali… → cali…` and, unless MATCHED, `| reason`.
 */
export function verdictLine(v: PB, node: string): string {
  const protocol = v.protocol ?? 0;
  const lat = v.latencyUs ? ` | latency ${Math.round(v.latencyUs * 100) / 100}µs` : '';
  const warn = v.warnings?.length ? ` | warnings ${v.warnings.join(',')}` : '';
  const predicted = v.predicted?.length ? v.predicted.join(' → ') : '-';
  const name = V.Verdict[v.verdict ?? 0];
  let line =
    `${clock(Number(v.timeMs ?? 0))} [${node}] ${name.padEnd(13)} ` +
    `${endpointText(v.src ?? '', v.sport ?? 0, v.srcPod)} > ${endpointText(v.dst ?? '', v.dport ?? 0, v.dstPod)} ` +
    `${protocolText(protocol, v.icmpType, v.icmpSeq)}${natText(v)}` +
    ` | observed ${observedPath(v.observed ?? [])}${lat} | predicted ${predicted}${warn}`;
  if ((name !== 'MATCHED' || v.warnings?.length) && v.reason) line += ` | ${v.reason}`;
  return line;
}

// ---- the table --------------------------------------------------------------------------------------

/** One table row's cells, by column name; absent cells print empty. */
export type TableCells = Partial<Record<ColumnName, string>>;
type ColumnName = 'TIME' | 'NODE' | 'TYPE' | 'VERDICT' | 'SOURCE' | 'DESTINATION' | 'POD' | 'PROTO' | 'OBSERVED' | 'REASON';

interface Column {
  name: ColumnName;
  min: number;
  /** A comfortable width, reached by every column before any grows further. */
  want: number;
  max: number;
}

// In order of appearance. Every shown column gets its minimum; what the terminal leaves goes first to
// the columns people read (GROW_ORDER) up to a comfortable width, then up to their maximum; REASON last.
const COLUMNS: Column[] = [
  { name: 'TIME', min: 12, want: 12, max: 12 },
  { name: 'NODE', min: 6, want: 10, max: 16 },
  { name: 'TYPE', min: 7, want: 7, max: 7 },
  { name: 'VERDICT', min: 13, want: 13, max: 13 },
  { name: 'SOURCE', min: 15, want: 15, max: 21 },
  { name: 'DESTINATION', min: 15, want: 15, max: 21 },
  { name: 'POD', min: 9, want: 28, max: 90 },
  { name: 'PROTO', min: 4, want: 17, max: 22 },
  { name: 'OBSERVED', min: 12, want: 33, max: 60 },
  { name: 'REASON', min: 10, want: 40, max: 1000 },
];
const GROW_ORDER: ColumnName[] = ['OBSERVED', 'POD', 'REASON', 'PROTO', 'NODE', 'SOURCE', 'DESTINATION', 'REASON'];
/** Widths the kept columns must be able to reach before an optional one (TYPE, NODE, PROTO) is shown. */
const READABLE: Partial<Record<ColumnName, number>> = { POD: 20, OBSERVED: 24, REASON: 24 };

// What a narrow terminal gives up first; TIME, VERDICT, SOURCE, DESTINATION, POD and REASON always stay
// (they fit 80 columns).
const DROP_FIRST: ColumnName[] = ['TYPE', 'NODE', 'PROTO', 'OBSERVED'];

/** The columns shown at `width`, each with its width: minimums first, the rest shared left to right. */
export function tableLayout(width: number): { column: Column; width: number }[] {
  let shown = [...COLUMNS];
  const need = (cols: Column[]) => cols.reduce((a, c) => a + c.min, 0) + cols.length - 1;
  const readable = (cols: Column[]) => cols.reduce((a, c) => a + Math.max(c.min, READABLE[c.name] ?? 0), 0) + cols.length - 1;
  for (const name of DROP_FIRST) {
    // Optional columns go while the essential ones would be unreadable; OBSERVED only when nothing else fits.
    if ((name === 'OBSERVED' ? need(shown) : readable(shown)) <= width) continue;
    shown = shown.filter((c) => c.name !== name);
  }
  const layout = shown.map((column) => ({ column, width: column.min }));
  let spare = width - need(shown);
  for (const target of ['want', 'max'] as const) {
    for (const name of GROW_ORDER) {
      const l = layout.find((x) => x.column.name === name);
      if (!l || spare <= 0) continue;
      const add = Math.min(spare, l.column[target] - l.width);
      if (add <= 0) continue;
      l.width += add;
      spare -= add;
    }
  }
  return layout;
}

function fit(text: string, w: number): string {
  return text.length <= w ? text.padEnd(w) : `${text.slice(0, Math.max(0, w - 1))}…`;
}

/** A row no wider than `width` (the terminal's columns). */
export function tableRow(cells: TableCells, width: number): string {
  const line = tableLayout(width)
    .map((l) => fit(cells[l.column.name] ?? '', l.width))
    .join(' ')
    .trimEnd();
  return line.length > width ? line.slice(0, width) : line;
}

export function tableHeader(width: number): string {
  return tableRow(Object.fromEntries(COLUMNS.map((c) => [c.name, c.name])) as TableCells, width);
}

function podsCell(src: calitrace.v1.IPodRef | null | undefined, dst: calitrace.v1.IPodRef | null | undefined): string {
  const a = podName(src);
  const b = podName(dst);
  return a || b ? `${a ?? '-'} > ${b ?? '-'}` : '-';
}

export function verdictCells(v: PB, node: string): TableCells {
  const protocol = v.protocol ?? 0;
  const name = V.Verdict[v.verdict ?? 0];
  return {
    TIME: clock(Number(v.timeMs ?? 0)),
    NODE: node,
    TYPE: 'verdict',
    VERDICT: name,
    SOURCE: endpointText(v.src ?? '', v.sport ?? 0),
    DESTINATION: endpointText(v.dst ?? '', v.dport ?? 0),
    POD: podsCell(v.srcPod, v.dstPod),
    PROTO: protocolText(protocol, v.icmpType),
    OBSERVED: observedPath(v.observed ?? []),
    REASON: name === 'MATCHED' && !v.warnings?.length ? '' : v.reason ?? '',
  };
}

export function podsText(src: calitrace.v1.IPodRef | null | undefined, dst: calitrace.v1.IPodRef | null | undefined): string {
  return podsCell(src, dst);
}

/** The width to fit: the terminal's, else $COLUMNS, else no limit (a pipe or a file gets whole lines). */
export function outputWidth(stream: NodeJS.WriteStream = process.stdout): number {
  if (stream.isTTY && stream.columns) return stream.columns;
  const env = Number(process.env.COLUMNS);
  return Number.isFinite(env) && env > 0 ? env : 1000;
}

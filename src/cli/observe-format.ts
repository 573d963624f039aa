// How `calitrace observe` prints Observe items: compact (one line for people, like `hubble observe`),
// json (one object per line, enum names, for jq), table (aligned columns, header once) and dict (one
// field per line, keys right-aligned, records separated by a dashed line, as `hubble observe -o dict`).
import { calitrace, PLAIN } from '../api/proto';

type Msg = calitrace.v1.ObserveResponse;
export type ObserveOutput = 'compact' | 'json' | 'table' | 'dict';

/** Printed between two dict records (hubble's separator). */
export const DICT_SEPARATOR = '------------';

const V = calitrace.v1;
const PROTO: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6', 132: 'SCTP' };

function time(ms: number): string {
  const d = new Date(Number(ms));
  const month = d.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  return `${month} ${String(d.getUTCDate()).padStart(2, ' ')} ${d.toISOString().slice(11, 23)}`;
}

function endpoint(ip: string, port: number, pod: calitrace.v1.IPodRef | null | undefined): string {
  const addr = port ? (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`) : ip;
  return pod && pod.name ? `${pod.namespace}/${pod.name} (${addr})` : addr;
}

function proto(n: number, icmpType?: number, icmpSeq?: number): string {
  const name = PROTO[n] ?? `proto ${n}`;
  if ((n === 1 || n === 58) && icmpType !== undefined) {
    const kind = n === 1 ? ({ 0: 'echo-reply', 8: 'echo-request', 3: 'unreachable', 11: 'time-exceeded' } as Record<number, string>)[icmpType] : ({ 128: 'echo-request', 129: 'echo-reply' } as Record<number, string>)[icmpType];
    return `${name} ${kind ?? `type ${icmpType}`}${icmpSeq ? ` seq=${icmpSeq}` : ''}`;
  }
  return name;
}

function path(ifaces: string[]): string {
  return ifaces.length ? ifaces.join(' → ') : '(none)';
}

function compact(m: Msg): string {
  const head = `${time(Number(m.timeMs))} [${m.node}]`;
  switch (m.item) {
    case 'verdict': {
      const v = m.verdict as calitrace.v1.PacketVerdict;
      const observed = v.observed.map((h) => `${h.interface ?? ''}${h.direction === V.Direction.DROP ? '(drop)' : ''}`);
      const nat = [v.natDst?.to && `DNAT -> ${v.natDst.to}`, v.natSrc?.to && `SNAT -> ${v.natSrc.to}`].filter(Boolean);
      return `${head} ${endpoint(v.src, v.sport, v.srcPod)} -> ${endpoint(v.dst, v.dport, v.dstPod)}${nat.length ? ` (${nat.join(', ')})` : ''} ${proto(v.protocol, v.icmpType, v.icmpSeq)} ` +
        `${V.Verdict[v.verdict]} observed: ${path(observed)} predicted: ${path(v.predicted)}${v.reason ? ` — ${v.reason}` : ''}`;
    }
    case 'packet': {
      const p = m.packet as calitrace.v1.Packet;
      const where = `${p.interface} ${V.Direction[p.direction].toLowerCase()}`;
      const tunnel = p.tunnel ? ` vxlan ${p.tunnel.outerSrc} -> ${p.tunnel.outerDst} vni ${p.tunnel.vni}` : '';
      const drop = p.kind === 'drop' ? ` DROP ${p.dropReasonName || p.dropReason}` : '';
      return `${head} ${where} ${endpoint(p.src, p.sport, p.srcPod)} -> ${endpoint(p.dst, p.dport, p.dstPod)} ${proto(p.protocol, p.icmpType, p.icmpSeq)} len ${p.length}${tunnel}${drop}`;
    }
    case 'flow': {
      const f = m.flow as calitrace.v1.Flow;
      return `${head} FLOW ${endpoint(f.src, f.sport, f.srcPod)} <-> ${endpoint(f.dst, f.dport, f.dstPod)} ${proto(f.protocol)} ` +
        `${f.packets} pkts ${V.Verdict[f.verdict]} observed: ${path(f.path)} predicted: ${path(f.predicted)}${f.state && f.state !== 'active' ? ` (${f.state})` : ''}`;
    }
    case 'routeChange': {
      const r = m.routeChange as calitrace.v1.RouteChange;
      return `${head} ROUTES generation ${r.generation}: ${r.changes.map((c) => `${c.action} ${c.kind} ${c.text}`).join('; ')}`;
    }
    case 'lost': {
      const l = m.lost as calitrace.v1.LostEvents;
      return `${head} LOST ${l.count} events (${V.LostEvents.Source[l.source]}, ${l.total} in total)${l.detail ? `: ${l.detail}` : ''}`;
    }
    case 'nodeEvent': {
      const n = m.nodeEvent as calitrace.v1.NodeEvent;
      const retry = Number(n.retryInMs) ? `; retrying in ${(Number(n.retryInMs) / 1000).toFixed(1)} s` : '';
      return `${head} NODE ${V.NodeState[n.state].replace(/^NODE_/, '')} ${n.address}: ${n.reason}${retry}`;
    }
    case 'stitched': {
      const s = m.stitched as calitrace.v1.StitchedPath;
      const first = s.halves[0]?.verdict;
      const hops = s.halves.map((h) => `${h.node}: ${path((h.verdict?.observed ?? []).map((o) => `${o.interface ?? ''}${o.direction === V.Direction.DROP ? '(drop)' : ''}`))}`);
      return `${head} STITCHED ${endpoint(s.src, first?.sport ?? 0, first?.srcPod)} -> ${endpoint(s.dst, first?.dport ?? 0, first?.dstPod)} ${proto(s.protocol, first?.icmpType ?? 0, first?.icmpSeq ?? 0)} ` +
        `${V.Verdict[s.verdict]} ${hops.join(' ==> ')}${s.nodeToNodeUs ? ` (node→node ${s.nodeToNodeUs.toFixed(0)} µs, ${s.latencyClock} clock)` : ''} — ${s.reason}`;
    }
    default:
      return `${head} (an item this client does not know; upgrade calitrace)`;
  }
}

const COLUMNS = [
  ['TIME', 22], ['NODE', 10], ['TYPE', 7], ['SOURCE', 28], ['DESTINATION', 28], ['PROTO', 7], ['VERDICT', 13], ['OBSERVED', 40], ['PREDICTED', 0],
] as const;

function row(cells: string[]): string {
  return cells.map((c, i) => (COLUMNS[i][1] ? c.padEnd(COLUMNS[i][1]) : c)).join(' ').trimEnd();
}

function tableRow(m: Msg): string {
  const t = time(Number(m.timeMs));
  switch (m.item) {
    case 'verdict': {
      const v = m.verdict as calitrace.v1.PacketVerdict;
      return row([t, m.node, 'verdict', endpoint(v.src, v.sport, null), endpoint(v.dst, v.dport, null), PROTO[v.protocol] ?? String(v.protocol), V.Verdict[v.verdict], path(v.observed.map((h) => h.interface ?? '')), path(v.predicted)]);
    }
    case 'packet': {
      const p = m.packet as calitrace.v1.Packet;
      return row([t, m.node, 'packet', endpoint(p.src, p.sport, null), endpoint(p.dst, p.dport, null), PROTO[p.protocol] ?? String(p.protocol), p.kind === 'drop' ? 'DROP' : '', `${p.interface} ${V.Direction[p.direction].toLowerCase()}`, '']);
    }
    case 'flow': {
      const f = m.flow as calitrace.v1.Flow;
      return row([t, m.node, 'flow', endpoint(f.src, f.sport, null), endpoint(f.dst, f.dport, null), PROTO[f.protocol] ?? String(f.protocol), V.Verdict[f.verdict], path(f.path), path(f.predicted)]);
    }
    case 'routeChange': {
      const r = m.routeChange as calitrace.v1.RouteChange;
      return row([t, m.node, 'routes', '', '', '', '', `generation ${r.generation}`, r.changes.map((c) => `${c.action} ${c.text}`).join('; ')]);
    }
    case 'lost': {
      const l = m.lost as calitrace.v1.LostEvents;
      return row([t, m.node, 'lost', '', '', '', `${l.count} LOST`, V.LostEvents.Source[l.source], l.detail]);
    }
    case 'nodeEvent': {
      const n = m.nodeEvent as calitrace.v1.NodeEvent;
      return row([t, m.node, 'node', n.address, '', '', V.NodeState[n.state].replace(/^NODE_/, ''), n.reason, '']);
    }
    case 'stitched': {
      const s = m.stitched as calitrace.v1.StitchedPath;
      const hops = s.halves.flatMap((h) => (h.verdict?.observed ?? []).map((o) => `${h.node}:${o.interface ?? ''}`));
      return row([t, m.node, 'stitch', s.src, s.dst, PROTO[s.protocol] ?? String(s.protocol), V.Verdict[s.verdict], path(hops), s.reason]);
    }
    default:
      return row([t, m.node, '?', '', '', '', '', '', '']);
  }
}

export function tableHeader(): string {
  return row(COLUMNS.map((c) => c[0]));
}

function dictFields(m: Msg): [string, string][] {
  const head: [string, string][] = [['TIMESTAMP', time(Number(m.timeMs))], ['NODE', m.node]];
  switch (m.item) {
    case 'verdict': {
      const v = m.verdict as calitrace.v1.PacketVerdict;
      const f: [string, string][] = [
        ...head,
        ['TYPE', 'verdict'],
        ['SOURCE', endpoint(v.src, v.sport, v.srcPod)],
        ['DESTINATION', endpoint(v.dst, v.dport, v.dstPod)],
        ['PROTOCOL', proto(v.protocol, v.icmpType, v.icmpSeq)],
        ['VERDICT', V.Verdict[v.verdict]],
        ['REASON', v.reason],
        ['OBSERVED', path(v.observed.map((h) => `${h.interface ?? ''} ${h.direction === V.Direction.DROP ? `drop${h.dropReason ? ` ${h.dropReason}` : ''}` : V.Direction[h.direction ?? 0].toLowerCase()}`.trim()))],
        ['PREDICTED', path(v.predicted)],
      ];
      if (v.route) f.push(['ROUTE', v.route]);
      if (v.natDst?.to) f.push(['DNAT', `${v.natDst.from} -> ${v.natDst.to}`]);
      if (v.natSrc?.to) f.push(['SNAT', `${v.natSrc.from} -> ${v.natSrc.to}`]);
      if (v.warnings.length) f.push(['WARNINGS', v.warnings.join(', ')]);
      if (v.latencyUs) f.push(['LATENCY', `${v.latencyUs} µs`]);
      return f;
    }
    case 'packet': {
      const p = m.packet as calitrace.v1.Packet;
      const f: [string, string][] = [
        ...head,
        ['TYPE', p.kind === 'drop' ? 'drop' : 'packet'],
        ['INTERFACE', `${p.interface} ${V.Direction[p.direction].toLowerCase()}`],
        ['SOURCE', endpoint(p.src, p.sport, p.srcPod)],
        ['DESTINATION', endpoint(p.dst, p.dport, p.dstPod)],
        ['PROTOCOL', proto(p.protocol, p.icmpType, p.icmpSeq)],
        ['LENGTH', String(p.length)],
      ];
      if (p.tunnel) f.push(['TUNNEL', `vxlan ${p.tunnel.outerSrc} -> ${p.tunnel.outerDst} vni ${p.tunnel.vni}`]);
      if (p.kind === 'drop') f.push(['DROP REASON', p.dropReasonName || String(p.dropReason)]);
      return f;
    }
    case 'flow': {
      const fl = m.flow as calitrace.v1.Flow;
      return [
        ...head,
        ['TYPE', 'flow'],
        ['SOURCE', endpoint(fl.src, fl.sport, fl.srcPod)],
        ['DESTINATION', endpoint(fl.dst, fl.dport, fl.dstPod)],
        ['PROTOCOL', proto(fl.protocol)],
        ['PACKETS', String(fl.packets)],
        ['VERDICT', V.Verdict[fl.verdict]],
        ['OBSERVED', path(fl.path)],
        ['PREDICTED', path(fl.predicted)],
        ['STATE', fl.state || 'active'],
      ];
    }
    case 'routeChange': {
      const r = m.routeChange as calitrace.v1.RouteChange;
      return [...head, ['TYPE', 'route_change'], ['GENERATION', String(r.generation)], ...r.changes.map((c) => ['CHANGE', `${c.action} ${c.kind} ${c.text}`] as [string, string])];
    }
    case 'lost': {
      const l = m.lost as calitrace.v1.LostEvents;
      const f: [string, string][] = [...head, ['TYPE', 'lost'], ['LOST', `${l.count} events (${l.total} in total)`], ['WHERE', V.LostEvents.Source[l.source]]];
      if (l.detail) f.push(['DETAIL', l.detail]);
      return f;
    }
    default:
      return [...head, ['TYPE', 'unknown (upgrade calitrace)']];
  }
}

/** One record, one field per line; the caller prints DICT_SEPARATOR between records. */
function dict(m: Msg): string {
  const fields = dictFields(m);
  const width = Math.max(...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${k.padStart(width)}: ${v}`).join('\n');
}

export function formatObserved(m: Msg, output: ObserveOutput): string {
  if (output === 'json') return JSON.stringify(V.ObserveResponse.toObject(m, PLAIN));
  if (output === 'dict') return dict(m);
  if (output === 'table') return tableRow(m);
  return compact(m);
}

// How `calitrace observe` prints Observe items: compact (one line for people, like `hubble observe`),
// json (one object per line, for jq), table (columns that fit the terminal, header once) and dict (one
// field per line, keys right-aligned, records separated by a dashed line, as `hubble observe -o dict`).
// Verdicts print exactly as `calitrace trace` prints them (src/cli/verdict-format.ts: one schema, one line, one row).
import { calitrace, PLAIN } from '../api/proto';
import { clock, dropMarker, endpointText, ifacePath, observedPath, outputWidth, podsText, protocolText, tableHeader as header, tableRow, verdictCells, verdictJson, verdictLine } from './verdict-format';

type Msg = calitrace.v1.ObserveResponse;
export type ObserveOutput = 'compact' | 'json' | 'table' | 'dict';

/** Printed between two dict records (hubble's separator). */
export const DICT_SEPARATOR = '------------';

const V = calitrace.v1;
function path(ifaces: string[]): string {
  return ifaces.length ? ifaces.join(' → ') : '(none)';
}

function compact(m: Msg): string {
  const head = `${clock(Number(m.timeMs))} [${m.node}]`;
  switch (m.item) {
    case 'verdict':
      return verdictLine(m.verdict as calitrace.v1.PacketVerdict, m.node);
    case 'packet': {
      const p = m.packet as calitrace.v1.Packet;
      const where = `${p.interface} ${V.Direction[p.direction].toLowerCase()}`;
      const tunnel = p.tunnel ? ` vxlan ${p.tunnel.outerSrc} > ${p.tunnel.outerDst} vni ${p.tunnel.vni}` : '';
      const drop = p.kind === 'drop' ? ` ${dropMarker(p.dropReasonName || String(p.dropReason))}` : '';
      return `${head} ${where} ${endpointText(p.src, p.sport, p.srcPod)} > ${endpointText(p.dst, p.dport, p.dstPod)} ${protocolText(p.protocol, p.icmpType, p.icmpSeq)} len ${p.length}${tunnel}${drop}`;
    }
    case 'flow': {
      const f = m.flow as calitrace.v1.Flow;
      return `${head} FLOW ${endpointText(f.src, f.sport, f.srcPod)} <> ${endpointText(f.dst, f.dport, f.dstPod)} ${protocolText(f.protocol)} ` +
        `${f.packets} pkts ${V.Verdict[f.verdict]} | observed ${flowPath(f)} | predicted ${path(f.predicted)}${f.state && f.state !== 'active' ? ` (${f.state})` : ''}`;
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
      const hops = s.halves.map((h) => `${h.node}: ${observedPath(h.verdict?.observed ?? [])}`);
      return `${head} STITCHED ${endpointText(s.src, first?.sport ?? 0, first?.srcPod)} > ${endpointText(s.dst, first?.dport ?? 0, first?.dstPod)} ${protocolText(s.protocol, first?.icmpType ?? 0, first?.icmpSeq ?? 0)} ` +
        `${V.Verdict[s.verdict]} | observed ${hops.join(' ==> ')}${s.nodeToNodeUs ? ` (node→node ${s.nodeToNodeUs.toFixed(0)} µs, ${s.latencyClock} clock)` : ''} — ${s.reason}`;
    }
    default:
      return `${head} (an item this client does not know; upgrade calitrace)`;
  }
}

/** A flow's observed path with the drop marker when its packets were dropped. */
function flowPath(f: calitrace.v1.Flow): string {
  const dropped = f.verdict === V.Verdict.DROPPED || f.verdict === V.Verdict.EXPECTED_DROP;
  return ifacePath(f.path, dropped);
}

function row(m: Msg, width: number): string {
  const t = clock(Number(m.timeMs));
  switch (m.item) {
    case 'verdict':
      return tableRow(verdictCells(m.verdict as calitrace.v1.PacketVerdict, m.node), width);
    case 'packet': {
      const p = m.packet as calitrace.v1.Packet;
      const hop = p.kind === 'drop' ? dropMarker(p.dropReasonName || String(p.dropReason), p.interface) : `${p.interface} ${V.Direction[p.direction].toLowerCase()}`;
      return tableRow({ TIME: t, NODE: m.node, TYPE: 'packet', VERDICT: p.kind === 'drop' ? 'DROP' : '', SOURCE: endpointText(p.src, p.sport), DESTINATION: endpointText(p.dst, p.dport), POD: podsText(p.srcPod, p.dstPod), PROTO: protocolText(p.protocol, p.icmpType), OBSERVED: hop }, width);
    }
    case 'flow': {
      const f = m.flow as calitrace.v1.Flow;
      return tableRow({ TIME: t, NODE: m.node, TYPE: 'flow', VERDICT: V.Verdict[f.verdict], SOURCE: endpointText(f.src, f.sport), DESTINATION: endpointText(f.dst, f.dport), POD: podsText(f.srcPod, f.dstPod), PROTO: protocolText(f.protocol), OBSERVED: flowPath(f), REASON: `${f.packets} pkts${f.state && f.state !== 'active' ? `, ${f.state}` : ''}` }, width);
    }
    case 'routeChange': {
      const r = m.routeChange as calitrace.v1.RouteChange;
      return tableRow({ TIME: t, NODE: m.node, TYPE: 'routes', OBSERVED: `generation ${r.generation}`, REASON: r.changes.map((c) => `${c.action} ${c.text}`).join('; ') }, width);
    }
    case 'lost': {
      const l = m.lost as calitrace.v1.LostEvents;
      return tableRow({ TIME: t, NODE: m.node, TYPE: 'lost', VERDICT: `${l.count} LOST`, OBSERVED: V.LostEvents.Source[l.source], REASON: l.detail }, width);
    }
    case 'nodeEvent': {
      const n = m.nodeEvent as calitrace.v1.NodeEvent;
      return tableRow({ TIME: t, NODE: m.node, TYPE: 'node', SOURCE: n.address, VERDICT: V.NodeState[n.state].replace(/^NODE_/, ''), REASON: n.reason }, width);
    }
    case 'stitched': {
      const s = m.stitched as calitrace.v1.StitchedPath;
      const hops = s.halves.flatMap((h) => (h.verdict?.observed ?? []).map((o) => `${h.node}:${o.interface ?? ''}`));
      return tableRow({ TIME: t, NODE: m.node, TYPE: 'stitch', SOURCE: s.src, DESTINATION: s.dst, PROTO: protocolText(s.protocol), VERDICT: V.Verdict[s.verdict], OBSERVED: path(hops), REASON: s.reason }, width);
    }
    default:
      return tableRow({ TIME: t, NODE: m.node, TYPE: '?' }, width);
  }
}

/** The table's header, as wide as `width` (default: the terminal). */
export function tableHeader(width = outputWidth()): string {
  return header(width);
}

/** Observe items as JSON: a verdict in the schema trace also prints; other items as the API's message, without the empty batch. */
function json(m: Msg): string {
  if (m.item === 'verdict') return JSON.stringify(verdictJson(m.verdict as calitrace.v1.PacketVerdict, m.node));
  const o = V.ObserveResponse.toObject(m, PLAIN) as Record<string, unknown>;
  if (Array.isArray(o.batch) && o.batch.length === 0) delete o.batch;
  return JSON.stringify(o);
}

function dictFields(m: Msg): [string, string][] {
  const head: [string, string][] = [['TIMESTAMP', new Date(Number(m.timeMs)).toISOString()], ['NODE', m.node]];
  switch (m.item) {
    case 'verdict': {
      const v = m.verdict as calitrace.v1.PacketVerdict;
      const f: [string, string][] = [
        ...head,
        ['TYPE', 'verdict'],
        ['SOURCE', endpointText(v.src, v.sport, v.srcPod)],
        ['DESTINATION', endpointText(v.dst, v.dport, v.dstPod)],
        ['PROTOCOL', protocolText(v.protocol, v.icmpType, v.icmpSeq)],
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
        ['SOURCE', endpointText(p.src, p.sport, p.srcPod)],
        ['DESTINATION', endpointText(p.dst, p.dport, p.dstPod)],
        ['PROTOCOL', protocolText(p.protocol, p.icmpType, p.icmpSeq)],
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
        ['SOURCE', endpointText(fl.src, fl.sport, fl.srcPod)],
        ['DESTINATION', endpointText(fl.dst, fl.dport, fl.dstPod)],
        ['PROTOCOL', protocolText(fl.protocol)],
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

export function formatObserved(m: Msg, output: ObserveOutput, width = outputWidth()): string {
  if (output === 'json') return json(m);
  if (output === 'dict') return dict(m);
  if (output === 'table') return row(m, width);
  return compact(m);
}

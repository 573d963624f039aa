// How `calitrace observe` prints Observe items: compact (one line for people, like `hubble observe`),
// json (one object per line, for jq) and table (columns that fit the terminal, header once). Verdicts
// print exactly as `calitrace trace` prints them (src/cli/verdict-format.ts: one schema, one line, one row).
import { calitrace, PLAIN } from '../api/proto';
import { clock, dropMarker, endpointText, ifacePath, outputWidth, podsText, protocolText, tableHeader as header, tableRow, verdictCells, verdictJson, verdictLine } from './verdict-format';

type Msg = calitrace.v1.ObserveResponse;
export type ObserveOutput = 'compact' | 'json' | 'table';

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

export function formatObserved(m: Msg, output: ObserveOutput, width = outputWidth()): string {
  if (output === 'json') return json(m);
  if (output === 'table') return row(m, width);
  return compact(m);
}

// The detail pane of one flow: verdict and reason, predicted vs observed vs kernel, the hop diagram of
// its latest packet with observed timestamps and per-hop latency, the drop reason, and the explainer's
// step-by-step story. Returns every line; the pane scrolls over them.
import type { Store } from '../store';
import { FlowRow, observedPath } from '../store';
import type { StitchedView } from '../model';
import { escapeMarkup } from '../escape';
import { VERDICTS } from '../model';
import { VERDICT_COLOUR, clock, clockMs, endpoint, micros, path, protoPorts } from './format';

const e = escapeMarkup;

function title(text: string): string {
  return `{bold}{underline}${e(text)}{/underline}{/bold}`;
}

export function detailLines(store: Store, flow: FlowRow): string[] {
  const v = flow.last;
  const out: string[] = [];
  const colour = VERDICT_COLOUR[flow.verdict];
  out.push(
    `{bold}Flow{/bold}  ${e(protoPorts(flow))}  ${e(endpoint(flow.src, flow.srcPod))} → ${e(endpoint(flow.dst, flow.dstPod))}`,
  );
  out.push(`{bold}Verdict{/bold}  {${colour}-fg}{bold}${e(flow.verdict)}{/bold}{/${colour}-fg}  ${e(flow.reason)}`);
  if (v.warnings.length) out.push(`{bold}Warnings{/bold}  {yellow-fg}${e(v.warnings.join(', '))}{/yellow-fg}`);
  const counts = VERDICTS.filter((k) => flow.counts[k] > 0).map((k) => `${k} ${flow.counts[k]}`);
  out.push(
    `{bold}Packets{/bold}  ${flow.packets}, ${flow.replies} of them replies (${e(counts.join(', '))})  first ${clock(flow.firstMs)}  last ${clock(flow.lastMs)}  hop latency ${e(micros(flow.latencyUs))}`,
  );
  out.push('');
  if (v.nat) {
    const rewrites = [v.nat.dst && `destination ${v.nat.dst.from} → ${v.nat.dst.to}`, v.nat.src && `source ${v.nat.src.from} → ${v.nat.src.to}`].filter(Boolean);
    out.push(`{bold}NAT{/bold}  ${e(rewrites.join(', '))} (netfilter, on this node; predicted by the rewritten destination)`);
  }
  out.push(`{bold}Predicted{/bold} ${e(path(flow.predicted))}`);
  out.push(`{bold}Observed{/bold}  ${e(path(flow.observed))}`);
  const reply = flow.lastReply;
  if (reply) {
    const rc = VERDICT_COLOUR[reply.verdict];
    out.push(
      `{bold}Replies{/bold}   {${rc}-fg}${e(reply.verdict)}{/${rc}-fg}  observed ${e(path(observedPath(reply)))}  predicted ${e(path(reply.predicted))}`,
    );
  }
  if (v.kernel) {
    const k = v.kernel;
    out.push(
      `{bold}Kernel view{/bold} (FIB lookup at ingress)  ${e(k.result)}${k.iface ? ` → ${e(k.iface)}` : ''}${k.nexthop ? ` via ${e(k.nexthop)}` : ''}`,
    );
  } else {
    out.push('{bold}Kernel view{/bold} (FIB lookup at ingress)  not reported for this packet');
  }
  const drop = v.observed.find((h) => h.dir === 'drop');
  out.push(`{bold}Drop reason{/bold}  ${drop ? `${e(drop.dropReason ?? 'unknown')} at ${e(drop.iface)}` : 'none (not dropped)'}`);
  out.push('');

  const stitched = store.stitchedFor(v.fingerprint);
  if (stitched) {
    out.push(title(`End to end across nodes: ${stitched.srcNode} → ${stitched.dstNode} (stitched by the relay)`));
    out.push(...stitchedDiagram(stitched));
  } else {
    out.push(title('Hops of the latest packet this way (observed)'));
    out.push(...hopDiagram(flow));
  }
  out.push('');

  out.push(title('Why: the route decision, step by step'));
  const ex = store.explanation(flow.key);
  if (!ex || ex.state === 'pending') out.push('asking the node to explain…');
  else if (ex.state === 'error') out.push(`{red-fg}explain failed: ${e(ex.message)}{/red-fg}`);
  else {
    if (ex.decision || ex.route) out.push(`Decision: ${e(ex.decision ?? '?')}${ex.route ? `  (route: ${e(ex.route)})` : ''}`);
    ex.steps.forEach((s, i) => {
      out.push(`{bold}${i + 1}. ${e(s.title)}{/bold}`);
      for (const line of s.lines) out.push(`   ${e(line)}`);
    });
    for (const w of ex.warnings ?? []) out.push(`{yellow-fg}warning: ${e(w)}{/yellow-fg}`);
  }
  return out;
}

/**
 * One packet across two nodes as one diagram: the sender's hops, the underlay with the node→node time,
 * the receiver's hops, and the whole path's verdict. Times are per node (each node's own clock).
 */
export function stitchedDiagram(s: StitchedView): string[] {
  const out: string[] = [];
  const colour = VERDICT_COLOUR[s.verdict];
  out.push(`{bold}Whole path{/bold}  {${colour}-fg}{bold}${e(s.verdict)}{/bold}{/${colour}-fg}  ${e(s.reason)}`);
  const first = s.halves[0]?.verdict;
  if (first) out.push(`  ${e(endpoint(first.src, first.srcPod))}`);
  s.halves.forEach((half, i) => {
    if (i > 0) {
      const t = s.nodeToNodeUs !== undefined ? `  +${e(micros(s.nodeToNodeUs))} node→node${s.latencyClock === 'wall' ? ' (wall clocks: includes clock skew)' : ''}` : '';
      out.push(`    ║  underlay${t}`);
    }
    const v = half.verdict;
    const hc = VERDICT_COLOUR[v.verdict];
    out.push(`  ┌ {bold}${e(half.node)}{/bold}  {${hc}-fg}${e(v.verdict)}{/${hc}-fg}`);
    const t0 = v.observed[0]?.timeNs ?? 0;
    for (const h of v.observed) {
      const tunnel = h.tunnel ? `  VXLAN ${e(h.tunnel.outerSrc)} → ${e(h.tunnel.outerDst)} vni ${h.tunnel.vni}` : '';
      const drop = h.dir === 'drop' ? `  {red-fg}DROPPED${h.dropReason ? ` (${e(h.dropReason)})` : ''}{/red-fg}` : '';
      out.push(`  │ ${e(h.iface)} ${e(h.dir)}  t+${e(micros((h.timeNs - t0) / 1000))}${tunnel}${drop}`);
    }
    out.push('  └');
  });
  if (s.halves.length < 2) out.push(`    ║  {yellow-fg}the other node's half was not seen{/yellow-fg}`);
  const last = s.halves[s.halves.length - 1]?.verdict;
  if (last && s.halves.length === 2 && !last.observed.some((h) => h.dir === 'drop')) out.push(`  ${e(endpoint(last.dst, last.dstPod))}`);
  return out;
}

/** The vertical datapath (as docs/explain.md draws it), drawn from what was observed, with times and per-hop latency. */
export function hopDiagram(flow: FlowRow): string[] {
  // The latest packet may be a reply: its own ends, not the flow's forward ones.
  const v = flow.last;
  const out: string[] = [];
  out.push(`  ${e(endpoint(v.src, v.srcPod))}`);
  if (v.observed.length === 0) {
    out.push('    |  (no hop observed)');
    return out;
  }
  const t0 = v.observed[0].timeNs;
  let prev = t0;
  for (const h of v.observed) {
    const dtUs = (h.timeNs - t0) / 1000;
    const stepUs = (h.timeNs - prev) / 1000;
    prev = h.timeNs;
    const wall = clockMs(v.timeMs + dtUs / 1000);
    out.push(`    |${h === v.observed[0] ? '' : `  +${e(micros(stepUs))}`}`);
    const tunnel = h.tunnel ? `  VXLAN ${e(h.tunnel.outerSrc)} → ${e(h.tunnel.outerDst)} vni ${h.tunnel.vni}` : '';
    const drop = h.dir === 'drop' ? `  {red-fg}DROPPED${h.dropReason ? ` (${e(h.dropReason)})` : ''}{/red-fg}` : '';
    out.push(`  ${e(h.iface)} ${e(h.dir)}  ${wall}  t+${e(micros(dtUs))}${tunnel}${drop}`);
  }
  const last = v.observed[v.observed.length - 1];
  if (last.dir !== 'drop') {
    out.push('    |');
    out.push(`  ${e(endpoint(v.dst, v.dstPod))}`);
  }
  return out;
}

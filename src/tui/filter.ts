// The `/` filter: the API's own filter language (src/hub/filter.ts), parsed and matched with the hub's
// code, so what the UI accepts, rejects and shows is exactly what `calitrace observe` and the server do.
import { compileFilterSet, FilterSubject, parseFilterText } from '../hub/filter';
import type { FilterCompiler } from './app';
import type { UiVerdict } from './model';
import type { FlowRow } from './store';

export function subjectOf(v: UiVerdict): FilterSubject {
  return {
    type: 'VERDICT',
    src: v.src,
    dst: v.dst,
    sport: v.sport,
    dport: v.dport,
    proto: v.proto,
    srcPod: v.srcPod,
    dstPod: v.dstPod,
    interfaces: v.observed.map((h) => h.iface),
    directions: v.observed.map((h) => (h.dir === 'ingress' ? 'INGRESS' : h.dir === 'egress' ? 'EGRESS' : 'DROP')),
    verdict: v.verdict,
    node: v.node,
  };
}

/**
 * A flow as the API's filters see its flows: the forward direction's ends and pods, the interfaces of its
 * observed and predicted paths, its verdict — whichever way its latest packet went.
 */
export function flowSubjectOf(r: FlowRow): FilterSubject {
  return {
    ...subjectOf(r.last),
    src: r.src,
    dst: r.dst,
    sport: r.sport,
    dport: r.dport,
    proto: r.proto,
    srcPod: r.srcPod,
    dstPod: r.dstPod,
    interfaces: [...r.observed, ...r.predicted],
    verdict: r.verdict,
  };
}

export const compileUiFilter: FilterCompiler = (text) => {
  try {
    const match = compileFilterSet(parseFilterText(text));
    return { ok: true, match: (v: UiVerdict) => match(subjectOf(v)), matchFlow: (r: FlowRow) => match(flowSubjectOf(r)) };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
};

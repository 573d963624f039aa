// The `/` filter: the API's own filter language (src/hub/filter.ts), parsed and matched with the hub's
// code, so what the UI accepts, rejects and shows is exactly what `calitrace observe` and the server do.
import { compileFilterSet, FilterSubject, parseFilterText } from '../hub/filter';
import type { FilterCompiler } from './app';
import type { UiVerdict } from './model';

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

export const compileUiFilter: FilterCompiler = (text) => {
  try {
    const match = compileFilterSet(parseFilterText(text));
    return { ok: true, match: (v: UiVerdict) => match(subjectOf(v)) };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
};

// Where a packet from SRC enters the node when the question does not say (no --iif). A pod of this node
// has its own /32 (or /128) on a cali interface, so its packets arrive there: that is the ingress, exactly
// as a person reading `ip route` would reason. An address of the node means the node itself sends (the
// output path). Anything else this node cannot send from: the kernel refuses it, and the route back to SRC
// names the interface such a packet would arrive on — offered as the --iif to try.

import type { Ingress, Query, RoutingState } from './types';
import { calicoRole } from './calico';
import { parseAddr, parsePrefix, prefixContains } from './addr';
import { compile } from './fib';
import { predict, QueryError } from './predict';
import { didYouMean } from '../util/did-you-mean';

function fromPaste(state: RoutingState): boolean {
  return !state.complete.links;
}

/** The pod route (`SRC dev caliX scope link`) whose interface a packet from SRC enters on, if any. */
export function podRouteOf(state: RoutingState, src: string): { dev: string; text: string } | undefined {
  const a = parseAddr(src);
  if (!a) return undefined;
  const links = compile(state).links;
  for (const r of state.routes) {
    if (r.table !== 254 || r.family !== a.family || calicoRole(r, links) !== 'local-workload') continue;
    const p = parsePrefix(r.dst);
    if (p && prefixContains(p, a)) return { dev: r.nexthops[0].dev!, text: r.text };
  }
  return undefined;
}

function checkIif(state: RoutingState, iif: string): void {
  const names = state.links.map((l) => l.name);
  if (names.includes(iif) || (fromPaste(state) && iif === 'lo')) return;
  const where = fromPaste(state) ? 'among the interfaces of the pasted routes' : 'in this namespace (see: ip link)';
  const shown = fromPaste(state) ? ` They are: ${names.join(', ')}.` : '';
  throw new QueryError(`--iif ${iif}: no such interface ${where}${didYouMean(iif, names)}.${shown}`);
}

/** The query with its ingress settled, and the sentence that says how. Throws QueryError for an unknown --iif. */
export function frameIngress(state: RoutingState, q: Query): { query: Query; ingress: Ingress } {
  const src = q.src;
  if (q.iif) {
    checkIif(state, q.iif);
    const pod = src ? podRouteOf(state, src) : undefined;
    const whose = pod && pod.dev === q.iif ? `, the interface of pod ${src} (${pod.text})` : '';
    return { query: q, ingress: { kind: 'given', iif: q.iif, line: `Ingress: ${q.iif} (given with --iif)${whose}.` } };
  }
  if (!src) {
    return { query: q, ingress: { kind: 'node', line: 'Ingress: none — the node itself sends the packet (no SRC given: the kernel picks the source address).' } };
  }
  const pod = podRouteOf(state, src);
  if (pod) {
    return {
      query: { ...q, iif: pod.dev },
      ingress: {
        kind: 'pod',
        iif: pod.dev,
        route: pod.text,
        line: `Ingress: ${pod.dev} — ${src} is a pod of this node (route "${pod.text}"), so its packets enter the node there (as with --iif ${pod.dev}).`,
      },
    };
  }
  const own = state.addresses.find((x) => x.address === src);
  if (own) {
    return { query: q, ingress: { kind: 'node', line: `Ingress: none — ${src} is an address of this node (on ${own.ifname}): the node itself sends the packet (the output path).` } };
  }
  // Not a pod, not the node: the interface the route back to SRC uses is where such a packet would arrive.
  let suggest: string | undefined;
  try {
    const back = predict(state, { dst: src }, { detail: false });
    if (back.decision === 'unicast') suggest = back.nexthops[0]?.dev ?? back.dev;
  } catch {
    suggest = undefined;
  }
  const known = fromPaste(state) ? ' (a paste shows only the addresses its routes name with `src`)' : '';
  const offer = suggest
    ? ` If the packet comes from elsewhere, try --iif ${suggest} (the route back to ${src} leaves through ${suggest}).`
    : ' If the packet comes from elsewhere, give the interface it arrives on with --iif.';
  return {
    query: q,
    ingress: {
      kind: 'elsewhere',
      suggest,
      line: `Ingress: unknown — ${src} is not an address of this node${known} and no pod route names it, so the node cannot send from it; answered as \`ip route get ${q.dst} from ${src}\`.${offer}`,
    },
  };
}

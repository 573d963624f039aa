// Routing state against Calico's intent. A prediction says what the kernel will do with its tables; the
// tables themselves can contradict what Calico programs: a policy rule that sends pod traffic to a table
// without the pod routes, a route outside Calico's that wins over a block's, VXLAN settings the other
// nodes do not share. The intent is read from the routes Calico programs (the IPAM-block blackholes are
// this node's blocks; the tunnel routes are the other nodes' blocks) and the VXLAN device.
import { Prefix, parseAddr, parsePrefix, prefixContains } from './addr';
import { calicoRole } from './calico';
import type { CalicoRole, Prediction, Route, RoutingState } from './types';

/** Calico's defaults (FelixConfiguration vxlanVNI / vxlanPort); a cluster may configure others, on every node alike. */
export const CALICO_VXLAN_VNI = 4096;
export const CALICO_VXLAN_PORT = 4789;

const CALICO_ROUTES = new Set<CalicoRole>(['local-workload', 'vxlan-tunnel', 'ipip-tunnel', 'no-encap', 'ipam-block-blackhole']);

export interface CalicoIntent {
  /** This node's IPAM blocks (its blackhole routes, proto bird). */
  ownBlocks: string[];
  /** Other nodes' blocks and how Calico routes them. */
  remoteBlocks: { block: string; role: CalicoRole; route: string }[];
  /** The encapsulation the block routes use. */
  encap: 'vxlan' | 'ipip' | 'none' | 'mixed' | 'unknown';
  /** Main-table routes Calico programs, longest prefix first (with the parsed prefix). */
  routes: { route: Route; role: CalicoRole; prefix: Prefix | undefined }[];
}

const memo = new WeakMap<RoutingState, CalicoIntent>();

export function calicoIntent(state: RoutingState): CalicoIntent {
  let intent = memo.get(state);
  if (intent) return intent;
  const links = new Map(state.links.map((l) => [l.name, l]));
  const routes: CalicoIntent['routes'] = [];
  for (const r of state.routes) {
    if (r.table !== 254) continue;
    const role = calicoRole(r, links);
    if (CALICO_ROUTES.has(role)) routes.push({ route: r, role, prefix: parsePrefix(r.dst, r.family) });
  }
  routes.sort((a, b) => b.route.prefixLen - a.route.prefixLen);
  const remote = routes.filter((r) => r.role === 'vxlan-tunnel' || r.role === 'ipip-tunnel' || r.role === 'no-encap');
  const kinds = new Set(remote.map((r) => (r.role === 'vxlan-tunnel' ? 'vxlan' : r.role === 'ipip-tunnel' ? 'ipip' : 'none')));
  intent = {
    ownBlocks: routes.filter((r) => r.role === 'ipam-block-blackhole').map((r) => r.route.dst),
    remoteBlocks: remote.map((r) => ({ block: r.route.dst, role: r.role, route: r.route.text })),
    encap: kinds.size === 0 ? 'unknown' : kinds.size > 1 ? 'mixed' : ([...kinds][0] as CalicoIntent['encap']),
    routes,
  };
  memo.set(state, intent);
  return intent;
}

/** The route Calico programs for an address (longest prefix in the main table), if it is a Calico address. */
export function calicoRouteFor(dst: string, state: RoutingState): { route: Route; role: CalicoRole } | undefined {
  const a = parseAddr(dst);
  if (!a) return undefined;
  for (const r of calicoIntent(state).routes) if (r.prefix && prefixContains(r.prefix, a)) return r;
  return undefined;
}

const findingsMemo = new WeakMap<Prediction, string[]>();

/**
 * Where a prediction contradicts Calico's intent, one sentence per finding naming the state that is wrong
 * or missing (empty when it agrees). Memoised per prediction: the collector caches predictions per model
 * generation, so a flow pays this once per generation.
 */
export function intentFindings(pred: Prediction, state: RoutingState): string[] {
  let out = findingsMemo.get(pred);
  if (out) return out;
  out = [];
  const dst = pred.query.dst;
  // The common case costs nothing: a main-table Calico route decided, and within one table the longest prefix
  // wins, so no other Calico route was passed over.
  const byCalico = pred.table === 254 && pred.calico !== undefined && CALICO_ROUTES.has(pred.calico);
  const calico = byCalico ? undefined : calicoRouteFor(dst, state);
  const refusal = pred.decision === 'martian' || pred.decision === 'forwarding_disabled' || pred.decision === 'multicast_not_joined';
  if (calico && !refusal && (pred.table !== 254 || pred.route !== calico.route.text)) {
    const via = pred.rule && pred.table !== 254 ? ` (rule \`${pred.rule}\` sent the lookup to table ${pred.table})` : pred.table !== undefined && pred.table !== 254 ? ` (table ${pred.table})` : '';
    const used = pred.route ? `\`${pred.route}\`` : `the ${pred.decision} decision`;
    out.push(
      `${dst} is a Calico address and Calico routes it by \`${calico.route.text}\` in the main table (${calico.role}), but the lookup used ${used}${via}: ` +
        `a policy rule or a route outside Calico's takes pod traffic elsewhere — check \`ip rule\` and \`ip route show table all\``,
    );
  }
  const o = pred.outer;
  if (o && o.vni !== 0 && (o.vni !== CALICO_VXLAN_VNI || o.dstPort !== CALICO_VXLAN_PORT)) {
    const what = [o.vni !== CALICO_VXLAN_VNI ? `VNI ${o.vni}` : '', o.dstPort !== CALICO_VXLAN_PORT ? `UDP port ${o.dstPort}` : ''].filter(Boolean).join(' and ');
    out.push(
      `${o.vxlanDev} uses ${what}, not Calico's ${CALICO_VXLAN_VNI}/${CALICO_VXLAN_PORT} (FelixConfiguration vxlanVNI/vxlanPort): unless every node was configured alike, ` +
        `${o.dst ?? 'the remote node'} discards the packet on arrival, which calitrace on this node cannot see — compare \`ip -d link show ${o.vxlanDev}\` on both nodes`,
    );
  }
  findingsMemo.set(pred, out);
  return out;
}

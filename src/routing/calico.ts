// What a route means on a Calico node, in Calico's own words.

import type { CalicoRole, Link, Route } from './types';

// Calico marks the routes it programs with a route protocol: Felix's route manager uses 80 by default
// (dataplanedefs.DefaultRoutingProto, or FelixConfiguration deviceRouteProtocol when set to something other
// than boot); BIRD (BGP mode) installs with its own protocol, `bird` (12). Both count as Calico's.
const FELIX_PROTO = '80';
const BIRD_PROTO = new Set(['bird', '12']);
const CALICO_PROTOS = new Set([FELIX_PROTO, ...BIRD_PROTO]);

export function isVxlanDev(name: string | undefined, links?: Map<string, Link>): boolean {
  if (!name) return false;
  const kind = links?.get(name)?.kind;
  return kind === 'vxlan' || /^vxlan/.test(name);
}

export function calicoRole(r: Route, links?: Map<string, Link>): CalicoRole {
  if (r.table === 255) return 'local-address';
  if (r.type === 'blackhole') return CALICO_PROTOS.has(r.protocol) ? 'ipam-block-blackhole' : 'other';
  if (r.type !== 'unicast') return 'other';
  const nh = r.nexthops[0];
  const dev = nh?.dev;
  const host = r.family === 4 ? 32 : 128;
  if (dev && dev.startsWith('cali') && r.prefixLen === host) return 'local-workload';
  if (dev && isVxlanDev(dev, links) && nh.gateway) return 'vxlan-tunnel';
  if (dev === 'tunl0' && nh.gateway) return 'ipip-tunnel';
  if (r.prefixLen === 0) return 'host-default';
  if (r.protocol === 'kernel' && r.scope === 'link') return 'connected';
  if (CALICO_PROTOS.has(r.protocol) && nh?.gateway) return 'no-encap';
  return 'other';
}

export const ROLE_TEXT: Record<CalicoRole, string> = {
  'local-workload': 'local workload (a pod on this node, via its cali veth)',
  'vxlan-tunnel': 'VXLAN tunnel (another node\'s IPAM block, via its VTEP on vxlan.calico)',
  'ipip-tunnel': 'IPIP tunnel (another node\'s IPAM block, via tunl0)',
  'no-encap': 'no-encap (another node\'s IPAM block, routed directly on the underlay)',
  'ipam-block-blackhole': 'IPAM-block blackhole (this node\'s own block: drops IPs that have no pod)',
  'host-default': 'host default route',
  connected: 'connected subnet of an interface',
  'local-address': 'an address of this node (local table)',
  other: 'not a Calico route',
};

/**
 * Which component put a route into the table, from its protocol and Calico meaning. In VXLAN mode (and
 * IPIP without BGP) Felix's route manager programs the tunnel routes, the IPAM-block blackholes and the
 * same-subnet no-encap routes (protocol 80); with BGP, BIRD programs them (protocol bird). A pod's /32 is
 * added by the Calico CNI plugin when the pod starts and kept by Felix's endpoint manager (protocol boot,
 * which `ip route` does not print).
 */
export function programmedBy(r: Route, links?: Map<string, Link>): string {
  const role = calicoRole(r, links);
  const proto = r.protocol;
  if (role === 'local-address' || proto === 'kernel') return 'the kernel (from an address on the interface)';
  if (role === 'local-workload') return `Calico: the CNI plugin at pod creation, kept by Felix (proto ${proto})`;
  if (BIRD_PROTO.has(proto)) return 'Calico: BIRD, the BGP daemon of calico-node (proto bird)';
  // Felix programs routes through a device (its VXLAN routes) with deviceRouteProtocol (default boot) and
  // the device-less ones (blackholes, no-encap) with its own protocol 80.
  if (role === 'vxlan-tunnel') return `Calico: Felix's route manager (VXLAN mode; proto ${proto})`;
  if (proto === FELIX_PROTO) return 'Calico: Felix\'s route manager (proto 80)';
  if (proto === 'static' || proto === 'dhcp' || proto === 'ra') return `the host's network configuration (proto ${proto}), not Calico`;
  if (role === 'ipam-block-blackhole' || role === 'no-encap' || role === 'ipip-tunnel') return `Calico (proto ${proto}: Felix unless its deviceRouteProtocol was changed)`;
  return `not Calico (proto ${proto})`;
}

// What a route means on a Calico node, in Calico's own words.

import type { CalicoRole, Link, Route } from './types';

const BIRD_PROTOS = new Set(['80', 'bird']);

export function isVxlanDev(name: string | undefined, links?: Map<string, Link>): boolean {
  if (!name) return false;
  const kind = links?.get(name)?.kind;
  return kind === 'vxlan' || /^vxlan/.test(name);
}

export function calicoRole(r: Route, links?: Map<string, Link>): CalicoRole {
  if (r.table === 255) return 'local-address';
  if (r.type === 'blackhole') return BIRD_PROTOS.has(r.protocol) ? 'ipam-block-blackhole' : 'other';
  if (r.type !== 'unicast') return 'other';
  const nh = r.nexthops[0];
  const dev = nh?.dev;
  const host = r.family === 4 ? 32 : 128;
  if (dev && dev.startsWith('cali') && r.prefixLen === host) return 'local-workload';
  if (dev && isVxlanDev(dev, links) && nh.gateway) return 'vxlan-tunnel';
  if (dev === 'tunl0' && nh.gateway) return 'ipip-tunnel';
  if (r.prefixLen === 0) return 'host-default';
  if (r.protocol === 'kernel' && r.scope === 'link') return 'connected';
  if (BIRD_PROTOS.has(r.protocol) && nh?.gateway) return 'no-encap';
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

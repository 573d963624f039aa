// The lab cluster: two ems203 workers over one underlay /24, Calico VXLAN blocks of /26.
import { vxlanMac } from './naming';

export type NodeId = 'node1' | 'node2';
export const NODE_IDS: readonly NodeId[] = ['node1', 'node2'];

export interface NodeSpec {
  id: NodeId;
  /** Kubernetes node name; also what the VXLAN MAC is derived from. */
  name: string;
  underlayIp: string;
  block: string;
  vtep: string;
}

export interface PodSpec {
  node: NodeId;
  namespace: string;
  name: string;
  ip: string;
}

export const UNDERLAY_IF = 'ens3';
export const UNDERLAY_PREFIX_LEN = 24;
export const UNDERLAY_MTU = 1500;
/** VXLAN costs 50 bytes of outer headers: Calico lowers vxlan.calico and every pod veth by that much. */
export const VXLAN_MTU = UNDERLAY_MTU - 50;
export const GATEWAY_IP = '172.27.71.254';
export const VXLAN_IF = 'vxlan.calico';
export const VXLAN_VNI = 4096;
export const VXLAN_PORT = 4789;
export const CALI_MAC = 'ee:ee:ee:ee:ee:ee';
export const POD_GATEWAY = '169.254.1.1';
/** RTPROT 80 is what Calico's IPAM blackhole routes carry ("proto 80" in `ip route`). */
export const BLACKHOLE_PROTO = '80';

export const NODES: Record<NodeId, NodeSpec> = {
  node1: { id: 'node1', name: 'ems203-w2', underlayIp: '172.27.71.11', block: '10.233.101.192/26', vtep: '10.233.101.192' },
  node2: { id: 'node2', name: 'ems203-w1', underlayIp: '172.27.71.12', block: '10.233.100.128/26', vtep: '10.233.100.128' },
};

/** A third worker that both nodes route to; only referenced (neighbour + FDB), never built. */
export const NODE3 = { name: 'ems203-w3', underlayIp: '172.27.71.13', block: '10.233.101.128/26', vtep: '10.233.101.128' };

export const BASE_PODS: readonly PodSpec[] = [
  { node: 'node1', namespace: 'ems', name: 'edgecloud-suse-adapter-df5d6d78b-m5zc2', ip: '10.233.101.222' },
  { node: 'node1', namespace: 'ems', name: 'ems-a10nsp-accounting-89c69b796-rpb9k', ip: '10.233.101.224' },
  { node: 'node2', namespace: 'default', name: 'web-0', ip: '10.233.100.130' },
];

/** Remote VTEPs a node must reach: the other lab node and the referenced third node. */
export function remoteVteps(node: NodeId): { name: string; underlayIp: string; block: string; vtep: string; mac: string }[] {
  const others = NODE_IDS.filter((n) => n !== node).map((n) => NODES[n]);
  return [...others, NODE3].map((n) => ({ ...n, mac: vxlanMac(n.name) }));
}

export function resolveNodeId(text: string): NodeId | undefined {
  for (const id of NODE_IDS) if (text === id || text === NODES[id].name) return id;
  return undefined;
}

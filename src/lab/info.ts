// The lab as other code sees it: nodes with their addressing, pods with their interfaces and namespaces.
import { netNetnsName, nodeNetnsName, vxlanMac } from './naming';
import { PodRecord, readState } from './state';
import { GATEWAY_IP, NODE_IDS, NODES, NodeId, UNDERLAY_IF, VXLAN_IF } from './topology';

export interface LabNode {
  id: NodeId;
  /** Kubernetes node name (ems203-w2 / ems203-w1). */
  name: string;
  netns: string;
  underlayIf: string;
  underlayIp: string;
  block: string;
  vtep: string;
  vxlanIf: string;
  vxlanMac: string;
}

export type LabPod = PodRecord;

export interface LabInfo {
  prefix: string;
  /** The underlay switch + gateway namespace. */
  netNetns: string;
  gateway: string;
  nodes: LabNode[];
  pods: LabPod[];
}

export function nodeNetns(prefix: string, node: NodeId | string): string {
  const id = NODE_IDS.find((n) => n === node || NODES[n].name === node);
  if (!id) throw new Error(`unknown node '${node}': use node1 (ems203-w2) or node2 (ems203-w1)`);
  return nodeNetnsName(prefix, id);
}

export function labInfo(prefix: string): LabInfo {
  const state = readState(prefix);
  return {
    prefix,
    netNetns: netNetnsName(prefix),
    gateway: GATEWAY_IP,
    nodes: NODE_IDS.map((id) => ({
      id,
      name: NODES[id].name,
      netns: nodeNetnsName(prefix, id),
      underlayIf: UNDERLAY_IF,
      underlayIp: NODES[id].underlayIp,
      block: NODES[id].block,
      vtep: NODES[id].vtep,
      vxlanIf: VXLAN_IF,
      vxlanMac: vxlanMac(NODES[id].name),
    })),
    pods: state ? [...state.pods].sort((a, b) => a.node.localeCompare(b.node) || a.ip.localeCompare(b.ip, 'en', { numeric: true })) : [],
  };
}

export function podByIp(lab: LabInfo, ip: string): LabPod | undefined {
  return lab.pods.find((p) => p.ip === ip);
}

export function labNode(lab: LabInfo, id: NodeId): LabNode {
  return lab.nodes.find((n) => n.id === id) as LabNode;
}

// Pod names from the built-in lab's state (a node namespace `<prefix>-node1|2` names its lab), re-read
// every few seconds so pods added while tracing get their names. On a real node: src/k8s.
import { labInfo } from '../lab';
import type { PodDirectory, PodInfo } from './directory';

export interface LabNodeIdentity {
  prefix: string;
  nodeName: string;
}

/** The lab and Kubernetes node name behind a lab node namespace, if it is one. */
export function labNodeOf(netns: string | undefined): LabNodeIdentity | undefined {
  const m = netns ? /^(.+)-(node[12])$/.exec(netns) : null;
  if (!m) return undefined;
  const lab = labInfo(m[1]);
  const node = lab.nodes.find((n) => n.id === m[2]);
  if (!node || lab.pods.length === 0) return undefined;
  return { prefix: m[1], nodeName: node.name };
}

export function labPodDirectory(prefix: string, refreshMs = 2000): PodDirectory {
  let byIp = new Map<string, PodInfo>();
  let loadedAt = 0;
  return (ip) => {
    const now = Date.now();
    if (now - loadedAt > refreshMs) {
      loadedAt = now;
      const lab = labInfo(prefix);
      const names = new Map(lab.nodes.map((n) => [n.id, n.name]));
      byIp = new Map(lab.pods.map((p) => [p.ip, { namespace: p.namespace, name: p.name, node: names.get(p.node), iface: p.ifname }]));
    }
    return byIp.get(ip);
  };
}

// What a tracer on a lab node knows about its cluster, for naming causes: the lab's pods by IP (re-read so
// pods added or deleted while tracing count), this node's Kubernetes name and the nodes' underlay IPs.
import { NODE_IDS, NODES } from './topology';
import { readState } from './state';

export interface LabEvidence {
  pods: (ip: string) => { namespace: string; name: string; node?: string } | undefined;
  nodeName: string;
  knownNodes: () => ReadonlySet<string>;
}

/** The lab behind a node namespace `<prefix>-node1|2`, or undefined when it is not one. */
export function labEvidenceFor(netns: string | undefined, refreshMs = 1000): LabEvidence | undefined {
  const m = netns ? /^(.+)-(node[12])$/.exec(netns) : null;
  if (!m || !readState(m[1])) return undefined;
  const prefix = m[1];
  const id = NODE_IDS.find((n) => n === m[2])!;
  const names = new Map(NODE_IDS.map((n) => [n, NODES[n].name]));
  const known = new Set(NODE_IDS.map((n) => NODES[n].underlayIp));
  let byIp = new Map<string, { namespace: string; name: string; node?: string }>();
  let loadedAt = -Infinity;
  return {
    pods: (ip) => {
      const now = Date.now();
      if (now - loadedAt >= refreshMs) {
        loadedAt = now;
        const pods = readState(prefix)?.pods ?? [];
        byIp = new Map(pods.map((p) => [p.ip, { namespace: p.namespace, name: p.name, node: names.get(p.node as typeof id) }]));
      }
      return byIp.get(ip);
    },
    nodeName: NODES[id].name,
    knownNodes: () => known,
  };
}

// Where the API's pod names come from for one node session, decided before it starts (src/cli/pod-names.ts
// reads the flags): a lab's state, the Kubernetes API, or none.
import type { ClusterConnection } from '../k8s';
import { KubeNodeAddresses, KubePodDirectory } from '../k8s';
import type { PodDirectory } from './directory';
import { labPodDirectory } from './lab';

export type PodNameSource =
  | { kind: 'lab'; prefix: string; description: string }
  | { kind: 'kubernetes'; connection: ClusterConnection; description: string }
  | { kind: 'none'; description: string };

export interface PodNames {
  directory?: PodDirectory;
  /** The Kubernetes nodes' InternalIPs (Kubernetes source only): evidence for an FDB entry pointing at a non-node. */
  knownNodes?: () => ReadonlySet<string> | undefined;
  stop(): void;
}

/** Starts the chosen source; `report` gets the Kubernetes directory's problems and recoveries. */
export function startPodNames(source: PodNameSource, report: (m: string) => void): PodNames {
  if (source.kind === 'lab') return { directory: labPodDirectory(source.prefix), stop: () => undefined };
  if (source.kind === 'none') return { stop: () => undefined };
  const dir = new KubePodDirectory(source.connection, { report });
  dir.start();
  const nodes = new KubeNodeAddresses(source.connection, { report });
  nodes.start();
  return {
    directory: dir.lookup,
    knownNodes: nodes.known,
    stop: () => {
      dir.stop();
      nodes.stop();
    },
  };
}

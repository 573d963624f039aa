// Where the API's pod names (namespace/name, node) come from, for `serve` and `trace`: a lab node
// namespace keeps its lab's state; otherwise the Kubernetes API, found as src/k8s/discover.ts says,
// unless --no-kubernetes. An explicit --kubeconfig/--kube-context wins over the lab.
import { UsageError } from './command';
import { labNodeOf, PodNameSource } from '../pods';
import { DiscoverOptions, KubeconfigError, discoverConnection } from '../k8s';

export type { PodNameSource };

export const POD_NAME_OPTIONS = {
  kubeconfig: { type: 'string' },
  'kube-context': { type: 'string' },
  'no-kubernetes': { type: 'boolean' },
} as const;

export const POD_NAME_HELP = `Pod names (namespace/name and node on every API item; pod= and namespace filters):
  --kubeconfig FILE      read pods from the Kubernetes API of this kubeconfig (wins over a lab's names)
  --kube-context NAME    this context of the kubeconfig, not its current-context (also wins over a lab)
  --no-kubernetes        do not ask a Kubernetes API (a lab node still gets its lab's names)
  Default: a lab node namespace uses its lab's state; otherwise the in-cluster service account, then
  $KUBECONFIG, ~/.kube/config, /etc/kubernetes/admin.conf. The user needs RBAC 'list' on pods
  cluster-wide ('list' on nodes too, to name a VXLAN FDB entry that points at no node) and a token or client certificate (exec and auth-provider plugins are not supported).
`;

export interface PodNameFlags {
  kubeconfig?: string;
  'kube-context'?: string;
  'no-kubernetes'?: boolean;
}

export function kubernetesFlagsGiven(f: PodNameFlags): boolean {
  return f.kubeconfig !== undefined || f['kube-context'] !== undefined || f['no-kubernetes'] === true;
}

/**
 * Decides before anything starts. A kubeconfig the user named that cannot be used is a UsageError; one
 * found on its own only means no pod names (the trace is worth having without them).
 */
export function choosePodNameSource(f: PodNameFlags, netns: string | undefined, where: Omit<DiscoverOptions, 'kubeconfig' | 'context'> = {}): PodNameSource {
  const explicit = f.kubeconfig !== undefined || f['kube-context'] !== undefined;
  if (f['no-kubernetes'] && explicit) throw new UsageError('--no-kubernetes excludes --kubeconfig and --kube-context');
  if (!explicit) {
    const lab = labNodeOf(netns);
    if (lab) return { kind: 'lab', prefix: lab.prefix, description: `pod names: the lab '${lab.prefix}' (its state; --kubeconfig FILE to ask a Kubernetes API instead)` };
    if (f['no-kubernetes']) return { kind: 'none', description: 'pod names: none (--no-kubernetes)' };
  }
  try {
    const found = discoverConnection({ ...where, kubeconfig: f.kubeconfig, context: f['kube-context'] });
    if (!found.found) return { kind: 'none', description: `pod names: none (${found.why})` };
    const c = found.connection;
    return { kind: 'kubernetes', connection: c, description: `pod names: Kubernetes API at ${c.server} (${c.source})` };
  } catch (err) {
    if (!(err instanceof KubeconfigError)) throw err;
    if (explicit) throw new UsageError(err.message);
    return { kind: 'none', description: `pod names: none (${err.message})` };
  }
}

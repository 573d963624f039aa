// Which Kubernetes connection to use: an explicit --kubeconfig/--kube-context first; otherwise the
// in-cluster service account, then $KUBECONFIG, ~/.kube/config and kubeadm's /etc/kubernetes/admin.conf
// (a control-plane node has only that one).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ClusterConnection } from './connection';
import { inClusterConnection, SERVICE_ACCOUNT_DIR } from './in-cluster';
import { loadKubeconfig } from './kubeconfig';

export const ADMIN_CONF = '/etc/kubernetes/admin.conf';

export interface DiscoverOptions {
  /** --kubeconfig: this file and nothing else. */
  kubeconfig?: string;
  /** --kube-context: a context of the kubeconfig (skips in-cluster, which has no contexts). */
  context?: string;
  /** Where to look; the defaults are the real places (tests point them elsewhere). */
  env?: NodeJS.ProcessEnv;
  home?: string;
  serviceAccountDir?: string;
  adminConf?: string;
}

export type Discovery =
  | { found: true; connection: ClusterConnection }
  | { found: false; why: string };

/** The kubeconfig files to read when none is given: $KUBECONFIG's existing files, else the first default that exists. */
export function defaultKubeconfigFiles(o: DiscoverOptions = {}): string[] {
  const env = o.env ?? process.env;
  const fromEnv = (env.KUBECONFIG ?? '').split(path.delimiter).filter((f) => f !== '' && fs.existsSync(f));
  if (fromEnv.length) return fromEnv;
  const candidates = [path.join(o.home ?? os.homedir(), '.kube', 'config'), o.adminConf ?? ADMIN_CONF];
  const first = candidates.find((f) => fs.existsSync(f));
  return first ? [first] : [];
}

/**
 * Finds the connection in the documented order. Throws KubeconfigError when the file it settles on cannot
 * be used (an explicit one, or the first one found): a broken kubeconfig is reported, never skipped silently.
 */
export function discoverConnection(o: DiscoverOptions = {}): Discovery {
  if (o.kubeconfig) return { found: true, connection: loadKubeconfig([o.kubeconfig], o.context) };
  if (!o.context) {
    const inCluster = inClusterConnection(o.env ?? process.env, o.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
    if (inCluster) return { found: true, connection: inCluster };
  }
  const files = defaultKubeconfigFiles(o);
  if (files.length === 0) return { found: false, why: 'no kubeconfig found; give --kubeconfig or run in-cluster' };
  return { found: true, connection: loadKubeconfig(files, o.context) };
}

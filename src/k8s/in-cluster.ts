// The service account Kubernetes mounts into every pod: what calitrace uses when it runs as a pod
// (a DaemonSet on each node), the way client-go's rest.InClusterConfig does.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ClusterConnection } from './connection';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The in-cluster connection, or undefined when this process does not run in a pod with a service account. */
export function inClusterConnection(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR): ClusterConnection | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  const tokenFile = path.join(dir, 'token');
  if (!host || !port || !fs.existsSync(tokenFile)) return undefined;
  const caFile = path.join(dir, 'ca.crt');
  const hostPart = host.includes(':') ? `[${host}]` : host; // an IPv6 service address
  return {
    server: `https://${hostPart}:${port}`,
    ca: fs.existsSync(caFile) ? fs.readFileSync(caFile) : undefined,
    insecureSkipTlsVerify: false,
    credentials: { tokenFile },
    source: `in-cluster service account (${dir})`,
  };
}

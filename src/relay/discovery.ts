// Nodes from the Kubernetes API: the pods of the calitrace DaemonSet (a label selector in a namespace),
// listed then watched (src/k8s/watch.ts), so a node joins the relay when its pod becomes ready and leaves
// when the pod goes away — no polling. A pod's address is its IP (the node's, with host networking) and
// the serve port; its name is the node it runs on, which is also what that serve stamps on its items.
import { KubeClient } from '../k8s/api-client';
import type { ClusterConnection } from '../k8s/connection';
import { ListWatch, KubeObject } from '../k8s/watch';

export interface PodDiscoveryOptions {
  namespace: string;
  selector: string;
  port: number;
  add(address: string, name: string): void;
  remove(address: string): void;
  report(message: string): void;
}

export interface Discovery {
  stop(): void;
  readonly watch: ListWatch<DiscoveredPod>;
}

export interface DiscoveredPod extends KubeObject {
  spec?: { nodeName?: string };
  status?: { phase?: string; podIP?: string; conditions?: { type?: string; status?: string }[] };
}

function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** A pod that can be followed: running, with an IP, and (when the pod says) ready. */
export function addressOf(p: DiscoveredPod, port: number): { address: string; name: string } | undefined {
  if (p.status?.phase !== 'Running' || !p.status.podIP) return undefined;
  const ready = p.status.conditions?.find((c) => c.type === 'Ready');
  if (ready && ready.status !== 'True') return undefined;
  return { address: hostPort(p.status.podIP, port), name: p.spec?.nodeName || p.metadata?.name || p.status.podIP };
}

export function startPodDiscovery(connection: ClusterConnection, o: PodDiscoveryOptions): Discovery {
  const client = new KubeClient(connection);
  /** pod uid (or ns/name) → the address it was added under. */
  const known = new Map<string, string>();
  const keyOf = (p: DiscoveredPod) => p.metadata?.uid || `${p.metadata?.namespace}/${p.metadata?.name}`;
  const update = (p: DiscoveredPod, gone: boolean) => {
    const key = keyOf(p);
    const before = known.get(key);
    const now = gone ? undefined : addressOf(p, o.port);
    if (before && before !== now?.address) {
      known.delete(key);
      o.remove(before);
    }
    if (now && before !== now.address) {
      known.set(key, now.address);
      o.add(now.address, now.name);
    }
  };
  let first = true;
  const watch = new ListWatch<DiscoveredPod>(client, {
    path: `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/pods`,
    labelSelector: o.selector,
    replace: (items) => {
      const seen = new Set(items.map(keyOf));
      for (const [key, address] of [...known]) {
        if (!seen.has(key)) {
          known.delete(key);
          o.remove(address);
        }
      }
      for (const p of items) update(p, false);
      if (first) o.report(`discovery: ${known.size} node${known.size === 1 ? '' : 's'} from ${items.length} pod${items.length === 1 ? '' : 's'} matching '${o.selector}' in ${o.namespace}; watching for changes`);
      first = false;
    },
    apply: (type, p) => update(p, type === 'DELETED'),
    report: (m) => o.report(`discovery: ${m}`),
  });
  watch.start();
  return {
    watch,
    stop: () => {
      watch.stop();
      client.close();
    },
  };
}

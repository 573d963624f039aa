// The cluster's pods by IP, from GET /api/v1/pods (paged with limit/continue).
import type { KubeClient } from './api-client';
import { KubeApiError } from './api-client';

/** What calitrace shows for an IP (shaped like the API's PodInfo, without depending on it). */
export interface KubePod {
  namespace: string;
  name: string;
  node?: string;
}

export interface PodItem {
  metadata?: { namespace?: string; name?: string; uid?: string; resourceVersion?: string };
  spec?: { nodeName?: string; hostNetwork?: boolean };
  status?: { phase?: string; podIP?: string; podIPs?: { ip?: string }[] };
}

interface PodListPage {
  items?: PodItem[];
  metadata?: { continue?: string };
}

/**
 * IP → pod. Host-network pods are skipped (their IP is the node's, shared by many); so are pods that
 * finished (Succeeded/Failed): they keep their IP in status after it went back to IPAM and a running pod
 * may hold it now.
 */
export function podsByIp(items: PodItem[]): Map<string, KubePod> {
  const byIp = new Map<string, KubePod>();
  for (const p of items) {
    const name = p.metadata?.name;
    const namespace = p.metadata?.namespace;
    if (!name || !namespace || p.spec?.hostNetwork) continue;
    if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
    const pod: KubePod = { namespace, name, node: p.spec?.nodeName || undefined };
    const ips = new Set<string>();
    for (const entry of p.status?.podIPs ?? []) if (entry.ip) ips.add(entry.ip);
    if (p.status?.podIP) ips.add(p.status.podIP);
    for (const ip of ips) byIp.set(ip, pod);
  }
  return byIp;
}

/** Every pod in the cluster, following `continue` until the last page. */
export async function listAllPods(client: KubeClient, pageSize = 500): Promise<PodItem[]> {
  const items: PodItem[] = [];
  const seen = new Set<string>();
  let token: string | undefined;
  do {
    const query = `limit=${pageSize}${token ? `&continue=${encodeURIComponent(token)}` : ''}`;
    const page = (await client.getJson(`/api/v1/pods?${query}`)) as PodListPage;
    if (!page || typeof page !== 'object' || !Array.isArray(page.items)) {
      throw new KubeApiError(`GET /api/v1/pods from ${client.connection.server} did not return a pod list`);
    }
    items.push(...page.items);
    token = page.metadata?.continue || undefined;
    // A server handing out the same token twice would keep us here forever.
    if (token !== undefined) {
      if (seen.has(token)) throw new KubeApiError(`GET /api/v1/pods from ${client.connection.server} repeated a continue token`);
      seen.add(token);
    }
  } while (token);
  return items;
}

// The cluster's nodes' InternalIPs from GET /api/v1/nodes, refreshed in the background: the underlay
// addresses a VXLAN FDB entry may point at. A failed refresh keeps the last good list and is reported once
// (RBAC: 'list' on nodes; without it calitrace only cannot say "not a node").
import { KubeClient } from './api-client';
import type { ClusterConnection } from './connection';

interface NodeItem {
  metadata?: { name?: string };
  status?: { addresses?: { type?: string; address?: string }[] };
}

/** InternalIP addresses of every node in a NodeList's items. */
export function internalIps(items: NodeItem[]): Set<string> {
  const ips = new Set<string>();
  for (const n of items) for (const a of n.status?.addresses ?? []) if (a.type === 'InternalIP' && a.address) ips.add(a.address);
  return ips;
}

export class KubeNodeAddresses {
  private ips: Set<string> | undefined;
  private readonly client: KubeClient;
  private timer: NodeJS.Timeout | undefined;
  private problem: string | undefined;
  private stopped = false;

  constructor(connection: ClusterConnection, private readonly o: { refreshMs?: number; report: (m: string) => void }) {
    this.client = new KubeClient(connection);
  }

  /** The nodes' InternalIPs, undefined until the first list succeeded. */
  readonly known = (): ReadonlySet<string> | undefined => this.ips;

  start(): void {
    if (this.stopped) return;
    const tick = () => {
      void this.refresh().finally(() => {
        if (this.stopped) return;
        this.timer = setTimeout(tick, this.o.refreshMs ?? 60_000);
        this.timer.unref();
      });
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  async refresh(): Promise<boolean> {
    try {
      const list = (await this.client.getJson('/api/v1/nodes')) as { items?: NodeItem[] };
      if (!list || !Array.isArray(list.items)) throw new Error(`GET /api/v1/nodes from ${this.client.connection.server} did not return a node list`);
      this.ips = internalIps(list.items);
      this.problem = undefined;
      return true;
    } catch (err) {
      const m = (err as Error).message;
      if (m !== this.problem) {
        this.problem = m;
        this.o.report(`node addresses: ${m}; ${this.ips ? `keeping the last ${this.ips.size}` : 'an FDB entry pointing at a non-node cannot be named'}`);
      }
      return false;
    }
  }
}

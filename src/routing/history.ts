// What the route model has seen over time, for the causes of a missing route: a pod's /32 that the kernel
// flushed with its interface (link down or deleted) leaves no trace in the current tables, so the last
// device each workload address was routed to is remembered here. Bounded: the oldest entries go first.
import type { RoutingState } from './types';

export interface SeenRoute {
  /** Device of the last /32 (/128) workload route to this address. */
  dev: string;
  /** The route as `ip route` printed it. */
  text: string;
  /** Wall clock (ms) of the last model state that still had it. */
  lastSeenMs: number;
}

export class WorkloadHistory {
  private readonly byIp = new Map<string, SeenRoute>();

  constructor(private readonly max = 16384) {}

  /** Records the workload routes of a model state (call with every new generation). */
  observe(state: RoutingState, nowMs = Date.now()): void {
    for (const r of state.routes) {
      const host = r.family === 4 ? 32 : 128;
      const dev = r.nexthops[0]?.dev;
      if (r.type !== 'unicast' || r.prefixLen !== host || !dev || !dev.startsWith('cali') || r.table === 255) continue;
      const ip = r.dst.split('/')[0];
      // Re-insert so the map's order is last-seen order and the eviction below drops the stalest.
      this.byIp.delete(ip);
      this.byIp.set(ip, { dev, text: r.text, lastSeenMs: nowMs });
    }
    while (this.byIp.size > this.max) this.byIp.delete(this.byIp.keys().next().value as string);
  }

  lastRoute(ip: string): SeenRoute | undefined {
    return this.byIp.get(ip);
  }
}

// Binds a running collector (and the API's hub, for subscribers) to a NodeMetrics registry.
import type { RunningCollector } from '../collector/start';
import type { LinkEvent } from '../capture/decode';
import type { HubStats } from '../hub/hub';
import { NodeMetrics } from './metrics';

export interface CollectorMetrics {
  metrics: NodeMetrics;
  /** Stops feeding the registry (the collector keeps running). */
  detach(): void;
}

/**
 * Call right after the collector starts: verdicts are counted from the first one on, so the judged
 * counters add up to what Status reports.
 */
export function metricsFromCollector(
  running: RunningCollector,
  o: { node: string; hubStats?: () => Pick<HubStats, 'subscribers' | 'lostBySubscribers'>; processMetrics?: boolean },
): CollectorMetrics {
  const uplinks = new Set<string>();
  const onLink = (l: LinkEvent) => {
    if (l.uplink && l.state === 'attached') uplinks.add(l.name);
    else if (l.state !== 'attached') uplinks.delete(l.name);
  };
  for (const l of running.capture.links()) onLink(l);
  running.capture.on('link', onLink);
  const metrics = new NodeMetrics({
    node: o.node,
    processMetrics: o.processMetrics,
    sources: {
      counters: () => running.collector.counters(),
      attached: () => running.traced,
      isUplink: (iface) => uplinks.has(iface),
      subscribers: () => {
        const s = o.hubStats?.();
        return { connected: s?.subscribers ?? 0, lost: s?.lostBySubscribers ?? 0 };
      },
    },
  });
  const offs = [
    // Packets, not lines: in case mode most judged packets are counted with their path's verdict.
    running.collector.on('counted', (c) => metrics.verdict(c.verdict, c.packets)),
    running.collector.on('route', (ev) => metrics.routeChange(ev)),
    () => running.capture.off('link', onLink),
  ];
  return { metrics, detach: () => offs.forEach((off) => off()) };
}

// The Prometheus metrics of one node's collector, as a prom-client registry. Fed from what the collector
// already publishes (verdicts, route changes, counters) and, at scrape time, from its running totals —
// so a metric can never say something Status does not.
//
// Cardinality is bounded by construction: every label takes its values from a fixed list below (a
// protocol outside the list is 'other', an interface is reduced to its hook kind), and no label ever
// holds an address, a port, a pod or an interface name. One node exports at most
// 6 verdicts × 5 protocols × 2 families = 60 judged-packet series (docs/metrics.md).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PacketVerdict, Verdict, Warning } from '../path/types';
import type { CollectorCounters } from '../collector/types';
import type { ModelChangeEvent } from '../routing/types';

export const VERDICTS: readonly Verdict[] = ['MATCHED', 'DIVERGED', 'DROPPED', 'EXPECTED_DROP', 'INCOMPLETE', 'STALE_MODEL'];
export const WARNINGS: readonly Warning[] = ['MTU_EXCEEDED', 'ROUTE_CHANGED', 'ASYMMETRIC_RETURN'];
export const LOSS_SOURCES = ['kernel', 'pipe', 'collector', 'subscriber'] as const;
export type LossSource = (typeof LOSS_SOURCES)[number];

const PROTOCOLS: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6' };
export const PROTOCOL_LABELS = ['tcp', 'udp', 'icmp', 'icmpv6', 'other'] as const;

/** Hook kinds: what an interface is to Calico, never its name. */
export const HOOK_KINDS = ['workload', 'vxlan', 'uplink', 'other'] as const;
export type HookKind = (typeof HOOK_KINDS)[number];

/** Seconds: a hop inside a node takes microseconds; a packet judged late (window) up to ~0.1 s. */
const HOP_BUCKETS = [1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, 0.1];
/** Seconds from a netlink event to the model that includes it (debounce + dump). */
const MODEL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function protocolLabel(proto: number): string {
  return PROTOCOLS[proto] ?? 'other';
}

/** What the registry reads at scrape time (plain numbers, no transport). */
export interface MetricsSources {
  counters(): CollectorCounters;
  /** Interfaces with a hook attached right now, by name. */
  attached(): Iterable<string>;
  /** Whether an interface is the VXLAN device's underlay (from the loader's LINK frames). */
  isUplink(iface: string): boolean;
  /** Observe subscribers connected now, and items they lost to full queues (running total). */
  subscribers(): { connected: number; lost: number };
}

export interface NodeMetricsOptions {
  node: string;
  sources: MetricsSources;
  /** process_* and nodejs_* metrics of this process (default true). */
  processMetrics?: boolean;
}

export class NodeMetrics {
  readonly registry = new Registry();
  private readonly judged: Counter<'verdict' | 'protocol' | 'family'>;
  private readonly warnings: Counter<'warning'>;
  private readonly hopLatency: Histogram<'hook_kind' | 'direction'>;
  private readonly nodeLatency: Histogram<string>;
  private readonly modelUpdate: Histogram<string>;
  private readonly routeChanges: Counter<string>;

  constructor(private readonly opts: NodeMetricsOptions) {
    const r = this.registry;
    r.setDefaultLabels({ node: opts.node });
    const src = opts.sources;
    // Running totals of the collector become counters by adding what grew since the last scrape.
    const fromTotal = (read: () => number) => {
      let seen = 0;
      return function (this: Counter) {
        const now = read();
        if (now > seen) this.inc(now - seen);
        seen = Math.max(seen, now);
      };
    };
    const fromTotalLabelled = (read: () => Record<string, number>) => {
      const seen: Record<string, number> = {};
      return function (this: Counter<string>) {
        for (const [label, now] of Object.entries(read())) {
          const was = seen[label] ?? 0;
          if (now > was) this.labels(label).inc(now - was);
          else this.labels(label).inc(0); // every source is a series from the first scrape on
          seen[label] = Math.max(was, now);
        }
      };
    };

    this.judged = new Counter({
      name: 'calitrace_packets_judged_total',
      help: 'Packets judged on this node, by verdict, protocol (tcp, udp, icmp, icmpv6, other) and family (ipv4, ipv6).',
      labelNames: ['verdict', 'protocol', 'family'],
      registers: [r],
    });
    for (const v of VERDICTS) this.judged.labels(v, 'tcp', 'ipv4').inc(0);
    this.warnings = new Counter({
      name: 'calitrace_packet_warnings_total',
      help: 'Warnings attached to judged packets (MTU_EXCEEDED, ROUTE_CHANGED, ASYMMETRIC_RETURN).',
      labelNames: ['warning'],
      registers: [r],
    });
    for (const w of WARNINGS) this.warnings.labels(w).inc(0);
    new Counter({
      name: 'calitrace_lost_events_total',
      help: 'Events lost, by where: kernel (BPF ring buffer full), pipe (loader to collector, loader restarts), collector (correlation table full, packets judged early), subscriber (an Observe client too slow).',
      labelNames: ['source'],
      registers: [r],
      collect: fromTotalLabelled(() => {
        const c = src.counters();
        return { kernel: c.lostKernel, pipe: c.lostPipe, collector: c.correlatorEvictions, subscriber: src.subscribers().lost };
      }),
    });
    new Counter({
      name: 'calitrace_events_received_total',
      help: 'Hook and drop records received from the BPF loader.',
      registers: [r],
      collect: fromTotal(() => src.counters().received),
    });
    this.hopLatency = new Histogram({
      name: 'calitrace_hop_latency_seconds',
      help: 'Time from the packet entering the node to each later hook, by the kind of hooked interface (workload = cali*, vxlan = vxlan.calico, uplink = its underlay, other) and direction (ingress, egress, drop).',
      labelNames: ['hook_kind', 'direction'],
      buckets: HOP_BUCKETS,
      registers: [r],
    });
    this.nodeLatency = new Histogram({
      name: 'calitrace_node_transit_seconds',
      help: 'Time from the packet entering the node to its last egress hook.',
      buckets: HOP_BUCKETS,
      registers: [r],
    });
    new Gauge({
      name: 'calitrace_flows_active',
      help: 'Flows in the flow table now.',
      registers: [r],
      collect() {
        this.set(src.counters().flowsActive);
      },
    });
    new Counter({
      name: 'calitrace_flows_evicted_total',
      help: 'Flows pushed out of the full flow table before they went idle.',
      registers: [r],
      collect: fromTotal(() => src.counters().flowEvictions),
    });
    new Counter({
      name: 'calitrace_flows_expired_total',
      help: 'Flows that ended by going idle.',
      registers: [r],
      collect: fromTotal(() => src.counters().flowsExpired),
    });
    new Gauge({
      name: 'calitrace_route_model_generation',
      help: 'Generation of the live route model (increments on every applied change).',
      registers: [r],
      collect() {
        this.set(src.counters().modelGeneration);
      },
    });
    this.routeChanges = new Counter({
      name: 'calitrace_route_model_updates_total',
      help: 'Route model updates applied (each one a new generation).',
      registers: [r],
    });
    this.modelUpdate = new Histogram({
      name: 'calitrace_route_model_update_seconds',
      help: 'Time from the netlink notification of a change to the route model that includes it.',
      buckets: MODEL_BUCKETS,
      registers: [r],
    });
    new Counter({
      name: 'calitrace_loader_restarts_total',
      help: 'Times the BPF loader died and was restarted (each gap counted in lost_events{source="pipe"}).',
      registers: [r],
      collect: fromTotal(() => src.counters().loaderRestarts),
    });
    new Counter({
      name: 'calitrace_prediction_errors_total',
      help: 'Packets whose route prediction failed.',
      registers: [r],
      collect: fromTotal(() => src.counters().predictErrors),
    });
    new Counter({
      name: 'calitrace_packets_unjudged_total',
      help: 'Case mode: packets the kernel counted at a case whose first record was lost (ring buffer full), so no verdict is known for them. Counted here, never as MATCHED.',
      registers: [r],
      collect: fromTotal(() => src.counters().caseUnknown),
    });
    new Gauge({
      name: 'calitrace_attached_interfaces',
      help: 'Interfaces with the tracer attached now, by hook kind.',
      labelNames: ['hook_kind'],
      registers: [r],
      collect() {
        const n: Record<string, number> = { workload: 0, vxlan: 0, uplink: 0, other: 0 };
        for (const name of src.attached()) n[hookKind(name, src.isUplink(name))]++;
        for (const k of HOOK_KINDS) this.labels(k).set(n[k]);
      },
    });
    new Gauge({
      name: 'calitrace_subscribers',
      help: 'Observe streams following live now.',
      registers: [r],
      collect() {
        this.set(src.subscribers().connected);
      },
    });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: r });
  }

  /**
   * Judged packets (the collector's 'counted' event): `packets` of them judged as `v`. A counter only goes
   * up: a case-mode correction (negative: packets an earlier epoch counted at a path they then went on
   * from, not held back because no neighbour resolution was seen) is left out.
   */
  verdict(v: PacketVerdict, packets = 1): void {
    if (packets <= 0) return;
    this.judged.labels(v.verdict, protocolLabel(v.proto), v.family === 6 ? 'ipv6' : 'ipv4').inc(packets);
    for (const w of v.warnings) this.warnings.labels(w).inc();
    const hops = v.observed;
    if (hops.length > 1) {
      const t0 = hops[0].timeNs;
      for (let i = 1; i < hops.length; i++) {
        const h = hops[i];
        const dt = (h.timeNs - t0) / 1e9;
        if (dt >= 0) this.hopLatency.labels(hookKind(h.iface, this.opts.sources.isUplink(h.iface)), h.dir).observe(dt);
      }
    }
    if (v.latencyUs !== undefined) this.nodeLatency.observe(v.latencyUs / 1e6);
  }

  /** A route model change (the collector's 'route' event); `latencyMs` when the model knows it. */
  routeChange(ev: ModelChangeEvent): void {
    this.routeChanges.inc();
    if (ev.updateLatencyMs !== undefined) this.modelUpdate.observe(ev.updateLatencyMs / 1000);
  }

  /** The text exposition format. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** workload (cali*), vxlan (vxlan.calico, vxlan-v6.calico), uplink, other — never the name itself. */
export function hookKind(iface: string, uplink: boolean): HookKind {
  if (iface.startsWith('cali')) return 'workload';
  if (iface === 'vxlan.calico' || iface === 'vxlan-v6.calico') return 'vxlan';
  if (uplink) return 'uplink';
  return 'other';
}

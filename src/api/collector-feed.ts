// Binds a running collector to the API: verdicts, flows, route changes, hook events and upstream losses
// go into the ObserveFeed; Status, GetRoutes and Explain read the collector and its route model.
import type { RunningCollector } from '../collector/start';
import type { CollectorCounters } from '../collector/types';
import type { TraceEvent } from '../capture/event';
import type { LinkEvent } from '../capture/decode';
import { predict } from '../routing/predict';
import { explainQuery } from '../routing/explain';
import type { ObserveFeed } from './feed';
import { ApiBackend, AttachedInterfaceInfo } from './server';
import { VERSION } from '../util/version';
import { SnapshotJoin } from '../pcapng/join';
import type { SnapFrame } from '../capture/snap';

export interface CollectorFeedOptions {
  /** 'packet' or 'flow': what the capture runs in. */
  mode: string;
  netns?: string;
  /** Publish every hook event as well as the verdicts (default true). */
  packets?: boolean;
  /** Where pod names come from, for Status. */
  podNames?: string;
  /** The capture copies packet bytes (serve --snaplen): verdicts carry each hop's snapshot. */
  snaplen?: number;
}

export interface CollectorFeed {
  backend: ApiBackend;
  /** Stops publishing (the collector keeps running). */
  detach(): void;
}

export function feedFromCollector(running: RunningCollector, feed: ObserveFeed, opts: CollectorFeedOptions): CollectorFeed {
  const { collector, capture, model } = running;
  const links = new Map<string, AttachedInterfaceInfo>();
  let last: CollectorCounters | undefined;
  const offs: (() => void)[] = [];
  // Judged = published: every verdict the collector judges from now on is handed to the hub; those it
  // judged before this feed existed are counted apart (Status: packets = judged_before_api + verdicts_published).
  let verdictsPublished = 0;
  const judgedBefore = collector.counters().packets;

  const published = () => {
    verdictsPublished++;
  };
  if (opts.snaplen) offs.push(publishWithSnapshots(running, feed, opts.snaplen, published));
  else
    offs.push(
      collector.on('verdict', (v) => {
        feed.verdict(v);
        published();
      }),
    );
  offs.push(collector.on('flow', (f) => feed.flow(f)));
  // The model was loaded before we were bound: its age counts from now until the first change.
  let routeChangedMs = Date.now();
  offs.push(
    collector.on('route', (ev) => {
      routeChangedMs = ev.timeMs || Date.now();
      feed.routeChange(ev);
    }),
  );
  offs.push(
    collector.on('counters', (c) => {
      // Upstream losses become notices on the stream, as deltas with running totals.
      feed.lost('KERNEL', c.lostKernel - (last?.lostKernel ?? 0), c.lostKernel, 'BPF ring buffer full');
      feed.lost('PIPE', c.lostPipe - (last?.lostPipe ?? 0), c.lostPipe, 'loader → collector');
      feed.lost('COLLECTOR', c.correlatorEvictions - (last?.correlatorEvictions ?? 0), c.correlatorEvictions, 'correlation table full: packets judged early');
      last = c;
    }),
  );
  const onLink = (l: LinkEvent) => {
    const hooks = l.state === 'attached' ? ['ingress', 'egress'] : [];
    links.set(l.name, { ifindex: l.ifindex, name: l.name, attached: l.state === 'attached', hooks });
  };
  capture.on('link', onLink);
  const onEvent = (ev: TraceEvent) => feed.packet(ev);
  if (opts.packets !== false) capture.on('event', onEvent);
  offs.push(() => {
    capture.off('link', onLink);
    capture.off('event', onEvent);
  });

  const backend: ApiBackend = {
    version: VERSION,
    netns: opts.netns,
    mode: () => opts.mode,
    interfaces: () => {
      // Attachments made before we subscribed are only in running.traced: merge them in.
      const all = new Map(links);
      for (const name of running.traced) {
        if (!all.has(name)) {
          const ifindex = model.state.links.find((l) => l.name === name)?.ifindex ?? 0;
          all.set(name, { ifindex, name, attached: true, hooks: ['ingress', 'egress'] });
        }
      }
      return [...all.values()].sort((a, b) => a.name.localeCompare(b.name));
    },
    counters: () => {
      const c = collector.counters();
      const other: Record<string, number> = {
        packets: c.packets,
        verdicts_published: verdictsPublished,
        judged_before_api: judgedBefore,
        correlator_evictions: c.correlatorEvictions,
        correlator_pending: c.correlatorPending,
        drops_after_egress: c.dropsAfterEgress,
        nat_paired: c.natPaired,
        flow_records: c.flowRecords,
        flows_active: c.flowsActive,
        flow_evictions: c.flowEvictions,
        flows_expired: c.flowsExpired,
        predict_errors: c.predictErrors,
        // Case mode: verdict lines of a case's first packet (counted with their case, not as packets
        // of their own) and packets counted at cases whose first record was lost (counted, not judged).
        case_lines: c.caseLines,
        case_unknown: c.caseUnknown,
        // Hook records as PACKET items: published while a subscriber followed PACKET items, the rest not
        // (no history of them either). Together: every hook record the capture delivered since the API started.
        packet_items_published: feed.packets.published,
        packet_items_unfollowed: feed.packets.unfollowed,
      };
      for (const [k, n] of Object.entries(c.verdicts)) other[`verdict_${k.toLowerCase()}`] = n;
      return {
        received: c.received,
        lostKernel: c.lostKernel,
        lostPipe: c.lostPipe,
        loaderRestarts: c.loaderRestarts,
        lostCollector: c.correlatorEvictions,
        other,
      };
    },
    routes: () => ({ state: model.state, generation: model.generation }),
    routeChangedMs: () => routeChangedMs,
    podNames: opts.podNames,
    explain: (q) => {
      // The same answer as `calitrace explain` here: the ingress settled from SRC when no iif is given.
      const prediction = explainQuery(model, q);
      return { prediction, generation: model.generation };
    },
  };
  return { backend, detach: () => offs.forEach((off) => off()) };
}

/** Verdicts wait (at most 2 s) for their hooks' snapshots, then go out with them. */
function publishWithSnapshots(
  running: RunningCollector,
  feed: ObserveFeed,
  snaplen: number,
  published: () => void,
): () => void {
  const join = new SnapshotJoin({
    onPacket: ({ verdict, events, snapshots }) => {
      const byHop = new Map(events.map((e, i) => [`${e.timeNs}|${e.iface}`, snapshots[i]]));
      feed.verdict(
        verdict,
        verdict.observed.map((h) => {
          const s = byHop.get(`${h.timeNs}|${h.iface}`);
          return s && { data: s.data, wireLength: s.wireLen, link: s.link, realtimeOffsetNs: running.hello.realtimeOffsetNs, snaplen };
        }),
      );
      published();
    },
    onUnclaimed: () => undefined, // a hook of a packet that was not judged: nothing to attach it to
  });
  const onSnap = (f: SnapFrame) => join.snapFrame(f);
  running.capture.on('snap', onSnap);
  const off = running.collector.on('judged', ({ verdict, events }) => join.judged(verdict, events));
  const timer = setInterval(() => join.expire(), 100);
  timer.unref();
  return () => {
    clearInterval(timer);
    off();
    running.capture.off('snap', onSnap);
    join.close();
  };
}

// What the collector publishes into: converts domain objects into Observe items on a Hub. Each item is
// encoded once, on first delivery, and the same bytes go to every subscriber.
import type { TraceEvent } from '../capture/event';
import type { PacketVerdict } from '../path/types';
import type { ModelChangeEvent } from '../routing/types';
import type { FilterSubject } from '../hub/filter';
import { Hub, HubItem, HubOptions } from '../hub/hub';
import { calitrace, pb } from './proto';
import {
  FlowSummaryLike, PodDirectory, flowMessage, flowSubject, packetMessage, packetSubject, routeChangeMessage, verdictMessage, verdictSubject,
} from './convert';

export interface FeedItem {
  subject: FilterSubject;
  message: calitrace.v1.IObserveResponse;
  /** The encoded ObserveResponse, filled on first delivery. */
  bytes?: Uint8Array;
}

export type LostSource = 'KERNEL' | 'PIPE' | 'COLLECTOR';

export interface FeedOptions {
  /** Node name stamped on every item. */
  node: string;
  /** Resolves IPs to pods for the pod/namespace filters. */
  pods?: PodDirectory;
  hub?: HubOptions;
}

export class ObserveFeed {
  readonly hub: Hub<FeedItem>;
  readonly node: string;
  pods: PodDirectory | undefined;

  constructor(options: FeedOptions) {
    this.node = options.node;
    this.pods = options.pods;
    this.hub = new Hub<FeedItem>(options.hub);
  }

  packet(e: TraceEvent): void {
    const packet = packetMessage(e, this.pods);
    this.publish(packetSubject(packet, this.node), { packet }, e.wallMs);
  }

  verdict(v: PacketVerdict): void {
    const verdict = verdictMessage(v, this.pods);
    this.publish(verdictSubject(verdict, this.node), { verdict }, v.timeMs);
  }

  flow(f: FlowSummaryLike): void {
    const flow = flowMessage(f, this.pods);
    this.publish(flowSubject(flow, this.node), { flow }, f.lastMs || Date.now());
  }

  routeChange(ev: ModelChangeEvent): void {
    this.publish({ type: 'ROUTE_CHANGE', node: this.node }, { routeChange: routeChangeMessage(ev) }, ev.timeMs);
  }

  /** Loss upstream of the hub (kernel ring, loader pipe, collector): `count` new, `total` so far. */
  lost(source: LostSource, count: number, total: number, detail = ''): void {
    if (count <= 0) return;
    const lost = { source: pb.LostEvents.Source[source], count, total, detail };
    this.publish({ type: 'LOST', node: this.node }, { lost });
  }

  /** The encoded bytes of an item (cached on the item: encoded once for all subscribers). */
  encode(item: HubItem<FeedItem>): Uint8Array {
    const v = item.value;
    if (!v.bytes) {
      v.message.seq = item.seq;
      v.bytes = pb.ObserveResponse.encode(v.message).finish();
    }
    return v.bytes;
  }

  /** A lost notice for one subscriber whose queue overflowed. */
  subscriberLost(count: number, total: number): Uint8Array {
    return pb.ObserveResponse.encode({
      timeMs: Date.now(),
      node: this.node,
      lost: { source: pb.LostEvents.Source.SUBSCRIBER, count, total, detail: 'this subscriber read too slowly; its queue was full' },
    }).finish();
  }

  private publish(subject: FilterSubject, body: Partial<calitrace.v1.IObserveResponse>, timeMs = Date.now()): void {
    this.hub.publish({ subject, message: { timeMs, node: this.node, ...body } }, timeMs);
  }
}

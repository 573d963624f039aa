// What the collector publishes into: converts domain objects into Observe items on a Hub. Each item is
// encoded once, on first delivery, and the same bytes go to every subscriber.
import type { TraceEvent } from '../capture/event';
import type { FlowSummary, PacketVerdict } from '../path/types';
import type { ModelChangeEvent } from '../routing/types';
import type { EventTypeName, FilterSubject } from '../hub/filter';
import { Hub, HubItem, HubOptions } from '../hub/hub';
import { calitrace, pb } from './proto';
import type { PodDirectory } from '../pods/directory';
import {
  flowMessage, flowSubject, packetMessage, packetSubject, routeChangeMessage, verdictMessage, verdictSubject,
} from './convert';

/**
 * One Observe item. Built lazily: at hundreds of thousands of packets per second with nobody
 * subscribed, publishing is only a history insert; the message and its filter subject are made when a
 * subscriber first needs them, and the bytes are encoded once for all subscribers. What is no longer
 * needed is let go as soon as it is not: the domain object once the message is built, the message once
 * it is encoded. The history keeps 10 000 items for seconds, long enough for the collector's garbage to
 * be promoted and collected as old objects: what an item holds on to is most of serve's GC.
 */
export class FeedItem {
  private _message: calitrace.v1.IObserveResponse | undefined;
  private _subject: FilterSubject | undefined;
  private build: (() => { message: calitrace.v1.IObserveResponse; subject: FilterSubject }) | undefined;
  /** The encoded ObserveResponse, filled on first delivery (`encoded()`). */
  bytes: Uint8Array | undefined;

  constructor(
    /** Known without building anything: subscribers filter on it first. */
    readonly type: EventTypeName,
    build: () => { message: calitrace.v1.IObserveResponse; subject: FilterSubject },
  ) {
    this.build = build;
  }

  get message(): calitrace.v1.IObserveResponse {
    if (this._message) return this._message;
    if (this.build) {
      this.materialise();
      return this._message!;
    }
    // Encoded and let go: whoever reads it this late gets it back from the bytes.
    return pb.ObserveResponse.decode(this.bytes!);
  }

  get subject(): FilterSubject {
    if (!this._subject) this.materialise();
    return this._subject!;
  }

  /** The bytes of the message, encoded once for every subscriber: the message itself is not needed again. */
  encoded(bytes: Uint8Array): void {
    this.bytes = bytes;
    this._message = undefined;
  }

  private materialise(): void {
    const { message, subject } = this.build!();
    this.build = undefined;
    this._message = message;
    this._subject = subject;
  }
}

/** Field by field: a fixed-shape literal is several times cheaper than a spread of an optional-field object. */
function copyEvent(e: TraceEvent): TraceEvent {
  return {
    kind: e.kind, timeNs: e.timeNs, wallMs: e.wallMs, ifindex: e.ifindex, iface: e.iface, dir: e.dir, len: e.len,
    family: e.family, proto: e.proto, src: e.src, dst: e.dst, sport: e.sport, dport: e.dport, tcpFlags: e.tcpFlags,
    icmpType: e.icmpType, icmpCode: e.icmpCode, icmpId: e.icmpId, icmpSeq: e.icmpSeq, ipId: e.ipId, ttl: e.ttl,
    mark: e.mark, fingerprint: e.fingerprint, natFingerprint: e.natFingerprint,
    kernel: e.kernel && { result: e.kernel.result, resultName: e.kernel.resultName, ifindex: e.kernel.ifindex, iface: e.kernel.iface, nexthop: e.kernel.nexthop },
    tunnel: e.tunnel && { outerSrc: e.tunnel.outerSrc, outerDst: e.tunnel.outerDst, vni: e.tunnel.vni, udpSport: e.tunnel.udpSport, udpDport: e.tunnel.udpDport },
    dropReason: e.dropReason, dropReasonName: e.dropReasonName, packets: e.packets, bytes: e.bytes,
    anomalies: e.anomalies && e.anomalies.slice(),
  };
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

  /** Hook records published as PACKET items, and those not: no live subscriber accepted PACKET items then. */
  readonly packets = { published: 0, unfollowed: 0 };

  /**
   * A hook event. Copied now (a capture may refill one event object per record), converted later. Only
   * while a live subscriber accepts PACKET items: in packet mode that is every packet at every hook
   * (≈ 200 k items/s at 100 k pps), which nobody else reads, and which would push every verdict out of
   * the history within a fraction of a second. Skipped records are counted (`packets.unfollowed`).
   */
  packet(ev: TraceEvent): void {
    if (!this.hub.following('PACKET')) {
      this.packets.unfollowed++;
      return;
    }
    this.packets.published++;
    const e = copyEvent(ev);
    this.publish('PACKET', () => {
      const packet = packetMessage(e, this.pods);
      return { subject: packetSubject(packet, this.node), body: { packet } };
    }, e.wallMs);
  }

  /** `snapshots[i]`: the bytes of observed hop i (serve --snaplen), when the tracer copied them. */
  verdict(v: PacketVerdict, snapshots?: (calitrace.v1.IHopSnapshot | undefined)[]): void {
    this.publish('VERDICT', () => {
      const verdict = verdictMessage(v, this.pods);
      if (snapshots) verdict.observed!.forEach((h, i) => snapshots[i] && (h.snapshot = snapshots[i]));
      return { subject: verdictSubject(verdict, this.node), body: { verdict } };
    }, v.timeMs);
  }

  flow(f: FlowSummary): void {
    this.publish('FLOW', () => {
      const flow = flowMessage(f, this.pods);
      return { subject: flowSubject(flow, this.node), body: { flow } };
    }, f.lastSeenMs || Date.now());
  }

  routeChange(ev: ModelChangeEvent): void {
    this.publish('ROUTE_CHANGE', () => ({ subject: { type: 'ROUTE_CHANGE', node: this.node }, body: { routeChange: routeChangeMessage(ev) } }), ev.timeMs);
  }

  /** Loss upstream of the hub (kernel ring, loader pipe, collector): `count` new, `total` so far. */
  lost(source: LostSource, count: number, total: number, detail = ''): void {
    if (count <= 0) return;
    const lost = { source: pb.LostEvents.Source[source], count, total, detail };
    this.publish('LOST', () => ({ subject: { type: 'LOST', node: this.node }, body: { lost } }));
  }

  /** The encoded bytes of an item (cached on the item: encoded once for all subscribers). */
  encode(item: HubItem<FeedItem>): Uint8Array {
    const v = item.value;
    if (!v.bytes) {
      const message = v.message;
      message.seq = item.seq;
      v.encoded(pb.ObserveResponse.encode(message).finish());
    }
    return v.bytes!;
  }

  /** A lost notice for one subscriber whose queue overflowed. */
  subscriberLost(count: number, total: number): Uint8Array {
    return pb.ObserveResponse.encode({
      timeMs: Date.now(),
      node: this.node,
      lost: { source: pb.LostEvents.Source.SUBSCRIBER, count, total, detail: 'this subscriber read too slowly; its queue was full' },
    }).finish();
  }

  private publish(type: EventTypeName, build: () => { subject: FilterSubject; body: Partial<calitrace.v1.IObserveResponse> }, timeMs = Date.now()): void {
    this.hub.publish(
      new FeedItem(type, () => {
        const { subject, body } = build();
        return { subject, message: { timeMs, node: this.node, ...body } };
      }),
      timeMs,
    );
  }
}

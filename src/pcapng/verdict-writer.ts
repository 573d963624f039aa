// Judged packets into pcapng: each hook's snapshot (src/capture/snap.ts) becomes an Enhanced Packet Block
// on that hook's interface, with the direction flag, the kernel timestamp and a comment that carries the
// packet's verdict, reason, predicted and observed paths; a drop is a packet on the interface where it
// died (raw IP: the kernel freed it from its network header) with the kernel's drop reason.
//
// Snapshots and verdicts meet in a SnapshotJoin (join.ts); a snapshot no verdict claims in time is still
// written, saying it was not judged. Nothing is dropped silently: every case is a counter.
import type { TraceEvent } from '../capture/event';
import type { SnapFrame, Snapshot } from '../capture/snap';
import type { PacketVerdict } from '../path/types';
import { InterfaceInfo, PcapngWriter, PacketDirection } from './writer';
import { JoinedPacket, SnapshotJoin, SnapshotJoinCounters } from './join';

export interface VerdictWriterOptions {
  node: string;
  snaplen: number;
  /** CLOCK_REALTIME − CLOCK_MONOTONIC (the loader's HELLO): pcapng wants wall-clock time. */
  realtimeOffsetNs: () => number;
  /** How long a snapshot and a verdict wait for each other. Default 2 s. */
  waitMs?: number;
  /** Most snapshots (and packets) waiting at once. Default 65536. */
  maxPending?: number;
  now?: () => number;
}

export interface VerdictWriterCounters extends SnapshotJoinCounters {
  /** Packet blocks written with their verdict. */
  judged: number;
  /** Packet blocks written without one (no verdict in time, a full table, or the end of the trace). */
  unjudged: number;
}

export class VerdictPcapWriter {
  private readonly join: SnapshotJoin;
  private written = { judged: 0, unjudged: 0 };

  constructor(
    private readonly writer: PcapngWriter,
    private readonly o: VerdictWriterOptions,
  ) {
    this.join = new SnapshotJoin({
      waitMs: o.waitMs,
      maxPending: o.maxPending,
      now: o.now,
      onPacket: (p) => this.packet(p),
      onUnclaimed: (snap, why) => this.write(snap, undefined, why),
    });
  }

  get counters(): VerdictWriterCounters {
    return { ...this.join.counters, ...this.written };
  }

  /** A SNAP frame from the capture ('snap' event). */
  snapFrame(f: SnapFrame): void {
    this.join.snapFrame(f);
  }

  /** A judged packet (the collector's 'judged' event). */
  judged(v: PacketVerdict, events: TraceEvent[]): void {
    this.join.judged(v, events);
  }

  /** Call every 100 ms or so. */
  expire(): void {
    this.join.expire();
  }

  /** At the end: everything still waiting goes out. */
  close(): void {
    this.join.close();
  }

  private packet(p: JoinedPacket): void {
    if (!p.snapshots.some(Boolean)) return;
    const comments = verdictComments(p.verdict, eventHops(p.events));
    p.snapshots.forEach((snap, i) => {
      if (snap) this.write(snap, comments[i]);
    });
  }

  private write(s: Snapshot, comment: string | undefined, unjudgedWhy?: string): void {
    const drop = s.dir === 'drop';
    const interfaceId = this.writer.interfaceId(interfaceFor(s, this.o.node, this.o.snaplen));
    const direction: PacketDirection = drop ? 'unknown' : s.dir === 'ingress' ? 'inbound' : 'outbound';
    let text = comment;
    if (text === undefined) {
      this.written.unjudged++;
      text = `calitrace: not judged: ${unjudgedWhy} | hook ${hookText(s)}`;
    } else {
      this.written.judged++;
    }
    this.writer.packet({
      interfaceId,
      timestampNs: BigInt(s.timeNs) + BigInt(Math.round(this.o.realtimeOffsetNs())),
      data: s.data,
      originalLength: s.wireLen,
      direction,
      comments: [text],
    });
  }
}

/** The interface block of a snapshot: its device (or where it died), the node, the link type. */
export function interfaceFor(s: Pick<Snapshot, 'iface' | 'link'>, node: string, snaplen: number): InterfaceInfo {
  const name = s.iface || '(no device)';
  return {
    name,
    link: s.link === 'raw' ? 'raw' : 'ethernet',
    snaplen,
    description: `${name} on node ${node}${s.link === 'raw' ? ' (drops: IP packets as the kernel freed them)' : ' (tc hooks)'}`,
    os: `node ${node}`,
  };
}

function hookText(s: Snapshot): string {
  return hopLabel({ iface: s.iface, dir: s.dir, dropReason: s.dropReasonName ?? (s.dropReason === undefined ? undefined : String(s.dropReason)) });
}

/** What the comment needs of a verdict: a PacketVerdict has it, and so has an Observe item's verdict. */
export interface CommentVerdict {
  verdict: string;
  reason: string;
  predicted: string[];
  observed: CommentHop[];
  warnings: string[];
  fingerprint: string;
}

export interface CommentHop {
  iface: string;
  dir: 'ingress' | 'egress' | 'drop';
  dropReason?: string;
}

/** 'cali1 ingress', 'drop NOT_SPECIFIED on cali1'. */
export function hopLabel(h: CommentHop): string {
  if (h.dir === 'drop') return `drop ${h.dropReason ?? ''}${h.iface ? ` on ${h.iface}` : ''}`;
  return `${h.iface} ${h.dir}`;
}

function pathText(hops: CommentHop[]): string {
  return hops.map((h) => (h.dir === 'drop' ? `drop(${h.dropReason ?? '?'})${h.iface ? `@${h.iface}` : ''}` : `${h.iface} ${h.dir}`)).join(' -> ') || '-';
}

function eventHop(ev: TraceEvent): CommentHop {
  return { iface: ev.iface, dir: ev.kind === 'drop' ? 'drop' : ev.dir, dropReason: ev.dropReasonName ?? (ev.dropReason === undefined ? undefined : String(ev.dropReason)) };
}

/**
 * One line per hop (tshark prints a comment as one field): verdict, reason, predicted path, observed
 * path, which hop of the packet this block is, and for a drop the kernel's reason. The part every hop
 * shares is built once.
 */
export function verdictComments(v: CommentVerdict, hops: CommentHop[]): string[] {
  const head =
    `calitrace ${v.verdict} | reason: ${v.reason.replace(/\s+/g, ' ')} | predicted: ${v.predicted.join(' -> ') || '-'}` +
    ` | observed: ${pathText(v.observed)}`;
  const tail = `${v.warnings.length ? ` | warnings: ${v.warnings.join(',')}` : ''}`;
  return hops.map((h, i) =>
    `${head} | hop ${i + 1}/${hops.length}: ${hopLabel(h)}${tail}${h.dir === 'drop' ? ` | drop reason: ${h.dropReason}` : ''} | fingerprint ${v.fingerprint}`);
}

export function eventHops(events: TraceEvent[]): CommentHop[] {
  return events.map(eventHop);
}

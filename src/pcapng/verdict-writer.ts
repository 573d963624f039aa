// Judged packets into pcapng: each hook's snapshot (src/capture/snap.ts) becomes an Enhanced Packet Block
// on that hook's interface, with the direction flag, the kernel timestamp and a comment that carries the
// packet's verdict, reason, predicted and observed paths; a drop is a packet on the interface where it
// died (raw IP: the kernel freed it from its network header) with the kernel's drop reason.
//
// A packet's verdict comes a correlation window after its snapshots, so snapshots wait here (bounded)
// for it; one that no verdict claims in time is still written, saying it was not judged. Nothing is
// dropped silently: every case is a counter.
import type { TraceEvent } from '../capture/event';
import type { SnapFrame, Snapshot } from '../capture/snap';
import { snapKey } from '../capture/snap';
import type { PacketVerdict } from '../path/types';
import { PcapngWriter, PacketDirection } from './writer';

export interface VerdictWriterOptions {
  node: string;
  snaplen: number;
  /** CLOCK_REALTIME − CLOCK_MONOTONIC (the loader's HELLO): pcapng wants wall-clock time. */
  realtimeOffsetNs: () => number;
  /** How long a snapshot waits for its verdict before it is written unjudged. Default 5 s. */
  waitMs?: number;
  /** Most snapshots waiting at once; beyond it the oldest is written unjudged. Default 65536. */
  maxPending?: number;
  now?: () => number;
}

export interface VerdictWriterCounters {
  /** Packet blocks written with their verdict. */
  judged: number;
  /** Packet blocks written without one (no verdict in time, or the table was full, or at the end). */
  unjudged: number;
  /** Hook events of judged packets that had no snapshot (the kernel lost it: see snapsLost). */
  eventsWithoutSnapshot: number;
  /** Snapshots the kernel could not queue (SNAP frames' running totals, across loader restarts). */
  snapsLost: number;
}

interface Pending {
  snap: Snapshot;
  sinceMs: number;
}

export class VerdictPcapWriter {
  readonly counters: VerdictWriterCounters = { judged: 0, unjudged: 0, eventsWithoutSnapshot: 0, snapsLost: 0 };
  private readonly pending = new Map<string, Pending>();
  /** Verdicts whose snapshot has not arrived yet (SNAP frames travel apart from the events). */
  private readonly awaiting = new Map<string, { comment: string; sinceMs: number }>();
  private lostBase = 0;
  private lostInstance = 0;
  private readonly now: () => number;

  constructor(
    private readonly writer: PcapngWriter,
    private readonly o: VerdictWriterOptions,
  ) {
    this.now = o.now ?? Date.now;
  }

  /** A SNAP frame from the capture ('snap' event). */
  snapFrame(f: SnapFrame): void {
    // A restarted loader counts from zero again.
    if (f.lostTotal < this.lostInstance) this.lostBase += this.lostInstance;
    this.lostInstance = f.lostTotal;
    this.counters.snapsLost = this.lostBase + this.lostInstance;
    const now = this.now();
    const max = this.o.maxPending ?? 65536;
    for (const s of f.snapshots) {
      const key = snapKey(s.fingerprint, s.timeNs, s.ifindex);
      const verdict = this.awaiting.get(key);
      if (verdict) {
        this.awaiting.delete(key);
        this.write(s, verdict.comment);
        continue;
      }
      if (this.pending.size >= max) {
        const [key, oldest] = this.pending.entries().next().value as [string, Pending];
        this.pending.delete(key);
        this.write(oldest.snap, undefined, 'the table of packets waiting for a verdict was full');
      }
      this.pending.set(key, { snap: s, sinceMs: now });
    }
  }

  /** A judged packet (the collector's 'judged' event): its hooks' snapshots go out with the verdict. */
  judged(v: PacketVerdict, events: TraceEvent[]): void {
    const hops = [...events].sort((a, b) => a.timeNs - b.timeNs);
    for (let i = 0; i < hops.length; i++) {
      const ev = hops[i];
      const key = snapKey(ev.fingerprint, ev.timeNs, ev.ifindex);
      const comment = verdictComment(v, i + 1, hops.length, ev);
      const p = this.pending.get(key);
      if (!p) {
        if (this.awaiting.size >= (this.o.maxPending ?? 65536)) this.counters.eventsWithoutSnapshot++;
        else this.awaiting.set(key, { comment, sinceMs: this.now() });
        continue;
      }
      this.pending.delete(key);
      this.write(p.snap, comment);
    }
  }

  /** Writes the snapshots whose verdict did not come in time. Call every second or so. */
  expire(): void {
    const limit = this.now() - (this.o.waitMs ?? 5000);
    for (const [key, a] of this.awaiting) {
      if (a.sinceMs > limit) break;
      this.awaiting.delete(key);
      this.counters.eventsWithoutSnapshot++;
    }
    for (const [key, p] of this.pending) {
      if (p.sinceMs > limit) break; // insertion order = arrival order
      this.pending.delete(key);
      this.write(p.snap, undefined, 'no verdict within the wait (flow-mode record, or its packet was not judged)');
    }
  }

  /** At the end: everything still waiting goes out, unjudged. */
  close(): void {
    for (const p of this.pending.values()) this.write(p.snap, undefined, 'the trace ended before its verdict');
    this.pending.clear();
    this.counters.eventsWithoutSnapshot += this.awaiting.size;
    this.awaiting.clear();
  }

  private write(s: Snapshot, comment: string | undefined, unjudgedWhy?: string): void {
    const drop = s.dir === 'drop';
    const name = s.iface || '(no device)';
    const interfaceId = this.writer.interfaceId({
      name,
      link: s.link === 'raw' ? 'raw' : 'ethernet',
      snaplen: this.o.snaplen,
      description: `${name} on node ${this.o.node}${s.link === 'raw' ? ' (drops: IP packets as the kernel freed them)' : ' (tc hooks)'}`,
      os: `node ${this.o.node}`,
    });
    const direction: PacketDirection = drop ? 'unknown' : s.dir === 'ingress' ? 'inbound' : 'outbound';
    let text = comment;
    if (text === undefined) {
      this.counters.unjudged++;
      text = `calitrace: not judged: ${unjudgedWhy} | hook ${hookText(s)}`;
    } else {
      this.counters.judged++;
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

function hookText(s: Snapshot): string {
  if (s.dir === 'drop') return `drop ${s.dropReasonName ?? s.dropReason ?? ''}${s.iface ? ` on ${s.iface}` : ''}`;
  return `${s.iface} ${s.dir}`;
}

function eventHookText(ev: TraceEvent): string {
  if (ev.kind === 'drop') return `drop ${ev.dropReasonName ?? ev.dropReason ?? ''}${ev.iface ? ` on ${ev.iface}` : ''}`;
  return `${ev.iface} ${ev.dir}`;
}

function pathText(hops: PacketVerdict['observed']): string {
  return hops.map((h) => (h.dir === 'drop' ? `drop(${h.dropReason ?? '?'})${h.iface ? `@${h.iface}` : ''}` : `${h.iface} ${h.dir}`)).join(' -> ') || '-';
}

/**
 * One line (tshark prints a comment as one field): verdict, reason, predicted path, observed path, which
 * hop of the packet this block is, and for a drop the kernel's reason.
 */
export function verdictComment(v: PacketVerdict, hop: number, hops: number, ev: TraceEvent): string {
  const parts = [
    `calitrace ${v.verdict}`,
    `reason: ${v.reason.replace(/\s+/g, ' ')}`,
    `predicted: ${v.predicted.join(' -> ') || '-'}`,
    `observed: ${pathText(v.observed)}`,
    `hop ${hop}/${hops}: ${eventHookText(ev)}`,
  ];
  if (v.warnings.length) parts.push(`warnings: ${v.warnings.join(',')}`);
  if (ev.kind === 'drop') parts.push(`drop reason: ${ev.dropReasonName ?? ev.dropReason}`);
  parts.push(`fingerprint ${v.fingerprint}`);
  return parts.join(' | ');
}

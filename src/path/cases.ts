// Case mode, user-space half. The kernel counts every packet into the "case" of each hop it takes on
// the node (a hash of the previous hop's case, the hook, the flow, the FIB's answer, the tunnel, the
// drop reason, anomalies and the route-model generation) and ships a record only for a case's first
// packet and for drops; every epoch it hands over how many packets passed each case (CASES frames).
//
// The case book learns each case from its record — the hop as seen, and the case before it — so that
//  - a record whose earlier hops were only counted (a packet that took a known way, then did something
//    new) becomes a whole packet again: the known hops are replayed in front of it;
//  - an epoch's counts become packets per path: the packets that ended at case C are those that passed
//    C minus those that went on to one of C's children, and each path (the chain of cases from its first
//    hop to C) is judged once and counted as many times as it was taken.
//
// A packet rewritten by NAT between two hooks changes addresses (so cases) and fingerprint: the kernel
// chains its later hop to its ingress by the NAT fingerprint, and a replayed chain gives each stretch of
// unchanged addresses a fingerprint of its own (stamp()), so the correlator pairs the stretches as it does
// the records of a translated packet in packet mode.
//
// Memory: one entry per case (a frozen copy of its record), at most maxCases; idle cases are forgotten,
// and a full book forgets the cases not in use first.
import type { TraceEvent } from '../capture/event';

const NO_CASE = '0000000000000000';

/** Twice the kernel's ct_case_known (see CaseBookOptions.maxCases). */
const DEFAULT_MAX_CASES = 131072;

/**
 * A case counted or shipped within this many epochs of the newest is in use: the kernel hands an epoch's
 * counts over two epochs after it (bpf/cases.c), one more for a late hop.
 */
const IN_USE_EPOCHS = 3;

interface CaseHop {
  ev: TraceEvent;
  prev: string;
  /** Last epoch it was counted in or shipped (for ageing). */
  epoch: number;
  /** The case of `prev`, once looked up (while it is in the book). */
  parent: CaseHop | undefined;
  /** Forgotten: a child's `parent` pointing here is looked up again. */
  removed: boolean;
  /**
   * Scratch of epoch(): what passed this case and what went on from it to its children in the epoch
   * being read (valid while `passedIn` / `onwardIn` is that epoch) — fields, not maps built per epoch.
   */
  passedIn: number;
  onwardIn: number;
  onwardPackets: number;
  onwardBytes: number;
}

function newHop(ev: TraceEvent, prev: string, epoch: number): CaseHop {
  return { ev, prev, epoch, parent: undefined, removed: false, passedIn: -1, onwardIn: -1, onwardPackets: 0, onwardBytes: 0 };
}

export interface TerminalCount {
  /** The case the packets' path ended at. */
  caseId: string;
  /**
   * Negative: a correction. A packet's late hop (it waited seconds for its next hop's neighbour, then
   * left or died) is counted in a later epoch than its earlier hops, so the earlier epoch saw it end at
   * the parent; the later epoch takes it back from there.
   */
  packets: number;
  bytes: number;
}

export interface EpochResult {
  /** Packets per path end (drop cases excluded: every drop has its own record and verdict); negative
   * entries correct an earlier epoch (see TerminalCount). */
  ended: TerminalCount[];
  /** Packets counted at cases the book never learnt (their first record was lost): not judgeable. */
  unknownPackets: number;
}

export interface CaseBookOptions {
  /**
   * Default 131 072: twice the kernel's table of known cases (65 536). The book must hold every case the
   * kernel still counts without shipping (it never ships them again while they are in use), and also
   * those the kernel could not add to a full table, whose every packet is shipped.
   */
  maxCases?: number;
  /** Cases not seen for this many epochs are forgotten. Default 64. */
  idleEpochs?: number;
}

/**
 * The hops of one path, made one packet's records: the last stretch of hops with the last hop's addresses
 * gets `fingerprint`, each earlier stretch (before a NAT rewrite) one derived from it; all share the last
 * hop's NAT fingerprint, which is what pairs a translated packet with its ingress.
 */
export function stamp(hops: TraceEvent[], fingerprint: string): TraceEvent[] {
  const last = hops[hops.length - 1];
  const out = new Array<TraceEvent>(hops.length);
  let stretch = 0;
  for (let i = hops.length - 1; i >= 0; i--) {
    const h = hops[i];
    if (i < hops.length - 1 && !sameHeaders(h, hops[i + 1])) stretch++;
    out[i] = { ...h, fingerprint: stretch === 0 ? fingerprint : natStretchFingerprint(fingerprint, stretch), natFingerprint: last.natFingerprint };
  }
  return out;
}

/** Whether two hops carry the same addresses and ports (NAT did not rewrite the packet between them). */
function sameHeaders(a: TraceEvent, b: TraceEvent): boolean {
  return a.src === b.src && a.dst === b.dst && a.sport === b.sport && a.dport === b.dport && a.proto === b.proto && a.icmpId === b.icmpId;
}

/** A fingerprint for the untranslated stretch of a replayed packet: another 16 hex digits, never the packet's own. */
function natStretchFingerprint(fingerprint: string, stretch: number): string {
  const v = (BigInt(`0x${fingerprint}`) ^ (0x6e6174n << 40n) ^ BigInt(stretch)) & 0xffffffffffffffffn;
  return v.toString(16).padStart(16, '0');
}

/** Bytes of the Ethernet header in a hook's packet length (a verdict compares the L3 length with MTUs). */
const L2_HEADER = 14;

/** VXLAN's encapsulation overhead over IPv4 and over IPv6 underlays. */
const VXLAN_OVERHEADS = [50, 70];

/**
 * The frame lengths at which a non-TCP packet's verdict can change on this node: every link's MTU, and
 * the largest inner packet that fits each MTU once VXLAN-encapsulated — plus the L2 header the hook
 * counts. The kernel puts packets on either side of each into different cases, so a case's first
 * packet fits (or does not fit) what all of its packets fit. At most `max`, smallest first.
 */
export function sizeMarks(mtus: Iterable<number>, max = 16): number[] {
  const marks = new Set<number>();
  for (const mtu of mtus) {
    if (!(mtu > 0)) continue;
    marks.add(mtu + L2_HEADER);
    for (const o of VXLAN_OVERHEADS) if (mtu > o) marks.add(mtu - o + L2_HEADER);
  }
  return [...marks].filter((m) => m <= 65535).sort((a, b) => a - b).slice(0, max);
}

export class CaseBook {
  private readonly cases = new Map<string, CaseHop>();
  private readonly maxCases: number;
  private readonly idleEpochs: number;
  private lastEpoch = 0;

  constructor(opts: CaseBookOptions = {}) {
    this.maxCases = opts.maxCases ?? DEFAULT_MAX_CASES;
    this.idleEpochs = opts.idleEpochs ?? 64;
  }

  get size(): number {
    return this.cases.size;
  }

  /** How many cases it holds at most. */
  get maxSize(): number {
    return this.maxCases;
  }

  has(caseId: string): boolean {
    return this.cases.has(caseId);
  }

  /**
   * Learns the case of a shipped record and returns what to correlate for it: when its previous hop was
   * only counted (no open packet holds it: `isOpen` says, by fingerprint or NAT fingerprint), the known
   * earlier hops first, stamped as this packet's (stamp()), then the record itself. `missing` is true when the chain is broken
   * (an earlier case was never learnt: its first record was lost).
   */
  learn(ev: TraceEvent, isOpen: (ev: TraceEvent) => boolean): { events: TraceEvent[]; missing: boolean } {
    const id = ev.caseId!;
    const prev = ev.prevCase ?? NO_CASE;
    const epoch = ev.epoch ?? 0;
    if (epoch > this.lastEpoch) this.lastEpoch = epoch;
    if (!this.cases.has(id)) {
      if (this.cases.size >= this.maxCases) this.forgetOldest();
      this.cases.set(id, newHop({ ...ev }, prev, epoch));
    }
    if (prev === NO_CASE || isOpen(ev)) return { events: [ev], missing: false };
    const chain = this.chain(prev);
    if (!chain) return { events: [ev], missing: true };
    // The replayed hops happened just before this one, to this packet: their times, IP id and ICMP
    // sequence were another packet's (NAT changes none of these two).
    const stamped = stamp([...chain, ev], ev.fingerprint);
    const own = (h: TraceEvent, i: number): TraceEvent => ({ ...h, timeNs: ev.timeNs - (chain.length - i), wallMs: ev.wallMs, ipId: ev.ipId, icmpSeq: ev.icmpSeq });
    return { events: stamped.map((h, i) => (i === chain.length ? ev : own(h, i))), missing: false };
  }

  /** Whether the record's case is in the book (as learn would find it); notes its epoch as learn does. */
  knows(ev: TraceEvent): boolean {
    const epoch = ev.epoch ?? 0;
    if (epoch > this.lastEpoch) this.lastEpoch = epoch;
    return this.cases.has(ev.caseId!);
  }

  /** The hops from the packet's first hop to `caseId`, or undefined when a link of the chain is unknown. */
  chain(caseId: string): TraceEvent[] | undefined {
    const out: TraceEvent[] = [];
    for (let id = caseId, n = 0; id !== NO_CASE; n++) {
      const hop = this.cases.get(id);
      if (!hop || n > 32) return undefined;
      out.push(hop.ev);
      id = hop.prev;
    }
    return out.reverse();
  }

  /** The record that taught a case (its kind tells a drop case). */
  hop(caseId: string): TraceEvent | undefined {
    return this.cases.get(caseId)?.ev;
  }

  /**
   * One finished epoch: packets per path end. Within an epoch every hop of a packet is counted (the
   * kernel counts all hops of a packet in the epoch of its first hop), so ended(C) = passed(C) − Σ
   * passed(children of C) is exact.
   */
  epoch(epoch: number, entries: { caseId: string; packets: number; bytes: number }[]): EpochResult {
    if (epoch > this.lastEpoch) this.lastEpoch = epoch;
    // One lookup per entry and one per parent (cached on the hop): this runs for every case every epoch.
    const hops = new Array<CaseHop | undefined>(entries.length);
    const parents: CaseHop[] = [];
    let unknownPackets = 0;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      const hop = this.cases.get(e.caseId);
      hops[i] = hop;
      if (!hop) {
        unknownPackets += e.packets; // its first record was lost: the path is not known
        continue;
      }
      hop.epoch = epoch;
      hop.passedIn = epoch;
      if (hop.prev === NO_CASE) continue;
      let parent = hop.parent;
      if (parent === undefined || parent.removed) parent = hop.parent = this.cases.get(hop.prev);
      if (parent === undefined) continue; // a parent never learnt (or forgotten) is nobody's path end
      if (parent.onwardIn !== epoch) {
        parent.onwardIn = epoch;
        parent.onwardPackets = 0;
        parent.onwardBytes = 0;
        parents.push(parent);
      }
      parent.onwardPackets += e.packets;
      parent.onwardBytes += e.bytes;
    }
    const ended: TerminalCount[] = [];
    for (let i = 0; i < entries.length; i++) {
      const hop = hops[i];
      // Drops end paths too, but every drop has its own record and verdict: only subtracted above.
      if (!hop || hop.ev.kind === 'drop') continue;
      const e = entries[i];
      const on = hop.onwardIn === epoch;
      const packets = e.packets - (on ? hop.onwardPackets : 0);
      if (packets !== 0) ended.push({ caseId: e.caseId, packets, bytes: e.bytes - (on ? hop.onwardBytes : 0) });
    }
    // Late hops whose parent passed no packet in this epoch: the correction, all of it.
    for (const parent of parents) {
      if (parent.passedIn === epoch) continue;
      ended.push({ caseId: parent.ev.caseId!, packets: -parent.onwardPackets, bytes: -parent.onwardBytes });
    }
    if (epoch % 16 === 0) this.forgetIdle();
    return { ended, unknownPackets };
  }

  private forgetIdle(): void {
    const limit = this.lastEpoch - this.idleEpochs;
    for (const [id, hop] of this.cases) {
      if (hop.epoch < limit) {
        hop.removed = true;
        this.cases.delete(id);
      }
    }
  }

  /**
   * Full: a sixteenth goes at once (a scan per new case would be quadratic) — the first-learnt of those
   * not counted or shipped in the last epochs, then, only if there are not enough of them, the first-learnt
   * of the rest. Forgetting by age of learning alone forgot cases in use that the kernel counts without ever
   * shipping again: all their packets were unknown from then on (bench-path, 50 000 flows).
   */
  private forgetOldest(): void {
    let n = Math.max(1, this.maxCases >> 4);
    const inUse = this.lastEpoch - IN_USE_EPOCHS;
    for (const [id, hop] of this.cases) {
      if (n <= 0) return;
      if (hop.epoch >= inUse) continue;
      hop.removed = true;
      this.cases.delete(id);
      n--;
    }
    for (const [id, hop] of this.cases) {
      if (n-- <= 0) return;
      hop.removed = true;
      this.cases.delete(id);
    }
  }
}

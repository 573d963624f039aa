// Groups the events of one packet, seen at several hooks of the node, into its observed path.
//
// The hooks stamp every record with a fingerprint computed over the inner headers (TTL excluded), so
// the packet seen at its ingress cali*, at vxlan.calico and encapsulated on the uplink carries one
// value. A packet stays open from its first event until its path is complete (it left through every
// device the prediction named), it was dropped, or the time window passed; then it is handed on.
//
// Clock: kernel monotonic ns, taken from the events themselves (and from tick(), which the collector
// drives from the same clock while the stream is idle), so replaying a recording gives the same paths.
// Memory: at most maxPending open packets; a full table closes its oldest packet early and counts it.
import type { TraceEvent } from '../capture/event';
import type { Prediction } from '../routing/types';
import { Fifo } from './fifo';
import { formatEndpoint } from './endpoint';

/** The route model's answer for a packet, made when its ingress event was processed. */
export interface PredictionAt {
  prediction: Prediction;
  /** Model generation the prediction was made with. */
  generation: number;
}

/** Predicts for the packet of an event. `iif` undefined means the packet originated on this node. */
export type Predictor = (ev: TraceEvent, iif: string | undefined) => PredictionAt | undefined;

/**
 * Where a packet first seen leaving (or dying) came from, on the evidence the node offers:
 * 'local' — its source is an address of this node; 'untraced' — it can only have entered through a
 * device without a hook; 'missing' — it entered through a traced device, so its ingress record was
 * lost (ring buffer full, pipe) and it must not be re-predicted as if this node had sent it.
 */
export type Origin = 'local' | 'untraced' | 'missing';

/** Why an open packet was closed. */
export type CloseCause =
  | 'complete' // it left through every predicted device
  | 'drop' // the kernel dropped it
  | 'window' // the window passed with the path unfinished
  | 'evicted' // the table was full
  | 'superseded' // the same fingerprint entered again: a new packet with identical headers
  | 'flush'; // the collector stopped

/** What netfilter NAT changed between the packet's ingress and the hook that saw it again. */
export interface NatChange {
  /** Address:port as it entered and as it left (only the sides that changed are set). */
  src?: { from: string; to: string };
  dst?: { from: string; to: string };
}

/** One packet's evidence, ready to be judged. */
export interface ObservedPacket {
  fingerprint: string;
  /** Every hook event of the packet in arrival order (drop events included). */
  events: TraceEvent[];
  /** The hop the prediction was made at: the first ingress that is not an encapsulated outer packet. */
  ingress?: TraceEvent;
  drop?: TraceEvent;
  predicted?: PredictionAt;
  /** A record the packet must have had and that never arrived (lost): no prediction is made without it. */
  missing?: 'ingress';
  closedBy: CloseCause;
  /** The correlation window, for reasons that say how long we waited. */
  windowMs: number;
  /** Set when the packet was translated on the way (its later hooks carry other addresses or ports). */
  nat?: NatChange;
  /** Set when its window passed while the kernel was resolving a neighbour: what it waited for (e.g. 'ARP for 10.233.100.128 on vxlan.calico'). */
  pendingOn?: string;
}

/** What `awaits` sees of a packet whose window passed unfinished. */
export interface UnfinishedPacket {
  ingress?: TraceEvent;
  predicted?: PredictionAt;
  /** Egress devices seen so far. */
  egress: string[];
}

export interface CorrelatorOptions {
  /** How long a packet may take to cross the node before its path is judged unfinished. Default 100 ms. */
  windowMs?: number;
  /** Cap on packets open at once. Default 65 536. */
  maxPending?: number;
  predict: Predictor;
  /** Where a packet whose first record is an egress or a drop came from; 'local' when absent. */
  origin?: (ev: TraceEvent) => Origin;
  /** Receives every closed packet, synchronously. */
  onPacket: (p: ObservedPacket) => void;
  /**
   * Asked when a packet's window passes unfinished: the neighbour the kernel is still resolving for it,
   * if any. Such a packet sits in the neighbour's queue and is sent or dropped (NEIGH_FAILED) when ARP
   * ends, up to ~3 s later, so it is held open until `resolveMs` after it entered instead of being judged
   * now (its late drop then joins it rather than becoming a packet of its own).
   */
  awaits?: (p: UnfinishedPacket) => string | undefined;
  /** Told when a packet is held for neighbour resolution. */
  onHold?: (fingerprint: string, pendingOn: string, first: TraceEvent) => void;
  /** How long after its first hook a held packet is judged at the latest. Default 3500 ms (ARP: 3 tries, 1 s apart). */
  resolveMs?: number;
}

export interface CorrelatorCounters {
  /** Events taken into a packet. */
  events: number;
  /** Flow-mode counter records: they describe flows, not packets, so they are not correlated. */
  ignored: number;
  packets: number;
  /** Packets closed early because maxPending were open. */
  evictions: number;
  /** Drop records for a packet that had already left the node (dropped later, e.g. inside the pod). */
  dropsAfterEgress: number;
  /** Packets followed across a netfilter NAT (DNAT to a Service backend, masquerade). */
  natPaired: number;
  pending: number;
}

/** A packet being correlated; once closed, it is itself the ObservedPacket handed on (no copy per packet). */
interface Open extends ObservedPacket {
  firstNs: number;
  closed: boolean;
  /** Egress devices seen, in order, without repeats. */
  egress: string[];
  /** The fingerprint of the translated packet, when NAT paired it with this one. */
  alias?: string;
}

export class Correlator {
  /**
   * Open packets by fingerprint — and, as a number, when a packet with this fingerprint left the node
   * (kernel ns), for doneNs after it did: a drop record that arrives for one of those happened after our
   * last hook (the device's transmit). Such a drop follows the egress hook within the same transmit call,
   * so a few milliseconds of memory are enough — keeping them for the whole window would hold tens of
   * thousands of entries at line rate. The packet's own entry becomes that number (no second map, no
   * object per packet: this bookkeeping was a tenth of the chain's time).
   */
  private readonly open = new Map<string, Open | number>();
  /** Entries of `open` that are open packets (NAT-paired ones count once). */
  private openCount = 0;
  /** Fingerprints in the order their packets left: when their numbers in `open` are due to go. */
  private readonly doneByAge = new Fifo<string>();
  /**
   * Packets that entered and have not been seen again yet, by NAT fingerprint: if one of them shows up
   * with other addresses or ports (netfilter rewrote it between our hooks), this is how it is found.
   */
  private readonly vanished = new Map<number, Open>();
  /** Open packets in creation order (closed ones are skipped when they reach the head). */
  private readonly byAge = new Fifo<Open>();
  /** Packets held for neighbour resolution, in creation order too (one hold length for all). */
  private readonly held = new Fifo<Open>();
  private readonly resolveNs: number;
  private readonly windowNs: number;
  private readonly doneNs: number;
  private readonly maxPending: number;
  private nowNs = 0;
  readonly counters: CorrelatorCounters = {
    events: 0,
    ignored: 0,
    packets: 0,
    evictions: 0,
    dropsAfterEgress: 0,
    natPaired: 0,
    pending: 0,
  };

  constructor(private readonly opts: CorrelatorOptions) {
    this.windowNs = (opts.windowMs ?? 100) * 1e6;
    this.doneNs = Math.min(this.windowNs, 5e6);
    this.maxPending = opts.maxPending ?? 65536;
    this.resolveNs = Math.max(opts.resolveMs ?? 3500, opts.windowMs ?? 100) * 1e6;
  }

  get windowMs(): number {
    return this.windowNs / 1e6;
  }

  /** Whether a packet with this fingerprint is open (waiting for more hops). */
  isOpen(fingerprint: string): boolean {
    return typeof this.open.get(fingerprint) === 'object';
  }

  /** Whether an egress or drop record would join an open packet as its NAT-rewritten continuation. */
  continuesByNat(ev: TraceEvent): boolean {
    if (ev.natFingerprint === 0 || ev.dir === 'ingress') return false;
    const before = this.vanished.get(ev.natFingerprint)?.ingress;
    return !!before && before.proto === ev.proto && before.family === ev.family && (before.src !== ev.src || before.sport !== ev.sport || before.dst !== ev.dst || before.dport !== ev.dport);
  }

  push(ev: TraceEvent): void {
    if (ev.kind === 'flow') {
      this.counters.ignored++;
      return;
    }
    this.counters.events++;
    if (ev.timeNs > this.nowNs) {
      this.nowNs = ev.timeNs;
      this.expire();
    }
    const found = this.open.get(ev.fingerprint);
    let rec = typeof found === 'object' ? found : undefined;

    if (ev.kind === 'drop') {
      rec ??= this.translated(ev);
      if (!rec) {
        if (typeof found === 'number' && ev.timeNs - found <= this.doneNs) {
          this.counters.dropsAfterEgress++;
          return;
        }
        rec = this.create(ev);
        this.predictWithoutIngress(rec, ev);
      }
      rec.events.push(ev);
      rec.drop = ev;
      this.close(rec, 'drop');
      return;
    }

    const encapsulated = ev.tunnel !== undefined;
    if (ev.dir === 'ingress') {
      if (rec && (rec.egress.length > 0 || (!encapsulated && rec.ingress?.iface === ev.iface))) {
        // Same headers entering again: a retransmission or a duplicate, i.e. another packet.
        this.close(rec, 'superseded');
        rec = undefined;
      }
      if (!rec) {
        rec = this.create(ev);
        // Decapsulated here: predict from the outer hop for now; the inner hop (vxlan.calico) refines it.
        if (encapsulated) rec.predicted = this.opts.predict(ev, ev.iface);
      }
      rec.events.push(ev);
      if (!encapsulated && !rec.ingress) {
        rec.ingress = ev;
        // Predict now, with the model as it is at this moment: later route changes must not rewrite
        // what this packet was expected to do.
        rec.predicted = this.opts.predict(ev, ev.iface);
        if (ev.natFingerprint !== 0) this.vanished.set(ev.natFingerprint, rec);
      }
      return;
    }

    // Egress.
    rec ??= this.translated(ev);
    if (!rec) {
      rec = this.create(ev);
      this.predictWithoutIngress(rec, ev);
    }
    rec.events.push(ev);
    if (rec.egress.length === 0 && rec.ingress && this.vanished.get(rec.ingress.natFingerprint) === rec) this.vanished.delete(rec.ingress.natFingerprint);
    if (rec.egress[rec.egress.length - 1] !== ev.iface) rec.egress.push(ev.iface);
    const expected = rec.predicted?.prediction.egressPath;
    if (expected && expected.length > 0 && endsWithPath(rec.egress, expected)) this.close(rec, 'complete');
  }

  /**
   * An egress or drop record with no open packet of its own fingerprint may be a packet we saw enter,
   * rewritten by netfilter NAT in between (kube-proxy's DNAT of a Service address, SNAT/masquerade): the
   * same NAT fingerprint, the same protocol, other addresses or ports. The packet then continues under
   * both fingerprints, and a changed destination is predicted again — the kernel routes after DNAT.
   */
  private translated(ev: TraceEvent): Open | undefined {
    if (ev.natFingerprint === 0) return undefined;
    const rec = this.vanished.get(ev.natFingerprint);
    const before = rec?.ingress;
    if (!rec || rec.closed || !before || before.proto !== ev.proto || before.family !== ev.family) return undefined;
    const nat: NatChange = {};
    if (before.src !== ev.src || before.sport !== ev.sport) nat.src = { from: formatEndpoint(before.src, before.sport, before.proto), to: formatEndpoint(ev.src, ev.sport, ev.proto) };
    if (before.dst !== ev.dst || before.dport !== ev.dport) nat.dst = { from: formatEndpoint(before.dst, before.dport, before.proto), to: formatEndpoint(ev.dst, ev.dport, ev.proto) };
    if (!nat.src && !nat.dst) return undefined;
    this.vanished.delete(ev.natFingerprint);
    rec.nat = nat;
    rec.alias = ev.fingerprint;
    this.open.set(ev.fingerprint, rec);
    this.counters.natPaired++;
    if (nat.dst) {
      // Routing saw the translated destination (DNAT happens in PREROUTING) and the original source
      // (SNAT comes after routing).
      rec.predicted = this.opts.predict({ ...before, dst: ev.dst, dport: ev.dport }, before.iface);
    }
    return rec;
  }

  /**
   * No ingress hook saw the packet: predict it as sent by this node only when it was (or entered where
   * no hook could see it); a packet that entered through a traced device lost its ingress record.
   */
  private predictWithoutIngress(rec: Open, ev: TraceEvent): void {
    if ((this.opts.origin?.(ev) ?? 'local') === 'missing') rec.missing = 'ingress';
    else rec.predicted = this.opts.predict(ev, undefined);
  }

  /** Advances the clock while no events come, closing packets whose window passed. */
  tick(nowNs: number): void {
    if (nowNs > this.nowNs) this.nowNs = nowNs;
    this.expire();
  }

  /** Closes everything still open (the collector is stopping). */
  flush(): void {
    for (const rec of [...this.open.values()]) if (typeof rec === 'object' && !rec.closed) this.close(rec, 'flush');
  }

  private create(ev: TraceEvent): Open {
    if (this.openCount >= this.maxPending) {
      const oldest = this.oldestOpen() ?? this.oldestHeld();
      if (oldest) {
        this.counters.evictions++;
        this.close(oldest, 'evicted');
      }
    }
    const rec: Open = {
      fingerprint: ev.fingerprint,
      firstNs: ev.timeNs,
      closed: false,
      events: [],
      ingress: undefined,
      drop: undefined,
      predicted: undefined,
      missing: undefined,
      egress: [],
      alias: undefined,
      nat: undefined,
      pendingOn: undefined,
      closedBy: 'flush',
      windowMs: this.windowMs,
    };
    this.open.set(ev.fingerprint, rec);
    this.byAge.push(rec);
    this.counters.pending = ++this.openCount;
    return rec;
  }

  /** The oldest packet still open (closed ones at the head are dropped on the way). */
  private oldestOpen(): Open | undefined {
    let rec = this.byAge.peek();
    while (rec && rec.closed) {
      this.byAge.shift();
      rec = this.byAge.peek();
    }
    return rec;
  }

  private oldestHeld(): Open | undefined {
    let rec = this.held.peek();
    while (rec && rec.closed) {
      this.held.shift();
      rec = this.held.peek();
    }
    return rec;
  }

  private expire(): void {
    const limit = this.nowNs - this.windowNs;
    for (let rec = this.oldestOpen(); rec && rec.firstNs <= limit; rec = this.oldestOpen()) {
      if (!this.hold(rec)) this.close(rec, 'window');
    }
    const heldLimit = this.nowNs - this.resolveNs;
    for (let rec = this.held.peek(); rec && (rec.closed || rec.firstNs <= heldLimit); rec = this.held.peek()) {
      this.held.shift();
      if (!rec.closed) this.close(rec, 'window');
    }
    const doneLimit = this.nowNs - this.doneNs;
    for (let fp = this.doneByAge.peek(); fp !== undefined; fp = this.doneByAge.peek()) {
      const at = this.open.get(fp);
      const over = this.doneByAge.length > this.maxPending;
      // Times only grow along the queue; one refreshed by a later departure may hold the rest back a
      // little, which only keeps them longer (a drop checks the time itself).
      if (typeof at === 'number' && at > doneLimit && !over) break;
      this.doneByAge.shift();
      if (typeof at === 'number') this.open.delete(fp);
    }
  }

  /** Moves the head of byAge to the held queue when the kernel is still resolving its next hop. */
  private hold(rec: Open): boolean {
    if (!this.opts.awaits) return false;
    const why = this.opts.awaits({ ingress: rec.ingress, predicted: rec.predicted, egress: rec.egress });
    if (!why) return false;
    this.byAge.shift();
    rec.pendingOn = why;
    this.held.push(rec);
    this.opts.onHold?.(rec.fingerprint, why, rec.ingress ?? rec.events[0]);
    return true;
  }

  private close(rec: Open, cause: CloseCause): void {
    rec.closed = true;
    this.counters.pending = --this.openCount;
    const cur = this.open.get(rec.fingerprint);
    if (rec.egress.length > 0 && cause !== 'drop') {
      // It left the node: its entry now says when, for doneNs.
      if (cur === rec || typeof cur !== 'object') {
        this.open.set(rec.fingerprint, this.nowNs);
        this.doneByAge.push(rec.fingerprint);
      }
    } else if (cur === rec) this.open.delete(rec.fingerprint);
    if (rec.alias !== undefined && this.open.get(rec.alias) === rec) this.open.delete(rec.alias);
    const nfp = rec.ingress?.natFingerprint;
    if (nfp && this.vanished.get(nfp) === rec) this.vanished.delete(nfp);
    this.counters.packets++;
    rec.closedBy = cause;
    this.opts.onPacket(rec);
  }
}

/** True when the last devices of `seen` are `path` (a VXLAN packet shows vxlan.calico, then ens3). */
function endsWithPath(seen: string[], path: string[]): boolean {
  if (seen.length < path.length) return false;
  const off = seen.length - path.length;
  for (let i = 0; i < path.length; i++) if (seen[off + i] !== path[i]) return false;
  return true;
}

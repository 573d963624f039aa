// One packet across two nodes. A pod → remote-pod packet is judged twice: on the sending node (cali
// ingress → vxlan.calico → uplink egress, with the outer header it got) and on the receiving node (uplink
// ingress with that outer header → vxlan.calico → cali egress). The inner packet's fingerprint survives
// encapsulation; the outer header (source and destination node IPs, VNI) ties it to the right pair of
// nodes. Halves wait here at most `windowMs` for their other half, in a bounded table; a half that never
// finds its partner becomes a one-sided story ("left node1 fine, never seen arriving on node2").
import { calitrace, pb } from '../api/proto';

type Verdict = calitrace.v1.IPacketVerdict;
type Hop = calitrace.v1.IHop;
const V = pb.Verdict;
const DIR = pb.Direction;

export interface NodeClock {
  bootId: string;
  /** Wall-clock ns minus monotonic ns on that node. */
  offsetNs: number;
}

export interface StitchOptions {
  /** How long a half waits for the other (ms): longer than both nodes' verdict windows. */
  windowMs: number;
  /** Halves waiting at most; past it the oldest is given up on (counted). */
  capacity: number;
  /** The clock of a node, from its Status; undefined when not known. */
  clockOf(node: string): NodeClock | undefined;
  /** The node whose uplink address this is, when the relay knows it. */
  nodeOfAddress?(ip: string): string | undefined;
}

interface Half {
  node: string;
  verdict: Verdict;
  hop: Hop;
  side: 'send' | 'receive';
  arrivedMs: number;
}

export interface StitchStats {
  stitched: number;
  oneSided: number;
  evicted: number;
  waiting: number;
}

function tunnelHop(v: Verdict, dir: number): Hop | undefined {
  return (v.observed ?? []).find((h) => h.direction === dir && h.tunnel && h.tunnel.outerDst);
}

function keyOf(v: Verdict, hop: Hop): string {
  const t = hop.tunnel!;
  return `${v.fingerprint}|${t.outerSrc}>${t.outerDst}|${t.vni ?? 0}`;
}

const verdictName = (v: number | null | undefined) => V[v ?? 0] ?? 'VERDICT_UNSPECIFIED';

export class Stitcher {
  private readonly waiting = new Map<string, Half>();
  private readonly stats = { stitched: 0, oneSided: 0, evicted: 0 };

  constructor(private readonly opts: StitchOptions, private readonly emit: (s: calitrace.v1.IStitchedPath) => void) {}

  /** A verdict from a node: kept when it is one half of a cross-node path. */
  offer(node: string, v: Verdict, nowMs: number): void {
    if (!v.fingerprint) return;
    const send = tunnelHop(v, DIR.EGRESS);
    const receive = send ? undefined : tunnelHop(v, DIR.INGRESS);
    const hop = send ?? receive;
    if (!hop) return;
    const half: Half = { node, verdict: v, hop, side: send ? 'send' : 'receive', arrivedMs: nowMs };
    const key = keyOf(v, hop);
    const other = this.waiting.get(key);
    if (other && other.side !== half.side && other.node !== node) {
      this.waiting.delete(key);
      this.stats.stitched++;
      this.emit(half.side === 'send' ? this.story(half, other) : this.story(other, half));
      return;
    }
    if (other) this.expire(key, other); // the same half again (a retransmission with the same id): tell the first
    if (this.waiting.size >= this.opts.capacity) {
      const [oldestKey, oldest] = this.waiting.entries().next().value as [string, Half];
      this.stats.evicted++;
      this.expire(oldestKey, oldest);
    }
    this.waiting.set(key, half);
  }

  /** Halves whose partner did not come within the window become one-sided stories. */
  sweep(nowMs: number): void {
    for (const [key, h] of this.waiting) {
      if (nowMs - h.arrivedMs < this.opts.windowMs) break; // insertion order = arrival order
      this.expire(key, h);
    }
  }

  counters(): StitchStats {
    return { ...this.stats, waiting: this.waiting.size };
  }

  private expire(key: string, h: Half): void {
    this.waiting.delete(key);
    this.stats.oneSided++;
    this.emit(h.side === 'send' ? this.story(h, undefined) : this.story(undefined, h));
  }

  private story(send: Half | undefined, receive: Half | undefined): calitrace.v1.IStitchedPath {
    const any = (send ?? receive)!;
    const v = any.verdict;
    const outer = any.hop.tunnel!;
    const peerName = (ip: string | null | undefined) => (ip && this.opts.nodeOfAddress?.(ip)) || `the node at ${ip}`;
    const srcNode = send?.node ?? peerName(outer.outerSrc);
    const dstNode = receive?.node ?? peerName(outer.outerDst);
    const out: calitrace.v1.IStitchedPath = {
      fingerprint: v.fingerprint,
      srcNode,
      dstNode,
      halves: [send, receive].filter((h): h is Half => !!h).map((h) => ({ node: h.node, verdict: h.verdict })),
      outer,
      src: v.src,
      dst: v.dst,
      protocol: v.protocol,
      timeMs: send?.verdict.timeMs ?? v.timeMs,
    };
    if (send && receive) {
      const latency = this.latency(send, receive);
      if (latency) {
        out.nodeToNodeUs = latency.us;
        out.latencyClock = latency.clock;
      }
    }
    Object.assign(out, judge(send, receive, srcNode, dstNode, out.nodeToNodeUs ?? 0));
    return out;
  }

  private latency(send: Half, receive: Half): { us: number; clock: string } | undefined {
    const a = Number(send.hop.timeNs ?? 0);
    const b = Number(receive.hop.timeNs ?? 0);
    if (!a || !b) return undefined;
    const ca = this.opts.clockOf(send.node);
    const cb = this.opts.clockOf(receive.node);
    // One kernel (the lab's namespaces): one monotonic clock, exact. Otherwise each node's wall clock,
    // which carries the nodes' clock skew (NTP keeps it to around a millisecond at best).
    if (ca && cb && ca.bootId && ca.bootId === cb.bootId) return { us: (b - a) / 1000, clock: 'monotonic' };
    if (ca && cb) return { us: (b + cb.offsetNs - (a + ca.offsetNs)) / 1000, clock: 'wall' };
    return undefined;
  }
}

function path(v: Verdict): string {
  return (v.observed ?? []).map((h) => h.interface).join(' → ');
}

/** The whole path's verdict and a sentence saying where it went wrong, if it did. */
function judge(send: Half | undefined, receive: Half | undefined, srcNode: string, dstNode: string, us: number): { verdict: number; reason: string } {
  const lat = us ? ` (${us.toFixed(0)} µs ${srcNode}→${dstNode})` : '';
  if (send && send.verdict.verdict !== V.MATCHED) {
    return { verdict: send.verdict.verdict ?? V.VERDICT_UNSPECIFIED, reason: `on ${srcNode}, before reaching ${dstNode}: ${send.verdict.reason}` };
  }
  if (!receive) {
    return {
      verdict: V.INCOMPLETE,
      reason: `left ${srcNode} fine (${path(send!.verdict)}), but was never seen arriving on ${dstNode}: lost on the underlay between the nodes, or ${dstNode} is not traced by this relay`,
    };
  }
  const r = receive.verdict;
  const rv = r.verdict ?? V.VERDICT_UNSPECIFIED;
  if (!send) {
    return {
      verdict: rv,
      reason: `arrived on ${dstNode} from ${srcNode}, whose half was not seen (not traced by this relay, or lost there); on ${dstNode}: ${verdictName(rv)}: ${r.reason}`,
    };
  }
  if (rv === V.MATCHED) {
    return { verdict: V.MATCHED, reason: `left ${srcNode} fine (${path(send.verdict)}), delivered on ${dstNode} (${path(r)})${lat}` };
  }
  if (rv === V.DROPPED || rv === V.EXPECTED_DROP) {
    // The kernel's own words first (drop reason and where), then the node's explanation.
    const drop = (r.observed ?? []).find((h) => h.direction === DIR.DROP);
    const by = drop ? `by ${drop.dropReason || 'the kernel'} at ${drop.interface}: ` : ': ';
    return { verdict: rv, reason: `left ${srcNode} fine${lat}, dropped on ${dstNode} ${by}${r.reason}` };
  }
  return { verdict: rv, reason: `left ${srcNode} fine${lat}, then on ${dstNode}: ${verdictName(rv)}: ${r.reason}` };
}

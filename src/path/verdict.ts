// Judges one packet: its observed path against the route model's prediction (made at ingress) and the
// kernel FIB's answer (taken by the tc program at ingress). Every verdict carries a sentence that says
// what happened and what to look at next.
//
// Order of the checks, and why:
// 1. No prediction: nothing to compare with.
// 2. Kernel view ≠ prediction → STALE_MODEL: when our model and the kernel's FIB disagree, the model
//    cannot judge the packet, and that disagreement is the finding.
// 3. Dropped on the node → EXPECTED_DROP when the prediction refused the packet (blackhole & co),
//    else DROPPED.
// 4. Otherwise the devices it left through against the predicted egress devices: MATCHED, DIVERGED,
//    or INCOMPLETE when neither an egress nor a drop completed the path within the window.
import type { KernelView, TraceEvent } from '../capture/event';
import { hasPorts, protocolName } from '../vocabulary';
import type { Prediction } from '../routing/types';
import type { ObservedPacket } from './correlate';
import { flat } from './flat';
import type { Hop, PacketVerdict, Verdict, Warning } from './types';
import { intentFindings } from '../routing/intent';
import { CauseEvidence, chainText, missingWorkloadCause, podSideFindings, rpFilterCause, vxlanChain, wrongWorkloadInterface } from '../routing/causes';

export interface VerdictContext {
  /** Whether a hook is attached to this interface (undefined: not known). */
  isTraced?: (iface: string) => boolean | undefined;
  /** Interface MTU from the route model's links. */
  mtuOf?: (iface: string) => number | undefined;
  /** Records lost (kernel ring buffer + pipe) within a second of this wall-clock ms, to say when a missing hop may just be lost. */
  lostEvents?: (timeMs: number) => number;
  /** The node's state and directories, to name the cause of a broken path (undefined: the reason says less). */
  evidence?: () => CauseEvidence | undefined;
}

/** Decisions with which the kernel refuses to forward: a drop is what they predict. */
const REFUSING = new Set(['blackhole', 'unreachable', 'prohibit', 'throw', 'no_route', 'martian', 'forwarding_disabled', 'multicast_not_joined']);

const L2_HEADER = 14;

export function judge(p: ObservedPacket, ctx: VerdictContext = {}): PacketVerdict {
  const events = inTimeOrder(p.events);
  const first = p.ingress ?? events[0];
  const pred = p.predicted?.prediction;
  const hops = events.map(toHop);
  const ingressIface = p.ingress?.iface;
  const predicted = pred ? predictedPath(pred, ingressIface) : [];
  // Only the plain ingress hop's lookup routes the packet we predict: at the uplink the FIB routed the
  // outer VXLAN header (to the local VXLAN socket), which says nothing about the inner packet.
  const kernelEv = p.ingress?.kernel;
  const egress = egressDevices(events);
  // The devices it had left through when the kernel dropped it: whose drop it is, and where it was.
  const leftBeforeDrop = p.drop ? egressDevices(events.filter((e) => e.timeNs <= p.drop!.timeNs && e !== p.drop)) : [];
  const nodeDrop = p.drop && isNodeDrop(leftBeforeDrop, pred);

  // Every field is present from the start (undefined when unknown): verdicts then share one hidden
  // class, which keeps every consumer's property access monomorphic.
  const base: PacketVerdict = {
    fingerprint: p.fingerprint,
    timeMs: first.wallMs,
    family: first.family,
    proto: first.proto,
    src: first.src,
    dst: first.dst,
    sport: first.sport,
    dport: first.dport,
    verdict: 'INCOMPLETE',
    reason: '',
    warnings: [],
    observed: hops,
    predicted,
    kernel: undefined,
    latencyUs: undefined,
    decision: undefined,
    route: undefined,
    generation: undefined,
    flowKey: undefined,
    icmp: undefined,
    len: first.len,
    nat: p.nat,
    cause: undefined,
  };
  if (first.proto === 1 || first.proto === 58) {
    base.icmp = { type: first.icmpType, code: first.icmpCode, id: first.icmpId, seq: first.icmpSeq };
  }
  if (kernelEv) base.kernel = kernelOf(kernelEv);
  if (pred) {
    base.decision = pred.decision;
    if (pred.route) base.route = pred.route;
    base.generation = p.predicted!.generation;
  }
  const latency = latencyUs(p.ingress, events);
  if (latency !== undefined) base.latencyUs = latency;
  base.warnings = mtuWarnings(first, pred, kernelEv, p.drop, ctx);

  const natNote = p.nat ? `${natText(p.nat)}; ` : '';
  const waited = p.pendingOn && p.drop ? `; its verdict waited for the kernel's ${p.pendingOn} (the drop came ${Math.round((p.drop.timeNs - first.timeNs) / 1e6)} ms after it entered)` : '';
  const evidence = ctx.evidence?.();
  /** No hook saw the packet: its only records are the kernel's drops. */
  const onlyDrops = !events.some((e) => e.kind !== 'drop');
  const intent = pred && evidence && !DELIVERED_HERE.has(pred.decision)
    ? joined(intentFindings(pred, evidence.state), podChecks(pred, ingressIface, evidence).side)
    : NO_FINDINGS;
  const set = (verdict: Verdict, reason: string, cause?: string): PacketVerdict => {
    base.verdict = verdict;
    if (cause) base.cause = cause;
    base.reason = natNote + (ingressIface || onlyDrops
      ? reason
      : `${reason} (its ingress was not traced: it came from this node or through an interface without a hook)`) + waited;
    if (intent.length > 0) {
      if (!base.warnings.includes('CALICO_INTENT')) base.warnings.push('CALICO_INTENT');
      base.reason += `; against Calico's intent: ${intent.join('; ')}`;
      base.cause ??= intent.join('; ');
    }
    return base;
  };

  if (p.missing && p.drop && onlyDrops && ctx.lostEvents?.(first.wallMs) === 0) {
    // Only a drop, and the loader vouches that no record was lost around it: not a lost ingress record.
    base.verdict = 'INCOMPLETE';
    base.reason =
      `only the kernel's drop record was seen (${dropReasonName(p.drop)} ${p.drop.iface ? `at ${p.drop.iface}` : 'with no device'}) and no record ` +
      `was lost around it, so no hook saw this packet while tracing: a copy of a packet judged before (a socket's ` +
      `unread clone is freed with QUEUE_PURGE when the socket closes) or a packet that entered before tracing started; ` +
      'not judged against a route';
    return base;
  }
  if (p.missing) {
    // Loss, not behaviour: without its ingress record the packet cannot be predicted (it did not
    // originate here: it entered through a traced device), so nothing is claimed about its route.
    base.verdict = 'INCOMPLETE';
    base.reason =
      `its ${p.missing} record is missing (it entered through a traced device, so the record was lost, not the packet)` +
      `${lostText(ctx, first.wallMs) || ' (the loss was not counted yet)'}; observed ${pathText(hops)}`;
    return base;
  }

  // A drop record alone says where the packet died, not where it came from: judging it on the output
  // path would claim the node sent it. Only the source being one of the node's own addresses says that.
  if (!p.ingress && p.drop && onlyDrops && evidence && !isLocalAddress(first.src, evidence)) {
    return set(
      'INCOMPLETE',
      `only the kernel's drop record was seen (${dropReasonName(p.drop)} at ${p.drop.iface || '?'}): no hook saw this packet enter or leave and ${first.src} is not an address of this node, ` +
        `so where it came from is unknown and it is not judged against a route (it may have entered before tracing started or through an untraced interface)${lostText(ctx, first.wallMs)}`,
    );
  }

  if (!pred) {
    return set(
      'INCOMPLETE',
      `no route prediction for ${first.dst}: the route model was not ready when the packet was seen; ` +
        `observed ${pathText(hops)}`,
    );
  }

  // The FIB lookup at ingress ran before DNAT rewrote the destination: it routed another address.
  const agrees = kernelEv && !p.nat?.dst ? kernelAgrees(kernelEv, pred) : undefined;
  if (agrees === false) {
    return set(
      'STALE_MODEL',
      `the kernel FIB ${kernelText(kernelEv!)} but the route model (generation ${p.predicted!.generation}) ` +
        `used ${modelRouteText(pred)}; observed ${pathText(hops)}. The model is stale or misses state ` +
        `(policy rules, a route not yet seen): compare \`ip route get ${first.dst} from ${first.src} iif ${ingressIface ?? 'lo'}\` with the model`,
    );
  }

  if (nodeDrop) {
    // Where it died, by what it had left through *before* the drop (a copy dropped first did not "leave").
    const where = dropPlace(p.drop!, leftBeforeDrop);
    const why = dropReasonName(p.drop!);
    if (REFUSING.has(pred.decision)) {
      const cause = evidence ? refusalOf(pred, ingressIface, evidence) : undefined;
      const text = cause && pred.calico === 'ipam-block-blackhole'
        ? `${first.dst} is in this node's IPAM block but has no /32 route, so Calico's IPAM-block blackhole \`${pred.route}\` catches it: ${cause}`
        : cause ?? refusalText(pred, first.dst);
      return set('EXPECTED_DROP', `dropped as predicted: ${text}; the kernel dropped it ${where} (${why})`, cause);
    }
    if (DELIVERED_HERE.has(pred.decision) && why === 'NO_SOCKET' && isEchoReply(first)) {
      // icmp_rcv()/icmpv6_rcv() hand an echo reply to ping sockets only, after raw_local_deliver() gave every
      // raw ICMP socket its copy: a `ping` run as root (raw socket) read it, and the original is freed.
      return set(
        'MATCHED',
        `delivered to this node's stack as predicted: ${predictionText(pred)}; the kernel then freed it ${where} (NO_SOCKET) as it ` +
          'frees every echo reply no ping socket claims, after raw ICMP sockets (`ping` run as root) got their copy: not a loss',
      );
    }
    let hint = DELIVERED_HERE.has(pred.decision) && pred.query.iif ? localStackHint(why, first, pred.decision) : dropHint(why, where);
    const dev = pred.egressPath[0];
    const mtu = dev ? ctx.mtuOf?.(dev) : undefined;
    if (mtu && (why === 'PKT_TOO_BIG' || why.startsWith('FRAG'))) {
      hint = `the ${first.len - L2_HEADER}-byte packet does not fit ${dev}'s MTU of ${mtu} and may not be fragmented (DF): lower the pod's MTU to ${mtu} or below, as Calico does for VXLAN`;
    }
    const cause = evidence ? forwardCause(pred, evidence, kernelEv, why, p.drop) : undefined;
    if (cause) hint = cause;
    return set('DROPPED', `the kernel dropped it ${where} with reason ${why}, although ${predictionText(pred)} — ${hint}`, cause);
  }

  const tail = p.drop ? `; afterwards dropped beyond this node (${dropReasonName(p.drop)})` : '';

  if (REFUSING.has(pred.decision)) {
    if (egress.length > 0) {
      return set(
        'DIVERGED',
        `predicted to be dropped (${refusalText(pred, first.dst)}) but it left via ${egress.join(' → ')}${tail}`,
      );
    }
    return set(
      'INCOMPLETE',
      `predicted to be dropped (${refusalText(pred, first.dst)}) but no drop was seen within ${p.windowMs} ms` +
        `${lostText(ctx, first.wallMs)}: is the skb:kfree_skb tracepoint attached?`,
    );
  }

  const expected = pred.egressPath;
  if (expected.length === 0) {
    if (egress.length === 0) return set('MATCHED', `delivered on this node as predicted: ${predictionText(pred)}`);
    return set('DIVERGED', `predicted ${predictionText(pred)} but it left via ${egress.join(' → ')}${tail}`);
  }

  if (sameDevices(egress, expected, pred)) {
    const encap = hops.find((h) => h.tunnel && h.dir === 'egress')?.tunnel;
    const arrived = hops.find((h) => h.tunnel && h.dir === 'ingress')?.tunnel;
    const wantOuter = pred.outer?.dst;
    if (encap && wantOuter && encap.outerDst !== wantOuter) {
      return set(
        'DIVERGED',
        `left via ${egress.join(' → ')} as predicted but encapsulated to ${encap.outerDst} ` +
          `instead of ${wantOuter} (the FDB entry for the VTEP): check \`bridge fdb show dev ${pred.outer!.vxlanDev}\``,
      );
    }
    const wrong = evidence ? podChecks(pred, ingressIface, evidence).wrong : undefined;
    if (wrong) {
      base.warnings.push('CALICO_INTENT');
      return set('MATCHED', `${arrivedText(arrived)}left via ${egress.join(' → ')} as predicted by ${routeText(pred)}, but ${wrong}${tail}`, wrong);
    }
    return set('MATCHED', matchedText(pred, egress, arrived, encap, tail));
  }

  if (egress.length === 0 || isPrefix(egress, expected)) {
    const missing = expected.slice(egress.length);
    const untraced = missing.filter((d) => ctx.isTraced?.(d) === false);
    const seen = egress.length ? `left via ${egress.join(' → ')} as predicted but ` : '';
    const cause = evidence ? forwardCause(pred, evidence, kernelEv, undefined) : undefined;
    const notTraced = untraced.length
      ? `${untraced.join(', ')} ${untraced.length > 1 ? 'are' : 'is'} not traced (no hook attached)`
      : cause ?? `no hook saw it there${lostText(ctx, first.wallMs)}`;
    const within = p.pendingOn ? `${p.windowMs} ms nor while the kernel's ${p.pendingOn} lasted` : `${p.windowMs} ms`;
    return set(
      'INCOMPLETE',
      `${seen}not seen on ${missing.join(' → ')} (predicted by ${routeText(pred)}) and no drop within ` +
        `${within}: ${notTraced}`,
      cause,
    );
  }

  // Some predicted hops were seen and the others are missing while records were being lost: the gap
  // is the loss, not another path.
  const lostNear = ctx.lostEvents?.(first.wallMs) ?? 0;
  if (lostNear > 0 && egress.length > 0 && isSubsequence(egress, expected)) {
    const missing = expected.filter((d) => !egress.includes(d));
    return set(
      'INCOMPLETE',
      `left via ${egress.join(' → ')} as predicted by ${routeText(pred)}, but its egress record at ${missing.join(', ')} is missing` +
        lostText(ctx, first.wallMs),
    );
  }

  const after = kernelEv && agrees
    ? `; the kernel FIB chose ${kernelEv.iface ?? expected[0]} too, so something after the route lookup moved it ` +
      `(a tc/eBPF redirect, a mark-based policy route, NAT): check \`tc filter show dev ${ingressIface ?? expected[0]} ingress\``
    : '';
  return set(
    'DIVERGED',
    `left via ${egress.join(' → ')} but ${routeText(pred)} predicted ${expected.join(' → ')}${after}${tail}`,
  );
}

/** Per prediction (cached per model generation upstream) and ingress device: the packets of one flow share it. */
const predictedMemo = new WeakMap<Prediction, { iif: string | undefined; path: string[] }>();

/**
 * The predicted devices in order, ingress first. One list per prediction and ingress, shared by the
 * verdicts of every packet that got that prediction (and by the flows that keep it): read-only.
 */
function predictedPath(pred: Prediction, iif: string | undefined): string[] {
  const hit = predictedMemo.get(pred);
  if (hit && hit.iif === iif) return hit.path;
  const path = iif ? [iif, ...pred.egressPath] : pred.egressPath.slice();
  predictedMemo.set(pred, { iif, path });
  return path;
}

/** The findings of two checks as one read-only list (no copy when either has none, the usual case). */
function joined(a: string[], b: string[]): string[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  return [...a, ...b];
}

const NO_FINDINGS: string[] = [];

/** The kernel's answer as the verdict shows it (only the fields it knows, in one allocation). */
function kernelOf(k: KernelView): NonNullable<PacketVerdict['kernel']> {
  const result = k.resultName;
  if (k.iface) return k.nexthop ? { result, iface: k.iface, nexthop: k.nexthop } : { result, iface: k.iface };
  return k.nexthop ? { result, nexthop: k.nexthop } : { result };
}

/** The last MATCHED sentence built for a prediction, with what it was built from. */
interface MatchedMemo {
  egress: string[];
  arrived: Hop['tunnel'];
  encap: Hop['tunnel'];
  tail: string;
  text: string;
}

const matchedMemo = new WeakMap<Prediction, MatchedMemo>();

/**
 * The MATCHED sentence. The packets of a flow get the same one: it is built once per prediction and what
 * it says (devices, tunnel ends, a drop beyond the node) and handed out again while that stays the same —
 * one string for all of them, which also makes the flow table's "same reason as before?" a pointer test.
 */
function matchedText(pred: Prediction, egress: string[], arrived: Hop['tunnel'], encap: Hop['tunnel'], tail: string): string {
  const m = matchedMemo.get(pred);
  if (
    m &&
    m.tail === tail &&
    sameList(m.egress, egress) &&
    m.arrived?.outerSrc === arrived?.outerSrc &&
    m.arrived?.vni === arrived?.vni &&
    m.encap?.outerDst === encap?.outerDst &&
    m.encap?.vni === encap?.vni
  ) {
    return m.text;
  }
  const encapText = encap ? `, encapsulated to ${encap.outerDst} (VNI ${encap.vni})` : '';
  const text = flat(`${arrivedText(arrived)}left via ${egress.join(' → ')}${encapText} as predicted by ${routeText(pred)}${tail}`);
  matchedMemo.set(pred, { egress, arrived, encap, tail, text });
  return text;
}

function arrivedText(arrived: Hop['tunnel']): string {
  return arrived ? `arrived encapsulated from ${arrived.outerSrc} (VNI ${arrived.vni}), ` : '';
}

function sameList(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface PodChecks {
  atMs: number;
  iif: string | undefined;
  side: string[];
  wrong: string | undefined;
  /** The cause of a refusal, computed on the first refused packet. */
  refusal?: { cause: string | undefined };
}

/** Per prediction (cached per model generation upstream): the packets of one flow ask the same question. */
const podCheckMemo = new WeakMap<Prediction, PodChecks>();
/** The pod directory and the pod ends change without a new model generation: answers age out. */
const POD_CHECK_TTL_MS = 1000;

/** The checks of the pods at both ends that every forwarded packet gets, memoised for a second. */
function podChecks(pred: Prediction, iif: string | undefined, ev: CauseEvidence): PodChecks {
  const now = Date.now();
  const hit = podCheckMemo.get(pred);
  if (hit && hit.iif === iif && now - hit.atMs < POD_CHECK_TTL_MS) return hit;
  const fresh: PodChecks = { atMs: now, iif, side: podSideFindings(pred, iif, ev), wrong: wrongWorkloadInterface(pred, ev) };
  podCheckMemo.set(pred, fresh);
  return fresh;
}

/** The refusal cause, memoised with the pod checks: a flow into a blackhole asks it for every packet. */
function refusalOf(pred: Prediction, iif: string | undefined, ev: CauseEvidence): string | undefined {
  const checks = podChecks(pred, iif, ev);
  checks.refusal ??= { cause: refusalCause(pred, ev) };
  return checks.refusal.cause;
}

/** The cause behind a refused packet, from the node's evidence (undefined: the route alone tells it). */
function refusalCause(pred: Prediction, ev: CauseEvidence | undefined): string | undefined {
  if (!ev) return undefined;
  if (pred.calico === 'ipam-block-blackhole') return missingWorkloadCause(pred.query.dst, ev);
  return rpFilterCause(pred, ev);
}

/**
 * Why a packet the routes would forward was not sent: a broken link of its VXLAN chain, a /32 pointing at
 * another pod's interface, a next hop that does not resolve.
 */
function forwardCause(
  pred: Prediction,
  ev: CauseEvidence,
  kernel: KernelView | undefined,
  why: string | undefined,
  drop?: TraceEvent,
): string | undefined {
  const chain = vxlanChain(pred, ev, kernel, drop && why ? { reason: why, iface: drop.iface } : undefined);
  if (chain?.broken) {
    const others = chain.links.filter((l) => l !== chain.broken);
    return others.length ? `${chain.broken.text} (the rest of the VXLAN chain: ${others.map((l) => l.text).join('; ')})` : chain.broken.text;
  }
  const wrong = wrongWorkloadInterface(pred, ev);
  if (wrong) return wrong;
  if (chain && why?.startsWith('NEIGH')) return `the next hop did not resolve [VXLAN chain: ${chainText(chain)}]`;
  if (!chain && pred.dev && (why?.startsWith('NEIGH') || kernel?.resultName === 'no_neigh')) {
    const hop = pred.gateway ?? pred.query.dst;
    const n = ev.state.neighbours.find((x) => x.dev === pred.dev && x.dst === hop);
    const st = n ? `is ${n.state.join(',')}` : 'is missing';
    const calico = pred.calico === 'local-workload' ? ' (Calico programs a permanent one for every local pod: check calico-node)' : '';
    return `the neighbour entry for ${hop} on ${pred.dev} ${st}${calico}: ARP for it got no answer`;
  }
  return undefined;
}

function isLocalAddress(ip: string, ev: CauseEvidence): boolean {
  return ev.state.addresses.some((a) => a.address === ip);
}

/** The events by time; usually they already are (one ring buffer), so only sort when they are not. */
function inTimeOrder(events: TraceEvent[]): TraceEvent[] {
  for (let i = 1; i < events.length; i++) {
    if (events[i].timeNs < events[i - 1].timeNs) return [...events].sort((a, b) => a.timeNs - b.timeNs);
  }
  return events;
}

function toHop(ev: TraceEvent): Hop {
  return {
    iface: ev.iface,
    dir: ev.kind === 'drop' ? 'drop' : ev.dir,
    timeNs: ev.timeNs,
    tunnel: ev.tunnel ? { outerSrc: ev.tunnel.outerSrc, outerDst: ev.tunnel.outerDst, vni: ev.tunnel.vni } : undefined,
    dropReason: ev.kind === 'drop' ? dropReasonName(ev) : undefined,
  };
}

function egressDevices(events: TraceEvent[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    if (e.kind !== 'drop' && e.dir === 'egress' && out[out.length - 1] !== e.iface) out.push(e.iface);
  }
  return out;
}

/**
 * A drop belongs to this node unless the packet had already left: nothing left before it, or it left
 * only through the first devices of the predicted path (dropped between vxlan.calico and the uplink).
 */
function isNodeDrop(before: string[], pred: Prediction | undefined): boolean {
  if (before.length === 0) return true;
  const expected = pred?.egressPath ?? [];
  return before.length < expected.length && isPrefix(before, expected);
}

function dropPlace(drop: TraceEvent, egress: string[]): string {
  const at = drop.iface ? `at ${drop.iface}` : 'on this node';
  return egress.length ? `${at} after it left via ${egress.join(' → ')}` : at;
}

export function dropReasonName(ev: TraceEvent): string {
  const name = ev.dropReasonName ?? (ev.dropReason !== undefined ? `reason ${ev.dropReason}` : 'unknown reason');
  return name.replace(/^SKB_DROP_REASON_/, '');
}

function isEchoReply(ev: TraceEvent): boolean {
  return (ev.proto === 1 && ev.icmpType === 0) || (ev.proto === 58 && ev.icmpType === 129);
}

/** Decisions that hand the packet to this node's own stack. */
const DELIVERED_HERE = new Set(['local', 'multicast', 'broadcast']);

/** A drop after routing delivered the packet to this node: the stack, not the route, refused it. */
function localStackHint(reason: string, first: TraceEvent, decision: string): string {
  const head = 'routing was right (it reached this node\'s own stack), the stack then discarded it';
  const proto = hasPorts(first.proto) ? protocolName(first.proto).toUpperCase() : undefined;
  if (reason === 'NO_SOCKET' && proto) return `${head}: nothing listens on ${proto} port ${first.dport} here (check \`ss -lntup\`)`;
  if (reason === 'NO_SOCKET') return `${head}: no socket wants it`;
  if (reason === 'INVALID_PROTO' && first.proto === 1 && first.icmpType === 8) {
    return `${head}: echo requests to a broadcast or multicast address are ignored (net.ipv4.icmp_echo_ignore_broadcasts=1)`;
  }
  if (reason === 'SOCKET_RCVBUFF' || reason === 'PROTO_MEM') return `${head}: the receiving socket's buffer is full (the application reads too slowly)`;
  if (reason === 'NOT_SPECIFIED' && proto === 'UDP' && decision === 'multicast') {
    return `${head}: no socket on this node listens on UDP port ${first.dport} for the group`;
  }
  return `${head}: see the kernel drop reason`;
}

function dropHint(reason: string, where: string): string {
  if (reason.startsWith('NETFILTER')) {
    return 'a netfilter rule (iptables/nftables) dropped it: look for a DROP in the forward path with `nft list ruleset` or `iptables-save` on the node (Calico policy lives in cali-* chains)';
  }
  if (reason === 'IP_RPFILTER') return 'the reverse-path filter refused its source: check rp_filter on the ingress interface';
  if (reason.startsWith('NEIGH')) return 'the next hop did not resolve: check `ip neigh` for the gateway';
  if (reason === 'PKT_TOO_BIG' || reason.startsWith('FRAG')) return 'it exceeds the path MTU: check the MTU of the egress device';
  if (reason.startsWith('TC_')) return `a tc filter or eBPF program dropped it ${where}: check \`tc filter show\` and \`bpftool net\``;
  if (reason === 'XDP') return 'an XDP program dropped it: check `bpftool net`';
  if (['QDISC_DROP', 'FULL_RING', 'CPU_BACKLOG', 'NOMEM'].includes(reason)) return 'a queue overflowed: the node is congested';
  if (reason === 'IP_INNOROUTES' || reason === 'IP_OUTNOROUTES') return 'the kernel found no route: compare `ip route get` with the model';
  if (reason === 'NOT_SPECIFIED') return 'the kernel gave no reason: check routes of type blackhole/unreachable/prohibit, policy rules and tc filters';
  return 'see the kernel drop reason';
}

const DECISION_WORDS: Record<string, string> = {
  blackhole: 'a blackhole route',
  unreachable: 'an unreachable route',
  prohibit: 'a prohibit route',
  throw: 'a throw route with no route after it',
  no_route: 'no route',
  martian: 'a martian address / reverse-path check',
  forwarding_disabled: 'forwarding disabled on the ingress interface',
  multicast_not_joined: 'a multicast group the ingress interface has not joined',
};

function refusalText(pred: Prediction, dst: string): string {
  const words = DECISION_WORDS[pred.decision] ?? pred.decision;
  const route = pred.route ? ` \`${pred.route}\`` : pred.rule ? ` (rule \`${pred.rule}\`)` : '';
  if (pred.decision === 'multicast_not_joined') {
    const iface = pred.query.iif ?? 'the interface';
    return `${dst} is a multicast group ${iface} has not joined (\`ip maddr show dev ${iface}\`), so the kernel discards it before routing — normal for group traffic nobody here asked for`;
  }
  if (pred.calico === 'ipam-block-blackhole') {
    return `${dst} is in this node's IPAM block but has no pod (no /32 route), so Calico's IPAM-block blackhole${route} catches it`;
  }
  return `${words}${route} matches ${dst}`;
}

function routeText(pred: Prediction): string {
  return pred.route ? `\`${pred.route}\`` : pred.rule ? `rule \`${pred.rule}\`` : `the ${pred.decision} decision`;
}

function predictionText(pred: Prediction): string {
  if (REFUSING.has(pred.decision)) return `the model predicted ${DECISION_WORDS[pred.decision] ?? pred.decision} (${routeText(pred)})`;
  if (pred.egressPath.length === 0) return `${routeText(pred)} predicted ${pred.decision} delivery`;
  return `${routeText(pred)} predicted egress via ${pred.egressPath.join(' → ')}`;
}

function modelRouteText(pred: Prediction): string {
  const via = pred.egressPath.length ? ` → egress via ${pred.egressPath.join(' → ')}` : '';
  return `${routeText(pred)} (${pred.decision}${via})`;
}

function kernelText(k: KernelView): string {
  const dev = k.iface ?? (k.ifindex ? `ifindex ${k.ifindex}` : undefined);
  if (dev) return `chose ${dev}${k.nexthop ? ` via ${k.nexthop}` : ''} (${k.resultName})`;
  return `answered ${k.resultName}`;
}

function pathText(hops: Hop[]): string {
  if (hops.length === 0) return 'nothing';
  return hops.map((h) => (h.dir === 'drop' ? `drop@${h.iface || '?'}` : `${h.iface}(${h.dir === 'ingress' ? 'in' : 'out'})`)).join(' → ');
}

function lostText(ctx: VerdictContext, timeMs: number): string {
  const lost = ctx.lostEvents?.(timeMs) ?? 0;
  return lost > 0 ? ` (${lost} events were lost within a second of this packet, it may be one of them)` : '';
}

/** Every device of `seen` appears in `path`, in the same order. */
function isSubsequence(seen: string[], path: string[]): boolean {
  let j = 0;
  for (const d of seen) {
    while (j < path.length && path[j] !== d) j++;
    if (j === path.length) return false;
    j++;
  }
  return true;
}

function natText(nat: NonNullable<ObservedPacket['nat']>): string {
  const parts: string[] = [];
  // Conntrack direction is not visible here: a rewritten destination is DNAT or the answer to a
  // masqueraded connection, a rewritten source is SNAT or the answer of a DNATed one (a Service's backend).
  if (nat.dst) parts.push(`destination ${nat.dst.from} → ${nat.dst.to} (DNAT such as a kube-proxy Service, or the reply to a masqueraded connection; routed by the new destination)`);
  if (nat.src) parts.push(`source ${nat.src.from} → ${nat.src.to} (SNAT/masquerade, or a Service backend's reply; after routing)`);
  return `NAT on this node: ${parts.join(', ')}`;
}

/** Whether the kernel FIB's answer is the one the prediction implies (undefined: cannot tell). */
export function kernelAgrees(k: KernelView, pred: Prediction): boolean | undefined {
  // bpf_fib_lookup() is a plain table lookup: for a multicast group it answers the default route's device,
  // while the input path decides by membership without any lookup. Its answer says nothing here.
  if (pred.decision === 'multicast' || pred.decision === 'multicast_not_joined') return undefined;
  // Nor does it validate the source (rp_filter, martian sources): a refused source still finds its route there.
  if (pred.decision === 'martian' && (k.resultName === 'success' || k.resultName === 'no_neigh')) return undefined;
  switch (k.resultName) {
    case 'success':
    case 'no_neigh':
    case 'frag_needed': {
      if (pred.decision !== 'unicast') return false;
      if (!k.iface) return undefined;
      if (pred.dev === k.iface || pred.egressPath[0] === k.iface) return true;
      for (const n of pred.nexthops) if (n.dev === k.iface) return true;
      return false;
    }
    case 'blackhole':
    case 'unreachable':
    case 'prohibit':
      return pred.decision === k.resultName;
    case 'not_fwded':
    case 'fwd_disabled':
      // Local delivery, no route, throw, broadcast… all answer "not forwarded".
      return pred.decision !== 'unicast' && pred.decision !== 'blackhole' && pred.decision !== 'unreachable' && pred.decision !== 'prohibit';
    default:
      return undefined;
  }
}

function sameDevices(egress: string[], expected: string[], pred: Prediction): boolean {
  if (egress.length !== expected.length) return false;
  for (let i = 0; i < egress.length; i++) {
    if (egress[i] === expected[i]) continue;
    // Multipath: the kernel hashes to one of the next hops; any of them is the prediction.
    if (i === 0 && pred.nexthops.length > 1 && pred.nexthops.some((n) => n.dev === egress[0])) continue;
    return false;
  }
  return true;
}

function isPrefix(a: string[], b: string[]): boolean {
  if (a.length > b.length) return false;
  return a.every((d, i) => d === b[i]);
}

function latencyUs(ingress: TraceEvent | undefined, events: TraceEvent[]): number | undefined {
  if (!ingress) return undefined;
  let last: number | undefined;
  for (const e of events) if (e.kind !== 'drop' && e.dir === 'egress') last = e.timeNs;
  if (last === undefined) return undefined;
  return Math.round((last - ingress.timeNs) / 10) / 100;
}

function mtuWarnings(
  first: TraceEvent,
  pred: Prediction | undefined,
  kernel: KernelView | undefined,
  drop: TraceEvent | undefined,
  ctx: VerdictContext,
): Warning[] {
  if (kernel?.resultName === 'frag_needed') return ['MTU_EXCEEDED'];
  if (drop) {
    const why = dropReasonName(drop);
    if (why === 'PKT_TOO_BIG' || why.startsWith('FRAG')) return ['MTU_EXCEEDED'];
  }
  // TCP is segmented by GSO after the route lookup, so a large TCP skb is not an oversized packet.
  if (!pred || first.proto === 6) return [];
  const l3 = first.len - L2_HEADER;
  const outer = pred.outer;
  if (outer) {
    const underlayMtu = outer.underlayMtu ?? (outer.underlayDev ? ctx.mtuOf?.(outer.underlayDev) : undefined);
    if (underlayMtu && l3 + outer.overhead > underlayMtu) return ['MTU_EXCEEDED'];
  }
  const dev = pred.egressPath[0];
  const mtu = dev ? ctx.mtuOf?.(dev) : undefined;
  if (mtu && l3 > mtu) return ['MTU_EXCEEDED'];
  return [];
}

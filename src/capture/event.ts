// The decoded form of one wire record (bpf/event.h is the one definition of the bytes; decode.ts maps
// them here). Domain code (path/, api/, tui/) consumes these types and nothing from the wire.

export type Direction = 'ingress' | 'egress';

/** What produced the record. */
export type EventKind =
  | 'packet' // a tc hook saw the packet (packet mode, or the first packet of a flow in flow mode)
  | 'flow' // flow mode: counters flushed for one flow at one hop
  | 'drop'; // the skb:kfree_skb tracepoint saw a traced packet die

/** The kernel's own FIB answer at ingress: bpf_fib_lookup() from the tc program. */
export interface KernelView {
  /** BPF_FIB_LKUP_RET_* code. */
  result: number;
  /** 'success' | 'blackhole' | 'unreachable' | 'prohibit' | 'not_fwded' | 'fwd_disabled' | 'unsupp_lwt' | 'no_neigh' | 'frag_needed' | … */
  resultName: string;
  /** Egress ifindex the FIB chose (0 when none). */
  ifindex: number;
  /** Egress interface name, resolved in user space when known. */
  iface?: string;
  /** Next hop (gateway) address; absent for a directly connected destination. */
  nexthop?: string;
}

/** Outer header of a VXLAN-encapsulated packet, decoded on the uplink. */
export interface TunnelInfo {
  outerSrc: string;
  outerDst: string;
  vni: number;
  udpSport: number;
  udpDport: number;
}

export interface TraceEvent {
  kind: EventKind;
  /** Kernel monotonic clock (bpf_ktime_get_ns), nanoseconds. */
  timeNs: number;
  /** Wall-clock time derived from timeNs (ms since epoch). */
  wallMs: number;
  ifindex: number;
  /** Interface name, resolved in user space. */
  iface: string;
  dir: Direction;
  /** skb->len at the hook. */
  len: number;
  /** 4 or 6: the (inner) packet's family. */
  family: 4 | 6;
  /** IP protocol number of the (inner) packet: 1 ICMP, 6 TCP, 17 UDP, 58 ICMPv6. */
  proto: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  tcpFlags: number;
  icmpType: number;
  icmpCode: number;
  icmpId: number;
  icmpSeq: number;
  ipId: number;
  ttl: number;
  mark: number;
  /** 64-bit fingerprint as 16 hex digits: same packet, same value at every hop and across nodes. */
  fingerprint: string;
  /**
   * 32-bit fingerprint of what netfilter NAT leaves alone (no addresses, ports or ICMP id): pairs the packet
   * that vanished at one hook with the one that appeared, translated, at another. 0 = not known.
   */
  natFingerprint: number;
  /** Present for ingress records where the FIB lookup ran. */
  kernel?: KernelView;
  /** Present when the record was decoded from a VXLAN outer header. */
  tunnel?: TunnelInfo;
  /** kind 'drop': the kernel's enum skb_drop_reason value and its name from the running kernel's BTF. */
  dropReason?: number;
  dropReasonName?: string;
  /** kind 'flow': counters since the last flush. */
  packets?: number;
  bytes?: number;
  /** Outermost 802.1Q VLAN id, when the frame was tagged. */
  vlan?: number;
  /** Parser notes: 'truncated', 'bad_ihl', 'fragment', 'ipv6_ext_limit', 'bad_vxlan', … (empty when clean). */
  anomalies?: string[];
  /** Case mode: this hop's case (16 hex digits), its previous hop's case ('0000000000000000' = first hop), the counting epoch. */
  caseId?: string;
  prevCase?: string;
  epoch?: number;
}

/** Loss counters, each a running total since the collector started. Never hidden. */
export interface CaptureCounters {
  received: number;
  /** Ring-buffer reserve failures in the kernel, summed over CPUs. */
  lostKernel: number;
  /** Events lost between loader and collector (pipe overflow, loader restart gaps). */
  lostPipe: number;
  loaderRestarts: number;
}

// The routing contract: what the route model holds, what a query asks and what a prediction answers.
// Everything here is plain JSON-able data so the API, the UI and `calitrace explain --json` can pass it on.

export type Family = 4 | 6;

/** Route types as iproute2 names them (RTN_*). */
export type RouteType =
  | 'unicast'
  | 'local'
  | 'broadcast'
  | 'anycast'
  | 'multicast'
  | 'blackhole'
  | 'unreachable'
  | 'prohibit'
  | 'throw'
  | 'nat';

/**
 * The outcome of a lookup, named like the route type that decided it, plus:
 * - `no_route`: no rule produced a route (the kernel's ENETUNREACH, "Network is unreachable"); a lookup that
 *   ended on a `throw` route with nothing after it reports `throw` instead (same errno).
 * - `martian`: the kernel refuses the packet on the input path before or after the lookup (martian source or
 *   destination, reverse-path filter): EINVAL/EXDEV.
 * - `forwarding_disabled`: input path, destination not local and forwarding off on the incoming interface
 *   (EHOSTUNREACH).
 * - `multicast_not_joined`: input path, a multicast destination whose group the incoming interface has not
 *   joined: the kernel discards it before any route lookup (EINVAL). A joined group gives `multicast`
 *   (delivered on this node).
 * Rule actions `blackhole|unreachable|prohibit` give the same decision names with `rule` set and no `route`.
 */
export type Decision = Exclude<RouteType, 'nat'> | 'no_route' | 'martian' | 'forwarding_disabled' | 'multicast_not_joined';

/** The errno `ip route get` answers with for a refusing decision (undefined when it answers a route). */
export type KernelErrno = 'EINVAL' | 'EHOSTUNREACH' | 'EACCES' | 'ENETUNREACH' | 'EXDEV';

/** What a route is for, in Calico's vocabulary. */
export type CalicoRole =
  | 'local-workload' // /32 (/128) dev cali… scope link: a pod on this node
  | 'vxlan-tunnel' // block via remote VTEP dev vxlan.calico onlink
  | 'ipip-tunnel' // block via remote node dev tunl0 onlink
  | 'no-encap' // block via remote node IP on the uplink (same L2)
  | 'ipam-block-blackhole' // blackhole <this node's block> proto 80 (bird) — catches block IPs without a pod
  | 'host-default' // default route of the host
  | 'connected' // kernel route for an interface's subnet (proto kernel scope link)
  | 'local-address' // local table: an address of this node
  | 'other';

export interface Nexthop {
  gateway?: string;
  dev?: string;
  weight: number;
  onlink: boolean;
  /** Kernel flags on the next hop (dead, linkdown, onlink, pervasive…). */
  flags: string[];
}

export interface Route {
  family: Family;
  type: RouteType;
  /** Table id (254 main, 255 local, 253 default). */
  table: number;
  /** Destination prefix, always with its length: '10.233.101.0/26', '0.0.0.0/0', '::/0'. */
  dst: string;
  prefixLen: number;
  /** Source prefix (IPv6 source routing, `from`); undefined when any. */
  src?: string;
  /** TOS/DSCP selector, 0 = any. */
  tos: number;
  metric: number;
  protocol: string;
  scope: string;
  prefsrc?: string;
  /** Single next hop routes have one entry; multipath has several; blackhole & co have none. */
  nexthops: Nexthop[];
  /** Route flags as iproute2 prints them (onlink, linkdown, …). */
  flags: string[];
  /** The route as `ip route` prints it (main table without 'table main'). */
  text: string;
}

export type RuleAction = 'lookup' | 'goto' | 'nop' | 'blackhole' | 'unreachable' | 'prohibit';

export interface Rule {
  family: Family;
  priority: number;
  /** `not` (FIB_RULE_INVERT): the selector's result is inverted. */
  not: boolean;
  src?: string; // 'a.b.c.d/len'
  dst?: string;
  iif?: string;
  oif?: string;
  fwmark?: number;
  fwmask?: number;
  tos: number;
  ipproto?: number;
  sport?: [number, number];
  dport?: [number, number];
  uidrange?: [number, number];
  l3mdev: boolean;
  action: RuleAction;
  table?: number;
  /** goto: target priority. */
  target?: number;
  suppressPrefixlen?: number;
  suppressIfgroup?: number;
  /** As `ip rule` prints it. */
  text: string;
}

export interface Link {
  ifindex: number;
  name: string;
  kind?: string; // 'veth', 'vxlan', 'bridge', …
  mtu: number;
  up: boolean; // admin up
  carrier: boolean; // lower_up
  mac?: string;
  master?: string;
  /** The other end of a veth when known (peer ifindex, maybe in another netns). */
  linkIndex?: number;
  /** The namespace id (in this namespace's numbering) the other end lives in, when it is another namespace. */
  linkNetnsid?: number;
  group?: number;
  vxlan?: { vni: number; port: number; local?: string; dev?: string; learning: boolean };
  /** Per-interface sysctls that change routing (from `ip netconf`). */
  forwarding4?: boolean;
  forwarding6?: boolean;
  rpFilter?: number;
}

export interface Address {
  family: Family;
  ifname: string;
  address: string;
  prefixLen: number;
  scope: string;
  broadcast?: string;
}

export interface Neighbour {
  family: Family;
  dst: string;
  dev: string;
  lladdr?: string;
  /** PERMANENT, REACHABLE, STALE, FAILED, NOARP… */
  state: string[];
}

export interface FdbEntry {
  mac: string;
  dev: string;
  /** Remote VTEP (underlay IP) for VXLAN entries. */
  dst?: string;
  vni?: number;
  port?: number;
  state: string;
  flags: string[];
}

/** A multicast group an interface has joined (`ip maddr show`): what decides whether it accepts the group's packets. */
export interface Membership {
  family: Family;
  ifname: string;
  group: string;
}

export interface Query {
  src?: string;
  dst: string;
  /** Incoming interface: the input path (forwarding). Absent = locally generated (output path, iif lo). */
  iif?: string;
  /** Outgoing interface the socket is bound to (output path). */
  oif?: string;
  mark?: number;
  tos?: number;
  /** IP protocol number (6 tcp, 17 udp, …) for rules with ipproto/sport/dport. */
  ipproto?: number;
  sport?: number;
  dport?: number;
  uid?: number;
}

/** A route that contains the destination, and why it did or did not decide. */
export interface Candidate {
  route: string;
  table: number;
  prefixLen: number;
  metric: number;
  type: RouteType;
  calico: CalicoRole;
  /** 'selected' | 'less specific' | 'higher metric' | 'tos mismatch' | 'table not consulted' | … */
  verdict: 'selected' | 'shadowed' | 'not-consulted' | 'skipped';
  reason: string;
}

/** One rule walked during the lookup. */
export interface RuleStep {
  priority: number;
  rule: string;
  matched: boolean;
  outcome: string; // 'no match' | 'table 254: no route' | 'throw' | 'route found' | 'suppressed' | …
}

/** VXLAN outer header, derived gateway → neighbour → FDB → remote VTEP → underlay route. */
export interface OuterHeader {
  vxlanDev: string;
  /** Undefined when not known (a paste has no `ip -d link` details and no FDB). */
  vni?: number;
  dstPort?: number;
  /** Inner destination MAC (the neighbour entry of the gateway). */
  innerDstMac?: string;
  src?: string; // underlay source (the VXLAN device's `local`, else the underlay route's preferred source)
  dst?: string; // remote node IP from the FDB
  underlayDev?: string;
  underlayGateway?: string;
  underlayRoute?: string;
  underlayMtu?: number;
  /** Bytes the encapsulation adds (50 for IPv4 underlay, 70 for IPv6). */
  overhead: number;
  /** What could not be resolved, e.g. 'no neighbour entry for 10.233.100.128 on vxlan.calico'. */
  missing: string[];
}

export interface Step {
  title: string;
  lines: string[];
}

/** How the packet's way into the node was settled (given with --iif, or inferred from SRC). */
export interface Ingress {
  /** given: --iif; pod: SRC has its own cali route; node: SRC is the node's; elsewhere: neither (no --iif). */
  kind: 'given' | 'pod' | 'node' | 'elsewhere';
  iif?: string;
  /** The pod route that placed SRC on its interface. */
  route?: string;
  /** For 'elsewhere': the --iif to try (the device of the route back to SRC). */
  suggest?: string;
  /** One sentence that opens the answer. */
  line: string;
}

export interface Prediction {
  query: Query;
  /** Set by explainQuery(): how the ingress was chosen. */
  ingress?: Ingress;
  family: Family;
  decision: Decision;
  /** Errno `ip route get` gives for this decision, if it refuses. */
  errno?: KernelErrno;
  /** Table of the deciding route (or of the last table consulted). */
  table?: number;
  /** The deciding route as `ip route` prints it. */
  route?: string;
  /** The deciding route, structured. */
  matched?: Route;
  /** The rule that led to the decision. */
  rule?: string;
  dev?: string;
  gateway?: string;
  /** Every possible next hop (multipath: the kernel picks one by hash). */
  nexthops: Nexthop[];
  /** Multipath next hops for which the kernel would refuse the packet (source validation), with the errno. */
  refusedVia?: { nexthops: Nexthop[]; errno: KernelErrno };
  /** Routes containing the destination in the tables walked (and the other tables), best first. */
  candidates: Candidate[];
  rulesWalked: RuleStep[];
  /** Calico meaning of the deciding route. */
  calico?: CalicoRole;
  /** VXLAN egress only. */
  outer?: OuterHeader;
  /** Devices the packet leaves this node through, in order ([] for a drop or local delivery). */
  egressPath: string[];
  /** Filled by explain(). */
  steps?: Step[];
  /** Things this answer cannot know (e.g. from a pasted `ip route`: no rules, no neighbours). */
  unknowns?: string[];
  warnings?: string[];
}

/** What changed in the model, for subscribers (UI, API). */
export interface ModelChange {
  kind: 'route' | 'rule' | 'link' | 'address' | 'neighbour' | 'fdb' | 'netconf' | 'multicast';
  action: 'added' | 'removed' | 'changed';
  /** ip-style text of the object. */
  text: string;
}

export interface ModelChangeEvent {
  /** Model generation after the change (increments on every applied change batch). */
  generation: number;
  timeMs: number;
  changes: ModelChange[];
  /** Milliseconds from the netlink notification that started this update to the model applying it (absent for the first dump). */
  updateLatencyMs?: number;
}

/** The read side of the routing state; predict() and explain() only need this. */
export interface RoutingState {
  links: Link[];
  addresses: Address[];
  routes: Route[];
  rules: Rule[];
  neighbours: Neighbour[];
  fdb: FdbEntry[];
  /** Multicast groups joined per interface; undefined when not known (a pasted `ip route`). */
  memberships?: Membership[];
  /** Whether rules/neighbours/FDB/links are really known (false for a pasted `ip route`). */
  complete: {
    rules: boolean;
    neighbours: boolean;
    fdb: boolean;
    links: boolean;
    /**
     * Whether "is SRC an address of this node" can be answered from `addresses` (defaults to `links`). A
     * paste sets it: its addresses are those its routes name with `src`, and it says so among its unknowns.
     */
    addresses?: boolean;
  };
  /** Namespace name or undefined for the current one. */
  netns?: string;
}

export interface RouteModelOptions {
  /** Named network namespace (/var/run/netns/NAME); current namespace when absent. */
  netns?: string;
  /** Quiet period before a re-dump after a burst of netlink events (ms). */
  debounceMs?: number;
  /** How often the multicast group lists are polled (no netlink event announces a join); 0 = never. Default 250 ms. */
  membershipPollMs?: number;
}

/** A live model: `state` always reflects the kernel within ~100 ms of a change. */
export interface RouteModel {
  readonly state: RoutingState;
  readonly generation: number;
  /** Load once (no live updates). Resolves when the first dump is in. */
  load(): Promise<void>;
  /** Start following the kernel (monitor + re-dump). */
  start(): Promise<void>;
  stop(): Promise<void>;
  on(event: 'change', fn: (ev: ModelChangeEvent) => void): this;
  on(event: 'error', fn: (err: Error) => void): this;
  off(event: 'change', fn: (ev: ModelChangeEvent) => void): this;
  off(event: 'error', fn: (err: Error) => void): this;
  /** Resolves when `pred(state)` holds, or rejects after timeoutMs. */
  waitFor(pred: (s: RoutingState) => boolean, timeoutMs: number): Promise<number>;
}

// Entry points (implemented in predict.ts / explain.ts / model.ts):
//   predict(modelOrState: RouteModel | RoutingState, q: Query): Prediction   — compiles and caches per generation
//   explain(p: Prediction, modelOrState): Step[]                                — also stored in p.steps
//   createRouteModel(opts?: RouteModelOptions): RouteModel

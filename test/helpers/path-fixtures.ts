// Events and predictions as node1 of the lab (ems203-w2) produces them, for the path unit tests.
// The predictions are written from the seed's routing table, by hand: they stand for the route model.
import type { TraceEvent } from '../../src/capture/event';
import type { Prediction } from '../../src/routing/types';
import type { ObservedPacket } from '../../src/path/correlate';

export const POD_A = '10.233.101.222';
export const POD_B = '10.233.101.224';
export const WEB_0 = '10.233.100.130';
export const NO_POD = '10.233.101.230';
export const CALI_A = 'cali11299111064';
export const CALI_B = 'caliaa479e31ff6';
export const NODE1_IP = '172.27.71.11';
export const NODE2_IP = '172.27.71.12';
/** The underlay's default gateway (node1's `default via`). */
export const ROUTER = '172.27.71.254';
/** A Service (ClusterIP) address: the NAT tests DNAT it to pod B with nftables, as kube-proxy would. */
export const SERVICE = '10.96.0.10';

const IFINDEX: Record<string, number> = { ens3: 2, 'vxlan.calico': 3, [CALI_A]: 5, [CALI_B]: 7 };

let fpCounter = 0x1000;
/** A fresh fingerprint (16 hex digits). */
export function fp(): string {
  return (fpCounter++).toString(16).padStart(16, '0');
}

const BASE_NS = 5_000_000_000_000;
const BASE_WALL = 1_795_000_000_000;

/** An event as the decoder produces it. `t` is µs after an arbitrary origin. */
export function ev(
  over: Partial<TraceEvent> & { t: number; iface: string; dir?: 'ingress' | 'egress' },
): TraceEvent {
  const { t, ...rest } = over;
  const e: TraceEvent = {
    kind: 'packet',
    timeNs: BASE_NS + t * 1000,
    wallMs: BASE_WALL + t / 1000,
    ifindex: IFINDEX[over.iface] ?? 9,
    dir: over.dir ?? 'ingress',
    len: 98,
    family: 4,
    proto: 1,
    src: POD_A,
    dst: POD_B,
    sport: 0,
    dport: 0,
    tcpFlags: 0,
    icmpType: 8,
    icmpCode: 0,
    icmpId: 4242,
    icmpSeq: 1,
    ipId: 777,
    ttl: 64,
    mark: 0,
    fingerprint: 'ffff000000000001',
    natFingerprint: 0,
    ...rest,
  };
  return e;
}

/** The kernel FIB answer the tc program attaches to an ingress record. */
export function fib(resultName: string, iface?: string, nexthop?: string): TraceEvent['kernel'] {
  const codes: Record<string, number> = { success: 0, blackhole: 1, unreachable: 2, prohibit: 3, not_fwded: 4 };
  return { result: codes[resultName] ?? 0, resultName, ifindex: iface ? IFINDEX[iface] ?? 9 : 0, iface, nexthop };
}

function base(dst: string, iif?: string): Pick<Prediction, 'query' | 'family' | 'nexthops' | 'candidates' | 'rulesWalked'> {
  return { query: { src: POD_A, dst, iif }, family: 4, nexthops: [], candidates: [], rulesWalked: [] };
}

/** `10.233.101.224 dev caliaa479e31ff6 scope link`: the same-node pod route. */
export function predictSameNode(dst = POD_B, dev = CALI_B): Prediction {
  return {
    ...base(dst, CALI_A),
    decision: 'unicast',
    table: 254,
    route: `${dst} dev ${dev} scope link`,
    dev,
    nexthops: [{ dev, weight: 1, onlink: false, flags: [] }],
    calico: 'local-workload',
    egressPath: [dev],
  };
}

/** `10.233.100.128/26 via 10.233.100.128 dev vxlan.calico onlink`: to node2's block through VXLAN. */
export function predictCrossNode(dst = WEB_0): Prediction {
  return {
    ...base(dst, CALI_A),
    decision: 'unicast',
    table: 254,
    route: '10.233.100.128/26 via 10.233.100.128 dev vxlan.calico onlink',
    dev: 'vxlan.calico',
    gateway: '10.233.100.128',
    nexthops: [{ gateway: '10.233.100.128', dev: 'vxlan.calico', weight: 1, onlink: true, flags: ['onlink'] }],
    calico: 'vxlan-tunnel',
    outer: {
      vxlanDev: 'vxlan.calico',
      vni: 4096,
      dstPort: 4789,
      src: NODE1_IP,
      dst: NODE2_IP,
      underlayDev: 'ens3',
      underlayMtu: 1500,
      overhead: 50,
      missing: [],
    },
    egressPath: ['vxlan.calico', 'ens3'],
  };
}

/** `10.233.100.128/26 via 172.27.71.12 dev ens3`: the same block without encapsulation. */
export function predictNoEncap(dst = WEB_0): Prediction {
  return {
    ...base(dst, CALI_A),
    decision: 'unicast',
    table: 254,
    route: '10.233.100.128/26 via 172.27.71.12 dev ens3',
    dev: 'ens3',
    gateway: NODE2_IP,
    nexthops: [{ gateway: NODE2_IP, dev: 'ens3', weight: 1, onlink: false, flags: [] }],
    calico: 'no-encap',
    egressPath: ['ens3'],
  };
}

/** `blackhole 10.233.101.192/26 proto 80`: Calico's IPAM-block blackhole. */
export function predictBlackhole(dst = NO_POD): Prediction {
  return {
    ...base(dst, CALI_A),
    decision: 'blackhole',
    errno: 'EINVAL',
    table: 254,
    route: 'blackhole 10.233.101.192/26 proto 80',
    calico: 'ipam-block-blackhole',
    egressPath: [],
  };
}

/** A correlated packet as the correlator hands it to judge(): ingress, drop and prediction filled in from `events`. */
export function observedPacket(events: TraceEvent[], prediction: Prediction | undefined, over: Partial<ObservedPacket> = {}, generation = 7): ObservedPacket {
  return {
    fingerprint: events[0].fingerprint,
    events,
    ingress: events.find((e) => e.kind !== 'drop' && e.dir === 'ingress' && !e.tunnel),
    drop: events.find((e) => e.kind === 'drop'),
    predicted: prediction ? { prediction, generation } : undefined,
    closedBy: 'complete',
    windowMs: 100,
    ...over,
  };
}

// Node states shaped like the lab's node1 (ems203-w2) for the cause and verdict tests: the seed's routes,
// Calico's neighbours and FDB, with what a fault removes or adds.
import { parseRouteLine } from '../../src/routing/paste';
import { ruleFromJson } from '../../src/routing/iproute-json';
import type { Link, Neighbour, RoutingState } from '../../src/routing/types';
import { CALI_A, CALI_B, NODE1_IP, NODE2_IP, POD_A, POD_B } from './path-fixtures';

export const VTEP2 = '10.233.100.128';
export const MAC2 = '66:e2:e9:96:9f:82';
export const POD_B_MAC = '3e:43:f5:d7:c4:88';
export const POD_B_NAME = { namespace: 'ems', name: 'ems-a10nsp-accounting-89c69b796-rpb9k' }; // Calico names its veth caliaa479e31ff6

export function link(name: string, extra: Partial<Link> = {}): Link {
  return { ifindex: 0, name, mtu: 1450, up: true, carrier: true, forwarding4: true, rpFilter: 0, ...extra };
}

export const SEED_ROUTES = [
  'default via 172.27.71.254 dev ens3 proto static',
  '10.233.100.128/26 via 10.233.100.128 dev vxlan.calico onlink',
  'blackhole 10.233.101.192/26 proto 80',
  `${POD_A} dev ${CALI_A} scope link`,
  `${POD_B} dev ${CALI_B} scope link`,
  '172.27.71.0/24 dev ens3 proto kernel scope link src 172.27.71.11',
];

export function node1(over: { drop?: string[]; add?: string[]; links?: Link[]; neigh?: Neighbour[]; fdbDst?: string | null; rules?: Record<string, unknown>[]; vni?: number } = {}): RoutingState {
  const lines = [...SEED_ROUTES.filter((l) => !(over.drop ?? []).includes(l)), ...(over.add ?? [])];
  const vx = link('vxlan.calico', { kind: 'vxlan', vxlan: { vni: over.vni ?? 4096, port: 4789, local: NODE1_IP, dev: 'ens3', learning: false } });
  return {
    links: over.links ?? [link('ens3', { mtu: 1500 }), vx, link(CALI_A, { linkIndex: 2, linkNetnsid: 1 }), link(CALI_B, { linkIndex: 2, linkNetnsid: 2 })],
    addresses: [{ family: 4, ifname: 'ens3', address: NODE1_IP, prefixLen: 24, scope: 'global' }],
    routes: lines.map((l) => parseRouteLine(l)!),
    rules: (over.rules ?? [
      { priority: 0, src: 'all', table: 'local' },
      { priority: 32766, src: 'all', table: 'main' },
      { priority: 32767, src: 'all', table: 'default' },
    ]).map((r) => ruleFromJson(r, 4)),
    neighbours: over.neigh ?? [
      { family: 4, dst: POD_B, dev: CALI_B, lladdr: POD_B_MAC, state: ['PERMANENT'] },
      { family: 4, dst: VTEP2, dev: 'vxlan.calico', lladdr: MAC2, state: ['PERMANENT'] },
      { family: 4, dst: NODE2_IP, dev: 'ens3', lladdr: '02:00:00:00:00:12', state: ['REACHABLE'] },
    ],
    fdb: over.fdbDst === null ? [] : [{ mac: MAC2, dev: 'vxlan.calico', dst: over.fdbDst ?? NODE2_IP, state: 'permanent', flags: ['self'] }],
    complete: { rules: true, neighbours: true, fdb: true, links: true },
  };
}


/** node1 with a policy rule (priority 100) that sends pod A's traffic to table 100, whose default leaves by ens3: against Calico's intent. */
export function node1WithPodRule(): RoutingState {
  return node1({
    add: ['default via 172.27.71.254 dev ens3 table 100'],
    rules: [
      { priority: 0, src: 'all', table: 'local' },
      { priority: 100, src: POD_A, srclen: 32, table: '100' },
      { priority: 32766, src: 'all', table: 'main' },
    ],
  });
}

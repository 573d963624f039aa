// Routing states built from `ip route` / `ip rule` lines for the predictor's unit tests (both families):
// what a node's dumps would hold, written the way a reader knows them.
import assert from 'node:assert/strict';
import { parseRouteLine } from '../../src/routing/paste';
import { ruleFromJson } from '../../src/routing/iproute-json';
import type { Address, FdbEntry, Link, Membership, Neighbour, Route, RoutingState, Rule } from '../../src/routing/types';

/** The kernel's default rules of each family (what `ip rule` and `ip -6 rule` show on a fresh node). */
export const DEFAULT_RULES_4 = [
  { priority: 0, src: 'all', table: 'local' },
  { priority: 32766, src: 'all', table: 'main' },
  { priority: 32767, src: 'all', table: 'default' },
];
export const DEFAULT_RULES_6 = [
  { priority: 0, src: 'all', table: 'local' },
  { priority: 32766, src: 'all', table: 'main' },
];

export function link(name: string, extra: Partial<Link> = {}): Link {
  return { ifindex: 0, name, mtu: 1500, up: true, carrier: true, forwarding4: true, forwarding6: true, rpFilter: 0, ...extra };
}

/** One route per line; `table local` etc. as `ip route show table all` prints them. */
export function routeLines(text: string): Route[] {
  return text
    .trim()
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const r = parseRouteLine(l);
      assert.ok(r, `test route parses: ${l}`);
      return r!;
    });
}

export interface StateSpec {
  routes: string;
  /** IPv4 rules (`ip -j rule` objects); the kernel's defaults when absent. */
  rules4?: Record<string, unknown>[];
  rules6?: Record<string, unknown>[];
  links?: Link[];
  /** [ifname, address, prefix length] */
  addrs?: [string, string, number][];
  neigh?: Neighbour[];
  fdb?: FdbEntry[];
  memberships?: Membership[];
  complete?: Partial<RoutingState['complete']>;
}

export function nodeState(spec: StateSpec): RoutingState {
  const routes = routeLines(spec.routes);
  const devs = new Set(routes.flatMap((r) => r.nexthops.map((n) => n.dev!)).filter(Boolean));
  const rules: Rule[] = [
    ...(spec.rules4 ?? DEFAULT_RULES_4).map((o) => ruleFromJson(o, 4)),
    ...(spec.rules6 ?? DEFAULT_RULES_6).map((o) => ruleFromJson(o, 6)),
  ];
  const addresses: Address[] = (spec.addrs ?? []).map(([ifname, address, prefixLen]) => ({
    family: address.includes(':') ? 6 : 4,
    ifname,
    address,
    prefixLen,
    scope: address.startsWith('fe80') ? 'link' : 'global',
  }));
  return {
    links: spec.links ?? [...devs].map((d) => link(d)),
    addresses,
    routes,
    rules,
    neighbours: spec.neigh ?? [],
    fdb: spec.fdb ?? [],
    memberships: spec.memberships,
    complete: { rules: true, neighbours: true, fdb: true, links: true, ...spec.complete },
  };
}

// Hand-built routing states for the predictor's tests: routes as `ip route` prints them, rules as
// `ip -j rule` gives them, links and addresses by name.
import assert from 'node:assert/strict';
import { parseRouteLine } from '../../src/routing/paste';
import { ruleFromJson } from '../../src/routing/iproute-json';
import type { FdbEntry, Link, Neighbour, Route, RoutingState, Rule } from '../../src/routing/types';

export function routes(text: string): Route[] {
  return text
    .trim()
    .split('\n')
    .map((l) => {
      const r = parseRouteLine(l.trim());
      assert.ok(r, `test route parses: ${l}`);
      return r!;
    });
}

export function rules(list: Record<string, unknown>[], family: 4 | 6 = 4): Rule[] {
  return list.map((o) => ruleFromJson(o, family));
}

export const DEFAULT_RULES = [
  { priority: 0, src: 'all', table: 'local' },
  { priority: 32766, src: 'all', table: 'main' },
  { priority: 32767, src: 'all', table: 'default' },
];

export function link(name: string, extra: Partial<Link> = {}): Link {
  return { ifindex: 0, name, mtu: 1500, up: true, carrier: true, forwarding4: true, forwarding6: true, rpFilter: 0, ...extra };
}

export function state(opts: { routes: string; rules?: Record<string, unknown>[]; links?: Link[]; addrs?: [string, string, number][]; neigh?: Neighbour[]; fdb?: FdbEntry[] }): RoutingState {
  const rs = routes(opts.routes);
  const devs = new Set(rs.flatMap((r) => r.nexthops.map((n) => n.dev!)).filter(Boolean));
  const links = opts.links ?? [...devs].map((d) => link(d));
  return {
    links,
    addresses: (opts.addrs ?? []).map(([ifname, address, prefixLen]) => ({ family: address.includes(':') ? 6 : 4, ifname, address, prefixLen, scope: 'global' })),
    routes: rs,
    rules: rules(opts.rules ?? DEFAULT_RULES),
    neighbours: opts.neigh ?? [],
    fdb: opts.fdb ?? [],
    complete: { rules: true, neighbours: true, fdb: true, links: true },
  };
}


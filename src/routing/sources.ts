// Reads the routing state of a network namespace from iproute2's JSON output. Three processes in parallel
// (one `ip -b` batch for links/addresses/routes/neighbours/netconf, one per rule family, one `bridge fdb`) keep a
// full dump in the low milliseconds, which is what makes "re-dump on every change" fast enough.

import { execFile } from 'node:child_process';
import type { RoutingState } from './types';
import {
  addressesFromJson,
  applyNetconf,
  fdbFromJson,
  linkFromJson,
  neighbourFromJson,
  routeFromJson,
  ruleFromJson,
} from './iproute-json';

type J = Record<string, unknown>;

function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { maxBuffer: 512 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const hint = (err as NodeJS.ErrnoException).code === 'ENOENT' ? ` (is ${cmd} installed? apt-get install iproute2)` : '';
        reject(new Error(`${cmd} ${args.join(' ')} failed${hint}: ${stderr.trim() || err.message}`));
      } else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

function nsArgs(netns?: string): string[] {
  return netns ? ['-n', netns] : [];
}

function parseLines(out: string, expected: number, what: string): J[][] {
  const lines = out.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== expected) throw new Error(`unexpected ${what} output: ${lines.length} JSON documents, expected ${expected}`);
  return lines.map((l) => JSON.parse(l) as J[]);
}

/** One full dump of the namespace's routing state. */
export async function dumpState(netns?: string): Promise<RoutingState> {
  const batch = ['link show', 'addr show', 'route show table all', 'neigh show', 'netconf show'].join('\n') + '\n';
  const [main, rules4, rules6, fdb] = await Promise.all([
    run('ip', [...nsArgs(netns), '-j', '-d', '-b', '-'], batch),
    run('ip', [...nsArgs(netns), '-j', '-4', 'rule', 'show']),
    run('ip', [...nsArgs(netns), '-j', '-6', 'rule', 'show']),
    run('bridge', [...nsArgs(netns), '-j', 'fdb', 'show']).catch(() => '[]'),
  ]);
  const [links, addrs, routes, neigh, netconf] = parseLines(main, 5, 'ip -b');
  const linkList = links.map(linkFromJson);
  const all = applyNetconf(linkList, netconf);
  for (const l of linkList) l.rpFilter = Math.max(l.rpFilter ?? 0, all.allRpFilter ?? 0);
  const fdbList = (JSON.parse(fdb.trim() || '[]') as J[]).map(fdbFromJson);
  return {
    links: linkList,
    addresses: addressesFromJson(addrs),
    routes: routes.map((r) => routeFromJson(r)),
    rules: [
      ...(JSON.parse(rules4.trim() || '[]') as J[]).map((r) => ruleFromJson(r, 4)),
      ...(JSON.parse(rules6.trim() || '[]') as J[]).map((r) => ruleFromJson(r, 6)),
    ],
    neighbours: neigh.map(neighbourFromJson),
    fdb: fdbList,
    complete: { rules: true, neighbours: true, fdb: true, links: true },
    netns,
  };
}

export { run as runCommand };

// Independent packet counts for capture tests: nftables counters in a lab namespace, next to the tc hooks
// the tracer uses. Prerouting runs right after tc ingress and postrouting right before tc egress, so a
// counter there sees the packets the hook sees (with nothing dropped in between once the neighbour is
// resolved). The counters live in a table of their own, removed afterwards; they never drop or change a
// packet.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface CounterSpec {
  /** Counter name (nft object name: letters, digits, underscores). */
  name: string;
  hook: 'prerouting' | 'postrouting';
  /** The match, in nft syntax, e.g. 'iifname "cali123" ip daddr 10.0.0.1 udp dport 5399'. */
  match: string;
}

export interface NftCounters {
  /** Packets counted so far, per counter name. */
  read(): Record<string, number>;
  remove(): void;
}

function nft(netns: string, args: string[], input?: string): string {
  return execFileSync('ip', ['netns', 'exec', netns, 'nft', ...args], { input, encoding: 'utf8' });
}

/** Installs named counters in `netns` (a table of its own, first in prerouting, last in postrouting). */
export function installCounters(netns: string, counters: CounterSpec[]): NftCounters {
  const table = `calitrace_test_${randomBytes(3).toString('hex')}`;
  const lines = [`table inet ${table} {`];
  for (const c of counters) lines.push(`  counter ${c.name} { }`);
  lines.push('  chain pre { type filter hook prerouting priority -450; policy accept;');
  for (const c of counters.filter((x) => x.hook === 'prerouting')) lines.push(`    ${c.match} counter name ${c.name}`);
  lines.push('  }', '  chain post { type filter hook postrouting priority 450; policy accept;');
  for (const c of counters.filter((x) => x.hook === 'postrouting')) lines.push(`    ${c.match} counter name ${c.name}`);
  lines.push('  }', '}');
  nft(netns, ['-f', '-'], lines.join('\n') + '\n');
  return {
    read() {
      const out = JSON.parse(nft(netns, ['-j', 'list', 'counters', 'table', 'inet', table])) as { nftables: { counter?: { name: string; packets: number } }[] };
      const r: Record<string, number> = {};
      for (const o of out.nftables) if (o.counter) r[o.counter.name] = o.counter.packets;
      for (const c of counters) if (r[c.name] === undefined) throw new Error(`nft counter ${c.name} missing from table ${table}`);
      return r;
    },
    remove() {
      try {
        nft(netns, ['delete', 'table', 'inet', table]);
      } catch {
        /* the namespace is gone already */
      }
    },
  };
}

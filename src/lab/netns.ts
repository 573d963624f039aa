// Network namespace lifecycle. Only names under the lab's prefix are ever created or deleted here.
import { existsSync, readdirSync } from 'node:fs';
import { must, run } from './run';
import { updateState } from './state';

const NETNS_DIR = '/run/netns';

export function netnsExists(name: string): boolean {
  return existsSync(`${NETNS_DIR}/${name}`);
}

export function listNetns(): string[] {
  return existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR).sort() : [];
}

/**
 * Creates the namespace if it is missing and records it in the lab state first. Returns true when it
 * was created by this call (so a failing caller knows what to roll back).
 */
export async function ensureNetns(prefix: string, name: string): Promise<boolean> {
  if (netnsExists(name)) return false;
  updateState(prefix, (s) => {
    if (!s.namespaces.includes(name)) s.namespaces.push(name);
  });
  await must(['ip', 'netns', 'add', name]);
  // IPv4-only cluster: without IPv6 no router solicitations or MLD reports wander over the cali and VXLAN
  // interfaces, so every packet a test sees is one it sent (Calico's CNI does the same in IPv4-only pods).
  await must(['ip', 'netns', 'exec', name, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  await must(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
  return true;
}

/** Stops what still runs inside (traffic generators, servers) so the namespace really goes away, then deletes it. */
export async function deleteNetns(name: string): Promise<void> {
  if (!netnsExists(name)) return;
  const pids = await run(['ip', 'netns', 'pids', name]);
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const r = await run(['ip', 'netns', 'del', name]);
  if (r.code !== 0 && netnsExists(name)) {
    throw new Error(`lab: cannot delete namespace ${name}: ${r.stderr.trim()} (try: ip netns del ${name})`);
  }
}

// Removes what a lab made — the namespaces it recorded — and nothing else. Everything the lab builds lives
// inside those namespaces, so deleting them leaves the root namespace as it was.
import { calicoIfName, netNetnsName, nodeNetnsName, podNetnsName, validatePrefix } from './naming';
import { deleteNetns, netnsExists } from './netns';
import { PodRecord, readState, removeState, updateState } from './state';
import { NODE_IDS, BASE_PODS } from './topology';

export interface DownResult {
  removed: string[];
}

/** Pods first, then nodes, then the underlay: each veth pair goes away with the first of its two namespaces. */
function teardownOrder(prefix: string, names: string[]): string[] {
  const rank = (n: string) => (n === netNetnsName(prefix) ? 2 : NODE_IDS.some((id) => nodeNetnsName(prefix, id) === n) ? 1 : 0);
  return [...names].sort((a, b) => rank(a) - rank(b));
}

export async function teardownLab(prefix: string): Promise<DownResult> {
  validatePrefix(prefix);
  const state = readState(prefix);
  // Without a state file (someone removed /run/calitrace) fall back to the names the lab always uses.
  const recorded = state
    ? state.namespaces
    : [
        ...BASE_PODS.map((p) => podNetnsName(prefix, calicoIfName(p.namespace, p.name))),
        ...NODE_IDS.map((id) => nodeNetnsName(prefix, id)),
        netNetnsName(prefix),
      ];
  const removed: string[] = [];
  for (const ns of teardownOrder(prefix, recorded)) {
    if (!netnsExists(ns)) continue;
    await deleteNetns(ns);
    removed.push(ns);
  }
  removeState(prefix);
  return { removed };
}

export interface PodDelOptions {
  prefix: string;
  /** Either the pod IP, or namespace + name. */
  ip?: string;
  namespace?: string;
  name?: string;
}

/** Deleting the pod namespace destroys the veth pair; the kernel then flushes the /32 route and neighbour. */
export async function deletePod(opts: PodDelOptions): Promise<PodRecord> {
  validatePrefix(opts.prefix);
  const state = readState(opts.prefix);
  if (!state) throw new Error(`lab '${opts.prefix}' is not up; run: calitrace lab up --prefix ${opts.prefix}`);
  const pod = state.pods.find((p) =>
    opts.ip ? p.ip === opts.ip : p.namespace === opts.namespace && p.name === opts.name,
  );
  if (!pod) {
    const which = opts.ip ?? `${opts.namespace}/${opts.name}`;
    throw new Error(`no pod ${which} in lab '${opts.prefix}'; see: calitrace lab status --prefix ${opts.prefix}`);
  }
  await deleteNetns(pod.netns);
  updateState(opts.prefix, (s) => {
    s.pods = s.pods.filter((p) => p.netns !== pod.netns);
    s.namespaces = s.namespaces.filter((n) => n !== pod.netns);
  });
  return pod;
}

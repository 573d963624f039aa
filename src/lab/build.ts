// Builds the lab with "ensure" steps (replace, or create-if-missing), which is what makes `up` idempotent
// and lets a second `up` repair a lab that lost a route or a neighbour.
import { calicoIfName, cidrContains, netNetnsName, nodeNetnsName, podNetnsName, validatePrefix, vxlanMac } from './naming';
import { deleteNetns, ensureNetns, netnsExists } from './netns';
import { batchIn, ipIn, ipJson, sysctlIn } from './run';
import { PodRecord, readState, removeState, updateState } from './state';
import {
  BLACKHOLE_PROTO,
  CALI_MAC,
  GATEWAY_IP,
  NODE_IDS,
  NODES,
  NodeId,
  POD_GATEWAY,
  PodSpec,
  BASE_PODS,
  UNDERLAY_IF,
  UNDERLAY_MTU,
  VXLAN_MTU,
  UNDERLAY_PREFIX_LEN,
  VXLAN_IF,
  VXLAN_PORT,
  VXLAN_VNI,
  remoteVteps,
  resolveNodeId,
} from './topology';

const BRIDGE = 'br0';

async function linkNames(netns: string): Promise<Set<string>> {
  const links = await ipJson<{ ifname: string }>(netns, 'link', 'show');
  return new Set(links.map((l) => l.ifname));
}

async function buildUnderlay(prefix: string): Promise<void> {
  const net = netNetnsName(prefix);
  const netLinks = await linkNames(net);
  const cmds: string[][] = [];
  if (!netLinks.has(BRIDGE)) cmds.push(['link', 'add', BRIDGE, 'type', 'bridge']);
  cmds.push(['addr', 'replace', `${GATEWAY_IP}/${UNDERLAY_PREFIX_LEN}`, 'dev', BRIDGE], ['link', 'set', BRIDGE, 'up']);
  for (const id of NODE_IDS) {
    const node = nodeNetnsName(prefix, id);
    if (!(await linkNames(node)).has(UNDERLAY_IF)) {
      // A switch port left over from a half-built node would block the new pair's name.
      if (netLinks.has(id)) cmds.push(['link', 'del', id]);
      cmds.push(['link', 'add', id, 'mtu', String(UNDERLAY_MTU), 'type', 'veth', 'peer', 'name', UNDERLAY_IF, 'netns', node]);
    }
    cmds.push(['link', 'set', id, 'master', BRIDGE, 'up']);
  }
  await batchIn('ip', net, cmds);
}

async function buildNode(prefix: string, id: NodeId): Promise<void> {
  const spec = NODES[id];
  const ns = nodeNetnsName(prefix, id);
  await sysctlIn(ns, { 'net.ipv4.ip_forward': 1 });
  const cmds: string[][] = [
    ['link', 'set', UNDERLAY_IF, 'mtu', String(UNDERLAY_MTU), 'up'],
    ['addr', 'replace', `${spec.underlayIp}/${UNDERLAY_PREFIX_LEN}`, 'dev', UNDERLAY_IF],
    // Also what makes proxy ARP answer for 169.254.1.1: the node has a route to it that is not via the cali.
    ['route', 'replace', 'default', 'via', GATEWAY_IP, 'dev', UNDERLAY_IF, 'proto', 'static'],
  ];
  if (!(await linkNames(ns)).has(VXLAN_IF)) {
    cmds.push(['link', 'add', VXLAN_IF, 'mtu', String(VXLAN_MTU), 'address', vxlanMac(spec.name),
      'type', 'vxlan', 'id', String(VXLAN_VNI), 'local', spec.underlayIp, 'dev', UNDERLAY_IF,
      'dstport', String(VXLAN_PORT), 'nolearning']);
  }
  cmds.push(['addr', 'replace', `${spec.vtep}/32`, 'dev', VXLAN_IF], ['link', 'set', VXLAN_IF, 'up']);
  const fdb: string[][] = [];
  for (const remote of remoteVteps(id)) {
    cmds.push(
      ['neigh', 'replace', remote.vtep, 'lladdr', remote.mac, 'dev', VXLAN_IF, 'nud', 'permanent'],
      ['route', 'replace', remote.block, 'via', remote.vtep, 'dev', VXLAN_IF, 'onlink'],
    );
    fdb.push(['fdb', 'replace', remote.mac, 'dev', VXLAN_IF, 'dst', remote.underlayIp, 'self', 'permanent']);
  }
  cmds.push(['route', 'replace', 'blackhole', spec.block, 'proto', BLACKHOLE_PROTO]);
  await batchIn('ip', ns, cmds);
  await batchIn('bridge', ns, fdb);
}

function checkPodSpec(spec: PodSpec): void {
  const block = NODES[spec.node].block;
  if (!cidrContains(block, spec.ip)) {
    throw new Error(`pod IP ${spec.ip} is not in ${spec.node}'s IPAM block ${block}; pick an address inside it`);
  }
  if (spec.ip === NODES[spec.node].vtep) throw new Error(`${spec.ip} is ${spec.node}'s VTEP address; pick another pod IP`);
}

/** Wires one pod the way the Calico CNI plugin does; every step is an ensure so it can be re-run. */
async function buildPod(prefix: string, spec: PodSpec): Promise<PodRecord> {
  const ifname = calicoIfName(spec.namespace, spec.name);
  const node = nodeNetnsName(prefix, spec.node);
  const pod = podNetnsName(prefix, ifname);
  await ensureNetns(prefix, pod);
  if (!(await linkNames(node)).has(ifname)) {
    if ((await linkNames(pod)).has('eth0')) await ipIn(pod, 'link', 'del', 'eth0');
    await ipIn(node, 'link', 'add', ifname, 'mtu', String(VXLAN_MTU), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod);
  }
  await ipIn(node, 'link', 'set', ifname, 'address', CALI_MAC, 'mtu', String(VXLAN_MTU), 'up');
  await sysctlIn(node, {
    [`net.ipv4.conf.${ifname}.proxy_arp`]: 1,
    [`net.ipv4.neigh.${ifname}.proxy_delay`]: 0,
    [`net.ipv4.conf.${ifname}.route_localnet`]: 1,
    [`net.ipv4.conf.${ifname}.forwarding`]: 1,
  });
  await batchIn('ip', pod, [
    ['link', 'set', 'eth0', 'mtu', String(VXLAN_MTU), 'up'],
    ['addr', 'replace', `${spec.ip}/32`, 'dev', 'eth0'],
    ['route', 'replace', POD_GATEWAY, 'dev', 'eth0', 'scope', 'link'],
    ['route', 'replace', 'default', 'via', POD_GATEWAY, 'dev', 'eth0'],
  ]);
  const [eth0] = await ipJson<{ address: string }>(pod, 'link', 'show', 'dev', 'eth0');
  await batchIn('ip', node, [
    ['route', 'replace', `${spec.ip}/32`, 'dev', ifname, 'scope', 'link', 'proto', 'boot'],
    ['neigh', 'replace', spec.ip, 'lladdr', eth0.address, 'dev', ifname, 'nud', 'permanent'],
  ]);
  const record: PodRecord = { ...spec, ifname, netns: pod };
  updateState(prefix, (s) => {
    s.pods = s.pods.filter((p) => p.ip !== spec.ip && p.ifname !== ifname);
    s.pods.push(record);
  });
  return record;
}

/**
 * Runs `build`; if it throws, deletes every namespace the build created (and the state file if the lab
 * did not exist before), then rethrows. Namespaces that existed before are left alone.
 */
async function undoOnFailure<T>(prefix: string, build: (created: string[]) => Promise<T>): Promise<T> {
  const hadState = readState(prefix) !== undefined;
  const created: string[] = [];
  try {
    return await build(created);
  } catch (err) {
    for (const ns of created.reverse()) {
      await deleteNetns(ns).catch(() => undefined);
    }
    if (!hadState) removeState(prefix);
    else updateState(prefix, (s) => (s.namespaces = s.namespaces.filter((n) => !created.includes(n))));
    throw err;
  }
}

async function track(prefix: string, created: string[], ns: string): Promise<void> {
  if (await ensureNetns(prefix, ns)) created.push(ns);
}

export async function buildLab(prefix: string): Promise<void> {
  validatePrefix(prefix);
  await undoOnFailure(prefix, async (created) => {
    for (const id of NODE_IDS) await track(prefix, created, nodeNetnsName(prefix, id));
    await track(prefix, created, netNetnsName(prefix));
    await buildUnderlay(prefix);
    for (const id of NODE_IDS) await buildNode(prefix, id);
    for (const spec of BASE_PODS) {
      // A base pod's IP reused by a pod added at run time belongs to that pod now.
      const owner = readState(prefix)?.pods.find((p) => p.ip === spec.ip);
      if (owner && (owner.namespace !== spec.namespace || owner.name !== spec.name)) continue;
      await track(prefix, created, podNetnsName(prefix, calicoIfName(spec.namespace, spec.name)));
      await buildPod(prefix, spec);
    }
  });
}

export interface PodAddOptions {
  prefix: string;
  node: string;
  namespace: string;
  name: string;
  ip: string;
}

export async function addPod(opts: PodAddOptions): Promise<PodRecord> {
  validatePrefix(opts.prefix);
  const node = resolveNodeId(opts.node);
  if (!node) throw new Error(`unknown node '${opts.node}': use node1 (ems203-w2) or node2 (ems203-w1)`);
  if (!netnsExists(nodeNetnsName(opts.prefix, node))) {
    throw new Error(`lab '${opts.prefix}' is not up (no namespace ${nodeNetnsName(opts.prefix, node)}); run: calitrace lab up --prefix ${opts.prefix}`);
  }
  const spec: PodSpec = { node, namespace: opts.namespace, name: opts.name, ip: opts.ip };
  checkPodSpec(spec);
  const clash = readState(opts.prefix)?.pods.find(
    (p) => p.ip === spec.ip && (p.namespace !== spec.namespace || p.name !== spec.name),
  );
  if (clash) throw new Error(`${spec.ip} already belongs to pod ${clash.namespace}/${clash.name}; delete it first or pick another IP`);
  const same = readState(opts.prefix)?.pods.find((p) => p.namespace === spec.namespace && p.name === spec.name && p.ip !== spec.ip);
  if (same) throw new Error(`pod ${spec.namespace}/${spec.name} already exists with IP ${same.ip}; delete it first (calitrace lab pod del ${same.ip})`);
  return undoOnFailure(opts.prefix, async (created) => {
    await track(opts.prefix, created, podNetnsName(opts.prefix, calicoIfName(spec.namespace, spec.name)));
    return buildPod(opts.prefix, spec);
  });
}

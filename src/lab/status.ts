// Health of each node and pod, read back from the namespaces (not from what we believe we built).
import { netnsExists } from './netns';
import { ipJson } from './run';
import { LabInfo, labInfo } from './info';
import { readState } from './state';
import { BLACKHOLE_PROTO, GATEWAY_IP, POD_GATEWAY, UNDERLAY_IF, VXLAN_IF, remoteVteps } from './topology';
import { validatePrefix } from './naming';

interface IpLink { ifname: string; operstate: string; flags: string[]; address: string }
interface IpRoute { dst: string; type?: string; gateway?: string; dev?: string; protocol?: string; flags?: string[] }
interface IpNeigh { dst: string; dev: string; lladdr?: string; state?: string[] }

export interface NodeStatus {
  id: string;
  name: string;
  netns: string;
  underlayIp: string;
  block: string;
  vtep: string;
  healthy: boolean;
  problems: string[];
}

export interface PodStatus {
  node: string;
  namespace: string;
  name: string;
  ip: string;
  ifname: string;
  netns: string;
  healthy: boolean;
  problems: string[];
}

export interface LabStatus {
  prefix: string;
  /** True when the lab has state or any of its namespaces exist. */
  exists: boolean;
  healthy: boolean;
  nodes: NodeStatus[];
  pods: PodStatus[];
}

function isUp(link: { flags: string[]; operstate: string } | undefined): boolean {
  return !!link && link.flags.includes('UP') && link.operstate !== 'DOWN';
}

interface NodeView { links: IpLink[]; routes: IpRoute[]; neighs: IpNeigh[] }

async function readNode(netns: string): Promise<NodeView | undefined> {
  if (!netnsExists(netns)) return undefined;
  const [links, routes, neighs] = await Promise.all([
    ipJson<IpLink>(netns, 'link', 'show'),
    ipJson<IpRoute>(netns, 'route', 'show'),
    ipJson<IpNeigh>(netns, 'neigh', 'show'),
  ]);
  return { links, routes, neighs };
}

function checkNode(view: NodeView | undefined, info: LabInfo['nodes'][number]): string[] {
  if (!view) return [`namespace ${info.netns} missing`];
  const problems: string[] = [];
  const link = (n: string) => view.links.find((l) => l.ifname === n);
  if (!isUp(link(UNDERLAY_IF))) problems.push(`${UNDERLAY_IF} missing or down`);
  if (!isUp(link(VXLAN_IF))) problems.push(`${VXLAN_IF} missing or down`);
  if (!view.routes.some((r) => r.dst === 'default' && r.gateway === GATEWAY_IP)) problems.push('default route missing');
  if (!view.routes.some((r) => r.type === 'blackhole' && r.dst === info.block && r.protocol === BLACKHOLE_PROTO)) {
    problems.push(`blackhole ${info.block} missing`);
  }
  for (const remote of remoteVteps(info.id)) {
    if (!view.routes.some((r) => r.dst === remote.block && r.gateway === remote.vtep && r.dev === VXLAN_IF)) {
      problems.push(`route ${remote.block} via ${remote.vtep} missing`);
    }
    const n = view.neighs.find((x) => x.dst === remote.vtep && x.dev === VXLAN_IF);
    if (!n || n.lladdr !== remote.mac || !n.state?.includes('PERMANENT')) problems.push(`neighbour ${remote.vtep} missing`);
  }
  return problems;
}

interface IpAddr { ifname: string; flags: string[]; operstate: string; addr_info: { family: string; local: string; prefixlen: number }[] }

/** Inside the pod: eth0 up with IP/32, and the default route via Calico's link-local gateway. */
async function checkPodSide(netns: string, ip: string): Promise<string[]> {
  const [addrs, routes] = await Promise.all([ipJson<IpAddr>(netns, 'addr', 'show', 'dev', 'eth0').catch(() => []), ipJson<IpRoute>(netns, 'route', 'show')]);
  const problems: string[] = [];
  const eth0 = addrs[0];
  if (!eth0 || !isUp(eth0)) problems.push('pod eth0 missing or down');
  else if (!eth0.addr_info.some((a) => a.family === 'inet' && a.local === ip && a.prefixlen === 32)) problems.push(`pod eth0 lacks ${ip}/32`);
  if (!routes.some((r) => r.dst === 'default' && r.gateway === POD_GATEWAY && r.dev === 'eth0')) problems.push(`pod default route via ${POD_GATEWAY} missing`);
  return problems;
}

export async function readLabStatus(prefix: string): Promise<LabStatus> {
  validatePrefix(prefix);
  const info = labInfo(prefix);
  const views = new Map<string, NodeView | undefined>();
  for (const node of info.nodes) views.set(node.id, await readNode(node.netns));
  const nodes: NodeStatus[] = info.nodes.map((n) => {
    const problems = checkNode(views.get(n.id), n);
    return { id: n.id, name: n.name, netns: n.netns, underlayIp: n.underlayIp, block: n.block, vtep: n.vtep, healthy: problems.length === 0, problems };
  });
  const pods: PodStatus[] = [];
  for (const p of info.pods) {
    const problems: string[] = [];
    const view = views.get(p.node);
    if (!netnsExists(p.netns)) problems.push(`namespace ${p.netns} missing`);
    else problems.push(...(await checkPodSide(p.netns, p.ip)));
    if (!view) problems.push(`node ${p.node} missing`);
    else {
      if (!isUp(view.links.find((l) => l.ifname === p.ifname))) problems.push(`${p.ifname} missing or down`);
      if (!view.routes.some((r) => r.dst === p.ip && r.dev === p.ifname)) problems.push(`route ${p.ip} dev ${p.ifname} missing`);
      const n = view.neighs.find((x) => x.dst === p.ip && x.dev === p.ifname);
      if (!n?.state?.includes('PERMANENT')) problems.push(`permanent neighbour ${p.ip} missing`);
    }
    pods.push({ node: p.node, namespace: p.namespace, name: p.name, ip: p.ip, ifname: p.ifname, netns: p.netns, healthy: problems.length === 0, problems });
  }
  const exists = readState(prefix) !== undefined || [...views.values()].some((v) => v !== undefined);
  return {
    prefix,
    exists,
    healthy: exists && nodes.every((n) => n.healthy) && pods.every((p) => p.healthy),
    nodes,
    pods,
  };
}

/** Human-readable status, one line per node and per pod. */
export function formatLabStatus(s: LabStatus): string {
  if (!s.exists) return `lab '${s.prefix}' is down (run: calitrace lab up --prefix ${s.prefix})\n`;
  const mark = (ok: boolean) => (ok ? 'healthy' : 'UNHEALTHY');
  const lines = [`lab '${s.prefix}': ${mark(s.healthy)}`, '', 'NODES'];
  for (const n of s.nodes) {
    lines.push(`  ${n.id.padEnd(6)} ${n.name.padEnd(10)} ens3 ${n.underlayIp.padEnd(13)} block ${n.block.padEnd(18)} vtep ${n.vtep.padEnd(15)} netns ${n.netns.padEnd(20)} ${mark(n.healthy)}${n.problems.length ? ': ' + n.problems.join('; ') : ''}`);
  }
  lines.push('', 'PODS');
  for (const p of s.pods) {
    lines.push(`  ${p.node.padEnd(6)} ${`${p.namespace}/${p.name}`.padEnd(48)} ${p.ip.padEnd(15)} ${p.ifname}  ${mark(p.healthy)}${p.problems.length ? ': ' + p.problems.join('; ') : ''}`);
  }
  return lines.join('\n') + '\n';
}


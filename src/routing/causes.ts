// The cause behind a broken path, from what the node shows: links and their state, neighbour entries,
// the VXLAN FDB, the underlay's neighbours, the kernel FIB's answer, Calico's interface naming rule against
// the pod directory, and the route model's history. Each function answers with a sentence that names the
// evidence it used, so a reader can check it with the command it quotes. A packet's verdict (src/path) and
// `calitrace explain` both tell their story from these functions, so the same state reads the same.
import { calicoIfName } from '../lab/naming';
import type { WorkloadHistory } from './history';
import type { PodSide } from './peers';
import type { Link, Neighbour, Prediction, RoutingState } from './types';

/** The kernel FIB's answer at ingress (bpf_fib_lookup), as the tc hook reports it. */
export interface FibAnswer {
  resultName: string;
  iface?: string;
  nexthop?: string;
}

/** A pod as the directory knows it (the lab's state, or the Kubernetes API). */
export interface PodRef {
  namespace: string;
  name: string;
  /** Kubernetes node name, when known. */
  node?: string;
}

export type PodLookup = (ip: string) => PodRef | undefined;

/** Everything the node knows beyond the prediction, read when a packet is judged. */
export interface CauseEvidence {
  /** The route model's state now (neighbour states move on after the packet's ingress: now is the latest word). */
  state: RoutingState;
  pods?: PodLookup;
  /** This node's Kubernetes name, to tell a pod of another node. */
  nodeName?: string;
  /** Underlay IPs of the nodes the tool knows (the lab's, or Kubernetes nodes' InternalIPs); undefined: none known. */
  knownNodes?: ReadonlySet<string>;
  history?: WorkloadHistory;
  /** The pod end of a cali veth, read from the pod's namespace (undefined: not readable). */
  podSide?: (hostIf: string) => PodSide | undefined;
}

/** Neighbour states the kernel can send to without asking first. */
const USABLE = new Set(['PERMANENT', 'REACHABLE', 'STALE', 'DELAY', 'PROBE', 'NOARP']);

export function neighbourUsable(n: Neighbour | undefined): boolean {
  return !!n && !!n.lladdr && n.state.some((s) => USABLE.has(s));
}

function neighText(n: Neighbour): string {
  return `${n.dst} dev ${n.dev}${n.lladdr ? ` lladdr ${n.lladdr}` : ''} ${n.state.join(',') || 'NONE'}`;
}

function linkState(l: Link): string {
  if (!l.up) return 'administratively down';
  if (!l.carrier) return 'up but without carrier (its pod-side end is down)';
  return 'up';
}

/**
 * Why an address of this node's IPAM block has no /32 route, so that the block's blackhole catches it:
 * no pod has it, the pod's interface is missing, down, or up without the route (Felix's job).
 */
export function missingWorkloadCause(dst: string, ev: CauseEvidence): string {
  const { state } = ev;
  const pod = ev.pods?.(dst);
  const podName = pod ? `${pod.namespace}/${pod.name}` : undefined;
  if (pod?.node && ev.nodeName && pod.node !== ev.nodeName) {
    return `the pod directory puts ${dst} on pod ${podName} of node ${pod.node}, yet it is in this node's IPAM block: Calico's IPAM and the pod disagree (check \`calicoctl ipam check\`)`;
  }
  const byName = pod ? calicoIfName(pod.namespace, pod.name) : undefined;
  const neigh = state.neighbours.find((n) => n.dst === dst && n.dev.startsWith('cali'));
  const seen = ev.history?.lastRoute(dst);
  const ifname = byName ?? neigh?.dev ?? seen?.dev;
  const proofs: string[] = [];
  if (byName) proofs.push(`pod ${podName} has it in the pod directory and Calico names its interface ${byName} (cali + sha1("${pod!.namespace}.${pod!.name}")[:11])`);
  if (neigh) proofs.push(`the neighbour entry \`${neighText(neigh)}\` is there`);
  if (seen) proofs.push(`the route model saw \`${seen.text}\` until ${new Date(seen.lastSeenMs).toISOString().slice(11, 23)}`);
  const because = proofs.length ? ` (${proofs.join('; ')})` : '';
  if (!ifname) {
    const dir = ev.pods ? 'no pod in the pod directory' : 'no pod directory to ask';
    return `no pod has ${dst}: no cali interface has a neighbour entry for it, ${dir}, and the route model never saw a /32 for it — the IPAM-block blackhole drops it as designed (is the address right? \`calicoctl ipam show --ip=${dst}\`)`;
  }
  const link = state.links.find((l) => l.name === ifname);
  if (!link) {
    if (pod) {
      return `no pod interface for ${dst}: pod ${podName} exists but its interface ${ifname} is missing, so there is no /32 for it${because}: the CNI plugin failed to set it up or the pod is being torn down (check the pod's events and the CNI log /var/log/calico/cni/cni.log)`;
    }
    return `no pod has ${dst} now: its interface ${ifname} is gone and the kernel flushed its /32 with it${because}: the pod was deleted or its veth removed`;
  }
  if (!link.up || !link.carrier) {
    return `the pod's interface ${ifname} is ${linkState(link)}, and the kernel flushed its /32 with the link${because}: bring it up (\`ip link set ${ifname} up\`) or check the pod`;
  }
  return `the pod's interface ${ifname} is up but the /32 route \`${dst} dev ${ifname} scope link\` is missing${because}: Felix has not programmed it or removed it — check calico-node on this node (its log, \`calicoctl node status\`)`;
}

/** The interface a pod address belongs to by the evidence (naming rule, permanent neighbour entry, history). */
export function podInterface(dst: string, ev: CauseEvidence): { ifname: string; proof: string } | undefined {
  const pod = ev.pods?.(dst);
  if (pod && (!pod.node || !ev.nodeName || pod.node === ev.nodeName)) {
    const ifname = calicoIfName(pod.namespace, pod.name);
    if (ev.state.links.some((l) => l.name === ifname)) {
      return { ifname, proof: `it is pod ${pod.namespace}/${pod.name}'s address and Calico names that pod's interface ${ifname}` };
    }
  }
  const neigh = ev.state.neighbours.find((n) => n.dst === dst && n.dev.startsWith('cali') && n.state.includes('PERMANENT'));
  if (neigh) return { ifname: neigh.dev, proof: `its permanent neighbour entry is on ${neigh.dev} (\`${neighText(neigh)}\`)` };
  return undefined;
}

/** A local-workload /32 that points at another interface than the pod's own. */
export function wrongWorkloadInterface(pred: Prediction, ev: CauseEvidence): string | undefined {
  if (pred.calico !== 'local-workload' || !pred.dev) return undefined;
  const dst = pred.query.dst;
  const own = podInterface(dst, ev);
  if (!own || own.ifname === pred.dev) return undefined;
  return `the /32 \`${pred.route}\` points at ${pred.dev}, but ${dst} belongs to ${own.ifname} (${own.proof}): the packet goes to the wrong pod, which drops it or never answers — Felix should reprogram the route (check calico-node)`;
}

/** One link of the VXLAN chain: route → VTEP neighbour → FDB → underlay neighbour. */
export interface ChainLink {
  what: string;
  ok: boolean;
  text: string;
}

export interface VxlanChain {
  links: ChainLink[];
  /** The first broken link, as the cause. */
  broken?: ChainLink;
  /** The address the kernel must resolve before it can send (its neighbour is not usable yet). */
  resolving?: { addr: string; dev: string };
}

/** Checks the VXLAN chain of a prediction against the node's state now, with the FIB's answer at ingress. */
export function vxlanChain(
  pred: Prediction,
  ev: CauseEvidence,
  kernel?: FibAnswer,
  drop?: { reason: string; iface: string },
): VxlanChain | undefined {
  const o = pred.outer;
  if (!o) return undefined;
  const { state } = ev;
  const links: ChainLink[] = [];
  const out: VxlanChain = { links };
  const add = (what: string, ok: boolean, text: string): boolean => {
    const l = { what, ok, text };
    links.push(l);
    if (!ok && !out.broken) out.broken = l;
    return ok;
  };
  const dev = o.vxlanDev;
  const gw = pred.gateway ?? pred.query.dst;
  const fibNoNeigh = kernel?.resultName === 'no_neigh' ? ` — the kernel's FIB answered no_neigh for it at ingress` : '';
  const vn = state.neighbours.find((n) => n.dev === dev && n.dst === gw);
  if (!vn || !vn.lladdr) {
    add('vtep-neighbour', false, `no neighbour entry for the remote VTEP ${gw} on ${dev}${vn ? ` (\`${neighText(vn)}\`)` : ''}${fibNoNeigh}: Calico adds a permanent one per remote node and ${dev} cannot resolve it by ARP, so the packet waits for ARP and is dropped — Felix has not programmed this VTEP (check calico-node; \`ip neigh show dev ${dev}\`)`);
    out.resolving = { addr: gw, dev };
    return out;
  }
  if (!vn.state.includes('PERMANENT')) {
    add('vtep-neighbour', neighbourUsable(vn), `the VTEP neighbour \`${neighText(vn)}\` is not permanent as Calico programs it (check calico-node)`);
    if (!neighbourUsable(vn)) out.resolving = { addr: gw, dev };
  } else add('vtep-neighbour', true, `VTEP ${gw} → ${vn.lladdr} (permanent neighbour on ${dev})`);
  const mac = vn.lladdr.toLowerCase();
  const fdb = state.fdb.find((e) => e.dev === dev && e.mac.toLowerCase() === mac && e.dst);
  if (!fdb?.dst) {
    add('fdb', false, `no FDB entry for ${mac} on ${dev} (\`bridge fdb show dev ${dev}\`): with nolearning the kernel does not know which node to send it to and drops it — Felix has not programmed it (check calico-node)`);
    return out;
  }
  const known = ev.knownNodes;
  const isNode = known ? known.has(fdb.dst) : undefined;
  add('fdb', isNode !== false, isNode === false
    ? `the FDB entry ${mac} dst ${fdb.dst} on ${dev} points at an address that is not a node calitrace knows (nodes: ${[...known!].join(', ')}): a stale or wrong entry — check the node's VTEP in \`calicoctl get node -o yaml\``
    : `FDB ${mac} → dst ${fdb.dst}${isNode ? ' (a known node)' : ''}`);
  const udev = o.underlayDev;
  if (!udev) {
    add('underlay', false, `no underlay route to ${fdb.dst}: ${o.missing.join('; ') || 'the outer packet has nowhere to go'}`);
    return out;
  }
  const hop = o.underlayGateway ?? fdb.dst;
  const un = state.neighbours.find((n) => n.dev === udev && n.dst === hop);
  const what = o.underlayGateway ? `the underlay gateway ${hop}` : `${hop}`;
  // The model learns a failed resolution a few milliseconds after the kernel drops the queued packets (and
  // never hears of an INCOMPLETE entry): the drop reason at the underlay device is the fresher evidence.
  const neighDrop = drop && drop.iface === udev && drop.reason.startsWith('NEIGH') && !neighbourUsable(un);
  if (neighDrop) {
    add('underlay-neighbour', false, `the underlay neighbour ${what} on ${udev} is FAILED (the kernel dropped the packet there with ${drop!.reason}: ARP for it got no answer${isNode === false ? ', it is not a node' : ''}) — is ${hop} up and on ${udev}'s network? (\`ip neigh show ${hop} dev ${udev}\`)`);
  } else if (!un) {
    // Not broken yet: the first packet makes the kernel ask.
    add('underlay-neighbour', true, `no neighbour entry for ${what} on ${udev} yet (the kernel resolves it on first use)`);
    out.resolving = { addr: hop, dev: udev };
  } else if (un.state.includes('FAILED') || (un.state.includes('INCOMPLETE') && !un.lladdr)) {
    const st = un.state.includes('FAILED') ? 'FAILED' : 'INCOMPLETE';
    add('underlay-neighbour', false, `the underlay neighbour ${what} on ${udev} is ${st}: ARP for it gets no answer${isNode === false ? ' (it is not a node)' : ''} — is ${hop} up and on ${udev}'s network? (\`ip neigh show ${hop} dev ${udev}\`)`);
    out.resolving = { addr: hop, dev: udev };
  } else {
    add('underlay-neighbour', true, `underlay ${what} → ${un.lladdr ?? '?'} (${un.state.join(',')}) on ${udev}`);
  }
  return out;
}

export function chainText(c: VxlanChain): string {
  return c.links.map((l) => l.text).join('; ');
}

/** What the reverse-path filter of the ingress interface refused, as a sentence (undefined when not rp_filter). */
export function rpFilterCause(pred: Prediction, ev: CauseEvidence | undefined): string | undefined {
  const iif = pred.query.iif;
  if (!iif || pred.decision !== 'martian' || pred.errno !== 'EXDEV') return undefined;
  const link = ev?.state.links.find((l) => l.name === iif);
  const mode = link?.rpFilter === 1 ? 'strict (rp_filter=1)' : link?.rpFilter === 2 ? 'loose (rp_filter=2)' : 'on';
  return `the reverse-path filter, ${mode} on ${iif}, refused source ${pred.query.src}: the route back to it does not leave through ${iif} (a spoofed or asymmetric source) — compare \`ip route get ${pred.query.src}\` with ${iif}; Calico expects a pod to send only from its own address`;
}

/** The neighbour an unfinished packet waits for, as 'ARP for X on DEV' (undefined: it is not waiting on one). */
export function pendingResolution(
  pred: Prediction | undefined,
  kernel: FibAnswer | undefined,
  ev: CauseEvidence,
): string | undefined {
  if (!pred || pred.decision !== 'unicast') return undefined;
  if (kernel?.resultName === 'no_neigh') {
    return `ARP for ${kernel.nexthop ?? pred.gateway ?? pred.query.dst} on ${kernel.iface ?? pred.dev ?? '?'}`;
  }
  if (pred.outer) {
    const c = vxlanChain(pred, ev, kernel);
    return c?.resolving ? `ARP for ${c.resolving.addr} on ${c.resolving.dev}` : undefined;
  }
  if (!pred.dev) return undefined;
  const hop = pred.gateway ?? pred.query.dst;
  const n = ev.state.neighbours.find((x) => x.dev === pred.dev && x.dst === hop);
  return neighbourUsable(n) ? undefined : `ARP for ${hop} on ${pred.dev}`;
}

/**
 * What is wrong on the pod's side of its veth, where no hook sees: a pod eth0 MTU above its cali's (larger
 * packets die in the pod's namespace before any hook), a neighbour entry whose MAC is not the pod's (the pod
 * discards the frames as not its own). Only for pods whose namespace can be read.
 */
export function podSideFindings(pred: Prediction, ingressIface: string | undefined, ev: CauseEvidence): string[] {
  const out: string[] = [];
  if (!ev.podSide) return out;
  if (ingressIface?.startsWith('cali')) {
    const ps = ev.podSide(ingressIface);
    const host = ev.state.links.find((l) => l.name === ingressIface);
    if (ps && host && ps.mtu > host.mtu) {
      out.push(
        `the pod's ${ps.name} (namespace ${ps.netns}) has MTU ${ps.mtu}, more than ${ingressIface}'s ${host.mtu}: its packets above ${host.mtu} bytes are dropped inside the pod's namespace ` +
          `before any hook, so calitrace never sees them — give the pod the MTU Calico computes (veth_mtu, here ${host.mtu})`,
      );
    }
  }
  if (pred.calico === 'local-workload' && pred.dev) {
    const ps = ev.podSide(pred.dev);
    const n = ev.state.neighbours.find((x) => x.dev === pred.dev && x.dst === pred.query.dst);
    if (ps?.mac && n?.lladdr && n.lladdr.toLowerCase() !== ps.mac) {
      out.push(
        `the neighbour entry \`${neighText(n)}\` does not match the pod's ${ps.name} MAC ${ps.mac} (read in namespace ${ps.netns}): the pod discards these frames as addressed to another host, ` +
          `inside its namespace where calitrace cannot see — a stale entry; Calico programs it from the pod's MAC (\`ip neigh replace ${pred.query.dst} dev ${pred.dev} lladdr ${ps.mac} nud permanent\`, check calico-node)`,
      );
    }
  }
  return out;
}

/**
 * The faults the node's state shows for a prediction, for `calitrace explain`: the same sentences a packet's
 * verdict gives, from the same state (without the packet's own evidence: the drop reason, the FIB's answer).
 */
export function explainCauses(pred: Prediction, ev: CauseEvidence, intent: string[]): string[] {
  const lines: string[] = [];
  const c = ev.state.complete;
  // A pasted `ip route` has no links, neighbours or FDB: their absence there is no evidence of a fault.
  if (!c.links || !c.neighbours || !c.fdb) return intent.map((f) => `Against Calico's intent: ${f}`);
  if (pred.decision === 'blackhole' && pred.calico === 'ipam-block-blackhole') lines.push(`Cause: ${missingWorkloadCause(pred.query.dst, ev)}`);
  const rpf = rpFilterCause(pred, ev);
  if (rpf) lines.push(`Cause: ${rpf}`);
  const wrong = wrongWorkloadInterface(pred, ev);
  if (wrong) lines.push(`Cause: ${wrong}`);
  const chain = pred.decision === 'unicast' ? vxlanChain(pred, ev) : undefined;
  if (chain) {
    if (chain.broken) lines.push(`Cause: ${chain.broken.text}`);
    lines.push('VXLAN chain:');
    for (const l of chain.links) {
      lines.push(l === chain.broken ? `  BROKEN ${l.what} (the cause above)` : `  ${l.ok ? 'ok    ' : 'BROKEN'} ${l.what}: ${l.text}`);
    }
  } else if (pred.decision === 'unicast') {
    const waits = pendingResolution(pred, undefined, ev);
    if (waits) lines.push(`The next hop is not resolved: the kernel will queue the packet while it does ${waits} (dropped with NEIGH_FAILED after ~3 s if nobody answers)`);
  }
  for (const f of intent) lines.push(`Against Calico's intent: ${f}`);
  return lines;
}

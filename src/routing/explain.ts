// Turns a prediction into the story a person would tell standing at the node with `ip route` in hand
// (docs/explain.md tells it once in prose): where the packet enters, which routes contain the destination,
// which one wins and why, what the VXLAN routes and the IPAM-block blackhole are (not) doing, who programs
// each route, the hop diagram, what is absent, and the MTU budget of an encapsulated packet. The answer
// opens with the ingress, the outcome, the winning route and the caveats; the story follows.

import type { Candidate, Prediction, Query, RouteModel, RoutingState, Step } from './types';
import { compile } from './fib';
import { calicoRole, isVxlanDev, programmedBy, ROLE_TEXT } from './calico';
import { frameIngress } from './ingress';
import { predict } from './predict';
import { parsePrefix, parseAddr, prefixContains } from './addr';
import { tableName } from './iproute-json';
import { explainCauses } from './causes';
import { intentFindings } from './intent';

function stateOf(m: RouteModel | RoutingState): RoutingState {
  return 'load' in m && typeof (m as RouteModel).load === 'function' ? (m as RouteModel).state : (m as RoutingState);
}

function contains(prefix: string, addr: string): boolean {
  const p = parsePrefix(prefix);
  const a = parseAddr(addr);
  return !!p && !!a && prefixContains(p, a);
}

function isDefaultRules(s: RoutingState, family: 4 | 6): boolean {
  const texts = s.rules.filter((r) => r.family === family).map((r) => r.text);
  const want = family === 4 ? ['0: from all lookup local', '32766: from all lookup main', '32767: from all lookup default'] : ['0: from all lookup local', '32766: from all lookup main'];
  return texts.join('\n') === want.join('\n');
}

/**
 * The whole answer for a question as asked: the ingress settled (a pod's own cali interface when SRC is a
 * pod of the routes, see ingress.ts), the prediction, and its story. Throws QueryError for unusable input.
 */
export function explainQuery(model: RouteModel | RoutingState, q: Query): Prediction {
  const state = stateOf(model);
  const { query, ingress } = frameIngress(state, q);
  const p = predict(state, query);
  p.ingress = ingress;
  explain(p, state);
  return p;
}

/** Whether the node refuses the packet (dropped or rejected) rather than delivering or forwarding it. */
export function isRefused(p: Pick<Prediction, 'decision'>): boolean {
  return !['unicast', 'local', 'broadcast', 'multicast'].includes(p.decision);
}

/** The devices of the source side: a cali interface means the packet comes from a pod of this node. */
function sourceSide(p: Prediction): { label: string; lines: string[] } {
  const q = p.query;
  const src = q.src ?? '(source chosen by the node)';
  if (p.ingress?.kind === 'elsewhere') {
    return { label: `${src} (not an address of this node)`, lines: [`The node is asked to send from ${src}, which is not one of its addresses.`] };
  }
  if (q.iif && q.iif.startsWith('cali')) {
    return {
      label: `Pod A (${src})`,
      lines: [`Pod A (${src}) sends a packet to DST = ${q.dst}.`, `It leaves the pod through its veth (eth0) and enters the host namespace on ${q.iif}.`],
    };
  }
  if (q.iif && isVxlanDev(q.iif)) {
    return { label: `remote pod (${src})`, lines: [`A packet from ${src} arrives decapsulated on ${q.iif} (from another node).`] };
  }
  if (q.iif) return { label: `${src}`, lines: [`A packet from ${src} to ${q.dst} arrives on ${q.iif} (the input path: it is forwarded).`] };
  return { label: `this node (${src})`, lines: [`The node itself sends a packet to ${q.dst} (the output path).`] };
}

function candidateLine(c: Candidate): string {
  const mark = c.verdict === 'selected' ? '=>' : '  ';
  return `${mark} ${c.route}   [/${c.prefixLen}${c.table !== 254 ? `, table ${tableName(c.table)}` : ''}; ${ROLE_TEXT[c.calico].split(' (')[0]}] ${c.verdict === 'selected' ? 'WINS' : `— ${c.reason}`}`;
}

/** "(programmed by …)" for the route of a candidate line, found in the state by its text. */
function programmerOf(state: RoutingState, links: ReturnType<typeof compile>['links'], table: number, text: string): string | undefined {
  const r = state.routes.find((x) => x.table === table && x.text === text);
  return r ? programmedBy(r, links) : undefined;
}

export function explain(p: Prediction, model: RouteModel | RoutingState): Step[] {
  const state = stateOf(model);
  const fib = compile(state);
  const steps: Step[] = [];
  const q = p.query;
  const dst = q.dst;
  const m = p.matched;
  const role = p.calico;
  const table = p.table ?? 254;
  const src = sourceSide(p);

  const withProgrammer = (c: Candidate): string[] => {
    const by = programmerOf(state, fib.links, c.table, c.route);
    return [candidateLine(c), ...(by ? [`      programmed by ${by}`] : [])];
  };
  steps.push({ title: 'Packet enters', lines: [...(p.ingress ? [p.ingress.line] : []), ...src.lines] });

  // A multicast group arriving on an interface: membership decides, not the routing tables.
  if (q.iif && (p.decision === 'multicast_not_joined' || p.decision === 'multicast')) {
    const joined = p.decision === 'multicast';
    // From a paste the groups are unknown: the answer assumed, and says so.
    const assumed = !state.memberships;
    steps[0].lines = [`A packet from ${q.src ?? '?'} to the group ${dst} arrives on ${q.iif}.`];
    steps.push({
      title: 'Multicast: membership decides, not the routing tables',
      lines: [
        `${dst} is a multicast group address (${p.family === 4 ? '224.0.0.0/4' : 'ff00::/8'}). For a packet arriving on ${q.iif} the kernel does not`,
        `choose a route: it accepts the packet only if ${q.iif} has joined the group (\`ip maddr show dev ${q.iif}\`)${p.family === 4 ? ', and with multicast routing only for groups a multicast router forwards' : ''}.`,
        joined
          ? `** ${q.iif} has joined ${dst}: the packet is delivered to the sockets on this node that joined it (\`ip route get\` shows dev lo).`
          : `** ${q.iif} has ${assumed ? 'not been seen to join (groups are not known here, assumed not)' : 'NOT joined'} ${dst}: the kernel discards the packet${p.errno ? ` (\`ip route get … iif ${q.iif}\` answers ${p.errno})` : ''}.`,
        ...(joined
          ? []
          : [
              'This is normal for group traffic nobody on the node asked for: IGMP reports to 224.0.0.22, mDNS (224.0.0.251, ff02::fb),',
              'SSDP (239.255.255.250) and MLD reports (ff02::16) from neighbours reach every node on the segment and are dropped here.',
            ]),
      ],
    });
    return finish(p, steps, src.label);
  }

  // Rules: only worth a step when they are not the defaults.
  const fam = p.family;
  if (state.complete.rules && !isDefaultRules(state, fam)) {
    steps.push({
      title: 'Policy routing rules (ip rule), by priority',
      lines: p.rulesWalked.map((r) => `${r.matched ? '*' : ' '} ${r.rule}  →  ${r.outcome}`),
    });
  } else {
    steps.push({
      title: 'Which table',
      lines: [
        state.complete.rules
          ? `Only the default rules exist (local, main${fam === 4 ? ', default' : ''}): the local table is consulted first (addresses of this node), then main.`
          : 'From a paste there are no rules: as with the default rules, the local table would come first, then main (the paste is main).',
        p.decision === 'local' ? `${dst} is an address of this node: the local table answers.` : `${dst} is not an address of this node, so the main table decides.`,
      ],
    });
  }

  // The lookup: every route containing DST, longest prefix first.
  const inTable = p.candidates.filter((c) => c.table === table);
  const lookupLines = [
    `The kernel picks the longest matching prefix (then the lowest metric); the order of lines in \`ip route\` does not matter.`,
    `Routes in table ${tableName(table)} that contain ${dst}:`,
    ...(inTable.length ? inTable.flatMap((c) => withProgrammer(c)) : ['   (none)']),
  ];
  const elsewhere = p.candidates.filter((c) => c.table !== table);
  if (elsewhere.length) lookupLines.push('In other tables:', ...elsewhere.flatMap((c) => withProgrammer(c)));
  if (m) {
    const host = m.family === 4 ? 32 : 128;
    const why = m.prefixLen === host ? `Exact /${host} route wins` : `/${m.prefixLen} is the most specific route that contains ${dst}`;
    lookupLines.push(`** ${why}: ${m.text}${role ? ` — ${ROLE_TEXT[role]}` : ''}`);
  } else if (notReached(p)) {
    lookupLines.push(`** The kernel refuses the packet before any route can decide: ${p.decision}${p.errno ? ` (${p.errno})` : ''} — ${p.ingress?.kind === 'elsewhere' ? `${q.src} is not an address of this node` : 'see the ingress above'}.`);
  } else lookupLines.push(`** No route decides: ${p.decision}${p.errno ? ` (the kernel answers ${p.errno})` : ''}${p.rule ? ` — rule ${p.rule}` : ''}`);
  steps.push({ title: `Linux routing lookup (table ${tableName(table)})`, lines: lookupLines });

  // VXLAN routes: do they apply?
  const vxlanRoutes = state.routes.filter((r) => r.family === fam && r.table === table && calicoRole(r, fib.links) === 'vxlan-tunnel');
  const usesVxlan = !!p.outer;
  const vxLines: string[] = [];
  if (vxlanRoutes.length === 0) vxLines.push(`There is no VXLAN tunnel route in table ${tableName(table)}${state.complete.rules ? '' : ' (as pasted)'}.`);
  for (const r of vxlanRoutes) {
    const has = contains(r.dst, dst);
    vxLines.push(`${r.text} — ${has ? `contains ${dst}` : `does not contain ${dst} (it is another node's block)`}`);
  }
  if (notReached(p)) {
    vxLines.push('** VXLAN is NOT used: the packet never reaches the route lookup.');
  } else if (usesVxlan) {
    vxLines.push(`** The VXLAN route is used: ${dst} lives in another node's block; the packet is encapsulated on ${p.outer!.vxlanDev}.`);
  } else if (m && vxlanRoutes.some((r) => contains(r.dst, dst))) {
    const r = vxlanRoutes.find((x) => contains(x.dst, dst))!;
    vxLines.push(`** VXLAN is NOT used: /${m.prefixLen} is more specific than /${r.prefixLen} — the most specific route always wins.`);
  } else {
    vxLines.push(`** VXLAN is NOT used: no VXLAN route contains ${dst}${m && m.prefixLen > (fam === 4 ? 26 : 122) ? `, and even if one did, the /${m.prefixLen} is more specific than a /26 block` : ''}.`);
  }
  steps.push({ title: usesVxlan ? 'Why VXLAN is used' : 'Why VXLAN is NOT used', lines: vxLines });

  // The IPAM-block blackhole.
  const blackholes = state.routes.filter((r) => r.family === fam && r.table === table && calicoRole(r, fib.links) === 'ipam-block-blackhole');
  if (blackholes.length) {
    const bl: string[] = [];
    for (const b of blackholes) {
      bl.push(`${b.text} — ${contains(b.dst, dst) ? `contains ${dst}` : `does not contain ${dst}`}`);
    }
    bl.push(
      `Programmed by ${programmedBy(blackholes[0], fib.links)}: Calico installs a blackhole for each IPAM block this node owns. Every pod of the block gets its own /32 to its cali interface;`,
      'an address of the block WITHOUT a pod matches only the blackhole and is dropped here — instead of leaking to the default route or back into VXLAN (no routing loops, no silent detours).',
    );
    const holding = blackholes.find((b) => contains(b.dst, dst));
    if (p.decision === 'blackhole' && role === 'ipam-block-blackhole') {
      bl.push(`** The blackhole IS used: no pod has ${dst} on this node (no /32 route), so the packet is dropped (ip route get: ${p.errno}).`);
    } else if (holding && m) {
      bl.push(`** The blackhole is NOT used: ${dst} is in this node's block ${holding.dst}, but the /${m.prefixLen} route is more specific, so the blackhole is ignored.`);
    } else if (holding) {
      bl.push(`** The blackhole is NOT reached: ${dst} is in this node's block ${holding.dst}, but the kernel refuses the packet before the route lookup (${p.decision}).`);
    } else bl.push(`** The blackhole is NOT used: ${dst} is not in this node's block${blackholes.length === 1 ? ` (${blackholes[0].dst})` : 's'}.`);
    steps.push({ title: 'Blackhole route (why it exists)', lines: bl });
  }

  // Egress.
  const out: string[] = [];
  switch (p.decision) {
    case 'unicast':
      if (p.outer) {
        const o = p.outer;
        out.push(
          `Next hop ${p.gateway ?? 'unknown'} on ${o.vxlanDev}${p.matched?.nexthops[0]?.onlink ? ' (onlink: no subnet needed for the gateway)' : ''}.`,
          o.innerDstMac ? `Neighbour: ${p.gateway} is ${o.innerDstMac} on ${o.vxlanDev} (inner destination MAC).` : `Neighbour: unknown.`,
          o.dst ? `FDB: ${o.innerDstMac} → remote VTEP ${o.dst} (the other node's underlay IP).` : 'FDB: unknown.',
          o.underlayRoute ? `Underlay route to ${o.dst}: ${o.underlayRoute}.` : `Underlay route: unknown.`,
          `Outer header: ${o.src ?? 'unknown'} → ${o.dst ?? 'unknown'} UDP dstport ${o.dstPort ?? 'unknown'}, VNI ${o.vni ?? 'unknown'}; it leaves through ${o.underlayDev ?? 'an unknown device'}${o.underlayGateway ? ` via ${o.underlayGateway}` : ''}.`,
          ...o.missing.map((x) => `missing: ${x}`),
        );
      } else if (p.nexthops.length > 1) {
        out.push(`Multipath: the kernel hashes the flow onto one of ${p.nexthops.map((n) => `${n.gateway ?? 'direct'} dev ${n.dev}`).join(', ')}.`);
      } else {
        out.push(`Packet exits via ${p.dev}${p.gateway ? ` to gateway ${p.gateway}` : ''}.`);
        if (role === 'local-workload') out.push(`${p.dev} is the host end of Pod B's veth: the packet enters Pod B (${dst}) and the app receives it.`);
      }
      break;
    case 'local':
      out.push(`${dst} is an address of this node: delivered to the host's own stack (dev lo), not forwarded.`);
      break;
    case 'broadcast':
      out.push(q.iif || !p.dev ? `${dst} is a broadcast address here: delivered locally as broadcast.` : `${dst} is a broadcast address: sent out of ${p.dev} to every host on the segment.`);
      break;
    case 'multicast':
      out.push(`${dst} is a multicast group: sent out of ${p.dev ?? '?'} to the group's MAC address, no gateway (the route only chose the device).`);
      break;
    default:
      out.push(`The packet is not forwarded: ${p.decision}${p.errno ? ` (ip route get answers ${p.errno})` : ''}.`);
      if (p.decision === 'blackhole') out.push('It is dropped silently (no ICMP): the kernel counts it as a drop with reason NOT_SPECIFIED on the forward path.');
      if (p.decision === 'unreachable') out.push('The sender gets ICMP host unreachable.');
      if (p.decision === 'prohibit') out.push('The sender gets ICMP administratively prohibited.');
  }
  steps.push({ title: p.decision === 'unicast' ? (p.outer ? 'Encapsulation and egress' : 'Packet delivered') : 'Outcome', lines: out });

  // What is absent.
  if (p.decision === 'unicast') {
    const absent: string[] = [];
    // The uplink: what the host's default route uses, or what looks like a NIC (no link kind, NIC-style name).
    const uplinks = new Set(state.routes.filter((r) => r.family === fam && r.prefixLen === 0 && r.table === 254).flatMap((r) => r.nexthops.map((n) => n.dev)));
    const phys = p.egressPath.some(
      (d) => uplinks.has(d) || /^(ens|eth|eno|enp|bond)/.test(d) || (state.complete.links && fib.links.get(d)?.kind === undefined && !d.startsWith('cali') && !isVxlanDev(d, fib.links)),
    );
    absent.push('No NAT: routing never rewrites addresses (netfilter NAT is outside this model; the live trace shows what really happened).');
    if (!p.outer) absent.push('No VXLAN: the egress device is not a VXLAN device.');
    if (!phys) absent.push('No physical NIC: the packet never leaves this node through the uplink.');
    if (role === 'local-workload') absent.push('No kube-proxy: pod-to-pod traffic to a pod IP is plain routing.');
    steps.push({ title: 'What is absent', lines: absent });
  }
  // The faults calitrace names in a packet's verdict, from the same state (src/routing/causes.ts).
  const faults = explainCauses(p, { state }, intentFindings(p, state));
  if (faults.length) steps.push({ title: 'Faults in the node\'s state', lines: faults });

  return finish(p, steps, src.label);
}

/** Every story ends with the hop diagram; stored in p.steps. Warnings and unknowns open the answer instead. */
function finish(p: Prediction, steps: Step[], from: string): Step[] {
  steps.push({ title: 'Visual datapath', lines: diagram(p, from) });
  p.steps = steps;
  return steps;
}

/** Refused before the route lookup: a martian source, forwarding off. */
function notReached(p: Prediction): boolean {
  return !p.matched && (p.decision === 'martian' || p.decision === 'forwarding_disabled');
}

function diagram(p: Prediction, from: string): string[] {
  const q = p.query;
  const lines: string[] = [from];
  const hop = (label: string): void => {
    lines.push('  |', `  | ${label}`, '  |');
  };
  if (q.iif) {
    if (q.iif.startsWith('cali')) hop('veth');
    lines.push(q.iif);
  }
  const m = p.matched;
  const routeLabel = m
    ? `Linux routing (/${m.prefixLen} match: ${m.text})`
    : p.decision.startsWith('multicast') && q.iif
      ? `multicast group check (${p.decision === 'multicast' ? 'joined' : 'not joined'})`
      : `Linux routing (${p.decision})`;
  hop(routeLabel);
  switch (p.decision) {
    case 'unicast':
      if (p.outer) {
        const o = p.outer;
        lines.push(`${o.vxlanDev}  (VXLAN VNI ${o.vni ?? 'unknown'}, outer ${o.src ?? 'unknown'} → ${o.dst ?? 'unknown'}, UDP ${o.dstPort ?? 'unknown'})`);
        hop('encapsulated');
        lines.push(`${o.underlayDev ?? 'unknown device'}  (uplink)`);
        hop('underlay');
        lines.push(`remote node ${o.dst ?? '(unknown: no FDB entry)'}`);
        hop('decapsulated on its vxlan.calico, routed by its /32');
        lines.push('cali… (remote host side)');
        hop('veth');
        lines.push(`Pod (${q.dst})`);
      } else {
        lines.push(p.nexthops.map((n) => n.dev).join(' | ') || '?');
        if (p.calico === 'local-workload') {
          hop('veth');
          lines.push(`Pod B (${q.dst})`);
        } else {
          hop(p.gateway ? `to gateway ${p.gateway}` : 'directly connected');
          lines.push(`${q.dst}`);
        }
      }
      break;
    case 'local':
      lines.push('this node (local delivery)');
      break;
    case 'multicast':
    case 'broadcast':
      lines.push(q.iif ? `this node (${p.decision} delivery to the sockets that listen)` : `${p.dev ?? '?'}  (sent to every listener on the segment)`);
      break;
    default:
      lines.push(`DROPPED here (${p.decision}${p.errno ? `, ${p.errno}` : ''})`);
  }
  return lines;
}

/** The outcome in a few words, for the headline. */
function outcome(p: Prediction): string {
  const dst = p.query.dst;
  switch (p.decision) {
    case 'unicast':
      if (p.calico === 'local-workload') return `delivered to the pod ${dst} on ${p.dev} (local workload)`;
      if (p.outer) return `forwarded into the VXLAN tunnel on ${p.outer.vxlanDev} to node ${p.outer.dst ?? '(unknown)'}${p.outer.underlayDev ? ` through ${p.outer.underlayDev}` : ''}`;
      if (p.nexthops.length > 1) return `forwarded, multipath over ${p.nexthops.map((n) => n.dev).join(' | ')}`;
      return `forwarded via ${p.dev}${p.gateway ? ` to gateway ${p.gateway}` : ''}`;
    case 'local':
      return 'delivered to this node itself (local address)';
    case 'broadcast':
    case 'multicast':
      return `${p.decision}${p.dev ? ` on ${p.dev}` : ''}`;
    case 'blackhole':
      return `REFUSED — dropped by a blackhole route${p.calico === 'ipam-block-blackhole' ? ` (the IPAM-block blackhole: no pod has ${dst} here)` : ''}`;
    default:
      return `REFUSED — ${p.decision}`;
  }
}

export interface RenderOptions {
  /** Only the headline, the winning route and the caveats. */
  short?: boolean;
}

/**
 * Plain-text rendering for the terminal: the ingress, the outcome, the winning route (and who programs
 * it) and the caveats first; then, unless short, the story step by step. Works on a prediction from this
 * process or one rebuilt from the API's ExplainResponse (the ingress is then the first line of step 1).
 */
export function renderExplanation(p: Prediction, opts: RenderOptions = {}): string {
  const out: string[] = [];
  const q = p.query;
  const ingress = p.ingress?.line ?? (p.steps?.[0]?.lines[0]?.startsWith('Ingress:') ? p.steps[0].lines[0] : undefined);
  if (ingress) out.push(ingress);
  out.push(`Answer: ${q.src ?? '(node)'} → ${q.dst}: ${outcome(p)}${p.errno ? ` [${p.errno}]` : ''}`);
  if (p.route) {
    const m = p.matched;
    const by = m ? ` — programmed by ${programmedBy(m)}` : '';
    out.push(`Route:  ${p.route}${p.calico ? ` — ${ROLE_TEXT[p.calico]}` : ''}${by}`);
  } else out.push(`Route:  none decides (${p.decision}${p.rule ? `, rule ${p.rule}` : ''})`);
  const caveats = [...(p.warnings ?? []).map((w) => `! ${w}`), ...(p.unknowns ?? []).map((u) => `? ${u}`)];
  if (caveats.length) {
    out.push(p.unknowns?.length ? 'Caveats (! warning, ? cannot be known from a paste):' : 'Caveats:');
    for (const c of caveats) out.push(`  ${c}`);
  }
  out.push('');
  if (opts.short) return out.join('\n');
  (p.steps ?? []).forEach((s, i) => {
    out.push(`${i + 1}. ${s.title}`);
    for (const l of s.lines) out.push(`   ${l}`);
    out.push('');
  });
  return out.join('\n');
}

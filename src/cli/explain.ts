// `calitrace explain`: the kernel's route decision for one packet (or many, --batch), predicted from the
// live routing state of this node (or a namespace, or a pasted `ip route`), told step by step.
import { protocolByName } from '../vocabulary';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { Command, UsageError, parseCommandArgs } from './command';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connectionFrom } from './connection-options';
import { createRouteModel } from '../routing/model';
import { predict, QueryError } from '../routing/predict';
import { explainQuery, isRefused, renderExplanation } from '../routing/explain';
import { parsePastedRoutes, parseRouteLine } from '../routing/paste';
import { frameIngress } from '../routing/ingress';
import { netnsOption } from './netns-option';
import type { CalicoRole, Decision, KernelErrno, Prediction, Query, RoutingState } from '../routing/types';
import { CalitraceClient, toPlain } from '../api/client';
import { calitrace } from '../api/proto';

const HELP = `calitrace explain — which way a packet goes through this node, and why (no BPF needed)

Usage: calitrace explain SRC DST [--iif IF] [--mark M] [--tos T] [--proto P --sport N --dport N]
                         [--short | --json] [--netns NS | --routes FILE | --server ADDR [--node N]]
       calitrace explain --batch [--netns NS | --routes FILE]  < queries

Predicts the kernel's decision with its own semantics (ip rules by priority, longest prefix, tos,
metric, route types, multipath, source validation on the input path) from the live routing state
(links, addresses, every table, rules, neighbours, VXLAN FDB) and explains it the way a Calico engineer
reads 'ip route' (docs/explain.md): where the packet enters, which routes contain DST, which one wins
and why, why the VXLAN route and the IPAM-block blackhole do (not) apply, who programs each route, the
hop diagram, what is absent, and an MTU warning for VXLAN.

The answer opens with four things: the ingress, the outcome, the winning route (and the component that
programs it) and the caveats; the step-by-step story follows (--short stops before it).

Where the packet enters: with --iif, there. Without it, when SRC is a pod of this node (its own
'SRC dev caliX' route) the packet enters on caliX, and the first line says so; when SRC is an address
of the node, the node itself sends it (the output path, as 'ip route get DST from SRC'); otherwise the
first line says SRC is not an address of the node and offers the --iif to try.

Options:
  --iif IF       the interface the packet arrives on (the input path: a forwarded packet, e.g. a pod's
                 cali interface); checked against the node's (or the paste's) interfaces.
  --mark M       firewall mark (decimal or 0x hex), for 'ip rule ... fwmark'
  --tos T        TOS byte (0x10 …)
  --proto P      tcp, udp, icmp or a number, with --sport/--dport: for rules on ipproto/ports
  --short        only the ingress, the outcome, the winning route and the caveats
  --json         one JSON object: ingress (kind given|pod|node|elsewhere, iif, line), decision
                 (unicast|local|broadcast|multicast|blackhole|unreachable|prohibit|throw|no_route|
                 martian|forwarding_disabled|multicast_not_joined), errno (what
                 'ip route get' answers when it refuses), table, route (as 'ip route' prints it),
                 dev, gateway, nexthops, candidates,
                 calico (the route's meaning), outer (VXLAN), egressPath, steps, warnings, unknowns
  --netns NS     use network namespace NS (/var/run/netns/NS), e.g. a lab node 'ct-node1'
  --routes FILE  explain from saved 'ip route' text (as pasted from a node; prompts, notes and repeated
                 blocks are skipped) or 'ip -j route' JSON; '-' reads standard input. A paste has no
                 rules, neighbours, FDB or interface state: the answer lists what cannot be known.
  --server ADDR  ask a running calitrace (serve or trace) through its API's Explain, with its live model;
                 TLS/token flags as for 'calitrace observe' (below)
  --node N       with --server pointing at a relay: the node whose model answers
  --batch        read queries from standard input, one per line:
                     SRC DST [iif IF] [mark M] [tos T] [proto P] [sport N] [dport N]
                 (blank lines and lines starting with # are skipped) and print one JSON answer per line
                 (the --json object without steps; an unusable line gives {"line":N,"error":"..."}).

Exit status: 0 the packet is delivered or forwarded (unicast, local, broadcast, multicast); 1 the node
refuses it (blackhole, unreachable, prohibit, throw, no route, martian, forwarding off, a multicast group
not joined); 2 a usage error (unknown flag, unknown --iif, unreadable paste); 3 the --server cannot be
reached. With --batch: 0, or 1 when a line could not be answered.

API connection (with --server):
${CONNECTION_HELP}

Notes: 'ip route get' assumes UDP for IPv4 when no ipproto is given; this command assumes no protocol
(only rules that select on ipproto/ports care). Decisions refused by the kernel map to errnos:
blackhole EINVAL, unreachable EHOSTUNREACH, prohibit EACCES, no route or throw ENETUNREACH.

EXAMPLES (ct-node1 is node1 of the lab 'calitrace lab up' builds, whose default prefix is ct)
  calitrace explain 10.233.101.222 10.233.101.224 --netns ct-node1
  calitrace explain 10.233.101.222 10.233.101.224 --netns ct-node1 --short
  calitrace explain 10.233.101.222 10.233.101.224 --iif cali11299111064 --netns ct-node1
  calitrace lab exec node1 -- calitrace explain 10.233.101.222 10.233.101.224 --iif cali11299111064
  calitrace explain 10.233.101.222 10.233.100.130 --iif cali11299111064 --netns ct-node1 --json
  calitrace explain 10.233.101.222 10.233.101.230 --iif cali11299111064 --netns ct-node1
  ip route > routes.txt; calitrace explain 10.233.101.222 10.233.101.224 --routes routes.txt
  calitrace explain 10.233.101.222 10.233.101.230 --server 127.0.0.1:4245 || echo refused
  printf '10.233.101.222 10.233.101.224 iif cali11299111064\\n10.233.101.222 10.233.101.230 iif cali11299111064\\n' \\
    | calitrace explain --batch --netns ct-node1
`;

function numberArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = /^0x[0-9a-f]+$/i.test(v) ? parseInt(v, 16) : /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < 0 || n > 0xffffffff) throw new UsageError(`${name} takes a number (decimal or 0x hex), got '${v}'`);
  return n;
}

function protoArg(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = protocolByName(v) ?? numberArg('proto', v);
  return n;
}

function queryFrom(src: string, dst: string, kv: Record<string, string | undefined>): Query {
  const q: Query = { src, dst };
  if (kv.iif) q.iif = kv.iif;
  q.mark = numberArg('mark', kv.mark);
  q.tos = numberArg('tos', kv.tos);
  q.ipproto = protoArg(kv.proto);
  q.sport = numberArg('sport', kv.sport);
  q.dport = numberArg('dport', kv.dport);
  for (const k of Object.keys(q) as (keyof Query)[]) if (q[k] === undefined) delete q[k];
  return q;
}

async function loadState(netns: string | undefined, routesFile: string | undefined): Promise<{ state: RoutingState; notes: string[] }> {
  if (routesFile) {
    let text: string;
    try {
      text = routesFile === '-' ? readFileSync(0, 'utf8') : readFileSync(routesFile, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read --routes ${routesFile}: ${(e as Error).message}`);
    }
    let pasted;
    try {
      pasted = parsePastedRoutes(text);
    } catch (e) {
      throw new UsageError(`--routes ${routesFile}: ${(e as Error).message}`);
    }
    const notes: string[] = [];
    if (pasted.duplicates) notes.push(`${pasted.duplicates} repeated route line(s) in the paste were counted once`);
    if (pasted.ignored.length) notes.push(`${pasted.ignored.length} line(s) of the paste are not routes and were skipped`);
    return { state: pasted.state, notes };
  }
  const model = createRouteModel({ netns });
  try {
    await model.load();
  } catch (e) {
    throw new UsageError(`cannot read the routing state${netns ? ` of namespace ${netns}` : ''}: ${(e as Error).message}${netns ? ' (see: ip netns list)' : ''}`);
  }
  return { state: model.state, notes: [] };
}

function jsonOf(p: Prediction, withSteps: boolean): Record<string, unknown> {
  const { matched: _m, steps, ...rest } = p;
  return { ...rest, ...(withSteps ? { steps } : {}) };
}

/** The API's answer as a prediction, so the same renderer tells it (the ingress is the first line of step 1). */
function predictionFromApi(q: Query, r: calitrace.v1.ExplainResponse): Prediction {
  const o = r.outer;
  const p: Prediction = {
    query: q,
    family: (r.family || 4) as 4 | 6,
    decision: r.decision as Decision,
    errno: (r.errno || undefined) as KernelErrno | undefined,
    table: r.table || undefined,
    route: r.route || undefined,
    matched: r.route ? parseRouteLine(r.route, r.table || 254) : undefined,
    rule: r.rule || undefined,
    dev: r.dev || undefined,
    gateway: r.gateway || undefined,
    nexthops: r.nexthops.map((n) => ({ gateway: n.gateway || undefined, dev: n.dev || undefined, weight: n.weight ?? 1, onlink: !!n.onlink, flags: n.flags ?? [] })),
    candidates: [],
    rulesWalked: [],
    calico: (r.calico || undefined) as CalicoRole | undefined,
    outer: o
      ? {
          vxlanDev: o.vxlanDev ?? '', vni: o.vni || undefined, dstPort: o.dstPort || undefined, innerDstMac: o.innerDstMac || undefined,
          src: o.src || undefined, dst: o.dst || undefined, underlayDev: o.underlayDev || undefined, underlayGateway: o.underlayGateway || undefined,
          underlayRoute: o.underlayRoute || undefined, underlayMtu: o.underlayMtu || undefined, overhead: o.overhead ?? 50, missing: o.missing ?? [],
        }
      : undefined,
    egressPath: r.egressPath,
    steps: r.steps.map((s) => ({ title: s.title ?? '', lines: s.lines ?? [] })),
    unknowns: r.unknowns.length ? r.unknowns : undefined,
    warnings: r.warnings.length ? r.warnings : undefined,
  };
  return p;
}

async function explainRemote(q: Query, values: Record<string, unknown>): Promise<number> {
  const request: Record<string, unknown> = { dst: q.dst, src: q.src ?? '', iif: q.iif ?? '', mark: q.mark ?? 0, tos: q.tos ?? 0, protocol: q.ipproto ?? 0, sport: q.sport ?? 0, dport: q.dport ?? 0 };
  if (values.node !== undefined) {
    // Only a relay-aware API carries the node; without that field the request would silently ask the wrong node.
    if (!('node' in calitrace.v1.ExplainRequest.prototype)) throw new UsageError('--node needs a calitrace whose API has relays (ExplainRequest.node); this build has none — ask the node\'s own server instead');
    request.node = values.node;
  }
  const options = connectionFrom(values as Parameters<typeof connectionFrom>[0]);
  let client: CalitraceClient;
  try {
    client = new CalitraceClient(options);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  try {
    const r = await client.explain(request as calitrace.v1.IExplainRequest);
    const p = predictionFromApi(q, r);
    if (values.json) process.stdout.write(`${JSON.stringify(toPlain(r), null, 2)}\n`);
    else process.stdout.write(renderExplanation(p, { short: values.short === true }));
    return isRefused(p) ? 1 : 0;
  } catch (err) {
    const e = err as grpc.ServiceError;
    if (e.code === grpc.status.INVALID_ARGUMENT) throw new UsageError(e.details ?? e.message);
    const code = e.code !== undefined ? grpc.status[e.code] : 'ERROR';
    const hint = e.code === grpc.status.UNAVAILABLE ? ` (is 'calitrace serve' or 'calitrace trace' running at ${options.server}? TLS flags must match the server)` : '';
    process.stderr.write(`calitrace explain: ${code}: ${e.details ?? e.message}${hint}\n`);
    return 3;
  } finally {
    client.close();
  }
}

async function runBatch(state: RoutingState): Promise<number> {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  let n = 0;
  let bad = 0;
  for await (const raw of rl) {
    n++;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const toks = line.split(/\s+/);
    let out: Record<string, unknown>;
    try {
      if (toks.length < 2 || toks.length % 2 !== 0) throw new QueryError('expected: SRC DST [iif IF] [mark M] [tos T] [proto P] [sport N] [dport N]');
      const kv: Record<string, string> = {};
      for (let i = 2; i < toks.length; i += 2) {
        if (!['iif', 'mark', 'tos', 'proto', 'sport', 'dport'].includes(toks[i])) throw new QueryError(`unknown key '${toks[i]}'`);
        kv[toks[i]] = toks[i + 1];
      }
      const framed = frameIngress(state, queryFrom(toks[0], toks[1], kv));
      const p = predict(state, framed.query);
      p.ingress = framed.ingress;
      out = jsonOf(p, false);
    } catch (e) {
      if (!(e instanceof QueryError) && !(e instanceof UsageError)) throw e;
      bad++;
      out = { line: n, error: (e as Error).message };
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  }
  return bad > 0 ? 1 : 0;
}

export const explainCommand: Command = {
  name: 'explain',
  summary: 'predict and explain the route of a packet (live, a namespace, or a pasted ip route)',
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('explain', argv, {
      iif: { type: 'string' },
      mark: { type: 'string' },
      tos: { type: 'string' },
      proto: { type: 'string' },
      sport: { type: 'string' },
      dport: { type: 'string' },
      json: { type: 'boolean' },
      netns: { type: 'string' },
      routes: { type: 'string' },
      batch: { type: 'boolean' },
      short: { type: 'boolean' },
      node: { type: 'string' },
      ...CONNECTION_OPTIONS,
    });
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    if ([values.netns, values.routes, values.server].filter((x) => x !== undefined).length > 1) {
      throw new UsageError('use one of --netns NS (live state here), --routes FILE (a paste) or --server ADDR (a running calitrace)');
    }
    values.netns = netnsOption(values.netns, 'explain');
    if (values.node !== undefined && values.server === undefined) throw new UsageError('--node N asks a relay: give --server ADDR too');
    if (values.short && values.json) throw new UsageError('--short and --json do not go together: --json always has every field');
    if (values.batch) {
      if (values.server) throw new UsageError('--batch works on local state (--netns or --routes), not --server');
      if (positionals.length) throw new UsageError('--batch reads its queries from standard input; give no SRC DST on the command line');
      const { state } = await loadState(values.netns, values.routes);
      return runBatch(state);
    }
    if (positionals.length !== 2) throw new UsageError('give SRC and DST, e.g. calitrace explain 10.233.101.222 10.233.101.224 --iif cali11299111064\nSee: calitrace explain --help');
    const q = queryFrom(positionals[0], positionals[1], values as Record<string, string | undefined>);
    if (values.server !== undefined) return explainRemote(q, values);
    const { state, notes } = await loadState(values.netns, values.routes);
    let p: Prediction;
    try {
      p = explainQuery(state, q);
    } catch (e) {
      if (e instanceof QueryError) throw new UsageError(e.message);
      throw e;
    }
    if (notes.length) p.unknowns = [...(p.unknowns ?? []), ...notes];
    if (values.json) process.stdout.write(`${JSON.stringify(jsonOf(p, true), null, 2)}\n`);
    else process.stdout.write(renderExplanation(p, { short: values.short === true }));
    return isRefused(p) ? 1 : 0;
  },
};

// `calitrace explain`: the kernel's route decision for one packet (or many, --batch), predicted from the
// live routing state of this node (or a namespace, or a pasted `ip route`), told step by step.
import { protocolByName } from '../vocabulary';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Command, UsageError, parseCommandArgs } from './command';
import { createRouteModel } from '../routing/model';
import { predict, QueryError } from '../routing/predict';
import { explain, renderExplanation } from '../routing/explain';
import { parsePastedRoutes } from '../routing/paste';
import type { Prediction, Query, RoutingState } from '../routing/types';

const HELP = `calitrace explain — which way a packet goes through this node, and why (no BPF needed)

Usage: calitrace explain SRC DST [--iif IF] [--mark M] [--tos T] [--proto P --sport N --dport N]
                         [--json] [--netns NS | --routes FILE]
       calitrace explain --batch [--netns NS | --routes FILE]  < queries

Predicts the kernel's decision with its own semantics (ip rules by priority, longest prefix, tos,
metric, route types, multipath, source validation on the input path) from the live routing state
(links, addresses, every table, rules, neighbours, VXLAN FDB) and explains it like the Calico
walkthrough: which routes contain DST, which one wins and why, why the VXLAN route and the IPAM-block
blackhole do (not) apply, the hop diagram, what is absent, and an MTU warning for VXLAN.

Options:
  --iif IF       the interface the packet arrives on (the input path: a forwarded packet, e.g. a pod's
                 cali interface). Without it the node itself is the sender (the output path, SRC must
                 then be one of its addresses, as with 'ip route get').
  --mark M       firewall mark (decimal or 0x hex), for 'ip rule ... fwmark'
  --tos T        TOS byte (0x10 …)
  --proto P      tcp, udp, icmp or a number, with --sport/--dport: for rules on ipproto/ports
  --json         one JSON object: decision (unicast|local|broadcast|multicast|blackhole|unreachable|
                 prohibit|throw|no_route|martian|forwarding_disabled|multicast_not_joined), errno (what
                 'ip route get' answers when it refuses), table, route (as 'ip route' prints it),
                 dev, gateway, nexthops, candidates,
                 calico (the route's meaning), outer (VXLAN), egressPath, steps, warnings, unknowns
  --netns NS     use network namespace NS (/var/run/netns/NS), e.g. a lab node 'ct-node1'
  --routes FILE  explain from saved 'ip route' text (as pasted from a node; prompts, notes and repeated
                 blocks are skipped) or 'ip -j route' JSON; '-' reads standard input. A paste has no
                 rules, neighbours, FDB or interface state: the answer lists what cannot be known.
  --batch        read queries from standard input, one per line:
                     SRC DST [iif IF] [mark M] [tos T] [proto P] [sport N] [dport N]
                 (blank lines and lines starting with # are skipped) and print one JSON answer per line
                 (the --json object without steps; an unusable line gives {"line":N,"error":"..."}).

Notes: 'ip route get' assumes UDP for IPv4 when no ipproto is given; this command assumes no protocol
(only rules that select on ipproto/ports care). Decisions refused by the kernel map to errnos:
blackhole EINVAL, unreachable EHOSTUNREACH, prohibit EACCES, no route or throw ENETUNREACH.

EXAMPLES
  calitrace explain 10.233.101.222 10.233.101.224 --iif cali11299111064 --netns ct-node1
  calitrace lab exec node1 -- calitrace explain 10.233.101.222 10.233.101.224 --iif cali11299111064
  calitrace explain 10.233.101.222 10.233.100.130 --iif cali11299111064 --netns ct-node1 --json
  calitrace explain 10.233.101.222 10.233.101.230 --iif cali11299111064 --netns ct-node1
  ip route > routes.txt; calitrace explain 10.233.101.222 10.233.101.224 --iif cali11299111064 --routes routes.txt
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
      out = jsonOf(predict(state, queryFrom(toks[0], toks[1], kv)), false);
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
    });
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    if (values.netns && values.routes) throw new UsageError('use either --netns (live state) or --routes FILE (a paste), not both');
    if (values.batch) {
      if (positionals.length) throw new UsageError('--batch reads its queries from standard input; give no SRC DST on the command line');
      const { state } = await loadState(values.netns, values.routes);
      return runBatch(state);
    }
    if (positionals.length !== 2) throw new UsageError('give SRC and DST, e.g. calitrace explain 10.233.101.222 10.233.101.224 --iif cali11299111064\nSee: calitrace explain --help');
    const q = queryFrom(positionals[0], positionals[1], values as Record<string, string | undefined>);
    const { state, notes } = await loadState(values.netns, values.routes);
    let p: Prediction;
    try {
      p = predict(state, q);
    } catch (e) {
      if (e instanceof QueryError) throw new UsageError(e.message);
      throw e;
    }
    if (notes.length) p.unknowns = [...(p.unknowns ?? []), ...notes];
    explain(p, state);
    if (values.json) process.stdout.write(`${JSON.stringify(jsonOf(p, true), null, 2)}\n`);
    else process.stdout.write(renderExplanation(p));
    return 0;
  },
};

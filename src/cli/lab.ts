// `calitrace lab …`: wiring from the command line to src/lab. No lab logic lives here.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../util/package-root';
import { Command, UsageError, intOption, parseCommandArgs } from './command';
import {
  DEFAULT_PREFIX,
  PREFIX_ENV,
  NODE_IDS,
  choosePrefix,
  labsUpText,
  listLabs,
  splitPrefixedTarget,
  NODES,
  cidrContains,
  formatFlowResults,
  formatLabStatus,
  labDown,
  labExecArgv,
  labStatus,
  labUp,
  parseFlowArg,
  podAdd,
  podDel,
  runTraffic,
  validatePrefix,
} from '../lab';

const PREFIX_OPTION = { prefix: { type: 'string' as const, short: 'p' } };

const HELP: Record<string, string> = {
  lab: `Usage: calitrace lab <up|down|list|status|exec|pod|traffic> [options]

The built-in lab: a two-node Calico VXLAN cluster as a real Calico node has it — pods on cali veths with
their own /32 routes, the node's IPAM block as a blackhole, the other node's block through vxlan.calico
(docs/lab.md lists every address, route and interface, and docs/explain.md tells why each route wins) —
built only inside network namespaces (<prefix>-node1, <prefix>-node2, <prefix>-net, <prefix>-caliXXXX).
Needs root. The root network namespace is never touched.

Subcommands:
  up        build the lab (idempotent: a second run completes or repairs it)
  down      remove everything the lab made, and only that
  list      the labs on this machine, up or not (--json)
  status    nodes, pods and their health (--json for machines)
  exec      run a command in a node (node1, node2) or a pod (by IP)
  pod add   add a pod at run time the Calico way
  pod del   delete a pod
  traffic   generate named ping/TCP/UDP flows between pods

Options (all subcommands):
  -p, --prefix P   namespace prefix, so several labs can coexist (default: \$${PREFIX_ENV}, else
                   '${DEFAULT_PREFIX}'; exec, status, pod and traffic use the only lab that is up when
                   lab '${DEFAULT_PREFIX}' is not, and say so). A target written 'nx-node1' means node1 of lab nx.

EXAMPLES
  calitrace lab up
  calitrace lab exec node1 -- ip route
  calitrace lab exec 10.233.101.222 -- ping -c1 10.233.101.224
  calitrace lab status --json
  calitrace lab pod add ems/new-pod 10.233.101.230
  calitrace lab traffic --flow web=tcp:10.233.101.222:10.233.100.130 --rate 100 --duration 3
  calitrace lab down
  calitrace lab up --prefix lab2     # a second, independent lab
  calitrace lab list
  CALITRACE_LAB_PREFIX=lab2 calitrace lab exec node1 -- ip route
`,
  list: `Usage: calitrace lab list [--json]

The labs this machine has a record of (/run/calitrace/<prefix>/lab.json), whether each is up (both node
namespaces exist), its pods and when it was built.

EXAMPLES
  calitrace lab list
  calitrace lab list --json
`,
  up: `Usage: calitrace lab up [--prefix P] [--json]

Builds node1 (ems203-w2, 172.27.71.11, block 10.233.101.192/26) and node2 (ems203-w1, 172.27.71.12, block
10.233.100.128/26) joined by VXLAN (VNI 4096, port 4789) over an underlay bridge with gateway 172.27.71.254,
and the pods 10.233.101.222, 10.233.101.224 (node1) and 10.233.100.130 (node2). Running it again on an existing lab completes or repairs it; pods added at run time are
kept. If building fails halfway, the namespaces this run created are removed again. Prints the status.

EXAMPLES
  calitrace lab up
  calitrace lab up --prefix lab2 --json
`,
  down: `Usage: calitrace lab down [--prefix P]

Deletes the namespaces the lab recorded when it made them (stopping any process still running inside),
and its state in /run/calitrace/<prefix>/. Nothing else is touched. Succeeds when the lab is already down.

EXAMPLES
  calitrace lab down
  calitrace lab down --prefix lab2
`,
  status: `Usage: calitrace lab status [--prefix P] [--json]

Lists the nodes and pods (namespace/name, IP, interface) and whether each is healthy, read back from the
namespaces: links up, routes, blackhole, VXLAN neighbours, pod /32 routes and permanent neighbours.
Exit code 0 when the lab is up and healthy, 1 otherwise.

EXAMPLES
  calitrace lab status
  calitrace lab status --json | jq '.pods[] | select(.healthy | not)'
`,
  exec: `Usage: calitrace lab exec <node|podIP|namespace/pod> [--prefix P] -- COMMAND [ARGS…]

Runs COMMAND inside a lab namespace with stdin/stdout/stderr passed through, and exits with its exit code.
Targets: node1 or ems203-w2, node2 or ems203-w1, net (the underlay switch), a pod IP, or namespace/pod;
any of them may carry the lab's prefix ('nx-node1' is node1 of lab nx, the namespace's own name).

EXAMPLES
  calitrace lab exec node1 -- ip route
  calitrace lab exec ct-node1 -- ip route
  calitrace lab exec 10.233.101.222 -- ping -c1 10.233.101.224
  calitrace lab exec ems/ems-a10nsp-accounting-89c69b796-rpb9k -- ip addr
  calitrace lab exec node1 -- ip route get 10.233.101.230 from 10.233.101.222 iif cali11299111064
`,
  pod: `Usage: calitrace lab pod add <namespace>/<pod> <IP> [--node node1|node2] [--prefix P]
       calitrace lab pod del <IP | namespace/pod> [--prefix P]

add: creates the pod namespace and a veth named "cali" + first 11 hex of sha1("<namespace>.<pod>"), with
MAC ee:ee:ee:ee:ee:ee, proxy_arp=1, proxy_delay=0, route_localnet=1, forwarding=1 on the host side, the
pod's IP/32 on eth0 with default via 169.254.1.1, a /32 route and a permanent neighbour on the node. The node
is the one whose IPAM block holds the IP unless --node says otherwise.
del: deletes the pod namespace; the kernel removes the veth, its /32 route and neighbour with it.

EXAMPLES
  calitrace lab pod add ems/new-pod 10.233.101.230
  calitrace lab pod add default/web-1 10.233.100.131 --node node2
  calitrace lab pod del 10.233.101.230
  calitrace lab pod del ems/new-pod
`,
  traffic: `Usage: calitrace lab traffic --flow NAME=KIND:FROM:TO[:PORT] [--flow …] [--rate PPS] [--duration S]
                         [--size BYTES] [--prefix P] [--json]

Runs every flow at once inside the sending pod's namespace and reports what was sent and received per flow.
KIND is ping (ICMP echo), tcp or udp (iperf3; the server runs in the destination pod). FROM is a pod IP,
namespace/pod or node; TO is an IP. --rate is packets per second per flow (default 10), --duration seconds
(default 2; whole seconds for tcp/udp), --size payload bytes (default 64). Exit code 0 when every flow
delivered everything it sent, 1 otherwise.

EXAMPLES
  calitrace lab traffic --flow same-node=ping:10.233.101.222:10.233.101.224
  calitrace lab traffic --flow web=tcp:10.233.101.222:10.233.100.130:8080 --rate 200 --duration 5
  calitrace lab traffic --flow a=udp:10.233.101.222:10.233.101.224 --flow b=ping:10.233.101.224:10.233.100.130 --rate 50
`,
};

/**
 * The lab to act on: --prefix, else $CALITRACE_LAB_PREFIX, else 'ct' — or, for commands on an existing lab,
 * the only lab that is up (said on stderr). Checked here so a bad one is a usage error (exit 2).
 */
function prefixOf(values: { prefix?: string }, existing = true): string {
  const chosen = choosePrefix(values.prefix, existing);
  if (chosen.note) process.stderr.write(`calitrace lab: ${chosen.note}\n`);
  const prefix = chosen.prefix;
  try {
    return validatePrefix(prefix);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function helpFor(sub: string): string {
  return HELP[sub] ?? HELP.lab;
}

async function up(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('lab up', argv, { ...PREFIX_OPTION, json: { type: 'boolean' } }, false);
  if (values.help) return print(HELP.up);
  const prefix = prefixOf(values, false);
  await labUp({ prefix });
  const status = await labStatus({ prefix });
  process.stdout.write(values.json ? JSON.stringify(status, null, 2) + '\n' : formatLabStatus(status));
  return status.healthy ? 0 : 1;
}

async function down(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('lab down', argv, PREFIX_OPTION, false);
  if (values.help) return print(HELP.down);
  // Never "the only lab up": down removes what it names, nothing guessed.
  const prefix = prefixOf(values, false);
  const { removed } = await labDown({ prefix });
  process.stdout.write(removed.length ? `removed ${removed.length} namespaces: ${removed.join(' ')}\n` : `lab '${prefix}' was not up; nothing to remove (${labsUpText()})\n`);
  return 0;
}

async function status(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('lab status', argv, { ...PREFIX_OPTION, json: { type: 'boolean' } }, false);
  if (values.help) return print(HELP.status);
  const s = await labStatus({ prefix: prefixOf(values) });
  process.stdout.write(values.json ? JSON.stringify(s, null, 2) + '\n' : formatLabStatus(s));
  if (!s.exists && !values.json) process.stderr.write(`calitrace lab: ${labsUpText()}\n`);
  return s.healthy ? 0 : 1;
}

async function list(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('lab list', argv, { json: { type: 'boolean' } }, false);
  if (values.help) return print(HELP.list);
  const labs = listLabs();
  if (values.json) {
    process.stdout.write(JSON.stringify(labs, null, 2) + '\n');
    return 0;
  }
  if (labs.length === 0) {
    process.stdout.write('no labs on this machine (calitrace lab up builds one)\n');
    return 0;
  }
  const rows = [['PREFIX', 'STATE', 'PODS', 'BUILT'], ...labs.map((l) => [l.prefix, l.up ? 'up' : 'down', String(l.pods), l.createdAt ?? '?'])];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd() + '\n');
  return 0;
}

function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 1);
}

async function exec(argv: string[]): Promise<number> {
  const dashes = argv.indexOf('--');
  const own = dashes >= 0 ? argv.slice(0, dashes) : argv;
  const command = dashes >= 0 ? argv.slice(dashes + 1) : [];
  const { values, positionals } = parseCommandArgs('lab exec', own, PREFIX_OPTION);
  if (values.help) return print(HELP.exec);
  if (positionals.length !== 1) throw new UsageError('give exactly one target before --, e.g. calitrace lab exec node1 -- ip route');
  if (command.length === 0) throw new UsageError('give the command after --, e.g. calitrace lab exec node1 -- ip route');
  // 'nx-node1' names node1 of lab nx (the namespace's own name); a --prefix given as well must agree.
  let target = positionals[0];
  let prefixValues: { prefix?: string } = values;
  const split = splitPrefixedTarget(target);
  if (split && (!values.prefix || values.prefix === split.prefix)) {
    if (split.note) process.stderr.write(`calitrace lab: ${split.note}\n`);
    target = split.target;
    prefixValues = { prefix: split.prefix };
  }
  let full: string[];
  try {
    full = labExecArgv(prefixOf(prefixValues), target, command);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return new Promise<number>((resolve, reject) => {
    // bin/ first on PATH, so `calitrace lab exec node1 -- calitrace explain …` runs this checkout's calitrace.
    const env = { ...process.env, PATH: `${path.join(packageRoot(), 'bin')}:${process.env.PATH ?? ''}` };
    const child = spawn(full[0], full.slice(1), { stdio: 'inherit', env });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? signalExitCode(signal) : 1)));
  });
}

function nodeForIp(ip: string): string {
  const id = NODE_IDS.find((n) => cidrContains(NODES[n].block, ip));
  if (!id) {
    const blocks = NODE_IDS.map((n) => `${n} ${NODES[n].block}`).join(', ');
    throw new UsageError(`${ip} is in no lab node's block (${blocks}); pick an IP inside one`);
  }
  return id;
}

function splitPodName(text: string): { namespace: string; name: string } {
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(text);
  if (!m) throw new UsageError(`'${text}' is not <namespace>/<pod> (lowercase DNS names), e.g. ems/new-pod`);
  return { namespace: m[1], name: m[3] };
}

async function pod(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  const { values, positionals } = parseCommandArgs('lab pod', rest, { ...PREFIX_OPTION, node: { type: 'string' } });
  if (values.help || action === '--help' || action === '-h' || !action) return print(HELP.pod, action ? 0 : 2);
  const prefix = prefixOf(values);
  if (action === 'add') {
    if (positionals.length !== 2) throw new UsageError('usage: calitrace lab pod add <namespace>/<pod> <IP> [--node node1|node2]');
    const { namespace, name } = splitPodName(positionals[0]);
    const ip = positionals[1];
    const p = await podAdd({ prefix, node: values.node ?? nodeForIp(ip), namespace, name, ip });
    process.stdout.write(`added ${p.namespace}/${p.name} ${p.ip} on ${p.node} (${NODES[p.node].name}) interface ${p.ifname} netns ${p.netns}\n`);
    return 0;
  }
  if (action === 'del') {
    if (positionals.length !== 1) throw new UsageError('usage: calitrace lab pod del <IP | namespace/pod>');
    const target = positionals[0];
    const p = /^[0-9.]+$/.test(target) ? await podDel({ prefix, ip: target }) : await podDel({ prefix, ...splitPodName(target) });
    process.stdout.write(`deleted ${p.namespace}/${p.name} ${p.ip} (interface ${p.ifname})\n`);
    return 0;
  }
  throw new UsageError(`unknown action '${action}': use 'pod add' or 'pod del' (see calitrace lab pod --help)`);
}

async function traffic(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'lab traffic',
    argv,
    {
      ...PREFIX_OPTION,
      flow: { type: 'string', multiple: true },
      rate: { type: 'string' },
      duration: { type: 'string' },
      size: { type: 'string' },
      json: { type: 'boolean' },
    },
    false,
  );
  if (values.help) return print(HELP.traffic);
  void positionals;
  if (!values.flow?.length) throw new UsageError('give at least one --flow NAME=KIND:FROM:TO, e.g. --flow a=ping:10.233.101.222:10.233.101.224');
  const rate = Number(values.rate ?? '10');
  if (!(rate > 0)) throw new UsageError(`--rate takes packets per second > 0, got '${values.rate}'`);
  const durationS = Number(values.duration ?? '2');
  if (!(durationS > 0)) throw new UsageError(`--duration takes seconds > 0, got '${values.duration}'`);
  const size = intOption('size', values.size, 64);
  let flows;
  try {
    flows = values.flow.map((f) => parseFlowArg(f, { rate, durationS, size }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const results = await runTraffic({ prefix: prefixOf(values), flows });
  process.stdout.write(values.json ? JSON.stringify(results, null, 2) + '\n' : formatFlowResults(results));
  return results.every((r) => r.ok) ? 0 : 1;
}

function print(text: string, code = 0): number {
  (code === 0 ? process.stdout : process.stderr).write(text);
  return code;
}

export const labCommand: Command = {
  name: 'lab',
  summary: 'build and drive the built-in two-node Calico VXLAN lab (network namespaces)',
  help: HELP.lab,
  async run(argv: string[]): Promise<number> {
    const [sub, ...rest] = argv;
    if (rest[0] === 'help') return print(helpFor(sub));
    switch (sub) {
      case 'up':
        return up(rest);
      case 'down':
        return down(rest);
      case 'status':
        return status(rest);
      case 'list':
        return list(rest);
      case 'exec':
        return exec(rest);
      case 'pod':
        return pod(rest);
      case 'traffic':
        return traffic(rest);
      case undefined:
        return print(HELP.lab, 2);
      default:
        throw new UsageError(`unknown subcommand '${sub}': use up, down, list, status, exec, pod or traffic (see calitrace lab --help)`);
    }
  },
};

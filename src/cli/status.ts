// `calitrace status`: is a running calitrace healthy, and has anything been lost? One screen from the
// API's Status and health service, like `hubble status`: attached interfaces, every loss counter (zeros
// printed, so "nothing lost" is a statement and not a silence), the route model's generation and age,
// subscribers and where pod names come from.
import * as grpc from '@grpc/grpc-js';
import { Command, UsageError, parseCommandArgs } from './command';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connectionFrom } from './connection-options';
import { CalitraceClient, toPlain } from '../api/client';
import type { calitrace } from '../api/proto';

const HELP = `calitrace status — health, losses and state of a running calitrace (serve or trace)

Usage: calitrace status [--server ADDR] [--json] [TLS/token options]

Asks the API (Status and the health service) and prints: health, version, node, namespace and mode,
uptime; the route model's generation and how long ago it last changed; where pod names come from; the
attached interfaces and their hooks; every loss counter — lost in the kernel (ring buffer full), in the
pipe (loader → collector), in the collector (correlation table full), by slow subscribers, loader
restarts — with explicit zeros; the other counters; the subscribers with what each was sent and lost;
the history buffer.

Options:
  --json                 the Status message and the health as one JSON object
${CONNECTION_HELP}
  -h, --help             this help

Exit status: 0 serving and nothing lost; 1 serving but something was lost (the counters say where) or
not serving; 3 the server cannot be reached.

EXAMPLES
  calitrace status
  calitrace status --server 127.0.0.1:4245 --json | jq .counters
  calitrace status --server unix:/run/calitrace.sock
`;

function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** The loss counters by name, with what each means; the sum says whether anything was lost. */
export function lossRows(c: calitrace.v1.ILossCounters | null | undefined): { name: string; value: number; meaning: string }[] {
  const n = (v: number | null | undefined) => Number(v ?? 0);
  return [
    { name: 'lost_kernel', value: n(c?.lostKernel), meaning: 'BPF ring buffer full: events the kernel could not hand over' },
    { name: 'lost_pipe', value: n(c?.lostPipe), meaning: 'between the loader and the collector' },
    { name: 'lost_collector', value: n(c?.lostCollector), meaning: 'correlation table full: packets judged early' },
    { name: 'lost_subscribers', value: n(c?.lostSubscribers), meaning: 'items slow API clients did not read in time' },
    { name: 'loader_restarts', value: n(c?.loaderRestarts), meaning: 'the BPF loader had to be restarted' },
  ];
}

export function renderStatus(s: calitrace.v1.StatusResponse, health: string, now = Date.now()): string {
  const out: string[] = [];
  const kv = (k: string, v: string) => out.push(`${`${k}:`.padEnd(14)}${v}`);
  kv('Health', health);
  kv('Version', `calitrace ${s.version}, node ${s.node || '?'}, ${s.netns ? `netns ${s.netns}` : 'host namespace'}, ${s.mode} mode`);
  kv('Uptime', `${ago(Number(s.startedMs), now)} (since ${new Date(Number(s.startedMs)).toISOString()})`);
  const changed = Number(s.routeChangedMs ?? 0);
  kv('Route model', `generation ${s.routeGeneration}${changed ? `, last changed ${ago(changed, now)} ago (${new Date(changed).toISOString()})` : ', age unknown'}`);
  kv('Pod names', (s.podNames || 'not named by this server').replace(/^pod names: /, ''));
  const attached = s.interfaces.filter((i) => i.attached);
  kv('Interfaces', `${attached.length} attached${s.interfaces.length > attached.length ? `, ${s.interfaces.length - attached.length} detached` : ''}`);
  for (const i of s.interfaces) out.push(`  ${(i.name ?? "").padEnd(18)} ifindex ${String(i.ifindex).padEnd(5)} ${i.attached ? `attached (${(i.hooks ?? []).join(', ') || 'no hooks'})` : 'detached'}`);
  const c = s.counters;
  const losses = lossRows(c);
  const lost = losses.reduce((a, r) => a + (r.name === 'loader_restarts' ? 0 : r.value), 0);
  kv('Losses', lost === 0 ? 'nothing lost' : `${lost} lost — see below`);
  for (const r of losses) out.push(`  ${r.name.padEnd(18)} ${String(r.value).padStart(10)}  ${r.meaning}`);
  kv('Events', `${Number(c?.received ?? 0)} received from the loader, ${Number(c?.published ?? 0)} published`);
  const other = Object.entries(c?.other ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (other.length) {
    kv('Counters', '');
    for (const [k, v] of other) out.push(`  ${k.padEnd(26)} ${String(v).padStart(10)}`);
  }
  kv('Subscribers', `${s.subscribers.length} of ${s.maxSubscribers}`);
  for (const sub of s.subscribers) {
    out.push(`  #${sub.id} ${sub.peer} since ${ago(Number(sub.sinceMs), now)}: sent ${sub.sent}, lost ${sub.lost}, queued ${sub.queued}/${sub.queueCapacity}${sub.filter ? `, filter ${sub.filter}` : ''}`);
  }
  kv('History', `${s.historySize} of ${s.historyCapacity} items`);
  return out.join('\n') + '\n';
}

async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('status', argv, { ...CONNECTION_OPTIONS, json: { type: 'boolean' } }, false);
  const options = connectionFrom(values);
  let client: CalitraceClient;
  try {
    client = new CalitraceClient(options);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  try {
    const status = await client.status(5000);
    const health = await client.healthCheck('', 5000).catch((e: grpc.ServiceError) => `UNKNOWN (${e.details ?? e.message})`);
    const lost = lossRows(status.counters).some((r) => r.name !== 'loader_restarts' && r.value > 0);
    if (values.json) process.stdout.write(`${JSON.stringify({ health, ...toPlain(status) }, null, 2)}\n`);
    else process.stdout.write(renderStatus(status, health));
    return health === 'SERVING' && !lost ? 0 : 1;
  } catch (err) {
    const e = err as grpc.ServiceError;
    const code = e.code !== undefined ? grpc.status[e.code] : 'ERROR';
    const hint = e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED ? ` (is 'calitrace serve' or 'calitrace trace' running at ${options.server}? TLS flags must match the server)` : '';
    process.stderr.write(`calitrace status: ${code}: ${e.details ?? e.message}${hint}\n`);
    return 3;
  } finally {
    client.close();
  }
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'health, losses (explicit zeros), interfaces, route model and subscribers of a running calitrace',
  help: HELP,
  run,
};

// `calitrace observe`: a client of a node's calitrace API that prints verdicts, packets, flows, route
// changes and lost-event notices, with hubble-observe habits (--last, --follow, --since, -o, filters).
import * as grpc from '@grpc/grpc-js';
import { Command, UsageError, intOption, parseCommandArgs } from './command';
import { BATCH, CalitraceClient, filterSetToRequest } from '../api/client';
import { FilterError, FilterSet, FlowFilter, normaliseFilter, parseFilterText } from '../hub/filter';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connectionFrom } from './connection-options';
import { DICT_SEPARATOR, formatObserved, ObserveOutput, tableHeader } from './observe-format';
import { outputWidth } from './verdict-format';
import type { calitrace } from '../api/proto';
import { PcapngWriter } from '../pcapng/writer';
import { ObservePcapWriter } from './observe-pcap';
import { openPcapOutput, PcapOutput } from '../pcapng/output';
import { SNAP_MAX } from '../capture/snap';
import { VERSION } from '../util/version';

const HELP = `calitrace observe — print what a node's calitrace API sees (verdicts, packets, flows, routes, losses)

Usage: calitrace observe [--server ADDR] [FILTER...] [-o compact|json|table|dict] [-f] [--last N]
                         [--since T] [--until T] [--write FILE.pcapng|- [--snaplen N]] [TLS/token options]

Without --follow it prints the last 20 matching items of the server's history and exits (as
'hubble observe' does); with --follow it keeps printing live items until Ctrl-C.

By default it shows verdicts (one per packet: observed and predicted paths, the reason) and loss
notices; per-hop packets, flow updates and route changes are shown when asked for with --type (or a
type= term), e.g. --type packet or --type verdict,flow.

Output: the compact line and the JSON object of a verdict are the ones 'calitrace trace' prints (JSON
schema calitrace.verdict/v1, docs/output.md). -o table fits the terminal's width (COLUMNS when not a
terminal) with POD (source > destination pod) and REASON columns.

Filters (all given ones must match; a value list 'a,b' matches either):
  FILTER...              filter language terms: src=IP|CIDR|POD dst=… ip=… pod=NS/NAME ns=NS iface=cali*
                         dir=ingress|egress|drop verdict=MATCHED|DIVERGED|DROPPED|EXPECTED_DROP|INCOMPLETE|
                         STALE_MODEL proto=tcp|udp|icmp|N port=N sport=N dport=N node=NAME
                         type=verdict|packet|flow|route_change|lost. 'or' starts another filter; a term
                         with '!' in front excludes what it matches (e.g. '!verdict=MATCHED')
  --from-ip, --to-ip, --ip IP|CIDR     --from-pod, --to-pod, --pod [NS/]NAME    --namespace NS
  --interface NAME       --direction D    --verdict V    --protocol P    --port N    --node NAME
  --type T               (each repeatable; the same fields as the terms above)
  --not FILTER           exclude items matching FILTER (repeatable; filter language)

Output and history:
  -o, --output F         compact (default), json (one object per line), table, or dict (one field per
                         line, as 'hubble observe -o dict')
  -f, --follow           keep the stream open and print live items
  --last N               print the last N matching items first (default 20 without --follow)
  --since T              items from T on: a duration ago (30s, 5m, 2h) or a time (2026-11-26T12:00:00Z)
  --until T              stop at T (same forms)
  --all                  the whole history the server keeps

Packets (from a server started with 'calitrace serve --snaplen N'):
  --write FILE           also write each verdict's packet bytes as pcapng ('-': stdout, then no lines are
                         printed there): a packet block per hop on its interface (one interface block per
                         node and interface), the verdict, reason, predicted and observed paths as comment
  --snaplen BYTES        keep at most BYTES of each packet (default: what the server sends)

Connection:
${CONNECTION_HELP}
  -h, --help             this help

EXAMPLES
  calitrace observe --server 127.0.0.1:4245 --last 50
  calitrace observe -f verdict=DROPPED,EXPECTED_DROP
  calitrace observe -f src=10.233.101.222 proto=icmp '!verdict=MATCHED'
  calitrace observe -f --to-ip 10.233.100.0/24 --protocol tcp -o json | jq .verdict.reason
  calitrace observe --since 5m --type route_change
  calitrace observe --last 50 --type packet,flow     # per-hop packets and flow updates too
  calitrace observe --last 20 -o table
  calitrace observe --last 3 -o dict verdict=EXPECTED_DROP
  calitrace observe -f --write - type=verdict | wireshark -k -i -      # server: calitrace serve --snaplen 128
  calitrace observe --last 500 --write drops.pcapng verdict=DROPPED,EXPECTED_DROP
  calitrace observe --server node1.example:4245 --tls-ca ca.pem --tls-client-cert me.pem \\
                    --tls-client-key me-key.pem --token-file token -f
`;

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  output: { type: 'string', short: 'o' },
  follow: { type: 'boolean', short: 'f' },
  last: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  all: { type: 'boolean' },
  'from-ip': { type: 'string', multiple: true },
  'to-ip': { type: 'string', multiple: true },
  ip: { type: 'string', multiple: true },
  'from-pod': { type: 'string', multiple: true },
  'to-pod': { type: 'string', multiple: true },
  pod: { type: 'string', multiple: true },
  namespace: { type: 'string', multiple: true },
  interface: { type: 'string', multiple: true },
  direction: { type: 'string', multiple: true },
  verdict: { type: 'string', multiple: true },
  protocol: { type: 'string', multiple: true },
  port: { type: 'string', multiple: true },
  node: { type: 'string', multiple: true },
  type: { type: 'string', multiple: true },
  not: { type: 'string', multiple: true },
  write: { type: 'string' },
  snaplen: { type: 'string' },
} as const;

/** '30s', '5m', '2h', '1d' ago, or an absolute time Date can read. */
export function parseTime(text: string, flag: string, now = Date.now()): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text);
  if (m) return now - Number(m[1]) * { ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000 }[m[2] as 'ms']!;
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new UsageError(`--${flag} takes a duration ago (30s, 5m, 2h) or a time (2026-11-26T12:00:00Z), got '${text}'`);
  return t;
}

function filtersFrom(values: Record<string, unknown>, positionals: string[]): FilterSet {
  const list = (k: string) => (values[k] as string[] | undefined) ?? [];
  const split = (k: string) => list(k).flatMap((v) => v.split(','));
  try {
    const set = parseFilterText(positionals.join(' '));
    const flags: FlowFilter = normaliseFilter({
      sourceIp: split('from-ip'), destinationIp: split('to-ip'), ip: split('ip'),
      sourcePod: split('from-pod'), destinationPod: split('to-pod'), pod: split('pod'), namespace: split('namespace'),
      interface: split('interface'), direction: split('direction') as FlowFilter['direction'], verdict: split('verdict') as FlowFilter['verdict'],
      protocol: split('protocol'), port: split('port').map((p) => (/^\d+$/.test(p) ? Number(p) : (p as unknown as number))),
      node: split('node'), eventType: split('type') as FlowFilter['eventType'],
    });
    if (Object.keys(flags).length > 0) {
      // Flags narrow every positional filter (as extra ANDed fields), or stand alone.
      set.allow = set.allow.length ? set.allow.map((f) => ({ ...f, ...flags })) : [flags];
    }
    for (const text of list('not')) {
      const neg = parseFilterText(text);
      set.deny.push(...neg.allow, ...neg.deny);
    }
    return set;
  } catch (err) {
    if (err instanceof FilterError) throw new UsageError(`invalid filter: ${err.message}`);
    throw err;
  }
}

/**
 * Verdicts (and loss notices, never hidden) unless a type is asked for: per-hop packets and flow updates
 * would push the verdicts a person wants out of --last N. `--type packet,flow` (or type=…) shows them.
 */
export function withDefaultTypes(set: FilterSet): FilterSet {
  if (set.allow.some((f) => f.eventType?.length)) return set;
  const types: FlowFilter['eventType'] = ['VERDICT', 'LOST'];
  return { ...set, allow: set.allow.length ? set.allow.map((f) => ({ ...f, eventType: types })) : [{ eventType: types }] };
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('observe', argv, OPTIONS, true);
  const output = (values.output ?? 'compact') as ObserveOutput;
  if (!['compact', 'json', 'table', 'dict'].includes(output)) throw new UsageError(`-o takes compact, json, table or dict, got '${values.output}'`);
  const filters = withDefaultTypes(filtersFrom(values, positionals));
  const follow = values.follow === true;
  const sinceMs = values.since ? parseTime(values.since, 'since') : 0;
  const untilMs = values.until ? parseTime(values.until, 'until') : 0;
  // hubble's habit: a one-shot observe shows the last 20; --follow alone shows only what comes next.
  const last = intOption('last', values.last, !follow && !sinceMs && !values.all ? 20 : 0);
  const request: calitrace.v1.IObserveRequest = { ...filterSetToRequest(filters), follow, last, sinceMs, untilMs, allHistory: values.all === true, batch: BATCH };

  const snaplen = intOption('snaplen', values.snaplen, 0);
  if (values.snaplen !== undefined && values.write === undefined) throw new UsageError('--snaplen trims what --write records: give --write FILE too');
  if (values.snaplen !== undefined && (snaplen < 1 || snaplen > SNAP_MAX)) throw new UsageError(`--snaplen takes 1 to ${SNAP_MAX} bytes, got ${snaplen}`);
  if (values.write === '') throw new UsageError("--write takes a file name, or '-' for stdout");
  let out: PcapOutput | undefined;
  let pcap: ObservePcapWriter | undefined;
  let pcapWriter: PcapngWriter | undefined;
  if (values.write !== undefined) {
    try {
      out = openPcapOutput(values.write);
    } catch (err) {
      throw new UsageError(`--write ${values.write}: ${(err as Error).message}`);
    }
    const o = out;
    pcapWriter = new PcapngWriter((b) => o.write(b), { application: `calitrace ${VERSION} observe` });
    pcap = new ObservePcapWriter(pcapWriter, snaplen);
  }
  const toStdout = values.write !== '-';
  const options = connectionFrom(values);
  let client: CalitraceClient;
  try {
    client = new CalitraceClient(options);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const stream = client.observe(request);
  const stop = () => stream.cancel();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // A closed stdout (`| head`) ends the stream instead of crashing on EPIPE.
  process.stdout.on('error', stop);
  if (output === 'table' && toStdout) process.stdout.write(tableHeader(outputWidth()) + '\n');
  try {
    let first = true;
    for await (const m of stream) {
      pcap?.item(m);
      if (!toStdout) continue;
      if (output === 'dict' && !first) process.stdout.write(DICT_SEPARATOR + '\n');
      first = false;
      process.stdout.write(formatObserved(m, output, outputWidth()) + '\n');
    }
    return 0;
  } catch (err) {
    const e = err as grpc.ServiceError;
    const code = e.code !== undefined ? grpc.status[e.code] : 'ERROR';
    const hint = e.code === grpc.status.UNAVAILABLE ? ` (is 'calitrace serve' running at ${options.server}? TLS flags must match the server)` : '';
    process.stderr.write(`calitrace observe: ${code}: ${e.details ?? e.message}${hint}\n`);
    return 1;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    client.close();
    if (out && pcap) {
      await out.close();
      const c = pcap.counters;
      process.stderr.write(
        `calitrace observe: wrote ${c.written} packet blocks to ${values.write === '-' ? 'stdout' : values.write}` +
          (c.verdictsWithoutBytes ? `; ${c.verdictsWithoutBytes} verdicts carried no packet bytes (start the server with --snaplen N)` : '') +
          (out.dropped ? `; ${out.dropped} blocks lost to a slow reader` : '') +
          (out.error ? `; write error: ${out.error.message}` : '') + '\n',
      );
    }
  }
}

export const observeCommand: Command = {
  name: 'observe',
  summary: 'print verdicts, packets, flows, route changes and losses from a calitrace API (like hubble observe)',
  help: HELP,
  run,
};

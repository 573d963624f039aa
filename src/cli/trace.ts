// `calitrace trace`: live verdicts (or, with --events, raw hook events) from the tracer, one line each
// (--no-ui), until --count/--duration/Ctrl-C.
import * as fs from 'node:fs';
import { Command, UsageError, intOption, parseCommandArgs } from './command';
import { netnsOption } from './netns-option';
import { startCapture, CaptureMode } from '../capture/capture';
import { FilterError, parseFilter, describeFilter } from '../capture/filter';
import { formatEvent, OutputFormat } from './trace-format';
import type { TraceEvent } from '../capture/event';
import { runVerdictTrace } from './trace-verdicts';
import { API_SERVER_HELP, API_SERVER_OPTIONS, apiSettings } from './serve';
import { hasTerminal } from '../tui/terminal';
import { SNAP_DEFAULT, SNAP_MAX } from '../capture/snap';
import { POD_NAME_HELP, POD_NAME_OPTIONS, choosePodNameSource, kubernetesFlagsGiven } from './pod-names';

const HELP = `calitrace trace — live packet verdicts (or raw events) from the eBPF tracer on this node

Usage: calitrace trace --no-ui [-o compact|json] [--count N] [--duration S] [--netns NS]
                       [--flows | --events] [--window MS]
                       [--mode packet|flow|case] [--src CIDR] [--dst CIDR] [--proto P] [--port N]
                       [--iface PATTERN]... [--kubeconfig FILE [--kube-context NAME] | --no-kubernetes]
                       [--write FILE.pcapng|- [--snaplen BYTES]]

Every packet gets a verdict: its observed path on this node (the hooks it crossed), its predicted path
(the route model as it was when the packet entered) and the kernel FIB's answer: MATCHED, DIVERGED,
DROPPED, EXPECTED_DROP, INCOMPLETE or STALE_MODEL, with a reason to act on, and warnings MTU_EXCEEDED,
ROUTE_CHANGED, ASYMMETRIC_RETURN.

What gets recorded (the default, case mode): the kernel follows each packet across the node's hooks and
counts it into its path's case (flow, hooks, the FIB's answer, NAT, TTL, size against the MTUs, route
model generation). The first packet of each case and every drop are shipped and printed as a verdict line;
every other packet is judged with its case and counted exactly (--flows, the UI and observe show the
counts). Nothing is lost under load. For every packet's own line: select the packets (--src, --dst,
--proto, --port: a line per selected packet) or give --mode packet (a record per packet per hook, for
everything; under load the ring buffer loses records, counted).

Options:
  --no-ui            print lines; without it, trace opens the live terminal UI (as 'calitrace ui')
  -o, --output F     compact (default, for people) or json (one object per line)
  --flows            one line per flow update (both directions, counts per verdict, latency
                     percentiles) instead of verdict lines
  --events           raw hook events, one per packet per hop, without verdicts (packet mode unless
                     --mode says otherwise)
  --window MS        how long a packet may take to cross the node before it is judged
                     INCOMPLETE (default 100)
  --count N          stop after N lines (0 = no limit)
  --duration S       stop after S seconds (0 = no limit)
  --netns NS         trace inside network namespace NS (/var/run/netns/NS), e.g. a lab node
  --mode M           case (the default: every packet judged and counted in the kernel's per-path
                     cases, a verdict line for a path's first packet and for each drop; with a
                     --src/--dst/--proto/--port selection, or --write, the default is packet),
                     packet (every packet's record at every hook: a verdict line per packet), or
                     flow (first packet, TCP SYN/FIN/RST, then periodic per-flow counters; implies
                     --events)
  --src CIDR         only packets from this address/prefix (IPv4 or IPv6); a selection prints a
                     verdict line per selected packet
  --dst CIDR         only packets to this address/prefix
  --proto P          only this protocol: tcp, udp, icmp, icmpv6 or a number
  --port N           only packets with this source or destination port
  --iface PATTERN    attach to interfaces matching PATTERN (repeatable; shell-style *, default:
                     cali*, vxlan.calico and vxlan.calico's underlay device)
  --write FILE       also write the judged packets to FILE as pcapng ('-': stdout, then no lines are
                     printed there): one interface block per hooked interface (name, node, link type),
                     one packet block per packet per hook with its direction and kernel timestamp, the
                     verdict, reason, predicted and observed paths as the packet's comment; drops as
                     IP packets on the interface where they died, with the kernel's drop reason.
                     Implies --no-ui and packet mode (every packet's bytes need every packet's
                     record); not with --events or --mode case/flow
  --snaplen BYTES    bytes copied per packet for --write (1-${SNAP_MAX}, default ${SNAP_DEFAULT}: outer and inner
                     headers of a VXLAN packet). The tracer copies nothing unless --write is given

API (verdict modes): the trace also serves the gRPC API, as 'calitrace serve' does, so 'calitrace
observe' and 'calitrace ui' can watch the same verdicts; a busy address is a warning, not an error.
A one-shot run (--count or --duration) serves it only when an API option (e.g. --listen) is given.
  --no-api           do not serve the API
${API_SERVER_HELP}
${POD_NAME_HELP}
JSON (verdicts): one object per line in the schema calitrace.verdict/v1 (docs/output.md) — the same
fields and values as 'calitrace observe -o json': schema, time, node, verdict, reason, warnings, family,
protocol, src, dst, sport, dport, srcPod, dstPod, icmp, length, observed (interface, direction, timeNs,
tunnel, dropReason), predicted, kernel, latencyUs, decision, route, generation, flow, nat, fingerprint.
The compact line is also the one observe prints: pod names where known, ICMP types by name, the drop
marker ✗drop:REASON@IFACE, the latency labelled.
With --flows: the flow summary (forward/reverse directions).
JSON fields (--events): time, timeNs, kind (packet|flow|drop), iface, dir, src, dst, proto, sport, dport, len,
ttl, ipId, mark, fingerprint, tcpFlags, icmp, kernel (the FIB's answer at ingress), tunnel (VXLAN
outer header), drop (reason), packets/bytes (flow mode), anomalies (parser notes).
Loss counters are printed to stderr at exit; losses are never hidden.

EXAMPLES
  # ct-node1: node1 of the lab 'calitrace lab up' builds (default prefix ct; CALITRACE_LAB_PREFIX for another)
  calitrace trace --netns ct-node1                # the live UI: flows, paths, verdicts, why
  calitrace trace --no-ui --netns ct-node1         # a line per new path and per drop, every packet counted
  calitrace trace --no-ui --flows --netns ct-node1 # the counts: a line per flow update
  calitrace trace --no-ui --mode packet --netns ct-node1                      # every packet's line
  calitrace trace --no-ui --netns ct-node1 --src 10.233.101.222 --dst 10.233.101.224   # every selected packet's line
  calitrace trace --no-ui --flows --netns ct-node1 --dst 10.233.100.0/24
  calitrace trace --no-ui -o json --count 5 --netns ct-node1 --dst 10.233.101.230
  calitrace trace --no-ui --events --netns ct-node1
  calitrace trace --no-ui -o json --count 10 --netns ct-node1 --src 10.233.101.222 --proto icmp
  calitrace trace --no-ui --mode flow --duration 30 --dst 10.233.100.0/24
  calitrace trace --no-ui --iface 'cali*' --iface ens3 --port 4789
  calitrace trace --netns ct-node1 --write trace.pcapng --duration 30   # then: wireshark trace.pcapng
  calitrace trace --netns ct-node1 --write - | wireshark -k -i -        # live, verdicts as packet comments
  calitrace trace --netns ct-node1 --write - --dst 10.233.101.230 | tshark -r - -T fields -e frame.comment
  calitrace trace --kubeconfig ~/.kube/config      # the UI with pod names from the Kubernetes API
  calitrace trace --no-ui --kube-context prod       # the API beside it names pods with context prod
`;

const OPTIONS = {
  'no-ui': { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  count: { type: 'string' },
  duration: { type: 'string' },
  netns: { type: 'string' },
  mode: { type: 'string' },
  src: { type: 'string' },
  dst: { type: 'string' },
  proto: { type: 'string' },
  port: { type: 'string' },
  iface: { type: 'string', multiple: true },
  flows: { type: 'boolean' },
  events: { type: 'boolean' },
  window: { type: 'string' },
  'no-api': { type: 'boolean' },
  write: { type: 'string' },
  snaplen: { type: 'string' },
  ...API_SERVER_OPTIONS,
  ...POD_NAME_OPTIONS,
} as const;

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('trace', argv, OPTIONS, false);
  void positionals;
  values.netns = netnsOption(values.netns, 'trace');
  const output = (values.output ?? 'compact') as OutputFormat;
  if (output !== 'compact' && output !== 'json') throw new UsageError(`-o takes compact or json, got '${values.output}'`);
  // Case mode unless the user asked for packets one by one: a selection, their bytes (--write), every
  // hook's raw record (--events).
  const selection = [values.src, values.dst, values.proto, values.port].some((v) => v !== undefined);
  const mode = (values.mode ?? (selection || values.write !== undefined || values.events ? 'packet' : 'case')) as CaptureMode;
  if (mode !== 'packet' && mode !== 'flow' && mode !== 'case') throw new UsageError(`--mode takes packet, flow or case, got '${values.mode}'`);
  const count = intOption('count', values.count, 0);
  const duration = intOption('duration', values.duration, 0);
  let filter;
  try {
    filter = parseFilter({ src: values.src, dst: values.dst, proto: values.proto, port: values.port });
  } catch (err) {
    if (err instanceof FilterError) throw new UsageError(err.message);
    throw err;
  }
  const write = writeOptions(values.write, values.snaplen, mode, !!values.events);
  if (!values['no-ui'] && !write) {
    // The live UI: collector + API + UI together (src/tui/trace-ui.ts); line options need --no-ui.
    const lines = ['output', 'count', 'duration', 'flows', 'events'] as const;
    const given = lines.filter((k) => values[k] !== undefined);
    if (given.length) throw new UsageError(`--${given[0]} prints lines: add --no-ui (without it, trace opens the live UI)`);
    if (!hasTerminal()) {
      throw new UsageError('without --no-ui, trace opens the live UI, which needs a terminal (stdin and stdout a tty); add --no-ui to print lines');
    }
    const api = values['no-api'] ? undefined : apiSettings(values);
    const { runTraceUi } = await import('../tui/trace-ui'); // the UI loads only when drawn
    return runTraceUi({ netns: values.netns, patterns: values.iface, mode, filter, api, pods: choosePodNameSource(values, values.netns) });
  }
  if (values.flows && values.events) throw new UsageError('--flows and --events exclude each other: flows are built from verdicts');
  // A one-shot run (--count, --duration) is over before anyone could subscribe: it serves the API only
  // when an API flag asks for it. An open-ended trace serves it unless --no-api.
  const oneShot = count > 0 || duration > 0;
  const apiAsked = Object.keys(API_SERVER_OPTIONS).some((k) => values[k as keyof typeof API_SERVER_OPTIONS] !== undefined);
  const api = values['no-api'] || (oneShot && !apiAsked) ? undefined : apiSettings(values);
  // Verdict lines and the API carry pod names; raw events (--events) and flow mode do not.
  const namesPods = !values.events && mode !== 'flow';
  if (!namesPods && kubernetesFlagsGiven(values)) {
    throw new UsageError('--kubeconfig/--kube-context/--no-kubernetes name the pods of verdicts, which this trace does not print (it needs packet or case mode without --events)');
  }
  if (!values.events && mode !== 'flow') {
    return runVerdictTrace({
      mode,
      netns: values.netns,
      patterns: values.iface,
      filter,
      filterText: describeFilter(filter),
      output,
      count,
      durationS: duration,
      flows: !!values.flows,
      windowMs: values.window === undefined ? undefined : intOption('window', values.window, 100),
      api,
      pods: choosePodNameSource(values, values.netns),
      write,
    });
  }
  if (values.flows) throw new UsageError('--flows needs packet mode: flow-mode records carry no per-packet path');

  // Each event is formatted and forgotten: one reused TraceEvent, no per-event allocation.
  const capture = startCapture({ netns: values.netns, patterns: values.iface, mode, filter, reuseEvents: true });
  let printed = 0;
  let failure: Error | undefined;
  const done = new Promise<void>((resolve) => {
    const finish = () => resolve();
    capture.on('event', (ev: TraceEvent) => {
      if (count && printed >= count) return;
      process.stdout.write(formatEvent(ev, output) + '\n');
      printed++;
      if (count && printed >= count) finish();
    });
    capture.on('gap', (gap) => {
      process.stderr.write(`calitrace trace: loader restarted after ${gap.reason}; ${gap.lost} events lost during a ${gap.durationMs} ms gap\n`);
    });
    capture.on('error', (err: Error) => {
      failure = err;
      finish();
    });
    if (duration) setTimeout(finish, duration * 1000).unref();
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
    // A closed stdout (e.g. `| head`) ends the trace instead of crashing on EPIPE.
    process.stdout.on('error', finish);
  });
  capture.ready().then(
    (hello) =>
      process.stderr.write(
        `calitrace trace: tracing ${describeFilter(filter)} in ${values.netns ?? 'this namespace'} (${mode} mode, loader protocol v${hello.version})\n`,
      ),
    () => undefined,
  );
  await done;
  await capture.stop();
  const c = capture.counters();
  process.stderr.write(
    `calitrace trace: ${printed} printed, ${c.received} received, lost: ${c.lostKernel} in kernel, ${c.lostPipe} in pipe, ${c.loaderRestarts} loader restarts\n`,
  );
  if (failure) {
    process.stderr.write(`calitrace trace: ${failure.message}\n`);
    return 1;
  }
  return 0;
}

/** --write/--snaplen, checked before anything starts. */
function writeOptions(target: string | undefined, snaplen: string | undefined, mode: CaptureMode, events: boolean): { target: string; snaplen: number } | undefined {
  if (target === undefined) {
    if (snaplen !== undefined) throw new UsageError('--snaplen sets how much of each packet --write keeps: give --write FILE too');
    return undefined;
  }
  if (target === '') throw new UsageError("--write takes a file name, or '-' for stdout");
  if (events) throw new UsageError('--write writes judged packets with their verdicts: not with --events');
  // --write picks packet mode by default: only an explicit --mode case/flow gets here.
  if (mode !== 'packet') throw new UsageError(`--write writes every packet's bytes, which needs every packet's record (packet mode, what --write picks by default): drop --mode ${mode}`);
  const n = intOption('snaplen', snaplen, SNAP_DEFAULT);
  if (n < 1 || n > SNAP_MAX) throw new UsageError(`--snaplen takes 1 to ${SNAP_MAX} bytes, got ${n}`);
  if (target !== '-') {
    try {
      fs.closeSync(fs.openSync(target, 'w'));
    } catch (err) {
      throw new UsageError(`--write ${target}: ${(err as Error).message}`);
    }
  }
  return { target, snaplen: n };
}

export const traceCommand: Command = {
  name: 'trace',
  summary: 'live packet events from the eBPF tracer (--no-ui: one line per event)',
  help: HELP,
  run,
};

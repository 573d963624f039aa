// `calitrace trace --no-ui` in its default shape: one verdict per packet (or one line per flow update
// with --flows), from the collector: observed path, predicted path, kernel view, reason.
import { FilterSpec, filterWords } from '../capture/filter';
import type { CaptureMode } from '../capture/capture';
import { formatFlow, formatVerdict, OutputFormat } from './trace-format';
import type { ApiSettings } from '../session/api';
import { nodeName } from '../session/api';
import { runNodeSession } from '../session/run';
import type { PodNameSource } from '../pods/source';
import type { RunningCollector } from '../collector/start';
import { PcapngWriter } from '../pcapng/writer';
import { VerdictPcapWriter } from '../pcapng/verdict-writer';
import { openPcapOutput, PcapOutput } from '../pcapng/output';
import { VERSION } from '../util/version';

export interface VerdictTraceOptions {
  netns?: string;
  patterns?: string[];
  filter: FilterSpec;
  filterText: string;
  output: OutputFormat;
  /** Stop after this many printed lines (0: no limit). */
  count: number;
  /** Stop after this many seconds (0: no limit). */
  durationS: number;
  flows: boolean;
  /** 'packet' or 'case' (default: the CLI picks, see trace.ts). */
  mode?: CaptureMode;
  windowMs?: number;
  /** Serve the gRPC API beside the trace (undefined: none). */
  api?: ApiSettings;
  /** Where verdict lines and the API get pod names. */
  pods?: PodNameSource;
  /** --write: judged packets' bytes into pcapng (FILE, or '-' for stdout: then no lines are printed). */
  write?: { target: string; snaplen: number };
}

export async function runVerdictTrace(o: VerdictTraceOptions): Promise<number> {
  let printed = 0;
  let pcap: ReturnType<typeof startPcap> | undefined;
  const mode = o.mode ?? 'case';
  // With a selection the kernel ships every selected packet's records in case mode too: a line each.
  const perPacket = mode === 'packet' || filterWords(o.filter).length > 0;
  return runNodeSession(
    {
      command: 'trace',
      collector: {
        netns: o.netns,
        patterns: o.patterns,
        filter: o.filter,
        windowMs: o.windowMs,
        flowUpdateMs: 1000,
        loaderArgs: o.write ? ['--snaplen', String(o.write.snaplen)] : undefined,
        mode,
      },
      mode,
      pods: o.pods,
      api: o.api,
      durationS: o.durationS,
      summary: () => `${printed} printed`,
      // After the collector stopped, everything is judged: the capture's rest goes out, then its summary.
      afterStop: async (log) => {
        if (pcap) log(await pcap.close());
      },
    },
    (session) => {
      const { collector, hello, model } = session.running;
      const printer = { node: nodeName({ node: o.api?.node }, o.netns), pods: session.pods };
      const shape = o.flows
        ? 'one line per flow update'
        : perPacket
          ? 'one verdict per packet'
          : 'case mode: a verdict line per new path and per drop, every packet judged and counted (--flows for the counts, --mode packet for a line per packet)';
      session.log(
        `judging ${o.filterText} in ${o.netns ?? 'this namespace'} ` +
          `(${shape}, loader protocol v${hello.version}, route model generation ${model.generation})`,
      );
      if (o.write) {
        pcap = startPcap(session.running, o.write, o.netns, o.api?.node);
        session.log(
          `writing judged packets (first ${o.write.snaplen} bytes, one block per hook, the verdict as comment) to ` +
            `${o.write.target === '-' ? 'stdout' : o.write.target}`,
        );
      }
      const print = (line: string) => {
        if (o.count && printed >= o.count) return;
        if (o.write?.target !== '-') process.stdout.write(line + '\n'); // with --write -, stdout is the capture
        printed++;
        if (o.count && printed >= o.count) session.end();
      };
      if (o.flows) collector.on('flow', (f) => print(formatFlow(f, o.output)));
      else collector.on('judged', ({ verdict }) => print(formatVerdict(verdict, o.output, printer)));
      // A packet held for neighbour resolution: said at once on stderr, its one verdict follows on stdout.
      collector.on('pending', (p) =>
        session.log(`pending ${p.src} > ${p.dst}: the kernel is doing ${p.pendingOn}; its verdict follows when the packet is sent or dropped (up to ~3 s)`),
      );
      // A closed stdout (e.g. `| head`) ends the trace instead of crashing on EPIPE.
      process.stdout.on('error', () => session.end());
    },
  );
}

/** --write: snapshots wait in a VerdictPcapWriter for their packet's verdict, then go to the output. */
function startPcap(running: RunningCollector, w: { target: string; snaplen: number }, netns: string | undefined, node: string | undefined) {
  const out: PcapOutput = openPcapOutput(w.target);
  const nodeLabel = nodeName({ node }, netns);
  const writer = new PcapngWriter((b) => out.write(b), { application: `calitrace ${VERSION}`, os: `Linux, node ${nodeLabel}` });
  const vw = new VerdictPcapWriter(writer, { node: nodeLabel, snaplen: w.snaplen, realtimeOffsetNs: () => running.hello.realtimeOffsetNs });
  running.capture.on('snap', (f) => vw.snapFrame(f));
  const off = running.collector.on('judged', ({ verdict, events }) => vw.judged(verdict, events));
  const timer = setInterval(() => vw.expire(), 100);
  timer.unref();
  return {
    /** After the collector stopped (everything judged): the rest, unjudged, then a summary line. */
    close: async (): Promise<string> => {
      clearInterval(timer);
      off();
      vw.close();
      await out.close();
      const c = vw.counters;
      return (
        `wrote ${writer.packets} packet blocks (${c.judged} with their verdict, ${c.unjudged} unjudged) to ${w.target === '-' ? 'stdout' : w.target}; ` +
        `lost: ${c.snapsLost} snapshots in kernel, ${c.eventsWithoutSnapshot} hook events without one, ${out.dropped} blocks to a slow reader` +
        (out.error ? `; write error: ${out.error.message}` : '')
      );
    },
  };
}

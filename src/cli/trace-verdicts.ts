// `calitrace trace --no-ui` in its default shape: one verdict per packet (or one line per flow update
// with --flows), from the collector: observed path, predicted path, kernel view, reason.
import { startCollector } from '../collector/start';
import { onCollectorError } from '../collector/collector';
import type { CollectorCounters } from '../collector/types';
import type { FilterSpec } from '../capture/filter';
import { formatFlow, formatVerdict, OutputFormat } from './trace-format';
import { ApiSettings, serveBesideTrace } from './serve';
import { PodNameSource, startPodNames } from './pod-names';
import { labNodeOf } from '../api/pods';
import { hostname } from 'node:os';
import { PcapngWriter } from '../pcapng/writer';
import { VerdictPcapWriter } from '../pcapng/verdict-writer';
import { openPcapOutput, PcapOutput } from '../pcapng/output';
import { nodeName } from './serve';
import { VERSION } from '../api/server';

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
  windowMs?: number;
  /** Serve the gRPC API beside the trace (undefined: --no-api). */
  api?: ApiSettings;
  /** Where verdict lines and the API get pod names. */
  pods?: PodNameSource;
  /** --write: judged packets' bytes into pcapng (FILE, or '-' for stdout: then no lines are printed). */
  write?: { target: string; snaplen: number };
}

export async function runVerdictTrace(o: VerdictTraceOptions): Promise<number> {
  let running;
  try {
    running = await startCollector({
      netns: o.netns,
      patterns: o.patterns,
      filter: o.filter,
      windowMs: o.windowMs,
      flowUpdateMs: 1000,
      loaderArgs: o.write ? ['--snaplen', String(o.write.snaplen)] : undefined,
    });
  } catch (err) {
    process.stderr.write(`calitrace trace: ${(err as Error).message}\n`);
    return 1;
  }
  const { collector, hello } = running;
  process.stderr.write(
    `calitrace trace: judging ${o.filterText} in ${o.netns ?? 'this namespace'} ` +
      `(${o.flows ? 'one line per flow update' : 'one verdict per packet'}, loader protocol v${hello.version}, ` +
      `route model generation ${running.model.generation})\n`,
  );
  const log = (m: string) => process.stderr.write(`calitrace trace: ${m}\n`);
  if (o.pods) log(o.pods.description);
  const pods = o.pods ? startPodNames(o.pods, log) : undefined;
  const printer = { node: labNodeOf(o.netns)?.nodeName ?? hostname(), pods: pods?.directory };
  const serving = await serveBesideTrace(running, o.api, { netns: o.netns, mode: 'packet', pods: pods?.directory, podNames: o.pods?.description }, log);
  let printed = 0;
  let failure: Error | undefined;
  const pcap = o.write ? startPcap(running, o.write, o.netns, o.api?.node) : undefined;
  if (pcap) log(`writing judged packets (first ${o.write!.snaplen} bytes, one block per hook, the verdict as comment) to ${o.write!.target === '-' ? 'stdout' : o.write!.target}`);
  await new Promise<void>((resolve) => {
    const finish = () => resolve();
    const print = (line: string) => {
      if (o.count && printed >= o.count) return;
      if (o.write?.target !== '-') process.stdout.write(line + '\n'); // with --write -, stdout is the capture
      printed++;
      if (o.count && printed >= o.count) finish();
    };
    if (o.flows) collector.on('flow', (f) => print(formatFlow(f, o.output)));
    else collector.on('judged', ({ verdict }) => print(formatVerdict(verdict, o.output, printer)));
    onCollectorError(collector, {
      warn: (m) => process.stderr.write(`calitrace trace: ${m}\n`),
      fatal: (err) => {
        failure = err;
        finish();
      },
    });
    if (o.durationS) setTimeout(finish, o.durationS * 1000).unref();
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
    process.stdout.on('error', finish);
  });
  await serving?.close();
  pods?.stop();
  await running.stop();
  process.stderr.write(`calitrace trace: ${printed} printed; ${countersText(collector.counters())}\n`);
  if (pcap) {
    const c = await pcap.close();
    log(c);
  }
  if (failure) {
    process.stderr.write(`calitrace trace: ${failure.message}\n`);
    return 1;
  }
  return 0;
}

/** Every counter, so a loss is a number on screen, never a silence. */
export function countersText(c: CollectorCounters): string {
  const verdicts = Object.entries(c.verdicts)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  return (
    `${c.received} events, ${c.packets} packets judged (${verdicts}); lost: ${c.lostKernel} in kernel, ` +
    `${c.lostPipe} in pipe, ${c.loaderRestarts} loader restarts; evicted: ${c.correlatorEvictions} open packets, ` +
    `${c.flowEvictions} flows; ${c.predictErrors} prediction errors`
  );
}

/** --write: snapshots wait in a VerdictPcapWriter for their packet's verdict, then go to the output. */
function startPcap(running: Awaited<ReturnType<typeof startCollector>>, w: { target: string; snaplen: number }, netns: string | undefined, node: string | undefined) {
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

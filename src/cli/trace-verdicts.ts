// `calitrace trace --no-ui` in its default shape: one verdict per packet (or one line per flow update
// with --flows), from the collector: observed path, predicted path, kernel view, reason.
import { startCollector } from '../collector/start';
import { onCollectorError } from '../collector/collector';
import type { CollectorCounters } from '../collector/types';
import type { FilterSpec } from '../capture/filter';
import { formatFlow, formatVerdict, OutputFormat } from './trace-format';
import { ApiSettings, serveBesideTrace } from './serve';
import { PodNameSource, startPodNames } from './pod-names';

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
  /** Where the API gets pod names (only with `api`). */
  pods?: PodNameSource;
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
  if (o.api && o.pods) log(o.pods.description);
  const pods = o.api && o.pods ? startPodNames(o.pods, log) : undefined;
  if (pods && o.pods?.kind === 'kubernetes') running.collector.useCluster({ pods: pods.directory, knownNodes: pods.knownNodes });
  const serving = await serveBesideTrace(running, o.api, { netns: o.netns, mode: 'packet', pods: pods?.directory }, log);
  let printed = 0;
  let failure: Error | undefined;
  await new Promise<void>((resolve) => {
    const finish = () => resolve();
    const print = (line: string) => {
      if (o.count && printed >= o.count) return;
      process.stdout.write(line + '\n');
      printed++;
      if (o.count && printed >= o.count) finish();
    };
    if (o.flows) collector.on('flow', (f) => print(formatFlow(f, o.output)));
    else collector.on('judged', ({ verdict, events }) => print(formatVerdict(verdict, events, o.output)));
    // A packet held for neighbour resolution: said at once on stderr, its one verdict follows on stdout.
    collector.on('pending', (p) => process.stderr.write(`calitrace trace: pending ${p.src} > ${p.dst}: the kernel is doing ${p.pendingOn}; its verdict follows when the packet is sent or dropped (up to ~3 s)\n`));
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

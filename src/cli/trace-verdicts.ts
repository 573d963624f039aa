// `calitrace trace --no-ui` in its default shape: one verdict per packet (or one line per flow update
// with --flows), from the collector: observed path, predicted path, kernel view, reason.
import type { FilterSpec } from '../capture/filter';
import { formatFlow, formatVerdict, OutputFormat } from './trace-format';
import type { ApiSettings } from '../session/api';
import { runNodeSession } from '../session/run';
import type { PodNameSource } from '../pods/source';

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
  /** Serve the gRPC API beside the trace (undefined: none). */
  api?: ApiSettings;
  /** Where the API gets pod names (only with `api`). */
  pods?: PodNameSource;
}

export async function runVerdictTrace(o: VerdictTraceOptions): Promise<number> {
  let printed = 0;
  return runNodeSession(
    {
      command: 'trace',
      collector: { netns: o.netns, patterns: o.patterns, filter: o.filter, windowMs: o.windowMs, flowUpdateMs: 1000 },
      mode: 'packet',
      pods: o.api ? o.pods : undefined,
      api: o.api,
      durationS: o.durationS,
      summary: () => `${printed} printed`,
    },
    (session) => {
      const { collector, hello, model } = session.running;
      session.log(
        `judging ${o.filterText} in ${o.netns ?? 'this namespace'} ` +
          `(${o.flows ? 'one line per flow update' : 'one verdict per packet'}, loader protocol v${hello.version}, ` +
          `route model generation ${model.generation})`,
      );
      const print = (line: string) => {
        if (o.count && printed >= o.count) return;
        process.stdout.write(line + '\n');
        printed++;
        if (o.count && printed >= o.count) session.end();
      };
      if (o.flows) collector.on('flow', (f) => print(formatFlow(f, o.output)));
      else collector.on('judged', ({ verdict, events }) => print(formatVerdict(verdict, events, o.output)));
      // A closed stdout (e.g. `| head`) ends the trace instead of crashing on EPIPE.
      process.stdout.on('error', () => session.end());
    },
  );
}

// `calitrace trace` with the UI: the collector in this process, the API for other subscribers (as the
// line trace serves it, unless --no-api), and the UI as a gRPC client of its own private unix socket —
// exactly the client `calitrace ui` is, whatever TLS or token the public API asks for.
import { startCollector } from '../collector/start';
import { onCollectorError } from '../collector/collector';
import type { CaptureMode } from '../capture/capture';
import type { FilterSpec } from '../capture/filter';
import { apiSettings, ApiSettings, serveBesideTrace, serveCollector, ServingApi } from '../cli/serve';
import { runUi } from './run';
import { UsageError } from '../cli/command';
import { PodNameSource, startPodNames } from '../cli/pod-names';

export interface TraceUiOptions {
  netns?: string;
  patterns?: string[];
  mode: CaptureMode;
  filter?: FilterSpec;
  /** The public API (undefined: --no-api). */
  api?: ApiSettings;
  /** Where both APIs (and so the UI) get pod names. */
  pods?: PodNameSource;
  noColor?: boolean;
}

export async function runTraceUi(o: TraceUiOptions): Promise<number> {
  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    throw new UsageError('without --no-ui, trace opens the live UI, which needs a terminal (stdin and stdout a tty); add --no-ui to print lines');
  }
  const log = (m: string) => process.stderr.write(`calitrace trace: ${m}\n`);
  const own = apiSettings({ listen: `unix:/run/calitrace-trace-${process.pid}.sock` });
  log(`starting the tracer${o.netns ? ` in ${o.netns}` : ''}…`);
  const running = await startCollector({ netns: o.netns, mode: o.mode, patterns: o.patterns, filter: o.filter });
  if (o.pods) log(o.pods.description);
  // The pod directory's later problems would scribble over the UI: kept, and printed once it is closed.
  const podReports: string[] = [];
  let uiOpen = false;
  const pods = o.pods ? startPodNames(o.pods, (m) => (uiOpen ? podReports.push(m) : log(m))) : undefined;
  const ctx = { netns: o.netns, mode: o.mode, pods: pods?.directory, podNames: o.pods?.description };
  // While the UI owns the screen, warnings stay off it (they are counted in the header: predict_errors);
  // a fatal error closes the UI and is printed once the terminal is back.
  const ended = new AbortController();
  let failure: Error | undefined;
  onCollectorError(running.collector, {
    warn: () => undefined,
    fatal: (err) => {
      failure ??= err;
      ended.abort();
    },
  });
  let mine: ServingApi | undefined;
  let shared: ServingApi | undefined;
  try {
    shared = await serveBesideTrace(running, o.api, ctx, log);
    mine = await serveCollector(running, own, ctx);
    uiOpen = true;
    await runUi({ server: mine.api.address, noColor: o.noColor, signal: ended.signal });
  } finally {
    uiOpen = false;
    await mine?.close();
    await shared?.close();
    pods?.stop();
    await running.stop();
  }
  for (const m of podReports) log(m);
  const c = running.collector.counters();
  log(`${c.received} events received, ${c.packets} packets judged; lost ${c.lostKernel} in kernel, ${c.lostPipe} in pipe`);
  if (failure) {
    log(`stopped: ${failure.message}`);
    return 1;
  }
  return 0;
}

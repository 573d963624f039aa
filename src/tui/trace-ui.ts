// `calitrace trace` with the UI: the collector and the API in this process, the UI as a gRPC client of
// that API over a private unix socket (so it is exactly the client `calitrace ui` is, and other
// subscribers can still attach to the same socket), until the user quits.
import { startCollector } from '../collector/start';
import type { CaptureMode } from '../capture/capture';
import type { FilterSpec } from '../capture/filter';
import { apiSettings, ApiFlags, serveCollector, ServingApi } from '../cli/serve';
import { runUi } from './run';

export interface TraceUiOptions {
  netns?: string;
  patterns?: string[];
  mode: CaptureMode;
  filter?: FilterSpec;
  /** API flags as `calitrace serve` takes them; without --listen, a private unix socket. */
  api?: ApiFlags;
  noColor?: boolean;
}

export async function runTraceUi(o: TraceUiOptions): Promise<number> {
  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    throw new Error('the trace UI needs a terminal; use --no-ui for lines, or `calitrace serve` + `calitrace ui`');
  }
  const settings = apiSettings({ listen: `unix:/run/calitrace-trace-${process.pid}.sock`, ...o.api });
  process.stderr.write(`calitrace trace: starting the tracer${o.netns ? ` in ${o.netns}` : ''}…\n`);
  const running = await startCollector({ netns: o.netns, mode: o.mode, patterns: o.patterns, filter: o.filter });
  let serving: ServingApi | undefined;
  try {
    serving = await serveCollector(running, settings, { netns: o.netns, mode: o.mode });
    await runUi({ server: serving.api.address, token: settings.security.token, noColor: o.noColor });
  } finally {
    await serving?.close();
    await running.stop();
  }
  const c = running.collector.counters();
  process.stderr.write(
    `calitrace trace: ${c.received} events received, ${c.packets} packets judged; lost ${c.lostKernel} in kernel, ${c.lostPipe} in pipe\n`,
  );
  return 0;
}

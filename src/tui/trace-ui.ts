// `calitrace trace` with the UI: one node session (src/session) with the API for other subscribers (as
// the line trace serves it, unless --no-api) and the UI as a gRPC client of its own private unix socket —
// exactly the client `calitrace ui` is, whatever TLS or token the public API asks for.
import type { CaptureMode } from '../capture/capture';
import type { FilterSpec } from '../capture/filter';
import type { ApiSettings } from '../session/api';
import { runNodeSession } from '../session/run';
import type { PodNameSource } from '../pods/source';
import { runUi } from './run';

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

/** Without a terminal there is nothing to draw on: the caller says what to do instead. */

export async function runTraceUi(o: TraceUiOptions): Promise<number> {
  // While the UI owns the screen, lines for stderr wait and are printed once it is closed; warnings stay
  // off it altogether (they are counted in the header: predict_errors).
  const held: string[] = [];
  let uiOpen = false;
  const write = (m: string) => process.stderr.write(`calitrace trace: ${m}\n`);
  const log = (m: string) => (uiOpen ? held.push(m) : write(m));
  write(`starting the tracer${o.netns ? ` in ${o.netns}` : ''}…`);
  return runNodeSession(
    {
      command: 'trace',
      collector: { netns: o.netns, mode: o.mode, patterns: o.patterns, filter: o.filter },
      mode: o.mode,
      pods: o.pods,
      api: o.api,
      privateApi: {
        listen: `unix:/run/calitrace-trace-${process.pid}.sock`,
        security: { insecure: false },
        hub: { maxSubscribers: 128, historyCapacity: 10000, queueCapacity: 4096 },
      },
      warn: () => undefined,
      log,
    },
    async (session) => {
      uiOpen = true;
      try {
        await runUi({ server: session.privateApi!.api.address, noColor: o.noColor, signal: session.signal });
      } finally {
        uiOpen = false;
        for (const m of held.splice(0)) write(m);
      }
    },
  );
}

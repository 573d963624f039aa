// Starts the UI against an API address and resolves when the user quits (terminal restored).
import { App } from './app';
import { GrpcSource, GrpcSourceOptions } from './source';
import { compileUiFilter } from './filter';

export interface RunUiOptions extends GrpcSourceOptions {
  noColor?: boolean;
  /** Ends the UI (terminal restored) from outside, e.g. when the tracer it shows has failed. */
  signal?: AbortSignal;
}

export async function runUi(opts: RunUiOptions): Promise<void> {
  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    throw new Error('calitrace ui needs a terminal (stdin and stdout a tty); for scripts use `calitrace observe`');
  }
  const app = new App({ source: new GrpcSource(opts), compileFilter: compileUiFilter, noColor: opts.noColor });
  // SIGTERM/SIGHUP must restore the terminal too, not leave it in the alternate screen.
  const stop = () => app.stop();
  process.once('SIGTERM', stop);
  process.once('SIGHUP', stop);
  opts.signal?.addEventListener('abort', stop, { once: true });
  try {
    await app.run();
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGHUP', stop);
    opts.signal?.removeEventListener('abort', stop);
  }
}

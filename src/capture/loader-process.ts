// Runs bpf/.output/calitrace-loader as a child process and keeps it running: a loader that dies is
// restarted with exponential backoff, and each restart is announced (onRestart) so the capture can
// count what was missed instead of pretending the stream was continuous.
//
// A loader that fails before it ever got going (missing binary, no privileges, bad arguments) is not
// retried: that is a set-up problem and is reported once, with its stderr, as an error.
import { spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../util/package-root';

export const LOADER_RELATIVE_PATH = path.join('bpf', '.output', 'calitrace-loader');


export function defaultLoaderPath(): string {
  return path.join(packageRoot(), LOADER_RELATIVE_PATH);
}

export interface LoaderProcessOptions {
  loaderPath?: string;
  /** Called before every (re)start, so a restarted loader gets the current mode, filter and patterns. */
  args: () => string[];
  onStdout: (chunk: Buffer) => void;
  /** A new loader instance is running (first start and every restart). */
  onSpawn?: (pid: number, instance: number) => void;
  /** The running loader died unexpectedly and will be restarted after delayMs. */
  onCrash?: (info: { code: number | null; signal: NodeJS.Signals | null; delayMs: number; stderrTail: string }) => void;
  /** Unrecoverable: the loader cannot be started, or keeps failing at start-up. */
  onFatal: (err: Error) => void;
  onStderrLine?: (line: string) => void;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Consecutive failed starts (no hello seen) before giving up. */
  maxFailedStarts?: number;
}

export class LoaderProcess {
  private child: ChildProcess | undefined;
  private stopping = false;
  private instance = 0;
  private backoffMs: number;
  private failedStarts = 0;
  private healthy = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private stderrTail: string[] = [];
  private exited: Promise<void> = Promise.resolve();
  readonly loaderPath: string;

  constructor(private readonly opts: LoaderProcessOptions) {
    this.loaderPath = opts.loaderPath ?? defaultLoaderPath();
    this.backoffMs = opts.initialBackoffMs ?? 100;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (!fs.existsSync(this.loaderPath)) {
      this.opts.onFatal(
        new Error(`the BPF loader is not built: ${this.loaderPath} does not exist. Build it with: npm run build (or make -C bpf)`),
      );
      return;
    }
    this.spawnOnce();
  }

  /** The loader said hello: it is up. Resets the backoff and the failed-start count. */
  markHealthy(): void {
    this.healthy = true;
    this.failedStarts = 0;
    this.backoffMs = this.opts.initialBackoffMs ?? 100;
  }

  /** Writes one command line to the loader's stdin. Dropped silently only while no loader runs (a
   * restarted loader gets the current state from its arguments). */
  write(line: string): void {
    const stdin = this.child?.stdin;
    if (stdin && !stdin.destroyed && stdin.writable) stdin.write(line.endsWith('\n') ? line : line + '\n');
  }

  /** Clean shutdown: stdin EOF (the loader detaches and exits), then SIGTERM, then SIGKILL. */
  async stop(timeoutMs = 3000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.stdin?.end();
    const term = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs * 2);
    try {
      await this.exited;
    } finally {
      clearTimeout(term);
      clearTimeout(kill);
    }
  }

  private spawnOnce(): void {
    this.instance++;
    this.healthy = false;
    this.stderrTail = [];
    // Its own process group: a Ctrl-C in the terminal reaches calitrace only, which stops the loader in
    // order (stdin EOF); were calitrace killed, the same EOF ends the loader.
    const child = spawn(this.loaderPath, this.opts.args(), { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.child = child;
    let resolveExit!: () => void;
    this.exited = new Promise((r) => (resolveExit = r));
    // A loader that exits closes its stdin; writing then must not crash the collector.
    child.stdin!.on('error', () => undefined);
    child.stdout!.on('data', (chunk: Buffer) => {
      if (this.child === child) this.opts.onStdout(chunk);
    });
    let partial = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        this.stderrTail.push(line);
        if (this.stderrTail.length > 20) this.stderrTail.shift();
        this.opts.onStderrLine?.(line);
      }
    });
    child.on('error', (err) => {
      // spawn failures (EACCES, ENOEXEC) arrive here; 'close' follows.
      this.stderrTail.push(`spawn: ${err.message}`);
    });
    child.on('spawn', () => this.opts.onSpawn?.(child.pid!, this.instance));
    // 'close' (not 'exit') so every stdout byte has been delivered before we react.
    child.on('close', (code, signal) => {
      resolveExit();
      if (this.child !== child || this.stopping) return;
      const tail = this.stderrTail.join('\n');
      if (!this.healthy) {
        this.failedStarts++;
        const limit = this.opts.maxFailedStarts ?? (this.instance === 1 ? 1 : 10);
        if (this.failedStarts >= limit) {
          // The loader's own message usually says what to fix; add the generic hint only when it does not.
          const hint = !tail || /permi|EPERM|BTF|libbpf/i.test(tail)
            ? '\nIt needs root (CAP_BPF, CAP_NET_ADMIN) and a kernel with BTF; CALITRACE_LOADER_STDERR=1 shows its diagnostics.'
            : '';
          this.opts.onFatal(
            new Error(
              `the BPF loader ${this.loaderPath} exited (${signal ?? `code ${code}`}) before it started tracing` +
                `${tail ? `:\n${tail}` : ''}${hint}`,
            ),
          );
          return;
        }
      }
      const delayMs = this.backoffMs;
      this.backoffMs = Math.min(this.backoffMs * 2, this.opts.maxBackoffMs ?? 5000);
      this.opts.onCrash?.({ code, signal, delayMs, stderrTail: tail });
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        if (!this.stopping) this.spawnOnce();
      }, delayMs);
    });
  }
}

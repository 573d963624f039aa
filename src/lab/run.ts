// Runs the iproute2/sysctl commands the lab is made of, collecting output; never through a shell.
import { spawn } from 'node:child_process';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  /** Aborting sends SIGINT, which makes ping and iperf3 stop and still print their summary. */
  signal?: AbortSignal;
}

export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    const onAbort = () => child.kill('SIGINT');
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`cannot run '${argv[0]}': ${err.message} (is it installed? run: bash scripts/setup.sh)`));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ code: code ?? (signal ? 128 + 9 : 1), stdout, stderr });
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined); // the command may exit before reading its input
      child.stdin.end(opts.input);
    }
  });
}

/** Runs a command that must succeed; the error quotes the command and its stderr. */
export async function must(argv: string[], input?: string): Promise<string> {
  const r = await run(argv, { input });
  if (r.code !== 0) {
    throw new Error(`lab: '${argv.join(' ')}' failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

export function ipIn(netns: string, ...args: string[]): Promise<string> {
  return must(['ip', '-n', netns, ...args]);
}

export async function ipJson<T = unknown>(netns: string, ...args: string[]): Promise<T[]> {
  const out = await must(['ip', '-n', netns, '-j', ...args]);
  return out.trim() ? (JSON.parse(out) as T[]) : [];
}

/** sysctl only ever inside a lab namespace. */
export function sysctlIn(netns: string, settings: Record<string, string | number>): Promise<string> {
  const pairs = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
  return must(['ip', 'netns', 'exec', netns, 'sysctl', '-q', '-w', ...pairs]);
}

/**
 * Runs several `ip` (or `bridge`) commands in one process inside a namespace: one fork instead of a dozen,
 * which is most of the time `lab up` takes on a busy machine. Stops at the first failing command and names it.
 */
export async function batchIn(tool: 'ip' | 'bridge', netns: string, commands: string[][]): Promise<void> {
  if (commands.length === 0) return;
  const lines = commands.map((c) => c.join(' '));
  const r = await run([tool, '-n', netns, '-batch', '-'], { input: lines.join('\n') + '\n' });
  if (r.code !== 0) {
    const at = /Command failed -:(\d+)/.exec(r.stderr);
    const failed = at ? lines[Number(at[1]) - 1] : lines.join('; ');
    throw new Error(`lab: '${tool} -n ${netns} ${failed}' failed: ${r.stderr.replace(/Command failed -:\d+\s*/, '').trim()}`);
  }
}

// One long-lived /bin/sh that runs short commands for this process, one after another. Node's spawn
// forks the whole calling process on its main thread: with a collector's heap that is milliseconds of
// page-table copying per command (≈ 10 ms each on a busy 2-core node, measured in issue 10), during which
// nothing is read from the capture or written to a subscriber. A poll that runs a command every second
// or two pays that once, when the shell starts (early, with a small heap), and after that only the
// small shell forks.
import { spawn, ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface CommandResult {
  /** The command's exit status; -1 when it did not finish (timeout, the shell died or was closed). */
  code: number;
  stdout: string;
}

interface Pending {
  id: number;
  resolve: (r: CommandResult) => void;
  timeoutMs: number;
  /** Armed when the command is the one running (the head): a long queue does not time out its tail. */
  timer?: NodeJS.Timeout;
}

/** An idle shell must not keep the process alive; one running a command must (its caller awaits it). */
function holdOpen(child: ChildProcess, on: boolean): void {
  for (const h of [child, child.stdin, child.stdout] as unknown as ({ ref(): void; unref(): void } | null)[]) {
    if (on) h?.ref();
    else h?.unref();
  }
}

/** Quotes one argument for sh: everything literal. */
function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export class CommandShell {
  private child: ChildProcess | undefined;
  private out = '';
  private readonly pending: Pending[] = [];
  private nextId = 1;
  /** Ends each command's output: random, so no command's own output can look like it. */
  private readonly marker = `@@calitrace-done-${randomBytes(8).toString('hex')}`;
  private closed = false;

  constructor(private readonly shell = '/bin/sh') {}

  /**
   * Runs argv (no shell syntax: every argument is quoted) with stdin from /dev/null and stderr dropped;
   * resolves with its exit status and stdout. Never rejects: a command that cannot run has a non-zero
   * code. A command still running `timeoutMs` after it started kills the shell (the next command starts
   * a new one).
   */
  run(argv: string[], timeoutMs = 5000): Promise<CommandResult> {
    if (this.closed || argv.length === 0) return Promise.resolve({ code: -1, stdout: '' });
    const child = this.child ?? this.start();
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.push({ id, resolve, timeoutMs });
      if (this.pending.length === 1) this.armHead(child);
      holdOpen(child, true);
      // printf's leading newline ends a last line without one; it is taken off again in onData.
      child.stdin!.write(`${argv.map(shQuote).join(' ')} </dev/null 2>/dev/null; printf '\\n%s %d %d\\n' ${this.marker} ${id} $?\n`);
    });
  }

  /** Stops the shell; commands still waiting resolve with code -1. */
  close(): void {
    this.closed = true;
    if (this.child) this.abandon(this.child);
  }

  private start(): ChildProcess {
    // Its own process group, so a stuck command dies with it (abandon); a shell whose parent died
    // reads end-of-file and exits after the command it runs.
    const child = spawn(this.shell, [], { stdio: ['pipe', 'pipe', 'ignore'], detached: true });
    this.child = child;
    this.out = '';
    child.stdout!.setEncoding('utf8');
    // Only the current shell's output: a killed one's last bytes must not land in its successor's buffer.
    child.stdout!.on('data', (d: string) => this.child === child && this.onData(d));
    child.stdin!.on('error', () => undefined); // a dead shell: 'exit' below settles what waits
    child.on('error', () => this.abandon(child));
    child.on('exit', () => this.abandon(child));
    holdOpen(child, false);
    return child;
  }

  private onData(d: string): void {
    this.out += d;
    for (;;) {
      const at = this.out.indexOf(`\n${this.marker} `);
      if (at < 0) return;
      const eol = this.out.indexOf('\n', at + 1);
      if (eol < 0) return;
      const [, idText, codeText] = this.out.slice(at + 1, eol).split(' ');
      const stdout = this.out.slice(0, at);
      this.out = this.out.slice(eol + 1);
      const p = this.pending.shift();
      if (!p) continue;
      clearTimeout(p.timer);
      // Commands run in order, so the head is the one that finished; a mismatch would be a bug here.
      p.resolve({ code: Number(idText) === p.id ? Number(codeText) : -1, stdout });
      if (!this.child) continue;
      if (this.pending.length === 0) holdOpen(this.child, false);
      else this.armHead(this.child);
    }
  }

  private armHead(child: ChildProcess): void {
    const head = this.pending[0];
    head.timer = setTimeout(() => this.abandon(child), head.timeoutMs);
    head.timer.unref();
  }

  /** The shell is gone or stuck: kill it, and what waits on it gets code -1. */
  private abandon(child: ChildProcess): void {
    if (this.child !== child) return;
    this.child = undefined;
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL'); // the group is gone already
    }
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.resolve({ code: -1, stdout: '' });
    }
  }
}

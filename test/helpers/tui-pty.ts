// A real terminal for UI tests: the program runs in a pseudo-terminal (node-pty) and its output is
// interpreted by a headless xterm, so assertions read the screen a person would see. Every wait polls
// the screen against a deadline; nothing sleeps for a fixed time.
import * as pty from 'node-pty';
import { Terminal } from '@xterm/headless';

export interface PtyOptions {
  cols?: number;
  rows?: number;
  env?: Record<string, string>;
  cwd?: string;
}

export class PtyScreen {
  readonly term: Terminal;
  readonly proc: pty.IPty;
  /** Every byte the program wrote, for checks on escape sequences. */
  raw = '';
  exit: { exitCode: number; signal?: number } | null = null;
  readonly exited: Promise<{ exitCode: number; signal?: number }>;
  private pending = 0;

  constructor(file: string, args: string[], opts: PtyOptions = {}) {
    const cols = opts.cols ?? 120;
    const rows = opts.rows ?? 40;
    this.term = new Terminal({ cols, rows, allowProposedApi: true, scrollback: 0 });
    this.proc = pty.spawn(file, args, {
      name: 'xterm-256color',
      cols,
      rows,
      cwd: opts.cwd ?? process.cwd(),
      // The headless xterm is a UTF-8 terminal: say so, whatever locale the test runner inherited (CI's
      // may have none), so the UI draws its Unicode glyphs and the assertions can look for them.
      env: { ...(process.env as Record<string, string>), TERM: 'xterm-256color', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', ...opts.env },
    });
    this.proc.onData((d) => {
      this.raw += d;
      this.pending++;
      this.term.write(d, () => this.pending--);
    });
    this.exited = new Promise((resolve) =>
      this.proc.onExit((e) => {
        this.exit = e;
        resolve(e);
      }),
    );
  }

  /** The visible screen, one string per row (trailing spaces trimmed). */
  lines(): string[] {
    const b = this.term.buffer.active;
    const out: string[] = [];
    for (let i = 0; i < this.term.rows; i++) out.push(b.getLine(b.viewportY + i)?.translateToString(true) ?? '');
    return out;
  }

  text(): string {
    return this.lines().join('\n');
  }

  /** Polls the screen until `check` returns a truthy value; fails with the screen in the message. */
  async waitFor<T>(what: string, check: (screen: string, lines: string[]) => T | false | undefined | null, timeoutMs = 15_000): Promise<T> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (this.pending === 0) {
        const got = check(this.text(), this.lines());
        if (got) return got;
      }
      if (Date.now() > until) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; screen:\n${this.text()}\n(exit: ${JSON.stringify(this.exit)})`);
      }
      if (this.exit && this.pending === 0) {
        const got = check(this.text(), this.lines());
        if (got) return got;
        throw new Error(`program exited (${JSON.stringify(this.exit)}) before ${what}; screen:\n${this.text()}\nraw tail: ${JSON.stringify(this.raw.slice(-500))}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  waitForText(pattern: RegExp | string, timeoutMs?: number): Promise<string> {
    const re = typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : pattern;
    return this.waitFor(`${re}`, (s) => (re.test(s) ? s : false), timeoutMs);
  }

  press(keys: string): void {
    this.proc.write(keys);
  }

  resize(cols: number, rows: number): void {
    this.proc.resize(cols, rows);
    this.term.resize(cols, rows);
  }

  /** Ends the program if it is still running (test clean-up); waits for it. */
  async kill(): Promise<void> {
    if (!this.exit) {
      try {
        this.proc.kill('SIGTERM');
      } catch {
        /* already gone */
      }
      const t = setTimeout(() => {
        try {
          if (!this.exit) this.proc.kill('SIGKILL');
        } catch {
          /* gone */
        }
      }, 10_000);
      await this.exited;
      clearTimeout(t);
    }
    this.term.dispose();
  }
}

export const KEY = {
  enter: '\r',
  escape: '\x1b',
  tab: '\t',
  ctrlC: '\x03',
  down: '\x1b[B',
  up: '\x1b[A',
  backspace: '\x7f',
};

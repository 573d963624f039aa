// Reads the routing state of a network namespace from iproute2's JSON output. Three processes in parallel
// (one `ip -b` batch for links/addresses/routes/neighbours/netconf, one per rule family, one `bridge fdb`) keep a
// full dump in the low milliseconds, which is what makes "re-dump on every change" fast enough.

import { execFile, spawn, ChildProcess } from 'node:child_process';
import type { RoutingState } from './types';
import {
  addressesFromJson,
  applyNetconf,
  fdbFromJson,
  linkFromJson,
  membershipsFromJson,
  neighbourFromJson,
  routeFromJson,
  ruleFromJson,
} from './iproute-json';

type J = Record<string, unknown>;

function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { maxBuffer: 512 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const hint = (err as NodeJS.ErrnoException).code === 'ENOENT' ? ` (is ${cmd} installed? apt-get install iproute2)` : '';
        reject(new Error(`${cmd} ${args.join(' ')} failed${hint}: ${stderr.trim() || err.message}`));
      } else resolve(stdout);
    });
    // ip may exit before reading (e.g. no such namespace): its error, not EPIPE, is what to report.
    child.stdin?.on('error', () => undefined);
    if (input !== undefined) child.stdin?.end(input);
  });
}

function nsArgs(netns?: string): string[] {
  return netns ? ['-n', netns] : [];
}

function parseLines(out: string, expected: number, what: string): J[][] {
  const lines = out.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== expected) throw new Error(`unexpected ${what} output: ${lines.length} JSON documents, expected ${expected}`);
  return lines.map((l) => JSON.parse(l) as J[]);
}

const MAIN_CMDS = ['link show', 'addr show', 'route show table all', 'neigh show', 'netconf show', 'maddr show'];

/** One full dump of the namespace's routing state (one-shot processes; the live model uses DumpSession). */
export async function dumpState(netns?: string): Promise<RoutingState> {
  const [main, rules4, rules6, fdb] = await Promise.all([
    run('ip', [...nsArgs(netns), '-j', '-d', '-b', '-'], MAIN_CMDS.join('\n') + '\n'),
    run('ip', [...nsArgs(netns), '-j', '-4', 'rule', 'show']),
    run('ip', [...nsArgs(netns), '-j', '-6', 'rule', 'show']),
    run('bridge', [...nsArgs(netns), '-j', 'fdb', 'show']).catch(() => '[]'),
  ]);
  return assemble(netns, parseLines(main, MAIN_CMDS.length, 'ip -b'), rules4, rules6, fdb);
}

function assemble(netns: string | undefined, main: J[][], rules4: string, rules6: string, fdb: string): RoutingState {
  const [links, addrs, routes, neigh, netconf, maddr] = main;
  const linkList = links.map(linkFromJson);
  const all = applyNetconf(linkList, netconf);
  for (const l of linkList) l.rpFilter = Math.max(l.rpFilter ?? 0, all.allRpFilter ?? 0);
  const fdbList = (JSON.parse(fdb.trim() || '[]') as J[]).map(fdbFromJson);
  return {
    links: linkList,
    addresses: addressesFromJson(addrs),
    routes: routes.map((r) => routeFromJson(r)),
    rules: [
      ...(JSON.parse(rules4.trim() || '[]') as J[]).map((r) => ruleFromJson(r, 4)),
      ...(JSON.parse(rules6.trim() || '[]') as J[]).map((r) => ruleFromJson(r, 6)),
    ],
    neighbours: neigh.map(neighbourFromJson),
    fdb: fdbList,
    memberships: membershipsFromJson(maddr),
    complete: { rules: true, neighbours: true, fdb: true, links: true },
    netns,
  };
}


/**
 * A long-lived `ip -b -` (and `bridge -b -`) reading commands on stdin: each command answers one JSON line,
 * flushed at once. Entering the namespace and starting the process is paid once, so a re-dump costs a few
 * milliseconds instead of tens (what keeps the live model within 100 ms of the kernel on a busy machine).
 */
class BatchProcess {
  private child?: ChildProcess;
  private buf = '';
  private lines: string[] = [];
  private waiter?: { n: number; resolve: (l: string[]) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

  constructor(private readonly cmd: string, private readonly args: string[]) {}

  private ensure(): ChildProcess {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null && !this.child.killed) return this.child;
    // Its own process group, so a Ctrl-C in the terminal reaches calitrace only (it ends on stdin EOF).
    const child = spawn(this.cmd, this.args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.buf = '';
    this.lines = [];
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      this.buf += d;
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
      }
      this.deliver();
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      if (this.child === child) this.child = undefined;
      this.fail(new Error(`${this.cmd} ${this.args.join(' ')} exited (code ${code})${err ? `: ${err.trim()}` : ''}`));
    });
    child.on('error', (e) => this.fail(e));
    child.stdin!.on('error', () => undefined);
    this.child = child;
    return child;
  }

  private deliver(): void {
    const w = this.waiter;
    if (w && this.lines.length >= w.n) {
      this.waiter = undefined;
      clearTimeout(w.timer);
      w.resolve(this.lines.splice(0, w.n));
    }
  }

  private fail(e: Error): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      clearTimeout(w.timer);
      w.reject(e);
    }
  }

  /** Sends the commands and resolves with one output line per command. */
  ask(cmds: string[], timeoutMs = 5000): Promise<string[]> {
    const child = this.ensure();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        this.close();
        reject(new Error(`${this.cmd} ${this.args.join(' ')}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = { n: cmds.length, resolve, reject, timer };
      child.stdin!.write(cmds.join('\n') + '\n');
      this.deliver();
    });
  }

  close(): void {
    const c = this.child;
    this.child = undefined;
    if (c && c.exitCode === null) {
      c.stdin?.end();
      c.kill('SIGTERM');
    }
  }
}

export class DumpSession {
  private readonly main: BatchProcess;
  private readonly rules: BatchProcess;
  private readonly fdb: BatchProcess;
  private readonly maddr: BatchProcess;

  constructor(private readonly netns?: string) {
    this.main = new BatchProcess('ip', [...nsArgs(netns), '-j', '-d', '-b', '-']);
    this.rules = new BatchProcess('ip', [...nsArgs(netns), '-j', '-6', '-b', '-']);
    this.fdb = new BatchProcess('bridge', [...nsArgs(netns), '-j', '-b', '-']);
    this.maddr = new BatchProcess('ip', [...nsArgs(netns), '-j', '-b', '-']);
  }

  async dump(): Promise<RoutingState> {
    const [main, rules6, fdb] = await Promise.all([
      this.main.ask([...MAIN_CMDS, 'rule show']),
      this.rules.ask(['rule show']),
      this.fdb.ask(['fdb show']).catch(() => ['[]']),
    ]);
    const docs = main.map((l) => JSON.parse(l) as J[]);
    return assemble(this.netns, docs.slice(0, MAIN_CMDS.length), main[MAIN_CMDS.length], rules6[0], fdb[0]);
  }

  /**
   * The multicast groups alone, as `ip maddr` prints them: joining a group sends no netlink event on the
   * kernels we run on, so the live model polls this small answer and re-dumps when it changes.
   */
  async memberships(): Promise<string> {
    const [out] = await this.maddr.ask(['maddr show']);
    return out;
  }

  close(): void {
    this.main.close();
    this.rules.close();
    this.fdb.close();
    this.maddr.close();
  }
}

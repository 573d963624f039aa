// A kernel witness for route decisions the kernel refuses to show. `ip route get` answers a refusal with an
// errno only, and one errno stands for several decisions (EINVAL: blackhole route or rule, martian source,
// multicast group not joined; ENETUNREACH: no route, thrown, unreachable rule; EHOSTUNREACH: unreachable
// route, forwarding off). fibmatch refuses along with it. So the same question is asked again of a twin
// namespace, built from the same commands, in which each cause of refusal is taken away in a way that
// leaves a trace in the answer:
//
// - every rule that looks up table T (priority P) looks up a copy of T numbered LOOKUP_BASE + P instead,
//   so the table of any answer names the rule that decided (the copies are checked equal to T, and the
//   twin's tables equal to the real namespace's);
// - in those copies, blackhole/unreachable/prohibit routes become ordinary routes with the same key
//   (prefix, tos, metric), so fibmatch names the refusing route the kernel matched;
// - a blackhole/unreachable/prohibit rule looks up ACTION_BASE + P, a table with one default route;
// - a last rule looks up NO_ROUTE_TABLE (one default route): an answer from it means no rule found a route;
// - forwarding is on everywhere, local sources are accepted, and every interface joins every multicast
//   group of the test;
// - later passes open one suppress_prefixlength rule at a time (`openSuppress`), then turn throw routes
//   into ordinary ones (`stage('throw')`), for the cases the first pass leaves open.
//
// What the twin still refuses is what none of these explain: a martian (address class or source
// validation), which the kernel decides without a route.
import { execFileSync, spawn, spawnSync, ChildProcess } from 'node:child_process';
import { routeFromJson } from '../../src/routing/iproute-json';
import type { Route } from '../../src/routing/types';

export const LOOKUP_BASE = 100_000;
export const ACTION_BASE = 200_000;
export const NO_ROUTE_TABLE = 299_999;
/** Priority of the twin's last rule (after every rule of the real namespace). */
const NO_ROUTE_PREF = 40_000;

const REFUSING = new Set(['blackhole', 'unreachable', 'prohibit']);

export interface RouteLine {
  family: '-4' | '-6';
  table: number;
  /** The command after the family flag: `route add …`. */
  text: string;
}

export interface RuleLine {
  family: '-4' | '-6';
  pref: number;
  action: 'lookup' | 'goto' | 'nop' | 'blackhole' | 'unreachable' | 'prohibit';
  table?: number;
  suppress?: number;
  text: string;
}

export function tableNumber(name: string): number {
  return name === 'main' ? 254 : name === 'local' ? 255 : name === 'default' ? 253 : Number(name);
}

/** `-4 route add … table T …` as the test writes them. */
export function parseRouteLine(line: string): RouteLine {
  const text = line.slice(3);
  return { family: line.slice(0, 2) as '-4' | '-6', table: tableNumber(/ table (\S+)/.exec(text)?.[1] ?? 'main'), text };
}

/** `-4 rule add pref P … ACTION` as the test writes them. */
export function parseRuleLine(line: string): RuleLine {
  const family = line.slice(0, 2) as '-4' | '-6';
  const text = line.slice(3);
  const pref = Number(/ pref (\d+)/.exec(text)![1]);
  const lookup = / lookup (\S+)(?: suppress_prefixlength (\d+))?\s*$/.exec(text);
  if (lookup) return { family, pref, action: 'lookup', table: tableNumber(lookup[1]), suppress: lookup[2] !== undefined ? Number(lookup[2]) : undefined, text };
  const m = / (goto \d+|nop|blackhole|unreachable|prohibit)\s*$/.exec(text)!;
  return { family, pref, action: m[1].startsWith('goto') ? 'goto' : (m[1] as RuleLine['action']), text };
}

/** What a twin answer's table says about the rule that decided. */
export type RuleOfTable =
  | { kind: 'lookup'; pref: number; table: number; suppress?: number }
  | { kind: 'action'; pref: number; action: string }
  | { kind: 'no-route' }
  | { kind: 'local' }
  | { kind: 'unknown'; table: number };

export interface TwinOptions {
  name: string;
  /** Builds links, addresses and sysctls exactly as for the real namespace (before any route or rule). */
  setup: (ns: string) => void;
  /** Name of the twin's own device that converted routes and witness tables point at (created here). */
  dev: string;
  routeLines: string[];
  ruleLines: string[];
  /** Multicast groups every interface joins. */
  groups: string[];
  interfaces: string[];
}

export class RouteTwin {
  readonly ns: string;
  private readonly rules: RuleLine[];
  private readonly routes: RouteLine[];
  private joiner?: ChildProcess;
  private readonly dev: string;
  /** The twin's own tables as the kernel holds them once built ('-4 100' → routes): what was really added. */
  private readonly held = new Map<string, Route[]>();

  constructor(private readonly opts: TwinOptions) {
    this.ns = opts.name;
    this.dev = opts.dev;
    this.rules = opts.ruleLines.map(parseRuleLine);
    this.routes = opts.routeLines.map(parseRouteLine);
  }

  private ip(args: string[], input?: string): { stdout: string; stderr: string; status: number } {
    const r = spawnSync('ip', ['-n', this.ns, ...args], { input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
  }

  /**
   * The routes of a table, from `ip -j route show table all` (a listing of one table hides some types,
   * e.g. IPv6 local routes in main). IPv6 link-local routes (fe80::/64, one per interface) are left out:
   * no question goes to them, and a table cannot be given several of them with one `route add` each.
   */
  private routesOf(family: '-4' | '-6', table: number): Record<string, unknown>[] {
    const all = JSON.parse(this.ip([family, '-j', 'route', 'show', 'table', 'all']).stdout) as Record<string, unknown>[];
    return all.filter((r) => tableNumber(String(r.table ?? 'main')) === table && r.dst !== 'fe80::/64');
  }

  private batch(family: '-4' | '-6', lines: string[]): void {
    if (lines.length > 0) this.ip([family, '-force', '-b', '-'], lines.join('\n') + '\n');
  }

  /** The rules that look up each table, per family: the twin gives each its own copy. */
  private lookupRules(family: '-4' | '-6'): RuleLine[] {
    const defaults: RuleLine[] = [{ family, pref: 32766, action: 'lookup', table: 254, text: '' }];
    if (family === '-4') defaults.push({ family, pref: 32767, action: 'lookup', table: 253, text: '' });
    return [...this.rules.filter((r) => r.family === family && r.action === 'lookup'), ...defaults];
  }

  async build(): Promise<void> {
    execFileSync('ip', ['netns', 'add', this.ns]);
    this.opts.setup(this.ns);
    // The witness device: converted routes and witness tables point at it. No question comes in on it, so
    // a converted route never sends a packet back out of the interface it came from (a hairpin is
    // validated differently).
    for (const args of [['link', 'add', this.dev, 'type', 'veth', 'peer', 'name', `${this.dev}p`], ['link', 'set', this.dev, 'up'], ['link', 'set', `${this.dev}p`, 'up']]) {
      execFileSync('ip', ['-n', this.ns, ...args]);
    }
    for (const i of this.opts.interfaces) {
      this.sysctl(`net.ipv4.conf.${i}.forwarding`, '1');
      this.sysctl(`net.ipv6.conf.${i}.forwarding`, '1');
    }
    // A refusing route turned ordinary lets the packet on to source validation, which the real kernel never
    // reached (the lookup failed first): accepting local sources keeps that check from hiding the route.
    this.sysctl('net.ipv4.conf.all.accept_local', '1');
    for (const family of ['-4', '-6'] as const) {
      const lookups = this.lookupRules(family);
      // The kernel's own routes of main (connected subnets), copied first as the real main had them first.
      const kernelRoutes = this.routesOf(family, 254).filter((r) => r.protocol === 'kernel');
      const copies: string[] = [];
      for (const r of lookups.filter((x) => x.table === 254)) for (const k of kernelRoutes) copies.push(routeArgs(k, LOOKUP_BASE + r.pref));
      this.batch(family, copies);
      // Every route into its own table and into each copy, in the real order (a gateway is checked against
      // what the table held when it was added).
      const lines: string[] = [];
      for (const r of this.routes.filter((x) => x.family === family)) {
        lines.push(r.text);
        for (const rule of lookups.filter((x) => x.table === r.table)) lines.push(r.text.replace(/ table \S+/, ` table ${LOOKUP_BASE + rule.pref}`));
      }
      this.batch(family, lines);
      // The rules, each pointing at its witness table.
      const all = family === '-4' ? '0.0.0.0/0' : '::/0';
      const ruleCmds: string[] = [];
      const routeCmds: string[] = [];
      for (const r of this.rules.filter((x) => x.family === family)) {
        if (r.action === 'lookup') ruleCmds.push(r.text.replace(/ lookup \S+/, ` lookup ${LOOKUP_BASE + r.pref}`));
        else if (REFUSING.has(r.action)) {
          ruleCmds.push(r.text.replace(new RegExp(` ${r.action}\\s*$`), ` lookup ${ACTION_BASE + r.pref}`));
          routeCmds.push(`route add ${all} dev ${this.dev} table ${ACTION_BASE + r.pref}`);
        } else ruleCmds.push(r.text);
      }
      ruleCmds.push(`rule del pref 32766`, `rule add pref 32766 lookup ${LOOKUP_BASE + 32766}`);
      if (family === '-4') ruleCmds.push(`rule del pref 32767`, `rule add pref 32767 lookup ${LOOKUP_BASE + 32767}`);
      ruleCmds.push(`rule add pref ${NO_ROUTE_PREF} lookup ${NO_ROUTE_TABLE}`);
      routeCmds.push(`route add ${all} dev ${this.dev} table ${NO_ROUTE_TABLE}`);
      this.batch(family, routeCmds);
      this.batch(family, ruleCmds);
    }
    for (const family of ['-4', '-6'] as const) {
      for (const t of new Set(this.lookupRules(family).map((r) => r.table!))) {
        this.held.set(`${family} ${t}`, this.routesOf(family, t).map((j) => routeFromJson(j, family === '-4' ? 4 : 6)));
      }
    }
    await this.joinAll();
  }

  private sysctl(key: string, value: string): void {
    spawnSync('ip', ['netns', 'exec', this.ns, 'sysctl', '-q', '-w', `${key}=${value}`]);
  }

  /** Sets a sysctl in the twin as in the real namespace (e.g. the multipath hash seed). */
  setSysctl(key: string, value: string): void {
    this.sysctl(key, value);
  }

  private async joinAll(): Promise<void> {
    const pairs = this.opts.interfaces.flatMap((dev) => this.opts.groups.map((g) => [g, dev]));
    const py = [
      'import socket, struct, sys',
      'socks = []',
      `for group, dev in ${JSON.stringify(pairs)}:`,
      '    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      '    try:',
      '        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack("4s4si", socket.inet_aton(group), socket.inet_aton("0.0.0.0"), socket.if_nametoindex(dev)))',
      '    except OSError as e:',
      '        print("join failed", group, dev, e, file=sys.stderr)',
      '    socks.append(s)',
      'print("joined", flush=True)',
      'sys.stdin.read()',
    ].join('\n');
    const joiner = spawn('ip', ['netns', 'exec', this.ns, 'python3', '-c', py], { stdio: ['pipe', 'pipe', 'inherit'] });
    joiner.unref();
    this.joiner = joiner;
    await new Promise<void>((resolve, reject) => {
      joiner.stdout!.once('data', () => resolve());
      joiner.once('exit', (code) => reject(new Error(`the twin's group-joining helper exited (code ${code})`)));
    });
  }

  /**
   * The twin's own tables must hold what the real namespace's hold (same commands, fresh namespaces):
   * returns the differences, empty when they agree. The local table (filled from the same addresses),
   * link-local IPv6 routes (their addresses differ with the MACs) and the witness device are left out.
   */
  differencesFrom(realNs: string): string[] {
    const dump = (ns: string, family: '-4' | '-6') =>
      (JSON.parse(spawnSync('ip', ['-n', ns, family, '-j', 'route', 'show', 'table', 'all'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 }).stdout) as Record<string, unknown>[])
        .filter((r) => {
          const t = tableNumber(String(r.table ?? 'main'));
          return t !== 255 && t < LOOKUP_BASE && !String(r.dst).startsWith('fe80') && !String(r.dev ?? '').startsWith(this.dev);
        })
        .map((r) => JSON.stringify(r))
        .sort();
    const out: string[] = [];
    for (const family of ['-4', '-6'] as const) {
      const real = dump(realNs, family);
      const twin = dump(this.ns, family);
      const onlyReal = real.filter((x) => !twin.includes(x));
      const onlyTwin = twin.filter((x) => !real.includes(x));
      if (onlyReal.length || onlyTwin.length) out.push(`${family}: only in ${realNs}: ${onlyReal.slice(0, 3).join(' ')}; only in the twin: ${onlyTwin.slice(0, 3).join(' ')}`);
    }
    return out;
  }

  /**
   * Each copy must hold exactly what its table holds (else the twin would not be a witness): returns the
   * differences, empty when faithful.
   */
  checkCopies(): string[] {
    const problems: string[] = [];
    for (const family of ['-4', '-6'] as const) {
      for (const rule of this.lookupRules(family)) {
        const norm = (t: number) =>
          this.routesOf(family, t)
            .map((r) => {
              const { table: _t, ...rest } = r;
              return JSON.stringify(rest);
            })
            .sort();
        const a = norm(rule.table!);
        const b = norm(LOOKUP_BASE + rule.pref);
        if (a.join('\n') !== b.join('\n')) {
          const onlyA = a.filter((x) => !b.includes(x)).slice(0, 2);
          const onlyB = b.filter((x) => !a.includes(x)).slice(0, 2);
          problems.push(`${family} table ${rule.table} vs its copy for rule ${rule.pref}: only in the table ${onlyA.join(' ')}; only in the copy ${onlyB.join(' ')}`);
        }
      }
    }
    return problems;
  }

  /**
   * 'refusing': blackhole/unreachable/prohibit routes become ordinary in every copy, except those a
   * suppress_prefixlength rule would suppress once ordinary (the kernel never suppresses a refusal);
   * 'throw': throw routes too.
   */
  stage(which: 'refusing' | 'throw'): void {
    for (const family of ['-4', '-6'] as const) {
      const cmds: string[] = [];
      for (const rule of this.lookupRules(family)) {
        for (const r of this.convertible(family, rule)) {
          const short = rule.suppress !== undefined && r.prefixLen <= rule.suppress;
          if (which === 'refusing' ? REFUSING.has(r.type) && !short : r.type === 'throw') cmds.push(this.replaceCmd(r, rule.pref, 'unicast'));
        }
      }
      this.batch(family, cmds);
    }
  }

  /** The rules with suppress_prefixlength, per family. */
  suppressRules(): RuleLine[] {
    return this.rules.filter((r) => r.action === 'lookup' && r.suppress !== undefined);
  }

  /**
   * Opens one suppress_prefixlength rule (or closes it again): without its suppress_prefixlength, and with
   * its short refusing routes made ordinary, so that a refusing route the rule's table answered shows.
   * Every other rule stays as it is, so the walk up to this rule is the real one.
   */
  openSuppress(rule: RuleLine, open: boolean): void {
    const cmds: string[] = [];
    for (const r of this.convertible(rule.family, rule)) {
      if (REFUSING.has(r.type) && r.prefixLen <= rule.suppress!) cmds.push(this.replaceCmd(r, rule.pref, open ? 'unicast' : r.type));
    }
    const copy = ` lookup ${LOOKUP_BASE + rule.pref}`;
    cmds.push(`rule del pref ${rule.pref}`, rule.text.replace(/ lookup \S+ suppress_prefixlength (\d+)/, open ? copy : `${copy} suppress_prefixlength $1`));
    this.batch(rule.family, cmds);
  }

  /**
   * The held routes of a rule's table that a conversion may touch. IPv6 keeps several routes under one key
   * (prefix, metric) when their next hops differ, and `route replace` would replace the first of them, not
   * necessarily this one: those are left alone.
   */
  private convertible(family: '-4' | '-6', rule: RuleLine): Route[] {
    const held = this.held.get(`${family} ${rule.table}`) ?? [];
    const keyOf = (r: Route) => `${r.dst} ${r.tos} ${r.metric}`;
    const count = new Map<string, number>();
    for (const r of held) count.set(keyOf(r), (count.get(keyOf(r)) ?? 0) + 1);
    return held.filter((r) => count.get(keyOf(r)) === 1);
  }

  private replaceCmd(r: Route, pref: number, type: string): string {
    const how = type === 'unicast' ? `dev ${this.dev}` : '';
    return `route replace ${type === 'unicast' ? '' : `${type} `}${r.dst}${r.tos ? ` tos 0x${r.tos.toString(16)}` : ''} ${how} table ${LOOKUP_BASE + pref} metric ${r.metric}`;
  }

  /** Which rule (or witness) a table of a twin answer stands for. */
  ruleOfTable(family: '-4' | '-6', table: number): RuleOfTable {
    if (table === NO_ROUTE_TABLE) return { kind: 'no-route' };
    if (table === 255) return { kind: 'local' };
    if (table >= ACTION_BASE) {
      const r = this.rules.find((x) => x.family === family && x.pref === table - ACTION_BASE);
      return r ? { kind: 'action', pref: r.pref, action: r.action } : { kind: 'unknown', table };
    }
    if (table >= LOOKUP_BASE) {
      const r = this.lookupRules(family).find((x) => x.pref === table - LOOKUP_BASE);
      return r ? { kind: 'lookup', pref: r.pref, table: r.table!, suppress: r.suppress } : { kind: 'unknown', table };
    }
    return { kind: 'unknown', table };
  }

  /** The route with this key in this table as the kernel held it before any conversion (its type). */
  originalRoute(family: '-4' | '-6', table: number, dst: string, tos: number, metric: number): Route | undefined {
    return this.held.get(`${family} ${table}`)?.find((r) => r.dst === dst && r.tos === tos && r.metric === metric);
  }

  /** Ends the process that holds the group memberships (the namespace stays). */
  stopJoining(): void {
    this.joiner?.stdin?.end();
    this.joiner?.kill();
  }

  destroy(): void {
    this.stopJoining();
    spawnSync('ip', ['netns', 'del', this.ns]);
  }
}

/** `ip -j route show` JSON of a kernel route → `route add` arguments into another table. */
function routeArgs(r: Record<string, unknown>, table: number): string {
  const p: string[] = ['route', 'add'];
  if (r.type && r.type !== 'unicast') p.push(String(r.type));
  p.push(String(r.dst));
  if (r.dev) p.push('dev', String(r.dev));
  if (r.protocol) p.push('proto', String(r.protocol));
  if (r.scope) p.push('scope', String(r.scope));
  if (r.prefsrc) p.push('src', String(r.prefsrc));
  if (r.metric !== undefined) p.push('metric', String(r.metric));
  if (r.pref) p.push('pref', String(r.pref));
  p.push('table', String(table));
  return p.join(' ');
}

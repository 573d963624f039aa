// The live route model: a full dump of the namespace's routing state, refreshed on every netlink event.
// `ip monitor` (iproute2 6.1 prints text, not JSON, even with -j) is only used as a doorbell; the truth is
// always a fresh JSON dump, which also catches what the kernel changes without telling (the routes of a
// deleted link vanish with no RTM_DELROUTE). A burst of events costs one dump after a short quiet period.

import { EventEmitter } from 'node:events';
import { spawn, ChildProcess } from 'node:child_process';
import type { ModelChange, ModelChangeEvent, RouteModel, RouteModelOptions, RoutingState } from './types';
import { DumpSession, dumpState } from './sources';
import { membershipsFromJson } from './iproute-json';

const EMPTY: RoutingState = {
  links: [],
  addresses: [],
  routes: [],
  rules: [],
  neighbours: [],
  fdb: [],
  complete: { rules: true, neighbours: true, fdb: true, links: true },
};

/**
 * What the live model reports on 'error'. `fatal`: the model stopped following the kernel (its monitor is
 * gone), so predictions from now on may be wrong; otherwise one refresh failed and the next event retries.
 */
export class RouteModelError extends Error {
  constructor(
    message: string,
    readonly fatal: boolean,
  ) {
    super(message);
  }
}

type Keyed = { kind: ModelChange['kind']; key: string; text: string };

function keyedObjects(s: RoutingState): Keyed[] {
  const out: Keyed[] = [];
  for (const r of s.routes) out.push({ kind: 'route', key: `${r.family} ${r.table} ${r.dst} ${r.tos} ${r.metric} ${r.src ?? ''}`, text: r.table === 254 ? r.text : r.text });
  for (const r of s.rules) out.push({ kind: 'rule', key: `${r.family} ${r.text}`, text: r.text });
  for (const l of s.links) out.push({ kind: 'link', key: l.name, text: `${l.ifindex}: ${l.name} ${l.kind ?? ''} mtu ${l.mtu} ${l.up ? 'up' : 'down'}${l.carrier ? '' : ' no-carrier'}`.replace(/\s+/g, ' ') });
  for (const a of s.addresses) out.push({ kind: 'address', key: `${a.ifname} ${a.address}/${a.prefixLen}`, text: `${a.address}/${a.prefixLen} dev ${a.ifname}` });
  for (const n of s.neighbours) out.push({ kind: 'neighbour', key: `${n.dev} ${n.dst}`, text: `${n.dst} dev ${n.dev}${n.lladdr ? ` lladdr ${n.lladdr}` : ''} ${n.state.join(',')}` });
  for (const e of s.fdb) out.push({ kind: 'fdb', key: `${e.dev} ${e.mac} ${e.dst ?? ''}`, text: `${e.mac} dev ${e.dev}${e.dst ? ` dst ${e.dst}` : ''} ${e.state}` });
  for (const m of s.memberships ?? []) out.push({ kind: 'multicast', key: `${m.ifname} ${m.group}`, text: `${m.group} joined on ${m.ifname}` });
  for (const l of s.links) out.push({ kind: 'netconf', key: `nc ${l.name}`, text: `${l.name} forwarding ${l.forwarding4 ? 'on' : 'off'} rp_filter ${l.rpFilter ?? 0}` });
  return out;
}

/** What changed between two states, object by object. */
export function diffStates(a: RoutingState, b: RoutingState): ModelChange[] {
  const before = new Map(keyedObjects(a).map((k) => [`${k.kind}|${k.key}`, k]));
  const after = new Map(keyedObjects(b).map((k) => [`${k.kind}|${k.key}`, k]));
  const changes: ModelChange[] = [];
  for (const [k, v] of after) {
    const old = before.get(k);
    if (!old) changes.push({ kind: v.kind, action: 'added', text: v.text });
    else if (old.text !== v.text) changes.push({ kind: v.kind, action: 'changed', text: v.text });
  }
  for (const [k, v] of before) if (!after.has(k)) changes.push({ kind: v.kind, action: 'removed', text: v.text });
  return changes;
}

export class LiveRouteModel extends EventEmitter implements RouteModel {
  private current: RoutingState = EMPTY;
  private gen = 0;
  private monitor?: ChildProcess;
  private timer?: NodeJS.Timeout;
  private dumping = false;
  private again = false;
  private stopped = false;
  private burstStart = 0;
  private session?: DumpSession;
  private pollTimer?: NodeJS.Timeout;
  private readonly debounceMs: number;
  private readonly membershipPollMs: number;
  /** A steady stream of events must not postpone the re-dump forever. */
  private readonly maxWaitMs = 10;

  constructor(private readonly opts: RouteModelOptions = {}) {
    super();
    this.debounceMs = opts.debounceMs ?? 2;
    this.membershipPollMs = opts.membershipPollMs ?? 250;
  }

  get state(): RoutingState {
    return this.current;
  }

  get generation(): number {
    return this.gen;
  }

  async load(): Promise<void> {
    await this.refresh();
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.session = new DumpSession(this.opts.netns);
    const args = [...(this.opts.netns ? ['-n', this.opts.netns] : []), 'monitor', 'link', 'address', 'route', 'rule', 'neigh', 'netconf'];
    const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.monitor = child;
    child.stdout!.on('data', () => this.poke());
    // ip monitor complains on stderr and carries on, e.g. "Peer netns reference is invalid." when a
    // namespace in /var/run/netns vanishes while it maps them (pods come and go): not a failure. It is
    // only a doorbell, so a re-dump covers whatever it could not print; the text is kept for the exit message.
    let complaint = '';
    child.stderr!.on('data', (d: Buffer) => {
      complaint = d.toString().trim().split('\n').pop() ?? '';
      this.poke();
    });
    child.on('exit', (code) => {
      if (!this.stopped) {
        const last = complaint ? ` (it said: ${complaint})` : '';
        this.emit('error', new RouteModelError(`ip monitor exited (code ${code})${last}; the model is no longer live — is the namespace gone?`, true));
      }
    });
    // Dump after the monitor is listening, so nothing between the two is missed.
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (e) => reject(new Error(`cannot start ip monitor: ${e.message}`)));
    });
    await this.refresh();
    this.scheduleMembershipPoll();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.session?.close();
    this.session = undefined;
    const m = this.monitor;
    this.monitor = undefined;
    if (m && m.exitCode === null && m.signalCode === null) {
      await new Promise<void>((resolve) => {
        m.once('exit', () => resolve());
        m.kill('SIGTERM');
      });
    }
  }

  /** A netlink event arrived: dump once things are quiet for debounceMs. */
  private poke(): void {
    const now = Date.now();
    if (this.timer) clearTimeout(this.timer);
    else this.burstStart = now;
    const wait = Math.max(0, Math.min(this.debounceMs, this.burstStart + this.maxWaitMs - now));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refresh().catch((e: Error) => this.emit('error', new RouteModelError(`route model refresh failed (retried on the next change): ${e.message}`, false)));
    }, wait);
  }

  /**
   * `ip monitor` (iproute2 6.1) reports nothing when a socket joins or leaves a multicast group, so it
   * cannot ring for it: poll the group lists and re-dump when they differ from the model's.
   */
  private scheduleMembershipPoll(): void {
    if (this.stopped || this.membershipPollMs <= 0) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      const session = this.session;
      if (!session) return;
      session
        .memberships()
        .then((out) => {
          if (this.stopped) return;
          const seen = membershipsFromJson(JSON.parse(out) as Record<string, unknown>[]);
          if (membershipKey(seen) !== membershipKey(this.current.memberships ?? [])) this.poke();
        })
        .catch((e: Error) => {
          if (!this.stopped) this.emit('error', new RouteModelError(`multicast group poll failed (retried): ${e.message}`, false));
        })
        .finally(() => this.scheduleMembershipPoll());
    }, this.membershipPollMs);
    this.pollTimer.unref();
  }

  private async refresh(): Promise<void> {
    if (this.dumping) {
      this.again = true;
      return;
    }
    this.dumping = true;
    try {
      do {
        this.again = false;
        const next = this.session ? await this.session.dump() : await dumpState(this.opts.netns);
        const changes = diffStates(this.current, next);
        this.current = next;
        if (changes.length > 0 || this.gen === 0) {
          this.gen++;
          const ev: ModelChangeEvent = { generation: this.gen, timeMs: Date.now(), changes };
          if (this.gen > 1 && this.burstStart) ev.updateLatencyMs = ev.timeMs - this.burstStart;
          this.emit('change', ev);
        }
      } while (this.again && !this.stopped);
    } finally {
      this.dumping = false;
    }
  }

  waitFor(pred: (s: RoutingState) => boolean, timeoutMs: number): Promise<number> {
    const t0 = Date.now();
    if (pred(this.current)) return Promise.resolve(0);
    return new Promise((resolve, reject) => {
      const onChange = (): void => {
        if (pred(this.current)) {
          cleanup();
          resolve(Date.now() - t0);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`route model: condition not met within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('change', onChange);
      };
      this.on('change', onChange);
    });
  }
}

function membershipKey(list: NonNullable<RoutingState['memberships']>): string {
  return list
    .map((m) => `${m.ifname} ${m.group}`)
    .sort()
    .join('|');
}

export function createRouteModel(opts: RouteModelOptions = {}): RouteModel {
  return new LiveRouteModel(opts);
}

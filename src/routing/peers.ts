// The pod ends of the node's cali veths, read from the pods' own namespaces: what the node's tables cannot
// show (the pod's eth0 MTU and MAC) but what decides whether a packet the node sent is taken. A pod's
// namespace is found through the veth's link-netnsid and the node's `ip netns list-id` names, so only
// namespaces with a name (/var/run/netns, as the lab and CNI runtimes create them) can be read.
// Nothing announces a change inside a pod's namespace to the node: the ends are polled, through one
// long-lived shell (a spawn from this process per `ip` stalled the collector's event loop: issue 10).
import { CommandShell } from '../util/command-shell';
import type { RoutingState } from './types';

export interface PodSide {
  /** The host-side interface (cali…). */
  hostIf: string;
  /** The pod's network namespace name. */
  netns: string;
  /** Its interface name there (eth0). */
  name: string;
  mtu: number;
  mac?: string;
  up: boolean;
}

type J = Record<string, unknown>;

export class PeerReader {
  private byHost = new Map<string, PodSide>();
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly shell = new CommandShell();

  constructor(private readonly netns?: string) {}

  get(hostIf: string): PodSide | undefined {
    return this.byHost.get(hostIf);
  }

  /** Reads now and every `everyMs` from the state `current()` returns, until stop(). */
  start(current: () => RoutingState, everyMs = 2000): void {
    const tick = () => {
      void this.refresh(current()).finally(() => {
        if (this.timer === undefined) return;
        this.timer = setTimeout(tick, everyMs);
        this.timer.unref();
      });
    };
    this.timer = setTimeout(tick, 0);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.shell.close();
  }

  private async ipJson(args: string[]): Promise<J[]> {
    const { code, stdout } = await this.shell.run(['ip', ...args]);
    if (code !== 0) return [];
    try {
      return JSON.parse(stdout.trim() || '[]') as J[];
    } catch {
      return [];
    }
  }

  /** One read of every cali veth's pod end (concurrent calls share it). */
  refresh(state: RoutingState): Promise<void> {
    this.inFlight ??= this.read(state).finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async read(state: RoutingState): Promise<void> {
    const veths = state.links.filter((l) => l.name.startsWith('cali') && l.linkNetnsid !== undefined && l.linkIndex !== undefined);
    if (veths.length === 0) {
      this.byHost = new Map();
      return;
    }
    const ids = await this.ipJson([...(this.netns ? ['-n', this.netns] : []), '-j', 'netns', 'list-id']);
    const nameOf = new Map<number, string>();
    for (const e of ids) if (typeof e.nsid === 'number' && typeof e.name === 'string') nameOf.set(e.nsid, e.name);
    const next = new Map<string, PodSide>();
    // Queued together: the shell runs them one after another, without a round trip between them.
    await Promise.all(veths.map(async (l) => {
      const ns = nameOf.get(l.linkNetnsid!);
      if (!ns) return;
      const links = await this.ipJson(['-n', ns, '-j', 'link', 'show']);
      const peer = links.find((x) => x.ifindex === l.linkIndex);
      if (!peer) return;
      const flags = Array.isArray(peer.flags) ? (peer.flags as string[]) : [];
      next.set(l.name, {
        hostIf: l.name,
        netns: ns,
        name: String(peer.ifname),
        mtu: typeof peer.mtu === 'number' ? peer.mtu : 0,
        mac: typeof peer.address === 'string' ? peer.address.toLowerCase() : undefined,
        up: flags.includes('UP'),
      });
    }));
    this.byHost = next;
  }
}

// Pod names for IPs from the Kubernetes API, kept current by a list-then-watch (src/k8s/watch.ts): a new
// pod is named as soon as the API server tells (well within a second), a deleted one forgotten, with no
// polling. A failure keeps the last good names, and is reported once per distinct problem, then its end.
import { KubeClient } from './api-client';
import type { ClusterConnection } from './connection';
import { KubePod, listAllPods, podsByIp, PodItem } from './pod-list';
import { ListWatch } from './watch';

export interface KubePodDirectoryOptions {
  pageSize?: number;
  /** Asked of the server for each watch (then resumed from the last resourceVersion). */
  watchTimeoutSeconds?: number;
  requestTimeoutMs?: number;
  /** Problems, their end and the first load, as one-line sentences. */
  report: (message: string) => void;
}

export class KubePodDirectory {
  private byIp = new Map<string, KubePod>();
  /** namespace/name → the IPs it holds in byIp, so a change or delete updates only its own entries. */
  private ipsOf = new Map<string, string[]>();
  private readonly client: KubeClient;
  private watch: ListWatch<PodItem> | undefined;
  private stopped = false;
  private loadedOnce = false;
  /** The problem last reported, so a failing API does not repeat itself every 10 s. */
  private problem: string | undefined;
  private inFlight: Promise<boolean> | undefined;

  constructor(connection: ClusterConnection, private readonly o: KubePodDirectoryOptions) {
    this.client = new KubeClient(connection, { timeoutMs: o.requestTimeoutMs });
  }

  /** The PodDirectory: a plain function, so it can be handed over without its object. */
  readonly lookup = (ip: string): KubePod | undefined => this.byIp.get(ip);

  get size(): number {
    return this.byIp.size;
  }

  get server(): string {
    return this.client.connection.server;
  }

  /** Lists, then watches until stop(). */
  start(): void {
    if (this.watch || this.stopped) return;
    this.watch = new ListWatch<PodItem>(this.client, {
      path: '/api/v1/pods',
      pageSize: this.o.pageSize,
      watchTimeoutSeconds: this.o.watchTimeoutSeconds,
      replace: (items) => {
        this.replace(items);
        if (!this.loadedOnce) this.o.report(`pod names: ${this.byIp.size} pod IPs loaded from the Kubernetes API at ${this.server}`);
        this.loadedOnce = true;
      },
      apply: (type, pod) => this.apply(pod, type === 'DELETED'),
      report: (m) => this.o.report(`pod names: ${m}${m.includes('retrying') ? (this.loadedOnce ? `; keeping the ${this.byIp.size} pod IPs known` : '; no pod names until it works') : ''}`),
    });
    this.watch.start();
  }

  /** The list-then-watch's counters (lists, watches, events, bookmarks, 410s), once started. */
  get watchCounters() {
    return this.watch?.counters;
  }

  private replace(items: PodItem[]): void {
    this.byIp = podsByIp(items);
    this.ipsOf = new Map();
    for (const [ip, pod] of this.byIp) {
      const key = `${pod.namespace}/${pod.name}`;
      const list = this.ipsOf.get(key) ?? [];
      list.push(ip);
      this.ipsOf.set(key, list);
    }
  }

  private apply(pod: PodItem, deleted: boolean): void {
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    for (const ip of this.ipsOf.get(key) ?? []) {
      const held = this.byIp.get(ip);
      if (held && `${held.namespace}/${held.name}` === key) this.byIp.delete(ip);
    }
    this.ipsOf.delete(key);
    if (deleted) return;
    const mine = podsByIp([pod]);
    if (mine.size === 0) return;
    for (const [ip, p] of mine) this.byIp.set(ip, p);
    this.ipsOf.set(key, [...mine.keys()]);
  }

  /** One list of all pods; resolves true when the names were replaced. Concurrent calls share one request. */
  refresh(): Promise<boolean> {
    this.inFlight ??= this.load().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async load(): Promise<boolean> {
    try {
      const items = await listAllPods(this.client, this.o.pageSize);
      if (this.stopped) return false;
      this.replace(items);
      if (this.problem !== undefined) {
        this.o.report(`pod names: the Kubernetes API at ${this.server} answers again (${this.byIp.size} pod IPs)`);
      } else if (!this.loadedOnce) {
        this.o.report(`pod names: ${this.byIp.size} pod IPs loaded from the Kubernetes API at ${this.server}`);
      }
      this.loadedOnce = true;
      this.problem = undefined;
      return true;
    } catch (err) {
      if (this.stopped) return false;
      const message = (err as Error).message;
      if (message !== this.problem) {
        this.problem = message;
        const kept = this.loadedOnce ? `keeping the ${this.byIp.size} pod IPs of the last good list` : 'no pod names until it works';
        this.o.report(`pod names: ${message}; ${kept}`);
      }
      return false;
    }
  }

  stop(): void {
    this.stopped = true;
    this.watch?.stop();
    this.client.close();
  }
}

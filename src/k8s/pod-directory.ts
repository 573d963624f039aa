// Pod names for IPs from the Kubernetes API, kept fresh in the background: the whole list every 10 s
// (pods come and go; a watch would be less traffic but needs resync logic a tracer can do without). A
// failed refresh keeps the last good names, and is reported once per distinct problem, then its end.
import { KubeClient } from './api-client';
import type { ClusterConnection } from './connection';
import { KubePod, listAllPods, podsByIp } from './pod-list';

export interface KubePodDirectoryOptions {
  refreshMs?: number;
  pageSize?: number;
  requestTimeoutMs?: number;
  /** Problems, their end and the first load, as one-line sentences. */
  report: (message: string) => void;
}

export class KubePodDirectory {
  private byIp = new Map<string, KubePod>();
  private readonly client: KubeClient;
  private readonly refreshMs: number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private loadedOnce = false;
  /** The problem last reported, so a failing API does not repeat itself every 10 s. */
  private problem: string | undefined;
  private inFlight: Promise<boolean> | undefined;

  constructor(connection: ClusterConnection, private readonly o: KubePodDirectoryOptions) {
    this.client = new KubeClient(connection, { timeoutMs: o.requestTimeoutMs });
    this.refreshMs = o.refreshMs ?? 10000;
  }

  /** The PodDirectory: a plain function, so it can be handed over without its object. */
  readonly lookup = (ip: string): KubePod | undefined => this.byIp.get(ip);

  get size(): number {
    return this.byIp.size;
  }

  get server(): string {
    return this.client.connection.server;
  }

  /** Loads now and then every refreshMs until stop(). */
  start(): void {
    void this.refresh().finally(() => this.schedule());
  }

  private schedule(): void {
    if (this.stopped) return;
    // unref'd: the pod names never keep the process alive on their own.
    this.timer = setTimeout(() => void this.refresh().finally(() => this.schedule()), this.refreshMs);
    this.timer.unref();
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
      this.byIp = podsByIp(items);
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
        this.o.report(`pod names: ${message}; ${kept}, retrying every ${this.every()}`);
      }
      return false;
    }
  }

  private every(): string {
    return this.refreshMs % 1000 === 0 ? `${this.refreshMs / 1000} s` : `${this.refreshMs} ms`;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.client.close();
  }
}

// List, then watch: how Kubernetes clients keep a set of objects current without polling. A paged list
// gives the set and its resourceVersion; a watch from that version streams ADDED/MODIFIED/DELETED, with
// BOOKMARKs moving the version on while nothing changes. A watch the server ends (timeoutSeconds) or a
// dropped connection resumes from the last version seen; `410 Gone` (the version is older than the
// server's event window) means events were missed, so the whole set is listed again. Failures back off
// (0.5 s doubling to 30 s) and are reported once per distinct problem, then their end.
import { KubeApiError, KubeClient } from './api-client';

export interface KubeObject {
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ListWatchOptions<T extends KubeObject> {
  /** '/api/v1/pods', '/api/v1/namespaces/kube-system/pods', '/apis/discovery.k8s.io/v1/…/endpointslices'. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  pageSize?: number;
  /** Asked of the server: end each watch after this long (it is then resumed). */
  watchTimeoutSeconds?: number;
  /** A (re)list: the whole set, replacing what the caller had. */
  replace(items: T[]): void;
  /** One change from the watch. */
  apply(type: WatchEventType, obj: T): void;
  /** Problems, their end, relists, as one-line sentences. */
  report(message: string): void;
  backoff?: { initialMs: number; maxMs: number };
}

export interface ListWatchCounters {
  lists: number;
  watches: number;
  events: number;
  bookmarks: number;
  gone: number;
}

interface ListPage<T> {
  items?: T[];
  metadata?: { continue?: string; resourceVersion?: string };
}

interface WatchEvent<T> {
  type?: string;
  object?: T & { code?: number; message?: string; reason?: string; kind?: string };
}

class GoneError extends Error {}

export class ListWatch<T extends KubeObject> {
  readonly counters: ListWatchCounters = { lists: 0, watches: 0, events: 0, bookmarks: 0, gone: 0 };
  private resourceVersion = '';
  private stopped = false;
  private current: { abort(): void } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private problem: string | undefined;
  private failures = 0;

  constructor(private readonly client: KubeClient, private readonly o: ListWatchOptions<T>) {}

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.current?.abort();
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
  }

  private query(extra: Record<string, string>): string {
    const q = new URLSearchParams();
    if (this.o.labelSelector) q.set('labelSelector', this.o.labelSelector);
    if (this.o.fieldSelector) q.set('fieldSelector', this.o.fieldSelector);
    for (const [k, v] of Object.entries(extra)) q.set(k, v);
    return `${this.o.path}?${q.toString()}`;
  }

  /** Lists every page; resolves with the items and the list's resourceVersion. */
  async list(): Promise<{ items: T[]; resourceVersion: string }> {
    const items: T[] = [];
    const seen = new Set<string>();
    let token: string | undefined;
    let rv = '';
    do {
      const extra: Record<string, string> = { limit: String(this.o.pageSize ?? 500) };
      if (token) extra.continue = token;
      const page = (await this.client.getJson(this.query(extra))) as ListPage<T>;
      if (!page || typeof page !== 'object' || !Array.isArray(page.items)) {
        throw new KubeApiError(`GET ${this.o.path} from ${this.client.connection.server} did not return a list`);
      }
      items.push(...page.items);
      rv = page.metadata?.resourceVersion ?? rv;
      token = page.metadata?.continue || undefined;
      if (token !== undefined) {
        if (seen.has(token)) throw new KubeApiError(`GET ${this.o.path} from ${this.client.connection.server} repeated a continue token`);
        seen.add(token);
      }
    } while (token);
    this.counters.lists++;
    return { items, resourceVersion: rv };
  }

  private async loop(): Promise<void> {
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          const { items, resourceVersion } = await this.list();
          if (this.stopped) return;
          this.resourceVersion = resourceVersion;
          this.o.replace(items);
          needList = false;
        }
        const began = Date.now();
        await this.watchOnce();
        // The server ended the watch (timeoutSeconds) or the connection dropped: resume from the last
        // version at once, unless it ends as soon as it starts (a proxy cutting streams): then not in a spin.
        if (Date.now() - began < 1000) await this.sleep(500);
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof GoneError) {
          this.counters.gone++;
          this.o.report(`${this.o.path}: watch version ${this.resourceVersion} is gone (410: ${err.message}); listing again`);
          needList = true;
          continue;
        }
        if (err instanceof KubeApiError && err.status === 410) {
          this.counters.gone++;
          needList = true;
          continue;
        }
        this.failed((err as Error).message);
        await this.sleep(this.delay());
      }
    }
  }

  private watchOnce(): Promise<void> {
    this.counters.watches++;
    const timeout = this.o.watchTimeoutSeconds ?? 300;
    const path = this.query({ watch: '1', resourceVersion: this.resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(timeout) });
    let gone: GoneError | undefined;
    let delivered = false;
    const stream = this.client.stream(path, (raw) => {
      const ev = raw as WatchEvent<T>;
      const obj = ev.object;
      if (!obj || typeof ev.type !== 'string') return;
      if (!delivered) {
        delivered = true;
        this.recovered();
      }
      if (ev.type === 'ERROR') {
        if (obj.code === 410) {
          gone = new GoneError(obj.message ?? 'Gone');
          stream.abort();
          return;
        }
        throw new KubeApiError(`the watch of ${this.o.path} failed: ${obj.message ?? obj.reason ?? 'ERROR event'}`, obj.code);
      }
      const rv = obj.metadata?.resourceVersion;
      if (rv) this.resourceVersion = rv;
      if (ev.type === 'BOOKMARK') {
        this.counters.bookmarks++;
        return;
      }
      if (ev.type === 'ADDED' || ev.type === 'MODIFIED' || ev.type === 'DELETED') {
        this.counters.events++;
        this.o.apply(ev.type, obj);
      }
    }, (timeout + 60) * 1000);
    this.current = stream;
    return stream.done.then(() => {
      if (gone) throw gone;
    });
  }

  private failed(message: string): void {
    this.failures++;
    if (message !== this.problem) {
      this.problem = message;
      this.o.report(`${this.o.path}: ${message}; retrying in ${(this.delay() / 1000).toFixed(1)} s and backing off`);
    }
  }

  private recovered(): void {
    if (this.problem !== undefined) this.o.report(`${this.o.path}: the Kubernetes API at ${this.client.connection.server} answers again`);
    this.problem = undefined;
    this.failures = 0;
  }

  private delay(): number {
    const b = this.o.backoff ?? { initialMs: 500, maxMs: 30000 };
    return Math.min(b.maxMs, b.initialMs * 2 ** Math.max(0, this.failures - 1));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
      this.timer.unref();
    });
  }
}

// A MOCK Kubernetes API server: the one boundary these tests cannot run for real. It serves
// GET /api/v1/pods and /api/v1/namespaces/NS/pods the way kube-apiserver does (PodList pages with
// metadata.continue and resourceVersion, labelSelector equality terms, Status bodies on errors) and their
// watches (?watch=1&resourceVersion=RV: the events after RV as JSON lines, BOOKMARKs when
// allowWatchBookmarks, an ERROR event with a 410 Status when RV is older than the event window), and
// GET /api/v1/nodes (unpaged), over TLS
// with the test CA's localhost certificate, accepting a bearer token or a client certificate from the test
// client CA. Tests change its pods (addPod/updatePod/deletePod send watch events; pushing into `pods`
// changes only the lists), drop its watch connections, forget old events and make it fail between requests.
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import * as fs from 'node:fs';
import type { TestCerts } from './certs';

export interface MockPodSpec {
  namespace: string;
  name: string;
  ip: string;
  node?: string;
  ips?: string[];
  hostNetwork?: boolean;
  phase?: string;
  labels?: Record<string, string>;
  /** The Ready condition (absent: no conditions at all). */
  ready?: boolean;
}

export interface MockRequest {
  path: string;
  auth: 'token' | 'certificate' | 'none';
  limit?: string;
  continueToken?: string;
  watch?: boolean;
  resourceVersion?: string;
  labelSelector?: string;
}

export interface MockKubeApi {
  /** https://127.0.0.1:PORT */
  url: string;
  pods: MockPodSpec[];
  /** Nodes served on /api/v1/nodes: name and InternalIP. */
  nodes: { name: string; internalIp: string }[];
  /** Items per page, whatever `limit` asks, so a handful of pods exercises `continue`. */
  pageSize: number;
  /** When set, every request is answered with this status and a Status body. */
  failWith?: { status: number; message: string };
  requests: MockRequest[];
  /** The cluster's resourceVersion: bumped by every change made through the methods below. */
  resourceVersion: number;
  addPod(p: MockPodSpec): void;
  updatePod(p: MockPodSpec): void;
  deletePod(namespace: string, name: string): void;
  /** Sends a BOOKMARK (the current resourceVersion) to every open watch that asked for bookmarks. */
  bookmark(): void;
  /** Cuts every open watch connection (a dropped connection, as a restarting API server or a proxy does). */
  dropWatches(): void;
  /** Forgets the events so far: a watch from an older resourceVersion gets 410 Gone. */
  compact(): void;
  /** Open watch connections now. */
  readonly openWatches: number;
  close(): Promise<void>;
}

interface WatchEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  pod: MockPodSpec;
}

function podJson(p: MockPodSpec, rv = 1): object {
  const ips = p.ips ?? [p.ip];
  return {
    metadata: { namespace: p.namespace, name: p.name, uid: `${p.namespace}-${p.name}`, resourceVersion: String(rv), labels: p.labels },
    spec: { nodeName: p.node ?? 'mock-node', hostNetwork: p.hostNetwork || undefined, containers: [{ name: 'main', image: 'mock' }] },
    status: {
      phase: p.phase ?? 'Running', podIP: p.ip, podIPs: ips.map((ip) => ({ ip })),
      conditions: p.ready === undefined ? undefined : [{ type: 'Ready', status: p.ready ? 'True' : 'False' }],
    },
  };
}

function statusJson(code: number, message: string): string {
  const reason = code === 401 ? 'Unauthorized' : code === 403 ? 'Forbidden' : code === 404 ? 'NotFound' : code === 410 ? 'Expired' : 'InternalError';
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

/** 'a=b,c=d' (equality terms only: what calitrace sends) against a pod's labels. */
function selects(selector: string | null, labels: Record<string, string> | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=');
    return (labels ?? {})[k.trim()] === (v ?? '').trim();
  });
}

interface OpenWatch {
  res: import('node:http').ServerResponse;
  namespace?: string;
  selector: string | null;
  bookmarks: boolean;
}

export async function startMockKubeApi(certs: TestCerts, opts: { token: string; pageSize?: number }): Promise<MockKubeApi> {
  const events: WatchEvent[] = [];
  let oldestRv = 0; // events after this are kept
  const watches = new Set<OpenWatch>();
  const sendEvent = (w: OpenWatch, e: WatchEvent) => {
    if (w.namespace && e.pod.namespace !== w.namespace) return;
    if (!selects(w.selector, e.pod.labels)) return;
    w.res.write(JSON.stringify({ type: e.type, object: podJson(e.pod, e.rv) }) + '\n');
  };
  const change = (type: WatchEvent['type'], pod: MockPodSpec) => {
    const e: WatchEvent = { rv: ++mock.resourceVersion, type, pod: { ...pod } };
    events.push(e);
    for (const w of watches) sendEvent(w, e);
  };
  const mock: MockKubeApi = {
    url: '',
    pods: [],
    nodes: [],
    pageSize: opts.pageSize ?? 500,
    requests: [],
    resourceVersion: 1,
    addPod: (p) => {
      mock.pods.push(p);
      change('ADDED', p);
    },
    updatePod: (p) => {
      const i = mock.pods.findIndex((x) => x.namespace === p.namespace && x.name === p.name);
      if (i < 0) throw new Error(`mock: no pod ${p.namespace}/${p.name} to update`);
      mock.pods[i] = p;
      change('MODIFIED', p);
    },
    deletePod: (namespace, name) => {
      const i = mock.pods.findIndex((x) => x.namespace === namespace && x.name === name);
      if (i < 0) throw new Error(`mock: no pod ${namespace}/${name} to delete`);
      const [p] = mock.pods.splice(i, 1);
      change('DELETED', p);
    },
    bookmark: () => {
      for (const w of watches) {
        if (w.bookmarks) w.res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: String(mock.resourceVersion) } } }) + '\n');
      }
    },
    dropWatches: () => {
      for (const w of watches) w.res.socket?.destroy();
      watches.clear();
    },
    compact: () => {
      oldestRv = mock.resourceVersion;
      events.length = 0;
    },
    get openWatches() {
      return watches.size;
    },
    close: async () => undefined,
  };
  const server = https.createServer(
    {
      key: fs.readFileSync(certs.serverKey),
      cert: fs.readFileSync(certs.serverCert),
      // Client certificates are asked for but not required, as kube-apiserver does: a token client has none.
      ca: fs.readFileSync(certs.clientCa),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const url = new URL(req.url ?? '/', 'https://mock');
      const socket = req.socket as TLSSocket;
      const auth: MockRequest['auth'] =
        req.headers.authorization === `Bearer ${opts.token}` ? 'token' : socket.authorized && socket.getPeerCertificate().subject?.CN === 'client' ? 'certificate' : 'none';
      const q = url.searchParams;
      mock.requests.push({
        path: url.pathname, auth, limit: q.get('limit') ?? undefined, continueToken: q.get('continue') ?? undefined,
        watch: q.get('watch') === '1' || q.get('watch') === 'true' || undefined, resourceVersion: q.get('resourceVersion') ?? undefined,
        labelSelector: q.get('labelSelector') ?? undefined,
      });
      const send = (code: number, body: string) => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(body);
      };
      if (auth === 'none') return send(401, statusJson(401, 'Unauthorized'));
      if (mock.failWith) return send(mock.failWith.status, statusJson(mock.failWith.status, mock.failWith.message));
      if (req.method === 'GET' && url.pathname === '/api/v1/nodes') {
        const items = mock.nodes.map((n) => ({ metadata: { name: n.name }, status: { addresses: [{ type: 'InternalIP', address: n.internalIp }, { type: 'Hostname', address: n.name }] } }));
        return send(200, JSON.stringify({ kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items }));
      }
      const inNamespace = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(url.pathname);
      if (req.method !== 'GET' || (url.pathname !== '/api/v1/pods' && !inNamespace)) {
        return send(404, statusJson(404, `the mock serves only GET /api/v1/pods, /api/v1/namespaces/NS/pods and /api/v1/nodes, not ${req.method} ${url.pathname}`));
      }
      const namespace = inNamespace ? decodeURIComponent(inNamespace[1]) : undefined;
      const selector = q.get('labelSelector');
      if (q.get('watch') === '1' || q.get('watch') === 'true') {
        const from = Number(q.get('resourceVersion') ?? '0');
        res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
        if (from < oldestRv) {
          // As kube-apiserver: the watch opens, then an ERROR event carries the 410 and the stream ends.
          res.end(JSON.stringify({ type: 'ERROR', object: JSON.parse(statusJson(410, `too old resource version: ${from} (${oldestRv})`)) }) + '\n');
          return;
        }
        const w: OpenWatch = { res, namespace, selector, bookmarks: q.get('allowWatchBookmarks') === 'true' };
        watches.add(w);
        res.on('close', () => watches.delete(w));
        for (const e of events) if (e.rv > from) sendEvent(w, e);
        return;
      }
      const matching = mock.pods.filter((p) => (!namespace || p.namespace === namespace) && selects(selector, p.labels));
      const from = Number(q.get('continue') ?? '0');
      const page = matching.slice(from, from + mock.pageSize);
      const next = from + page.length < matching.length ? String(from + page.length) : undefined;
      const rv = mock.resourceVersion;
      send(200, JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(rv), continue: next }, items: page.map((p) => podJson(p, rv)) }));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  mock.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  mock.close = () =>
    new Promise<void>((resolve) => {
      mock.dropWatches();
      server.close(() => resolve());
      server.closeAllConnections(); // keep-alive sockets of clients still open
    });
  return mock;
}

/** A kubeconfig (YAML text) for the mock: one cluster, one user, current-context set. */
export function mockKubeconfig(server: string, cluster: Record<string, string | boolean>, user: Record<string, string>, context = 'mock'): string {
  const lines = (o: Record<string, string | boolean>, indent: string) => Object.entries(o).map(([k, v]) => `${indent}${k}: ${typeof v === 'string' ? JSON.stringify(v) : v}`).join('\n');
  return `apiVersion: v1
kind: Config
current-context: ${context}
clusters:
- name: mock-cluster
  cluster:
    server: ${server}
${lines(cluster, '    ')}
users:
- name: mock-user
  user:
${lines(user, '    ')}
contexts:
- name: ${context}
  context:
    cluster: mock-cluster
    user: mock-user
`;
}

// A MOCK Kubernetes API server: the one boundary these tests cannot run for real. It serves
// GET /api/v1/pods (and GET /api/v1/nodes, unpaged) the way kube-apiserver does (PodList pages with metadata.continue, Status bodies on
// errors) over TLS with the test CA's localhost certificate, and accepts a bearer token or a client
// certificate from the test client CA. Tests change its pods and make it fail between requests.
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
}

export interface MockRequest {
  path: string;
  auth: 'token' | 'certificate' | 'none';
  limit?: string;
  continueToken?: string;
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
  close(): Promise<void>;
}

function podJson(p: MockPodSpec): object {
  const ips = p.ips ?? [p.ip];
  return {
    metadata: { namespace: p.namespace, name: p.name, uid: `${p.namespace}-${p.name}` },
    spec: { nodeName: p.node ?? 'mock-node', hostNetwork: p.hostNetwork || undefined, containers: [{ name: 'main', image: 'mock' }] },
    status: { phase: p.phase ?? 'Running', podIP: p.ip, podIPs: ips.map((ip) => ({ ip })) },
  };
}

function statusJson(code: number, message: string): string {
  const reason = code === 401 ? 'Unauthorized' : code === 403 ? 'Forbidden' : code === 404 ? 'NotFound' : 'InternalError';
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

export async function startMockKubeApi(certs: TestCerts, opts: { token: string; pageSize?: number }): Promise<MockKubeApi> {
  const mock: MockKubeApi = { url: '', pods: [], nodes: [], pageSize: opts.pageSize ?? 500, requests: [], close: async () => undefined };
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
      mock.requests.push({ path: url.pathname, auth, limit: url.searchParams.get('limit') ?? undefined, continueToken: url.searchParams.get('continue') ?? undefined });
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
      if (req.method !== 'GET' || url.pathname !== '/api/v1/pods') return send(404, statusJson(404, `the mock serves only GET /api/v1/pods and /api/v1/nodes, not ${req.method} ${url.pathname}`));
      const from = Number(url.searchParams.get('continue') ?? '0');
      const page = mock.pods.slice(from, from + mock.pageSize);
      const next = from + page.length < mock.pods.length ? String(from + page.length) : undefined;
      send(200, JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1', continue: next }, items: page.map(podJson) }));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  mock.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  mock.close = () =>
    new Promise<void>((resolve) => {
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

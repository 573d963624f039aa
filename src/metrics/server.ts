// The /metrics listener: plain HTTP on loopback, HTTPS (optionally with client certificates) anywhere
// else, under the API's listen policy (src/api/security.ts) — metrics name interfaces kinds and loss, not
// packets, but they still describe the node and are not for everyone on the network.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual, createHash } from 'node:crypto';
import { ListenPolicyError, SecurityOptions, checkListenPolicy, parseListenAddress } from '../api/security';

export const DEFAULT_METRICS_ADDR = '127.0.0.1:9245';

export interface MetricsServerOptions {
  /** HOST:PORT (no unix sockets: Prometheus scrapes TCP). */
  listen: string;
  security: SecurityOptions;
  /** The exposition text, made at each scrape. */
  render(): Promise<string>;
  contentType: string;
  warn?: (message: string) => void;
}

export interface MetricsServer {
  /** host:port actually bound (the port filled in when 0 was asked). */
  address: string;
  url: string;
  close(): Promise<void>;
}

/** Throws ListenPolicyError when the address or the policy refuses. */
export function checkMetricsAddress(listen: string, security: SecurityOptions, warn: (m: string) => void = () => undefined): void {
  const addr = parseListenAddress(listen);
  if (addr.unixPath) throw new ListenPolicyError(`--metrics-addr '${listen}': Prometheus scrapes TCP, give HOST:PORT (e.g. ${DEFAULT_METRICS_ADDR})`);
  checkListenPolicy(addr, security, warn);
}

export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  checkMetricsAddress(o.listen, o.security, (m) => (o.warn ?? ((x: string) => process.stderr.write(x + '\n')))(m.replace('calitrace API', 'calitrace metrics')));
  const addr = parseListenAddress(o.listen);
  const expected = o.security.token ? digest(o.security.token) : undefined;
  const handler: http.RequestListener = (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (expected) {
      const m = /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ''));
      if (!m || !timingSafeEqual(digest(m[1].trim()), expected)) {
        res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-type': 'text/plain' }).end('a bearer token is required (the token of --token-file)\n');
        return;
      }
    }
    if (path === '/metrics') {
      o.render().then(
        (text) => res.writeHead(200, { 'content-type': o.contentType }).end(req.method === 'HEAD' ? undefined : text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
      return;
    }
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('calitrace metrics: GET /metrics\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
  };
  let server: http.Server | https.Server;
  if (o.security.tls) {
    const t = o.security.tls;
    server = https.createServer(
      {
        cert: read(t.certFile, '--tls-cert'),
        key: read(t.keyFile, '--tls-key'),
        ...(t.clientCaFile ? { ca: read(t.clientCaFile, '--tls-client-ca'), requestCert: true, rejectUnauthorized: true } : {}),
      },
      handler,
    );
  } else {
    server = http.createServer(handler);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host === '0.0.0.0' ? undefined : addr.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  const address = `${host}:${a.port}`;
  return {
    address,
    url: `${o.security.tls ? 'https' : 'http'}://${address}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function read(file: string, flag: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new ListenPolicyError(`cannot read ${flag} file '${file}': ${(err as Error).message}`);
  }
}

// GET requests to the Kubernetes API with node's https module, and failures turned into sentences that
// say what to fix. No client library: calitrace needs one read-only list.
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { ClusterConnection } from './connection';

/** A failed request, explained; `status` is the HTTP status when the server answered. */
export class KubeApiError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

// Node's certificate verification failures (OpenSSL's X509_V_ERR names, plus node's own).
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function isTlsFailure(err: NodeJS.ErrnoException): boolean {
  const code = err.code ?? '';
  return TLS_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_');
}

/** The server's own words, from a Kubernetes Status body when it sent one. */
function statusMessage(body: string): string {
  try {
    const s = JSON.parse(body) as { message?: unknown };
    if (typeof s.message === 'string' && s.message) return s.message;
  } catch {
    /* not JSON: use the text */
  }
  return body.trim().slice(0, 200) || 'no message';
}

export function httpFailure(status: number, body: string, server: string): KubeApiError {
  const said = statusMessage(body);
  if (status === 401) return new KubeApiError(`the token/certificate was refused: ${said} (check the kubeconfig user's token or client certificate for ${server})`, status);
  if (status === 403) {
    return new KubeApiError(
      `needs RBAC list and watch on pods cluster-wide: ${said} (e.g. kubectl create clusterrole calitrace-pods --verb=list,watch --resource=pods ` +
        `and a clusterrolebinding of it to this user or service account)`,
      status,
    );
  }
  return new KubeApiError(`the API server answered HTTP ${status}: ${said}`, status);
}

export function transportFailure(err: NodeJS.ErrnoException, server: string): KubeApiError {
  if (isTlsFailure(err)) {
    return new KubeApiError(`TLS to ${server} failed: ${err.message} (check certificate-authority / certificate-authority-data in the kubeconfig, or the in-cluster ca.crt)`);
  }
  return new KubeApiError(`cannot reach the API server ${server}: ${err.message}${err.code && !err.message.includes(err.code) ? ` (${err.code})` : ''}`);
}

export interface KubeClientOptions {
  /** How long a request may wait for the next byte before it fails. */
  timeoutMs?: number;
}

/** One connection's keep-alive agent and a JSON GET on it. */
export class KubeClient {
  private readonly agent: https.Agent;
  private readonly timeoutMs: number;

  constructor(readonly connection: ClusterConnection, o: KubeClientOptions = {}) {
    const c = connection;
    this.timeoutMs = o.timeoutMs ?? 15000;
    this.agent = new https.Agent({
      keepAlive: true,
      // One for lists, one for a long-lived watch.
      maxSockets: 2,
      ca: c.ca,
      cert: c.credentials.cert,
      key: c.credentials.key,
      rejectUnauthorized: !c.insecureSkipTlsVerify,
      servername: c.tlsServerName,
    });
  }

  /** The bearer token as of now: a token file is re-read because kubelet rotates service account tokens. */
  private token(): string | undefined {
    const { token, tokenFile } = this.connection.credentials;
    if (token) return token;
    if (!tokenFile) return undefined;
    try {
      return fs.readFileSync(tokenFile, 'utf8').trim();
    } catch (err) {
      throw new KubeApiError(`cannot read the token file ${tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  /** GET `apiPath` (with its query) below the server URL; resolves with the parsed JSON body. */
  getJson(apiPath: string): Promise<unknown> {
    const server = this.connection.server;
    return new Promise((resolve, reject) => {
      let token: string | undefined;
      try {
        token = this.token();
      } catch (err) {
        reject(err);
        return;
      }
      const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'calitrace' };
      if (token) headers.authorization = `Bearer ${token}`;
      const req = https.request(new URL(server + apiPath), { method: 'GET', agent: this.agent, headers, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('error', (err) => reject(transportFailure(err, server)));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status !== 200) {
            reject(httpFailure(status, body, server));
            return;
          }
          try {
            resolve(JSON.parse(body));
          } catch {
            reject(new KubeApiError(`the API server ${server} sent a body that is not JSON (is it a Kubernetes API server?)`));
          }
        });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => reject(transportFailure(err, server)));
      req.end();
    });
  }

  /**
   * A streaming GET (a watch): one JSON object per line, handed to `onObject` as it arrives. Resolves
   * when the server ends the response (a watch's timeoutSeconds, or a dropped connection: the caller
   * resumes from the last resourceVersion), rejects with an explained KubeApiError otherwise. `idleMs`:
   * no byte for that long fails the request (bookmarks arrive about once a minute).
   */
  stream(apiPath: string, onObject: (o: unknown) => void, idleMs: number): { done: Promise<void>; abort(): void } {
    const server = this.connection.server;
    let abort = () => undefined as void;
    const done = new Promise<void>((resolve, reject) => {
      let token: string | undefined;
      try {
        token = this.token();
      } catch (err) {
        reject(err);
        return;
      }
      const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'calitrace' };
      if (token) headers.authorization = `Bearer ${token}`;
      let aborted = false;
      const req = https.request(new URL(server + apiPath), { method: 'GET', agent: this.agent, headers, timeout: idleMs }, (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let partial = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (status !== 200) return void chunks.push(Buffer.from(d));
          partial += d;
          let nl: number;
          while ((nl = partial.indexOf('\n')) >= 0) {
            const line = partial.slice(0, nl).trim();
            partial = partial.slice(nl + 1);
            if (!line) continue;
            try {
              onObject(JSON.parse(line));
            } catch (err) {
              req.destroy();
              reject(err instanceof KubeApiError ? err : new KubeApiError(`the API server ${server} sent a watch line that is not JSON`));
              return;
            }
          }
        });
        res.on('error', (err) => (aborted ? resolve() : reject(transportFailure(err, server))));
        res.on('end', () => (status === 200 ? resolve() : reject(httpFailure(status, Buffer.concat(chunks).toString('utf8'), server))));
        res.on('close', () => resolve());
      });
      abort = () => {
        aborted = true;
        req.destroy();
        resolve();
      };
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no data within ${idleMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => (aborted ? resolve() : reject(transportFailure(err, server))));
      req.end();
    });
    return { done, abort: () => abort() };
  }

  close(): void {
    this.agent.destroy();
  }
}

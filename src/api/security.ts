// Who may connect: the listen-address policy (loopback or a unix socket unless TLS or --insecure), server
// TLS credentials with optional client-certificate checking, and the bearer-token / client-certificate
// check that answers UNAUTHENTICATED before any handler runs.
import * as fs from 'node:fs';
import { timingSafeEqual, createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA that signs the client certificates: turns on mutual TLS. */
  clientCaFile?: string;
}

export interface SecurityOptions {
  tls?: TlsFiles;
  /** Bearer token clients must present (`authorization: Bearer <token>`). */
  token?: string;
  /** Accept a non-loopback address without TLS. */
  insecure?: boolean;
}

export class ListenPolicyError extends Error {}

export interface ListenAddress {
  /** What grpc-js binds: 'host:port' or 'unix:/path'. */
  bind: string;
  unixPath?: string;
  host?: string;
  port?: number;
  loopback: boolean;
}

export const DEFAULT_LISTEN = '127.0.0.1:4245';

/** Parses '127.0.0.1:4245', '[::1]:4245', 'localhost:0', ':4245' (all addresses), 'unix:/run/x.sock'. */
export function parseListenAddress(text: string): ListenAddress {
  if (text.startsWith('unix:')) {
    const p = text.replace(/^unix:(\/\/)?/, '');
    if (!p.startsWith('/')) throw new ListenPolicyError(`unix socket '${text}' needs an absolute path, e.g. unix:/run/calitrace.sock`);
    return { bind: `unix:${p}`, unixPath: p, loopback: true };
  }
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  if (!m) throw new ListenPolicyError(`cannot read listen address '${text}'; use HOST:PORT (e.g. 127.0.0.1:4245) or unix:/PATH`);
  const host = m[1] ?? (m[2] || '0.0.0.0');
  const port = Number(m[3]);
  if (port > 65535) throw new ListenPolicyError(`port ${port} in '${text}' is above 65535`);
  const loopback = host === 'localhost' || /^127\./.test(host) || host === '::1';
  return { bind: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`, host, port, loopback };
}

/**
 * Applies the policy: a non-loopback TCP address needs TLS, or --insecure (then `warn` is called with a
 * loud message). Throws ListenPolicyError with the fix otherwise.
 */
export function checkListenPolicy(addr: ListenAddress, sec: SecurityOptions, warn: (msg: string) => void): void {
  if (addr.loopback || sec.tls) return;
  if (!sec.insecure) {
    throw new ListenPolicyError(
      `listening on ${addr.bind} would expose packet data to the network without encryption. ` +
        'Give --tls-cert and --tls-key (and --tls-client-ca for mutual TLS), or --insecure to accept the risk, ' +
        'or listen on loopback (127.0.0.1:4245) or a unix socket.',
    );
  }
  warn(
    '\n' +
      '  ##########################################################################\n' +
      `  WARNING: serving the calitrace API on ${addr.bind} WITHOUT TLS (--insecure).\n` +
      '  Anyone who can reach this address can read packet metadata of this node,\n' +
      `  and tokens travel in clear text.${sec.token ? '' : ' No token is required either.'}\n` +
      '  ##########################################################################\n',
  );
}

/** Server credentials for the options: TLS (mutual when a client CA is given) or insecure. */
export function serverCredentials(sec: SecurityOptions): grpc.ServerCredentials {
  if (!sec.tls) return grpc.ServerCredentials.createInsecure();
  const cert = readFile(sec.tls.certFile, '--tls-cert');
  const key = readFile(sec.tls.keyFile, '--tls-key');
  if (!sec.tls.clientCaFile) return grpc.ServerCredentials.createSsl(null, [{ cert_chain: cert, private_key: key }], false);
  return new ClientCertificateCredentials(readFile(sec.tls.clientCaFile, '--tls-client-ca'), cert, key);
}

/**
 * Mutual TLS that lets the handshake finish even with a missing or untrusted client certificate, so the
 * client gets a gRPC UNAUTHENTICATED with a reason (from authInterceptor) instead of a bare connection reset.
 */
class ClientCertificateCredentials extends grpc.ServerCredentials {
  constructor(ca: Buffer, cert: Buffer, key: Buffer) {
    super({ requestCert: true, rejectUnauthorized: false }, { ca, cert, key });
  }
  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

function readFile(file: string, flag: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new ListenPolicyError(`cannot read ${flag} file '${file}': ${(err as Error).message}`);
  }
}

export function readTokenFile(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ListenPolicyError(`cannot read --token-file '${file}': ${(err as Error).message}`);
  }
  if (!text) throw new ListenPolicyError(`--token-file '${file}' is empty; put the token on its first line`);
  return text;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * Rejects calls without the right credentials with UNAUTHENTICATED, before the handler sees the request.
 * Paths in `exempt` (the health service: kubelet probes carry no token) pass.
 */
export function authInterceptor(sec: SecurityOptions, exempt: Set<string>): grpc.ServerInterceptor | undefined {
  const wantCert = !!sec.tls?.clientCaFile;
  if (!sec.token && !wantCert) return undefined;
  const expected = sec.token ? digest(sec.token) : undefined;
  return (method, call) => {
    if (exempt.has(method.path)) return new grpc.ServerInterceptingCall(call);
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const failure = check(metadata, call.getAuthContext());
        if (failure) call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: failure });
        else next(metadata);
      })
      .build();
    return new grpc.ServerInterceptingCall(call, new grpc.ResponderBuilder().withStart((next) => next(listener)).build());
  };

  function check(metadata: grpc.Metadata, auth: { sslPeerCertificate?: unknown }): string | undefined {
    // grpc-js reports a peer certificate only when it verified against the client CA.
    if (wantCert && !auth.sslPeerCertificate) return 'a client certificate signed by the server\'s client CA is required (--tls-client-cert/--tls-client-key)';
    if (expected) {
      const header = String(metadata.get('authorization')[0] ?? '');
      const m = /^Bearer\s+(.+)$/i.exec(header);
      if (!m) return 'a bearer token is required (--token-file)';
      if (!timingSafeEqual(digest(m[1].trim()), expected)) return 'the bearer token is wrong';
    }
    return undefined;
  }
}

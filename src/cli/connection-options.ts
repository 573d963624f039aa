// The flags that say how to reach a calitrace API (address, TLS, token): one definition for every client
// command (observe, ui), so they accept the same flags, document them alike and read them alike.
import * as fs from 'node:fs';
import { UsageError } from './command';
import { ClientOptions } from '../api/client';
import { DEFAULT_LISTEN } from '../api/security';

export const CONNECTION_OPTIONS = {
  server: { type: 'string' },
  tls: { type: 'boolean' },
  'tls-ca': { type: 'string' },
  'tls-client-cert': { type: 'string' },
  'tls-client-key': { type: 'string' },
  'tls-server-name': { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
} as const;

export const CONNECTION_HELP = `  --server ADDR          API address: HOST:PORT or unix:/PATH (default ${DEFAULT_LISTEN}, where
                         calitrace serve and calitrace trace listen by default)
  --tls                  use TLS (implied by the --tls-* files); system roots verify the server
  --tls-ca FILE          CA certificate (PEM) that signed the server's certificate
  --tls-client-cert FILE client certificate (PEM), for servers that require mutual TLS
  --tls-client-key FILE  client key (PEM)
  --tls-server-name NAME name to verify in the server certificate when it differs from the host
  --token-file FILE      bearer token from FILE (or --token TOKEN, or the CALITRACE_TOKEN variable)`;

type ConnectionValues = { [K in keyof typeof CONNECTION_OPTIONS]?: (typeof CONNECTION_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** Client options from parsed flags; a flag that cannot work is a UsageError saying why. */
export function connectionFrom(values: ConnectionValues): ClientOptions {
  if (!!values['tls-client-cert'] !== !!values['tls-client-key']) {
    throw new UsageError('a client certificate needs both --tls-client-cert and --tls-client-key');
  }
  let token = values.token ?? process.env.CALITRACE_TOKEN;
  if (values['token-file']) {
    try {
      token = fs.readFileSync(values['token-file'], 'utf8').trim();
    } catch (err) {
      throw new UsageError(`cannot read --token-file '${values['token-file']}': ${(err as Error).message}`);
    }
  }
  return {
    server: values.server ?? DEFAULT_LISTEN,
    tls: values.tls,
    caFile: values['tls-ca'],
    certFile: values['tls-client-cert'],
    keyFile: values['tls-client-key'],
    serverName: values['tls-server-name'],
    token,
  };
}

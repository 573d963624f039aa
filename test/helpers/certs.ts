// Test certificates made with openssl at test time: a CA and a server certificate for localhost, a client
// CA with a client certificate, and a rogue CA with a client certificate the server must refuse.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface TestCerts {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCa: string;
  clientCert: string;
  clientKey: string;
  rogueCert: string;
  rogueKey: string;
  cleanup(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-keyout', `${name}.key`, '-out', `${name}.pem`, '-subj', `/CN=${name}`]);
}

function makeLeaf(dir: string, name: string, ca: string, san: string, usage: string): void {
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`,
    '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${usage}\n`);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-days', '1', '-out', `${name}.pem`, '-extfile', `${name}.ext`]);
}

export function makeTestCerts(): TestCerts {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-certs-'));
  makeCa(dir, 'ca');
  makeLeaf(dir, 'server', 'ca', 'DNS:localhost,IP:127.0.0.1', 'serverAuth');
  makeCa(dir, 'client-ca');
  makeLeaf(dir, 'client', 'client-ca', 'DNS:client', 'clientAuth');
  makeCa(dir, 'rogue-ca');
  makeLeaf(dir, 'rogue', 'rogue-ca', 'DNS:client', 'clientAuth');
  const p = (f: string) => path.join(dir, f);
  return {
    dir,
    ca: p('ca.pem'),
    serverCert: p('server.pem'),
    serverKey: p('server.key'),
    clientCa: p('client-ca.pem'),
    clientCert: p('client.pem'),
    clientKey: p('client.key'),
    rogueCert: p('rogue.pem'),
    rogueKey: p('rogue.key'),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

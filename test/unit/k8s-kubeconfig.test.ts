// Kubeconfig and in-cluster settings → a ClusterConnection, the discovery order, and the pod list's
// IP mapping: files made in a temporary folder, nothing contacted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { discoverConnection, loadKubeconfig, podsByIp } from '../../src/k8s';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-kubeconfig-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function write(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

const TWO_CONTEXTS = `apiVersion: v1
kind: Config
current-context: admin@prod
clusters:
- name: prod
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority-data: ${b64('PROD CA PEM')}
- name: lab
  cluster:
    server: https://lab.example:443
    insecure-skip-tls-verify: true
    tls-server-name: kubernetes.default
users:
- name: admin
  user:
    client-certificate-data: ${b64('ADMIN CERT')}
    client-key-data: ${b64('ADMIN KEY')}
- name: viewer
  user:
    token: abc.def
contexts:
- name: admin@prod
  context: {cluster: prod, user: admin}
- name: viewer@lab
  context: {cluster: lab, user: viewer, namespace: default}
`;

test('kubeconfig: current-context with client certificate data and CA data', (t) => {
  const file = write(tempDir(t), 'config', TWO_CONTEXTS);
  const c = loadKubeconfig([file]);
  assert.equal(c.server, 'https://10.0.0.1:6443');
  assert.equal(c.ca?.toString(), 'PROD CA PEM');
  assert.equal(c.insecureSkipTlsVerify, false);
  assert.equal(c.credentials.cert?.toString(), 'ADMIN CERT');
  assert.equal(c.credentials.key?.toString(), 'ADMIN KEY');
  assert.equal(c.credentials.token, undefined);
  assert.equal(c.source, `kubeconfig ${file}, context admin@prod`);
});

test('kubeconfig: another context with an inline token, insecure-skip-tls-verify and tls-server-name', (t) => {
  const file = write(tempDir(t), 'config', TWO_CONTEXTS);
  const c = loadKubeconfig([file], 'viewer@lab');
  assert.equal(c.server, 'https://lab.example:443');
  assert.equal(c.insecureSkipTlsVerify, true);
  assert.equal(c.tlsServerName, 'kubernetes.default');
  assert.equal(c.ca, undefined);
  assert.deepEqual(c.credentials, { token: 'abc.def', cert: undefined, key: undefined });
  assert.throws(() => loadKubeconfig([file], 'nope'), /has no context 'nope' \(contexts: admin@prod, viewer@lab\)/);
});

test('kubeconfig: CA, certificate, key and token files are read relative to the kubeconfig', (t) => {
  const dir = tempDir(t);
  write(dir, 'pki/ca.crt', 'CA FROM FILE');
  write(dir, 'pki/me.crt', 'CERT FROM FILE');
  write(dir, 'pki/me.key', 'KEY FROM FILE');
  const file = write(dir, 'config', `current-context: c
clusters: [{name: k, cluster: {server: "https://k:6443", certificate-authority: pki/ca.crt}}]
users:
- {name: cert, user: {client-certificate: pki/me.crt, client-key: ${path.join(dir, 'pki/me.key')}}}
- {name: tok, user: {tokenFile: pki/token}}
contexts:
- {name: c, context: {cluster: k, user: cert}}
- {name: t, context: {cluster: k, user: tok}}
`);
  const c = loadKubeconfig([file]);
  assert.equal(c.ca?.toString(), 'CA FROM FILE');
  assert.equal(c.credentials.cert?.toString(), 'CERT FROM FILE');
  assert.equal(c.credentials.key?.toString(), 'KEY FROM FILE');
  // The token file is only named here: it is read before each request, so a rotated token is picked up.
  assert.equal(loadKubeconfig([file], 't').credentials.tokenFile, path.join(dir, 'pki/token'));
  fs.rmSync(path.join(dir, 'pki/ca.crt'));
  assert.throws(() => loadKubeconfig([file]), new RegExp(`cannot read the certificate authority ${path.join(dir, 'pki/ca.crt')} \\(certificate-authority of 'k'\\): ENOENT`));
});

test('kubeconfig: exec and auth-provider users are refused with what to use instead', (t) => {
  const dir = tempDir(t);
  const file = write(dir, 'config', `current-context: eks
clusters: [{name: k, cluster: {server: "https://k:443"}}]
users:
- name: aws
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws, args: [eks, get-token]}
- name: gke
  user:
    auth-provider: {name: gcp}
- name: basic
  user: {username: admin, password: secret}
contexts:
- {name: eks, context: {cluster: k, user: aws}}
- {name: gke, context: {cluster: k, user: gke}}
- {name: basic, context: {cluster: k, user: basic}}
`);
  const instead = /give calitrace a kubeconfig whose user has a token \(e\.g\. from `kubectl create token SERVICEACCOUNT`\) or a client certificate/;
  assert.throws(() => loadKubeconfig([file]), (err: Error) => {
    assert.match(err.message, new RegExp(`^kubeconfig ${file}: user 'aws' gets its credentials from an exec plugin \\(aws\\), which calitrace does not support; `));
    assert.match(err.message, instead);
    return true;
  });
  assert.throws(() => loadKubeconfig([file], 'gke'), /user 'gke' uses the 'gcp' auth-provider, which calitrace does not support; give calitrace a kubeconfig whose user has a token/);
  assert.throws(() => loadKubeconfig([file], 'basic'), /basic authentication \(username\/password\), which calitrace does not support/);
});

test('kubeconfig: mistakes name the file and the fix', (t) => {
  const dir = tempDir(t);
  const noCtx = write(dir, 'a', 'clusters: [{name: k, cluster: {server: "https://k"}}]\ncontexts: [{name: x, context: {cluster: k}}]\n');
  assert.throws(() => loadKubeconfig([noCtx]), /has no current-context; pick one with --kube-context \(contexts: x\)/);
  const http = write(dir, 'b', 'current-context: x\nclusters: [{name: k, cluster: {server: "http://k:8080"}}]\ncontexts: [{name: x, context: {cluster: k}}]\n');
  assert.throws(() => loadKubeconfig([http]), /server http:\/\/k:8080 is not https:\/\/; calitrace only talks to the API over TLS/);
  const half = write(dir, 'c', `current-context: x\nclusters: [{name: k, cluster: {server: "https://k"}}]\nusers: [{name: u, user: {client-certificate-data: ${b64('C')}}}]\ncontexts: [{name: x, context: {cluster: k, user: u}}]\n`);
  assert.throws(() => loadKubeconfig([half]), /has a client certificate but no key; give both/);
  const bad = write(dir, 'd', 'clusters: [unclosed\n');
  assert.throws(() => loadKubeconfig([bad]), new RegExp(`kubeconfig ${bad} is not valid YAML`));
  assert.throws(() => loadKubeconfig([path.join(dir, 'missing')]), /cannot read kubeconfig .*missing: ENOENT/);
  // No user at all is allowed (anonymous); the server decides.
  assert.deepEqual(loadKubeconfig([write(dir, 'e', 'current-context: x\nclusters: [{name: k, cluster: {server: "https://k"}}]\ncontexts: [{name: x, context: {cluster: k}}]\n')]).credentials, {});
});

test('kubeconfig: several files merge as kubectl does, the first one winning', (t) => {
  const dir = tempDir(t);
  const first = write(dir, 'one', 'current-context: mine\nusers: [{name: u, user: {token: first}}]\ncontexts: [{name: mine, context: {cluster: shared, user: u}}]\n');
  const second = write(dir, 'two', 'current-context: theirs\nclusters: [{name: shared, cluster: {server: "https://shared:6443"}}]\nusers: [{name: u, user: {token: second}}]\n');
  const c = loadKubeconfig([first, second]);
  assert.equal(c.server, 'https://shared:6443');
  assert.equal(c.credentials.token, 'first');
  assert.equal(c.source, `kubeconfig ${first}:${second}, context mine`);
});

test('discovery: in-cluster, then $KUBECONFIG, ~/.kube/config, admin.conf; an explicit file or context skips in-cluster', (t) => {
  const dir = tempDir(t);
  const sa = path.join(dir, 'sa');
  write(sa, 'token', 'sa-token\n');
  write(sa, 'ca.crt', 'SA CA');
  const home = path.join(dir, 'home');
  const adminConf = path.join(dir, 'admin.conf');
  const config = (server: string) => `current-context: x\nclusters: [{name: k, cluster: {server: "${server}"}}]\ncontexts: [{name: x, context: {cluster: k}}, {name: y, context: {cluster: k}}]\n`;
  const where = { home, adminConf, serviceAccountDir: sa };
  const inClusterEnv = { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' };

  const none = discoverConnection({ ...where, env: {} });
  assert.deepEqual(none, { found: false, why: 'no kubeconfig found; give --kubeconfig or run in-cluster' });

  write(dir, 'admin.conf', config('https://admin:6443'));
  const server = (o: Parameters<typeof discoverConnection>[0]) => {
    const d = discoverConnection(o);
    return d.found ? d.connection.server : d.why;
  };
  assert.equal(server({ ...where, env: {} }), 'https://admin:6443');
  write(home, '.kube/config', config('https://home:6443'));
  assert.equal(server({ ...where, env: {} }), 'https://home:6443');
  const fromEnv = write(dir, 'env-config', config('https://env:6443'));
  assert.equal(server({ ...where, env: { KUBECONFIG: `${path.join(dir, 'absent')}:${fromEnv}` } }), 'https://env:6443');

  const inCluster = discoverConnection({ ...where, env: { ...inClusterEnv, KUBECONFIG: fromEnv } });
  assert.ok(inCluster.found);
  assert.equal(inCluster.connection.server, 'https://[fd00::1]:443');
  assert.equal(inCluster.connection.ca?.toString(), 'SA CA');
  assert.deepEqual(inCluster.connection.credentials, { tokenFile: path.join(sa, 'token') });
  assert.equal(inCluster.connection.source, `in-cluster service account (${sa})`);

  const explicit = write(dir, 'explicit', config('https://explicit:6443'));
  assert.equal(server({ ...where, env: inClusterEnv, kubeconfig: explicit }), 'https://explicit:6443');
  const withContext = discoverConnection({ ...where, env: inClusterEnv, context: 'y' });
  assert.ok(withContext.found);
  assert.equal(withContext.connection.source, `kubeconfig ${path.join(home, '.kube/config')}, context y`);
  // Without its token the service account is not there: on to the files.
  fs.rmSync(path.join(sa, 'token'));
  assert.equal(server({ ...where, env: inClusterEnv }), 'https://home:6443');
});

test('pod list: every pod IP maps to namespace/name/node; host-network and finished pods are left out', () => {
  const pod = (ns: string, name: string, ip: string, extra: { hostNetwork?: boolean; phase?: string; ips?: string[] } = {}) => ({
    metadata: { namespace: ns, name },
    spec: { nodeName: 'w1', hostNetwork: extra.hostNetwork },
    status: { phase: extra.phase ?? 'Running', podIP: ip, podIPs: (extra.ips ?? [ip]).map((x) => ({ ip: x })) },
  });
  const m = podsByIp([
    pod('a', 'dual', '10.1.0.1', { ips: ['10.1.0.1', 'fd00::1'] }),
    pod('kube-system', 'proxy', '192.168.0.5', { hostNetwork: true }),
    pod('a', 'done', '10.1.0.2', { phase: 'Succeeded' }),
    pod('a', 'crashed', '10.1.0.3', { phase: 'Failed' }),
    pod('a', 'starting', '10.1.0.4', { phase: 'Pending' }),
    { metadata: { namespace: 'a', name: 'no-ip-yet' }, spec: {}, status: { phase: 'Pending' } },
  ]);
  assert.deepEqual([...m.keys()].sort(), ['10.1.0.1', '10.1.0.4', 'fd00::1']);
  assert.deepEqual(m.get('fd00::1'), { namespace: 'a', name: 'dual', node: 'w1' });
});

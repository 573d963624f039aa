// deploy/kubernetes/: every manifest validated against the Kubernetes schemas (kubernetes-models), and the
// DaemonSet's container run for real — its exact command and args (with $(VAR) expanded as kubelet does,
// and the image/secret paths mapped to this checkout and test certificates), in a lab node's network
// namespace as hostNetwork gives it, with only the capabilities the manifest adds — then its readiness
// probe, and a mutual-TLS client reading real verdicts from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Service } from 'kubernetes-models/v1/Service';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { withLab } from '../helpers/lab';
import { stopProcess, waitUntil } from '../helpers/api';
import { must } from '../helpers/capture-lab';
import { labExecArgv } from '../../src/lab';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const DEPLOY = path.join(ROOT, 'deploy', 'kubernetes');

type Validator = new (data: never) => { validate(): void };
const MODELS: Record<string, Validator> = {
  'v1/Namespace': Namespace as unknown as Validator,
  'v1/ServiceAccount': ServiceAccount as unknown as Validator,
  'v1/Service': Service as unknown as Validator,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole as unknown as Validator,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding as unknown as Validator,
  'rbac.authorization.k8s.io/v1/Role': Role as unknown as Validator,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding as unknown as Validator,
  'apps/v1/DaemonSet': DaemonSet as unknown as Validator,
  'apps/v1/Deployment': Deployment as unknown as Validator,
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any;

function manifests(): { file: string; obj: Obj }[] {
  const out: { file: string; obj: Obj }[] = [];
  for (const file of fs.readdirSync(DEPLOY).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(DEPLOY, file), 'utf8'))) {
      assert.equal(doc.errors.length, 0, `${file}: ${doc.errors.join('; ')}`);
      const obj = doc.toJS();
      if (obj) out.push({ file, obj });
    }
  }
  return out;
}

function validate(obj: Obj): void {
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
  new Model(obj as never).validate();
}

const find = (kind: string, name: string) => manifests().find((m) => m.obj.kind === kind && m.obj.metadata.name === name)!.obj;

test('deploy/kubernetes: every manifest is valid against the Kubernetes schemas, with least-privilege RBAC and the capabilities named', () => {
  const all = manifests();
  assert.deepEqual([...new Set(all.map((m) => m.obj.kind))].sort(),
    ['ClusterRole', 'ClusterRoleBinding', 'DaemonSet', 'Deployment', 'Namespace', 'Role', 'RoleBinding', 'Service', 'ServiceAccount']);
  for (const m of all) assert.doesNotThrow(() => validate(m.obj), `${m.file}: ${m.obj.kind} ${m.obj.metadata?.name}`);

  // The validator does reject a broken object (so the checks above can fail).
  const broken = structuredClone(find('DaemonSet', 'calitrace-node'));
  broken.spec.template.spec.containers[0].ports[0].containerPort = 'four-two-four-five';
  assert.throws(() => validate(broken), /containerPort/);
  const noSelector = structuredClone(find('Deployment', 'calitrace-relay'));
  delete noSelector.spec.selector;
  assert.throws(() => validate(noSelector), /selector/);

  // Least privilege: read pods (list + watch) and nothing else, cluster-wide for names, namespaced for the relay.
  for (const kind of ['ClusterRole', 'Role']) {
    const role = all.find((m) => m.obj.kind === kind)!.obj;
    assert.deepEqual(role.rules, [{ apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] }]);
  }
  const ds = find('DaemonSet', 'calitrace-node');
  const pod = ds.spec.template.spec;
  assert.equal(pod.hostNetwork, true);
  assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
  const sc = pod.containers[0].securityContext;
  assert.equal(sc.privileged, false);
  assert.deepEqual(sc.capabilities.drop, ['ALL']);
  assert.deepEqual(sc.capabilities.add, ['BPF', 'PERFMON', 'NET_ADMIN', 'SYS_RESOURCE']);
  assert.ok(pod.containers[0].resources.requests.memory && pod.containers[0].resources.limits.memory);
  // The relay finds the DaemonSet's pods by the label the DaemonSet puts on them, at the port it serves.
  const relayArgs: string[] = find('Deployment', 'calitrace-relay').spec.template.spec.containers[0].args;
  const selector = relayArgs[relayArgs.indexOf('--discover-pods') + 1];
  const [k, v] = selector.split('=');
  assert.equal(ds.spec.template.metadata.labels[k], v);
  assert.equal(relayArgs[relayArgs.indexOf('--discover-port') + 1], String(pod.containers[0].ports[0].containerPort));
  const svc = find('Service', 'calitrace-relay');
  const relayLabels = find('Deployment', 'calitrace-relay').spec.template.metadata.labels;
  for (const [key, value] of Object.entries(svc.spec.selector)) assert.equal(relayLabels[key], value, `the Service selects the relay's pods (${key})`);
});

/** One CA and one certificate for the nodes and the relay (SAN calitrace-node, server + client use), as docs/operations.md makes them. */
function makeDeployCerts(dir: string): void {
  const ossl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  ossl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=calitrace-ca']);
  ossl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'tls.key', '-out', 'tls.csr', '-subj', '/CN=calitrace-node']);
  fs.writeFileSync(path.join(dir, 'ext'), 'subjectAltName=DNS:calitrace-node,DNS:calitrace-relay\nextendedKeyUsage=serverAuth,clientAuth\n');
  ossl(['x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', 'tls.crt', '-extfile', 'ext']);
}

test('the DaemonSet container, run with its exact command and args and only its capabilities on a lab node, gets ready and serves verdicts over mutual TLS', async () => {
  const ds = find('DaemonSet', 'calitrace-node');
  const container = ds.spec.template.spec.containers[0];
  const tls = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-deploy-'));
  makeDeployCerts(tls);
  // The image's paths → this checkout; the secret's mount → the certificates just made.
  const mapPath = (s: string) => s.replaceAll('/opt/calitrace', ROOT).replaceAll('/etc/calitrace/tls', tls);
  try {
    await withLab(async (lab) => {
      const node1 = lab.nodes.find((n) => n.id === 'node1')!;
      const env: Record<string, string> = { NODE_NAME: node1.name, POD_IP: '172.27.71.11' }; // hostNetwork: the pod IP is the node's
      for (const e of container.env) assert.ok(env[e.name] !== undefined, `the test sets every env var the manifest does: ${e.name}`);
      // kubelet expands $(VAR) in command and args from the container's env.
      const expand = (s: string) => mapPath(s.replace(/\$\((\w+)\)/g, (_m, name: string) => env[name]));
      const argv: string[] = [...container.command, ...container.args].map(expand);
      const caps = container.securityContext.capabilities.add.map((c: string) => `+${c.toLowerCase()}`).join(',');
      const run = labExecArgv(lab.prefix, 'node1', ['setpriv', '--bounding-set', `-all,${caps}`, '--', ...argv]);
      const proc = spawn(run[0], run.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
      let out = '';
      proc.stdout!.on('data', (d) => (out += d));
      proc.stderr!.on('data', (d) => (out += d));
      try {
        await waitUntil(() => /API on /.test(out) || proc.exitCode !== null, 'the DaemonSet command to serve', 30000);
        assert.match(out, new RegExp(`API on 172\\.27\\.71\\.11:4245 \\(node ${node1.name}, this namespace, case mode; calitrace observe --server 172\\.27\\.71\\.11:4245\\)`), out);

        // The readiness probe, as kubelet runs it (in the container, with its env).
        const probe: string[] = container.readinessProbe.exec.command.map(mapPath);
        const probeRun = labExecArgv(lab.prefix, 'node1', probe);
        const ready = await new Promise<{ code: number | null; out: string }>((resolve) => {
          const p = spawn(probeRun[0], probeRun.slice(1), { env: { ...process.env, ...env } });
          let o = '';
          p.stdout.on('data', (d) => (o += d));
          p.stderr.on('data', (d) => (o += d));
          p.on('close', (code) => resolve({ code, out: o }));
        });
        assert.equal(ready.code, 0, ready.out);
        assert.equal(ready.out.trim(), 'SERVING');

        // Real traffic, read back by a mutual-TLS client on the node's address (where the relay dials).
        await must(lab, '10.233.101.222', ['ping', '-n', '-c', '2', '-i', '0.2', '-W', '1', '10.233.100.130']);
        const client = labExecArgv(lab.prefix, 'node1', ['node', path.join(ROOT, 'bin', 'calitrace.js'), 'observe', '--server', '172.27.71.11:4245',
          '--tls-ca', `${tls}/ca.crt`, '--tls-client-cert', `${tls}/tls.crt`, '--tls-client-key', `${tls}/tls.key`, '--tls-server-name', 'calitrace-node',
          '--last', '20', '-o', 'json', 'type=verdict', 'dst=10.233.100.130']);
        let lines: { node: string; verdict: string; observed: { interface: string }[] }[] = [];
        await waitUntil(() => {
          const r = execFileSync(client[0], client.slice(1), { encoding: 'utf8' });
          lines = r.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
          return lines.length >= 1;
        }, 'a verdict from the DaemonSet-run serve', 10000);
        assert.equal(lines[0].node, node1.name);
        assert.equal(lines[0].verdict, 'MATCHED');
        assert.deepEqual(lines[0].observed.map((h) => h.interface), ['cali11299111064', 'vxlan.calico', 'ens3']);
        // Without the client certificate: refused.
        const noCert = labExecArgv(lab.prefix, 'node1', ['node', path.join(ROOT, 'bin', 'calitrace.js'), 'observe', '--server', '172.27.71.11:4245',
          '--tls-ca', `${tls}/ca.crt`, '--tls-server-name', 'calitrace-node', '--last', '1']);
        assert.throws(() => execFileSync(noCert[0], noCert.slice(1), { encoding: 'utf8', stdio: 'pipe' }), /client certificate/);
      } finally {
        await stopProcess(proc);
      }
    });
  } finally {
    fs.rmSync(tls, { recursive: true, force: true });
  }
});

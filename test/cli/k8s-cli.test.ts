// The pod-name flags of `serve` and `trace`: help texts, usage errors before anything starts, and the
// choice of source with its one-line description (discovery pointed at temporary folders).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { choosePodNameSource } from '../../src/cli/pod-names';
import { UsageError } from '../../src/cli/command';

const BIN = path.resolve(__dirname, '../../../bin/calitrace.js');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calitrace-k8s-cli-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const EXEC_CONFIG = `current-context: eks
clusters: [{name: k, cluster: {server: "https://k:443"}}]
users: [{name: aws, user: {exec: {command: aws}}}]
contexts: [{name: eks, context: {cluster: k, user: aws}}]
`;

test('serve and trace --help document --kubeconfig, --kube-context and --no-kubernetes with examples', () => {
  for (const cmd of ['serve', 'trace']) {
    const r = cli(cmd, '--help');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /--kubeconfig FILE +read pods from the Kubernetes API/);
    assert.match(r.stdout, /--kube-context NAME/);
    assert.match(r.stdout, /--no-kubernetes/);
    assert.match(r.stdout, /in-cluster service account, then\s+\$KUBECONFIG, ~\/\.kube\/config, \/etc\/kubernetes\/admin\.conf/);
    assert.match(r.stdout, new RegExp(`\\n {2}calitrace ${cmd} .*--kube(config|-context) `));
  }
});

test('pod-name flags that cannot work exit 2 before the tracer starts, saying why', (t) => {
  const dir = tempDir(t);
  const exec = path.join(dir, 'exec.yaml');
  fs.writeFileSync(exec, EXEC_CONFIG);
  const cases: [string[], RegExp][] = [
    [['serve', '--kubeconfig', path.join(dir, 'missing')], /cannot read kubeconfig .*missing: ENOENT/],
    [['serve', '--kubeconfig', exec], /user 'aws' gets its credentials from an exec plugin \(aws\), which calitrace does not support; give calitrace a kubeconfig whose user has a token/],
    [['serve', '--kubeconfig', exec, '--kube-context', 'other'], /has no context 'other' \(contexts: eks\)/],
    [['serve', '--no-kubernetes', '--kubeconfig', exec], /--no-kubernetes excludes --kubeconfig and --kube-context/],
    [['trace', '--no-ui', '--events', '--kubeconfig', exec], /name the pods of verdicts, which this trace does not print/],
    [['trace', '--no-ui', '--mode', 'flow', '--no-kubernetes'], /name the pods of verdicts, which this trace does not print/],
    [['trace', '--no-ui', '--kubeconfig', path.join(dir, 'missing')], /cannot read kubeconfig .*missing: ENOENT/],
  ];
  for (const [args, want] of cases) {
    const r = cli(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, want, args.join(' '));
  }
});

test('the pod-name source: none found, --no-kubernetes, a broken kubeconfig found on its own, a working one', (t) => {
  const dir = tempDir(t);
  const where = { env: {}, home: path.join(dir, 'home'), adminConf: path.join(dir, 'admin.conf'), serviceAccountDir: path.join(dir, 'sa') };
  assert.deepEqual(choosePodNameSource({}, undefined, where), { kind: 'none', description: 'pod names: none (no kubeconfig found; give --kubeconfig or run in-cluster)' });
  assert.deepEqual(choosePodNameSource({ 'no-kubernetes': true }, undefined, where), { kind: 'none', description: 'pod names: none (--no-kubernetes)' });
  // Not a lab namespace (no such lab): the Kubernetes sources are tried as on any node.
  assert.equal(choosePodNameSource({}, 'nosuchlab-node1', where).kind, 'none');

  fs.writeFileSync(where.adminConf, EXEC_CONFIG);
  const broken = choosePodNameSource({}, undefined, where);
  assert.equal(broken.kind, 'none');
  assert.match(broken.description, /^pod names: none \(kubeconfig .*admin\.conf: user 'aws' gets its credentials from an exec plugin/);
  assert.throws(() => choosePodNameSource({ kubeconfig: where.adminConf }, undefined, where), (err) => err instanceof UsageError && /exec plugin/.test(err.message));

  const good = path.join(dir, 'good.yaml');
  fs.writeFileSync(good, 'current-context: x\nclusters: [{name: k, cluster: {server: "https://10.0.0.1:6443"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: k, user: u}}]\n');
  const k = choosePodNameSource({}, undefined, { ...where, env: { KUBECONFIG: good } });
  assert.equal(k.kind, 'kubernetes');
  assert.equal(k.description, `pod names: Kubernetes API at https://10.0.0.1:6443 (kubeconfig ${good}, context x)`);
});

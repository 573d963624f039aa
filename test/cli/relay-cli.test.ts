// calitrace relay and calitrace health from the command line: usage mistakes are exit 2 with the fix in the
// message, before anything connects; both commands are listed by `calitrace --help`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'calitrace.js');

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [BIN, ...args], { timeout: 20000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

test('calitrace relay: no nodes, half a client certificate, an exposed address without TLS are usage errors with the fix', async () => {
  const none = await run(['relay']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no nodes: give --peer HOST:PORT \(repeatable\) or --discover-pods SELECTOR/);
  const half = await run(['relay', '--peer', '127.0.0.1:1', '--peer-tls-cert', '/nonexistent.pem']);
  assert.equal(half.code, 2);
  assert.match(half.stderr, /--peer-tls-cert and --peer-tls-key go together/);
  const missing = await run(['relay', '--peer', '127.0.0.1:1', '--peer-tls-ca', '/nonexistent/ca.pem']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read --peer-tls-ca '\/nonexistent\/ca.pem'/);
  const exposed = await run(['relay', '--peer', '127.0.0.1:1', '--listen', '0.0.0.0:4245']);
  assert.equal(exposed.code, 2);
  assert.match(exposed.stderr, /without encryption.*--tls-cert and --tls-key/);
  const unknown = await run(['relay', '--peers', 'x']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /See: calitrace relay --help/);
});

test('calitrace --help lists relay and health; their help says --last is cluster-wide and has examples', async () => {
  const top = await run(['--help']);
  assert.match(top.stdout, /^\s+relay\s+one API for the cluster/m);
  assert.match(top.stdout, /^\s+health\s+check that a calitrace API/m);
  const help = await run(['relay', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--last N \/ --since \/ --all count over the WHOLE CLUSTER/);
  assert.match(help.stdout, /EXAMPLES\n\s+calitrace relay --peer/);
  const health = await run(['health', '--server', 'unix:/nonexistent/calitrace.sock', '--timeout', '500']);
  assert.equal(health.code, 1);
  assert.match(health.stderr, /^calitrace health: /);
});

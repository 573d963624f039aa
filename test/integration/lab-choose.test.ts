// Which lab a command means: "nx-node1" as node1 of lab nx, CALITRACE_LAB_PREFIX, the only lab that is up
// (with the lab records moved to a directory of this test's own, so no other lab on the machine counts),
// `lab list`, and errors that name the labs that are up — all through the real CLI against a real lab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve, join } from 'node:path';
import { randomPrefix } from '../../src/lab';

const BIN = resolve(__dirname, '../../../bin/calitrace.js');

function cli(args: string[], env: Record<string, string> = {}) {
  const e: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete e.CALITRACE_LAB_PREFIX;
  Object.assign(e, env);
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: e });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a lab is found the way a person names it', { timeout: 240_000 }, async () => {
  const prefix = randomPrefix();
  const stateDir = mkdtempSync(join(tmpdir(), 'lab-choose-'));
  const own = { CALITRACE_STATE_DIR: stateDir };
  try {
    const up = cli(['lab', 'up', '--prefix', prefix], own);
    assert.equal(up.code, 0, up.stderr);

    // The namespace's own name as the target.
    const byName = cli(['lab', 'exec', `${prefix}-node1`, '--', 'ip', 'route'], own);
    assert.equal(byName.code, 0, byName.stderr);
    assert.match(byName.stdout, /^10\.233\.101\.224 dev caliaa479e31ff6 scope link/m);

    // The only lab that is up (in this test's record directory), said on stderr.
    const only = cli(['lab', 'exec', 'node1', '--', 'ip', 'route'], own);
    assert.equal(only.code, 0, only.stderr);
    assert.match(only.stderr, new RegExp(`using lab '${prefix}', the only lab that is up`));

    // CALITRACE_LAB_PREFIX, also for --netns ct-node1 as the examples write it.
    const env = cli(['explain', '10.233.101.222', '10.233.101.224', '--netns', 'ct-node1', '--short'], { CALITRACE_LAB_PREFIX: prefix });
    assert.equal(env.code, 0, env.stderr);
    assert.match(env.stderr, new RegExp(`namespace ct-node1 does not exist; using ${prefix}-node1 \\(lab '${prefix}', CALITRACE_LAB_PREFIX=${prefix}\\)`));
    assert.match(env.stdout, /^Ingress: cali11299111064 — 10\.233\.101\.222 is a pod of this node/);
    const ctNode = cli(['lab', 'exec', 'ct-node1', '--', 'ip', 'route'], { CALITRACE_LAB_PREFIX: prefix });
    assert.equal(ctNode.code, 0, ctNode.stderr);
    assert.match(ctNode.stderr, new RegExp(`ct-node1 means ${prefix}-node1 \\(CALITRACE_LAB_PREFIX=${prefix}\\)`));
    assert.match(ctNode.stdout, /^blackhole 10\.233\.101\.192\/26 proto 80/m);
    const status = cli(['lab', 'status'], { CALITRACE_LAB_PREFIX: prefix });
    assert.equal(status.code, 0, status.stderr);

    // lab list, text and JSON.
    const list = cli(['lab', 'list'], own);
    assert.match(list.stdout, new RegExp(`^PREFIX +STATE +PODS +BUILT\\n${prefix} +up +3 `, 'm'));
    const json = JSON.parse(cli(['lab', 'list', '--json'], own).stdout) as { prefix: string; up: boolean }[];
    assert.deepEqual(json.map((l) => [l.prefix, l.up]), [[prefix, true]]);

    // A lab that is not up: the error names the labs that are.
    const wrong = cli(['lab', 'exec', 'node1', '--prefix', 'nolab', '--', 'true'], own);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, new RegExp(`lab 'nolab' is not up: run 'calitrace lab up --prefix nolab', or pick another lab .*\\(lab up: ${prefix}\\)`));
    const netns = cli(['explain', '10.233.101.222', '10.233.101.224', '--netns', 'nolab-node1'], own);
    assert.equal(netns.code, 2);
    assert.match(netns.stderr, new RegExp(`--netns nolab-node1: no such network namespace \\(namespace nolab-node1 does not exist: lab 'nolab' is not up — run 'calitrace lab up --prefix nolab'; lab up: ${prefix}\\)`));
  } finally {
    cli(['lab', 'down', '--prefix', prefix], own);
    rmSync(stateDir, { recursive: true, force: true });
  }
});

// The `calitrace lab` command line without building a lab: help with EXAMPLES on every subcommand, and
// usage mistakes answered with exit 2 and a message that says the fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { randomPrefix } from '../../src/lab';

const BIN = resolve(__dirname, '../../../bin/calitrace.js');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('every lab subcommand has --help with an EXAMPLES block', () => {
  for (const sub of [[], ['up'], ['down'], ['list'], ['status'], ['exec'], ['pod'], ['pod', 'add'], ['pod', 'del'], ['traffic']]) {
    const r = cli('lab', ...sub, '--help');
    assert.equal(r.code, 0, `lab ${sub.join(' ')} --help: ${r.stderr}`);
    assert.match(r.stdout, /^Usage: calitrace lab/m, `lab ${sub.join(' ')}`);
    assert.match(r.stdout, /\nEXAMPLES\n {2}calitrace lab /, `lab ${sub.join(' ')}`);
  }
  assert.match(cli('--help').stdout, /^ {2}lab +build and drive/m);
});

test('usage mistakes exit 2 and say what to do', () => {
  const cases: [string[], RegExp][] = [
    [['lab', 'frob'], /unknown subcommand 'frob': use up, down, list, status, exec, pod or traffic/],
    [['lab', 'exec', 'node1'], /give the command after --, e\.g\. calitrace lab exec node1 -- ip route/],
    [['lab', 'exec', '--', 'ip', 'route'], /give exactly one target before --/],
    [['lab', 'pod', 'add', 'nopod', '10.233.101.230'], /'nopod' is not <namespace>\/<pod>/],
    [['lab', 'pod', 'add', 'ems/x', '10.1.2.3'], /10\.1\.2\.3 is in no lab node's block \(node1 10\.233\.101\.192\/26, node2 10\.233\.100\.128\/26\)/],
    [['lab', 'pod', 'frob'], /unknown action 'frob'/],
    [['lab', 'traffic'], /give at least one --flow/],
    [['lab', 'traffic', '--flow', 'a=ping:10.0.0.1->10.0.0.2'], /is not NAME=KIND:FROM:TO\[:PORT\]/],
    [['lab', 'traffic', '--flow', 'a=ping:10.0.0.1:10.0.0.2', '--rate', '0'], /--rate takes packets per second > 0/],
    [['lab', 'up', '--prefix', 'Bad-Prefix'], /lab prefix 'Bad-Prefix' is invalid: use 1-12 lowercase letters\/digits/],
    [['lab', 'status', '--bogus'], /See: calitrace lab status --help/],
  ];
  for (const [args, message] of cases) {
    const r = cli(...args);
    assert.equal(r.code, 2, `${args.join(' ')} → ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
});

test('status of a lab that was never built says so and exits 1, without creating anything', () => {
  const prefix = randomPrefix();
  const r = cli('lab', 'status', '--prefix', prefix);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, `lab '${prefix}' is down (run: calitrace lab up --prefix ${prefix})\n`);
  const j = cli('lab', 'status', '--prefix', prefix, '--json');
  assert.equal(j.code, 1);
  const s = JSON.parse(j.stdout) as { exists: boolean; healthy: boolean; pods: unknown[] };
  assert.deepEqual([s.exists, s.healthy, s.pods], [false, false, []]);
});

// `calitrace ui` and `calitrace demo` as commands: help with an EXAMPLES block, and mistakes reported as
// usage errors (exit 2) that say the fix, before anything is started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'calitrace.js');
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

test('ui and demo have help with examples and are listed by calitrace --help', () => {
  for (const cmd of ['ui', 'demo']) {
    const r = run(cmd, '--help');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /EXAMPLES\n  (calitrace|npm run) /);
  }
  const top = run('--help').stdout;
  assert.match(top, /\n  ui +live terminal UI/);
  assert.match(top, /\n  demo +lab \+ tracer \+ UI/);
});

test('usage mistakes exit 2 with the fix', () => {
  let r = run('ui', '--tls-client-cert', 'c.pem');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /needs both --tls-client-cert and --tls-client-key/);
  r = run('ui', '--last', 'many');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--last takes a whole number/);
  r = run('ui', '--colour');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /See: calitrace ui --help/);
  r = run('demo', '--interval', '0');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--interval takes seconds from 0\.2 to 60/);
  r = run('demo', '--prefix', 'Bad_Prefix');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /lab prefix 'Bad_Prefix' is invalid/);
  // The demo's preconditions, checked in order before anything is built: root first (namespaces, BPF), then
  // a terminal. The unit group runs as any user, so which one is refused depends on who runs it.
  r = run('demo', '--prefix', 'nottyx');
  assert.equal(r.status, 2);
  if (process.getuid?.() === 0) assert.match(r.stderr, /run it in a terminal/);
  else assert.match(r.stderr, /run it as root \(sudo npm run demo\)/);
});

// The long-lived shell the peer poll runs `ip` through: each command's stdout and exit status come back
// to the right caller, in order, whatever the output looks like; a stuck command is killed with its
// shell and the next command gets a fresh one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { CommandShell } from '../../src/util/command-shell';

test('commands queued together each get their own stdout and exit status', async () => {
  const sh = new CommandShell();
  try {
    const [quoted, noNewline, failed, missing, empty] = await Promise.all([
      sh.run(['echo', 'a b', "it's", '$HOME', '`x`']),
      sh.run(['printf', '%s', 'no newline at the end']),
      sh.run(['sh', '-c', 'echo partial; exit 3']),
      sh.run(['calitrace-no-such-command']),
      sh.run(['true']),
    ]);
    assert.deepEqual(quoted, { code: 0, stdout: "a b it's $HOME `x`\n" });
    assert.deepEqual(noNewline, { code: 0, stdout: 'no newline at the end' });
    assert.deepEqual(failed, { code: 3, stdout: 'partial\n' });
    assert.equal(missing.code, 127);
    assert.deepEqual(empty, { code: 0, stdout: '' });
  } finally {
    sh.close();
  }
});

test('output that contains newlines and marker-like text is passed through whole', async () => {
  const sh = new CommandShell();
  try {
    const text = '@@calitrace-done-0000 1 0\nline two\n\n';
    const r = await sh.run(['printf', '%s', text]);
    assert.deepEqual(r, { code: 0, stdout: text });
    const big = await sh.run(['head', '-c', '300000', '/dev/zero']);
    assert.equal(big.stdout.length, 300000);
  } finally {
    sh.close();
  }
});

test('a command past its timeout is killed with its shell; the next command runs in a new shell', async () => {
  const sh = new CommandShell();
  const pidFile = `/tmp/calitrace-command-shell-${process.pid}`;
  try {
    const before = await sh.run(['sh', '-c', 'echo $PPID']);
    const stuck = await sh.run(['sh', '-c', `echo $$ > ${pidFile}; exec sleep 600`], 2000);
    assert.deepEqual(stuck, { code: -1, stdout: '' });
    const stuckPid = Number(fs.readFileSync(pidFile, 'utf8'));
    // The stuck command was killed along with the shell (its process group), not left behind.
    let alive = true;
    for (let i = 0; i < 100 && alive; i++) {
      try {
        process.kill(stuckPid, 0);
        await new Promise((r) => setTimeout(r, 20));
      } catch {
        alive = false;
      }
    }
    assert.equal(alive, false, `pid ${stuckPid} still runs`);
    const after = await sh.run(['sh', '-c', 'echo $PPID']);
    assert.equal(after.code, 0);
    assert.notEqual(after.stdout, before.stdout, 'a new shell');
  } finally {
    sh.close();
    fs.rmSync(pidFile, { force: true });
  }
});

test('after close() commands resolve at once with code -1', async () => {
  const sh = new CommandShell();
  assert.equal((await sh.run(['echo', 'x'])).code, 0);
  sh.close();
  assert.deepEqual(await sh.run(['echo', 'x']), { code: -1, stdout: '' });
});

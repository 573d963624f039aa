// The live route model keeps following the kernel when `ip monitor` complains on stderr. It does when a
// namespace in /var/run/netns cannot be mapped ("Peer netns reference is invalid."), which happens
// whenever a namespace vanishes while the monitor starts — pods coming and going on a node, or another
// lab being torn down. That complaint once ended `calitrace serve`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRouteModel, RouteModelError } from '../../src/routing/model';
import { startCollector } from '../../src/collector/start';

test('ip monitor complaining on stderr is not a failure: the model stays live and the collector goes on', { timeout: 60_000 }, async () => {
  const tag = randomBytes(3).toString('hex');
  const ns = `ctml-${tag}`;
  // Not a namespace: ip monitor cannot map it and says so on stderr (what a vanishing namespace looks like).
  const bogus = `/var/run/netns/ctml-bogus-${tag}`;
  execFileSync('ip', ['netns', 'add', ns]);
  closeSync(openSync(bogus, 'w'));
  const model = createRouteModel({ netns: ns });
  const errors: Error[] = [];
  model.on('error', (e) => errors.push(e));
  try {
    // The monitor really does complain in this namespace set-up (checked, so the test cannot pass vacuously).
    const probe = spawnSync('timeout', ['0.5', 'ip', '-n', ns, 'monitor', 'link'], { encoding: 'utf8' });
    assert.match(probe.stderr, /netns reference is invalid/i);

    await model.start();
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    execFileSync('ip', ['-n', ns, 'route', 'add', 'blackhole', '10.99.0.0/24']);
    await model.waitFor((s) => s.routes.some((r) => r.dst === '10.99.0.0/24' && r.type === 'blackhole'), 5_000);
    assert.deepEqual(errors.map((e) => e.message), [], 'no error reported for the complaint');

    // The collector on top of it: no fatal error either (it used to end `calitrace serve`).
    const rc = await startCollector({ netns: ns, patterns: ['lo'] });
    const fatal: Error[] = [];
    rc.collector.on('error', (e: Error) => fatal.push(e));
    try {
      execFileSync('ip', ['-n', ns, 'route', 'add', 'blackhole', '10.98.0.0/24']);
      await rc.model.waitFor((s) => s.routes.some((r) => r.dst === '10.98.0.0/24'), 5_000);
      assert.deepEqual(fatal.map((e) => e.message), []);
    } finally {
      await rc.stop();
    }
  } finally {
    await model.stop();
    rmSync(bogus, { force: true });
    spawnSync('ip', ['netns', 'del', ns]);
  }
});

test('the model reports a monitor that exits as fatal, and stops cleanly afterwards', { timeout: 30_000 }, async () => {
  const ns = `ctml-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', ns]);
  const model = createRouteModel({ netns: ns });
  const errors: Error[] = [];
  model.on('error', (e) => errors.push(e));
  try {
    await model.start();
    // What an OOM kill or a crash of the monitor looks like.
    const monitors = monitorPids(ns);
    assert.equal(monitors.length, 1, 'the model runs one ip monitor');
    process.kill(monitors[0], 'SIGKILL');
    const until = Date.now() + 5_000;
    while (errors.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.equal(errors.length, 1, 'one error');
    assert.ok(errors[0] instanceof RouteModelError);
    assert.equal((errors[0] as RouteModelError).fatal, true);
    assert.match(errors[0].message, /no longer live/);
  } finally {
    await model.stop();
    spawnSync('ip', ['netns', 'del', ns]);
  }
});

/** Processes running `ip -n NS monitor …` (read from /proc: no procps needed). */
function monitorPids(ns: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (argv[0] === 'ip' && argv[1] === '-n' && argv[2] === ns && argv[3] === 'monitor') out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

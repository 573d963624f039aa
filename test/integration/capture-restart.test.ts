// The loader dies (kill -9) in the middle of live traffic: the capture restarts it with backoff, reports
// the gap with a count of what crossed the traced interfaces meanwhile, and tracing resumes with no
// duplicate hops. A loader that cannot start at all is an error that says how to fix it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { labUp, labDown, randomPrefix, labExecArgv, LabInfo } from '../../src/lab';
import { startCapture } from '../../src/capture/capture';
import { withCapture } from '../helpers/capture-lab';
import { POD_A as A, POD_B as B } from '../helpers/path-fixtures';


let lab: LabInfo;
before(async () => {
  lab = await labUp({ prefix: randomPrefix() });
});
after(async () => {
  if (lab) await labDown({ prefix: lab.prefix });
});

test('kill -9 of the loader: restarted, the gap is reported as lost, tracing resumes without duplicates', async () => {
  await withCapture(lab, { loaderArgs: ['--stats-ms', '200'], initialBackoffMs: 100 }, async (cap, log) => {
    // Our own child, stopped by its pid (never by name: other runs' pings share this machine).
    const pinger = spawn('ip', labExecArgv(lab.prefix, A, ['ping', '-n', '-q', '-i', '0.02', '-c', '1000', B]).slice(1), { stdio: 'ignore' });
    const pingerDone = new Promise((r) => pinger.on('close', r));
    try {
      const isEcho = (e: { src: string; dst: string; icmpType: number; iface: string; dir: string }) =>
        e.src === A && e.dst === B && e.icmpType === 8 && e.iface === 'caliaa479e31ff6' && e.dir === 'egress';
      await log.waitFor('pings flowing before the kill', isEcho, 10);
      const oldPid = cap.loaderPid!;
      const before = cap.counters();
      process.kill(oldPid, 'SIGKILL');
      const gap = await log.until('the gap report', () => log.gaps[0], 15000);
      console.log(`# loader ${oldPid} killed: ${gap.reason}, gap ${gap.durationMs} ms, ${gap.lost} packets crossed traced interfaces untraced (counted: ${gap.counted})`);
      assert.equal(gap.reason, 'signal SIGKILL');
      assert.equal(gap.counted, true, 'interface counters were read before and after');
      assert.ok(gap.lost > 0, 'pings crossed the interfaces while no loader ran: the loss is a number, not silence');
      const after = cap.counters();
      assert.equal(after.loaderRestarts, before.loaderRestarts + 1);
      assert.ok(after.lostPipe >= before.lostPipe + gap.lost, `lostPipe ${after.lostPipe} includes the gap's ${gap.lost}`);
      assert.notEqual(cap.loaderPid, oldPid, 'a new loader process runs');
      const b = log.links.filter((l) => l.link.name === 'caliaa479e31ff6').map((l) => l.link.state);
      assert.deepEqual(b.slice(-2), ['detached', 'attached'], "the dead loader's links are reported gone, then re-attached");
      assert.ok(cap.links().some((l) => l.name === 'caliaa479e31ff6' && l.state === 'attached'));

      // Tracing resumes: new echo requests, each seen exactly once at each hop (the dead loader's links are gone).
      const resumedFrom = log.events.length;
      await log.until('20 echo requests after the restart', () => {
        const n = log.events.slice(resumedFrom).filter(isEcho).length;
        return n >= 20 ? n : undefined;
      }, 10000);
      const fresh = log.events.slice(resumedFrom);
      const perFp = new Map<string, number>();
      for (const e of fresh) if (e.kind === 'packet' && e.iface === 'caliaa479e31ff6' && e.dir === 'egress') perFp.set(e.fingerprint, (perFp.get(e.fingerprint) ?? 0) + 1);
      assert.ok([...perFp.values()].every((n) => n === 1), 'no packet is reported twice at the same hop');
      assert.deepEqual(log.errors, []);
    } finally {
      pinger.kill('SIGINT');
      await pingerDone;
    }
  });
});

test('a loader that is not built is an error naming the path and the build command', async () => {
  const cap = startCapture({ loaderPath: '/nonexistent/calitrace-loader' });
  const err = await new Promise<Error>((resolve) => cap.on('error', resolve));
  assert.match(err.message, /the BPF loader is not built: \/nonexistent\/calitrace-loader does not exist\. Build it with: npm run build/);
  await assert.rejects(cap.ready(), /not built/);
  await cap.stop();
});

test('a loader that exits before HELLO is not restarted in a loop: one error with its exit status', async () => {
  const cap = startCapture({ loaderPath: '/bin/false' });
  const err = await new Promise<Error>((resolve) => cap.on('error', resolve));
  assert.match(err.message, /exited \(code 1\) before it started tracing/);
  assert.match(err.message, /needs root/);
  assert.equal(cap.counters().loaderRestarts, 0);
  await cap.stop();
});

test('a namespace that does not exist: one error carrying the loader\'s own explanation', async () => {
  const cap = startCapture({ netns: 'calitrace-no-such-netns' });
  const err = await new Promise<Error>((resolve) => cap.on('error', resolve));
  assert.match(err.message, /exited \(code 1\) before it started tracing/);
  assert.match(err.message, /calitrace-no-such-netns/);
  assert.equal(cap.counters().loaderRestarts, 0);
  await cap.stop();
});

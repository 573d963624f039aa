// Loss is counted, never silent: with a reader that stops reading, the loader blocks on stdout, the
// kernel ring buffer fills, and every record that could not be reserved is counted per CPU. Afterwards
// the books balance exactly: records written + reserve failures = packets that matched the filter,
// and the test receives exactly the records the loader says it wrote.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { withLab } from '../helpers/lab';
import { labExec } from '../../src/lab';

const loaderPath = path.resolve(__dirname, '../../../bpf/.output/calitrace-loader');

interface Stats {
  eventsSent: bigint;
  rbFailTotal: bigint;
  pktsMatched: bigint;
  perCpu: bigint[];
}

test('ring-buffer reserve failures are counted per CPU and the totals balance', async () => {
  await withLab(async (lab) => {
    const child = spawn(loaderPath, ['--netns', `${lab.prefix}-node1`, '--stats-ms', '0', '--ringbuf-mb', '1',
      '--filter', 'host 10.233.101.224 proto icmp'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let pending = Buffer.alloc(0);
    let records = 0;
    let ncpus = -1;
    let linked = 0;
    let acks = 0;
    const stats: Stats[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 16 && pending.length >= 16 + pending.readUInt32LE(8)) {
        const type = pending.readUInt16LE(6);
        const p = pending.subarray(16, 16 + pending.readUInt32LE(8));
        if (type === 1) ncpus = p.readUInt32LE(8);
        if (type === 2) records += p.readUInt32LE(0);
        if (type === 4 && p[4] === 1) linked++;
        if (type === 6) acks++;
        if (type === 3) {
          const n = p.readUInt32LE(72);
          stats.push({
            eventsSent: p.readBigUInt64LE(8),
            rbFailTotal: p.readBigUInt64LE(24),
            pktsMatched: p.readBigUInt64LE(40),
            perCpu: Array.from({ length: n }, (_, i) => p.readBigUInt64LE(80 + 8 * i)),
          });
        }
        pending = pending.subarray(16 + p.length);
      }
    });
    const until = async (what: string, cond: () => boolean, ms = 10000) => {
      const deadline = Date.now() + ms;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    try {
      await until('attach', () => linked >= 4);
      child.stdout.pause(); // a reader that stopped reading
      const flood = await labExec(lab.prefix, '10.233.101.222', ['ping', '-f', '-c', '5000', '-q', '10.233.101.224'], { timeoutMs: 60000 });
      assert.equal(flood.code, 0, flood.stderr);
      child.stdout.resume();
      // Two rounds: the first drains what the loader had buffered, the second is taken at rest.
      child.stdin.write('stats\n');
      await until('first stats', () => acks >= 1);
      child.stdin.write('stats\n');
      await until('second stats', () => acks >= 2);
      const s = stats[stats.length - 1];
      console.log(`# matched ${s.pktsMatched}, written ${s.eventsSent}, lost in the kernel ${s.rbFailTotal} (per CPU: ${s.perCpu.join(', ')})`);
      assert.equal(s.perCpu.length, ncpus, 'one counter per possible CPU, as HELLO announced');
      assert.ok(s.pktsMatched >= 20000n, '5000 echo requests and replies, each at two hooks');
      assert.ok(s.rbFailTotal > 0n, 'a 1 MiB ring behind a stalled reader must overflow');
      assert.equal(s.perCpu.reduce((a, b) => a + b, 0n), s.rbFailTotal, 'the total is the sum of the per-CPU counters');
      assert.equal(s.eventsSent + s.rbFailTotal, s.pktsMatched, 'every matched packet was either written or counted as lost');
      assert.equal(BigInt(records), s.eventsSent, 'the reader received every record the loader wrote');
    } finally {
      child.stdin.end();
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    }
  });
});

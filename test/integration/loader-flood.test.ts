// Under a packet flood in packet mode the loader still serves its other inputs: a stdin command is
// acknowledged and a new cali* interface is attached while the flood is still running (the ring buffer
// is consumed in bounded rounds, so neither waits for the flood to end).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import * as path from 'node:path';
import { withLab } from '../helpers/lab';
import { labExecArgv } from '../../src/lab';

const loaderPath = path.resolve(__dirname, '../../../bpf/.output/calitrace-loader');

function run(argv: string[]): Promise<number> {
  return new Promise((resolve) => execFile(argv[0], argv.slice(1), (err) => resolve(err ? 1 : 0)));
}

test('commands and new interfaces are served during a flood', async () => {
  await withLab(async (lab) => {
    const ns = `${lab.prefix}-node1`;
    const loader = spawn(loaderPath, ['--netns', ns, '--stats-ms', '0'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let pending = Buffer.alloc(0);
    let records = 0;
    const links = new Map<string, number>();
    const acks: { line: string; atMs: number }[] = [];
    loader.stdout.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 16 && pending.length >= 16 + pending.readUInt32LE(8)) {
        const type = pending.readUInt16LE(6);
        const p = pending.subarray(16, 16 + pending.readUInt32LE(8));
        if (type === 2) records += p.readUInt32LE(0);
        if (type === 4) links.set(p.subarray(12, 12 + p.readUInt16LE(8)).toString(), p[4]);
        if (type === 6) acks.push({ line: p.subarray(8, 8 + p.readUInt16LE(4)).toString(), atMs: performance.now() });
        pending = pending.subarray(16 + p.length);
      }
    });
    const until = async (what: string, cond: () => boolean, ms = 10000) => {
      const deadline = Date.now() + ms;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const name = `cali${Math.random().toString(16).slice(2, 13).padEnd(11, '0')}`;
    const server = spawn(labExecArgv(lab.prefix, '10.233.101.224', ['iperf3', '-s', '-1', '-p', '5299'])[0],
      labExecArgv(lab.prefix, '10.233.101.224', ['iperf3', '-s', '-1', '-p', '5299']).slice(1), { stdio: 'ignore' });
    let client: ReturnType<typeof spawn> | undefined;
    try {
      await until('attach', () => links.get('caliaa479e31ff6') === 1);
      const argv = labExecArgv(lab.prefix, '10.233.101.222', ['iperf3', '-c', '10.233.101.224', '-p', '5299', '-u', '-l', '64', '-b', '0', '-t', '8']);
      // iperf3's control connection is TCP, even for a UDP test.
      let listening = false;
      let probing = false;
      const ss = labExecArgv(lab.prefix, '10.233.101.224', ['ss', '-Hltn', 'sport = :5299']);
      const probe = () => {
        probing = true;
        execFile(ss[0], ss.slice(1), (err, out) => {
          listening = !err && String(out).trim() !== '';
          probing = false;
        });
      };
      await until('the iperf3 server to listen', () => listening || (!probing && probe(), false));
      client = spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
      let clientDone = false;
      client.on('exit', () => (clientDone = true));
      await until('the flood to be under way', () => records > 20000);

      const t0 = performance.now();
      loader.stdin.write('stats\n');
      await until('ACK during the flood', () => acks.some((a) => a.line === 'stats'));
      const ackMs = acks.find((a) => a.line === 'stats')!.atMs - t0;
      const t1 = performance.now();
      assert.equal(await run(['ip', '-n', ns, 'link', 'add', name, 'type', 'veth', 'peer', 'name', `x${name.slice(4)}`]), 0);
      await until(`LINK attached for ${name}`, () => links.get(name) === 1);
      const attachMs = performance.now() - t1;
      console.log(`# during the flood (${records} records so far): stats ACK after ${ackMs.toFixed(1)} ms, ${name} attached ${attachMs.toFixed(1)} ms after 'ip link add' started`);
      assert.equal(clientDone, false, 'both were served while the flood was still running');
    } finally {
      client?.kill('SIGKILL');
      server.kill('SIGKILL');
      loader.stdin.end();
      await new Promise((r) => (loader.exitCode !== null ? r(null) : loader.once('exit', r)));
      await run(['ip', '-n', ns, 'link', 'del', name]);
    }
    assert.equal(loader.exitCode, 0);
  });
});

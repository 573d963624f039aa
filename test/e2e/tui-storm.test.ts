// A packet storm does not freeze the screen: while iperf3 floods 64-byte UDP from 10.233.101.222 to
// 10.233.101.224 through a traced node, the UI still answers keys (view switch, help, pause) within a
// deadline, keeps counting, and shows every loss counter. The figures seen are printed, not asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { PtyScreen } from '../helpers/tui-pty';
import { withLab } from '../helpers/lab';
import { nodeNetns, runTraffic } from '../../src/lab';
import { waitForApi } from '../../src/tui/wait-api';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'calitrace.js');

function eventsOf(screen: string): number {
  const m = /events (\d+)/.exec(screen);
  return m ? Number(m[1]) : -1;
}

test('a UDP storm through the node: the UI keeps answering keys and counting', { timeout: 180_000 }, async () => {
  await withLab(async (lab) => {
    const sock = `/run/calitrace-storm-${lab.prefix}.sock`;
    const server = `unix:${sock}`;
    const serve = spawn(process.execPath, [BIN, 'serve', '--netns', nodeNetns(lab.prefix, 'node1'), '--listen', server], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    serve.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    let ui: PtyScreen | undefined;
    let traffic: Promise<unknown> | undefined;
    try {
      await waitForApi(server, 30_000, () => (serve.exitCode !== null ? `serve exited: ${log}` : undefined));
      ui = new PtyScreen(process.execPath, [BIN, 'ui', '--server', server], { cols: 120, rows: 30 });
      const s = ui;
      await s.waitForText(/node ems203-w2/, 20_000);
      // As fast as iperf3 can send small datagrams, for 12 s.
      traffic = runTraffic({
        prefix: lab.prefix,
        flows: [{ name: 'storm', kind: 'udp', from: '10.233.101.222', to: '10.233.101.224', rate: 200_000, durationS: 12, size: 64, sport: 40000, port: 5201 }],
      });
      const stormRow = (ls: string[]) => ls.find((l) => l.includes('10.233.101.222') && l.includes('→ 10.233.101.224') && /udp 40000>5201/.test(l));
      const first = await s.waitFor('the storm flow on screen', (t, ls) => (stormRow(ls) ? t : false), 30_000);
      const e0 = eventsOf(first);
      const keyLatencies: number[] = [];
      const press = async (key: string, expect: RegExp) => {
        const t0 = Date.now();
        s.press(key);
        await s.waitForText(expect, 5_000);
        keyLatencies.push(Date.now() - t0);
      };
      await press('2', /\[2 Packets\]/);
      await press('?', /calitrace keys/);
      await press('?', /\[2 Packets\]/);
      await press('1', /\[1 Flows\]/);
      await press(' ', /PAUSED/);
      const paused = s.text();
      const more = await s.waitFor('counting while paused in the storm', (t) => (eventsOf(t) > eventsOf(paused) ? t : false), 10_000);
      await press(' ', /^(?![\s\S]*PAUSED)/);
      assert.ok(stormRow(s.lines()), `the storm's flow is on screen:\n${s.text()}`);
      assert.match(s.text(), /lost( \(\d+s old\))?: kernel \d+\s+pipe \d+\s+collector \d+\s+subscribers \d+\s+this-client \d+/);
      const rate = /events\/s (\d+)/.exec(more)?.[1];
      const lost = /lost(?: \(\d+s old\))?: (.*)/.exec(s.text())?.[1];
      console.log(
        `tui storm: events seen by the UI ${e0} → ${eventsOf(s.text())}, events/s on screen ${rate}, key → screen ms ${keyLatencies.join(' ')}, lost: ${lost?.trim()}`,
      );
      s.press('q');
      assert.equal((await s.exited).exitCode, 0);
      const sent = ((await traffic) as Array<{ sent: number; received: number }>)[0];
      console.log(`tui storm: iperf3 sent ${sent.sent} datagrams of 64 bytes in 12 s (${Math.round(sent.sent / 12)}/s), ${sent.received} received`);
    } finally {
      await ui?.kill();
      await traffic?.catch(() => undefined);
      if (serve.exitCode === null && serve.signalCode === null) {
        serve.kill('SIGTERM');
        await new Promise((r) => serve.once('exit', r));
      }
      const stopped = /stopped: .*/.exec(log)?.[0];
      if (stopped) console.log(`tui storm: serve ${stopped}`);
      if (existsSync(sock)) rmSync(sock, { force: true });
    }
  });
});

// `calitrace trace` without --no-ui: the collector, the API and the UI together in one command, in a
// real pty against a lab node with real traffic; q stops everything and restores the terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ChildProcess, spawn } from 'node:child_process';
import { PtyScreen } from '../helpers/tui-pty';
import { withLab } from '../helpers/lab';
import { labExecArgv, nodeNetns } from '../../src/lab';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'calitrace.js');

test('calitrace trace (UI): live verdicts on screen, q ends the tracer and restores the terminal', { timeout: 180_000 }, async () => {
  await withLab(async (lab) => {
    const ui = new PtyScreen(process.execPath, [BIN, 'trace', '--netns', nodeNetns(lab.prefix, 'node1')], { cols: 160, rows: 40 });
    const pings: ChildProcess[] = [];
    try {
      // The header's node (from Status), not the tracer's start-up lines that name it before the UI draws.
      await ui.waitForText(/node ems203-w2\s+mode case/, 60_000);
      const argv = labExecArgv(lab.prefix, '10.233.101.222', ['ping', '-n', '-q', '-i', '0.2', '-W', '1', '10.233.100.130']);
      pings.push(spawn(argv[0], argv.slice(1), { stdio: 'ignore' }));
      const row = await ui.waitFor(
        'the cross-node flow, MATCHED through VXLAN',
        (_t, ls) => ls.find((l) => l.includes('10.233.101.222') && l.includes('→ 10.233.100.130') && /MATCHED/.test(l)),
        60_000,
      );
      assert.match(row, /cali11299111064>vxlan\.calico>ens3/);
      // The UI is the API's one subscriber; Status, polled once a second, says so (not at once: wait for it).
      await ui.waitForText(/events\/s \d+\s+events \d+\s+subscribers 1\b/, 10_000);
      ui.press('q');
      const exit = await ui.exited;
      assert.equal(exit.exitCode, 0, ui.text());
      assert.equal(ui.term.buffer.active.type, 'normal');
      // After the UI, the tracer reports its counters on the normal screen: it has stopped.
      // The one loss line every node session ends with (serve and trace --no-ui print the same); read
      // from the raw output because it is wider than the terminal.
      assert.match(ui.raw, /calitrace trace: stopped: \d+ events, \d+ packets judged \(MATCHED \d+.*\); lost: \d+ in kernel, \d+ in pipe, \d+ by slow subscribers, \d+ loader restarts/);
    } finally {
      for (const p of pings) {
        if (p.exitCode === null && p.signalCode === null) {
          p.kill('SIGTERM');
          await new Promise((r) => p.once('exit', r));
        }
      }
      await ui.kill();
    }
  });
});

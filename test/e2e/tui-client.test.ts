// `calitrace ui --server ADDR` as a plain gRPC client of a separately started `calitrace serve` (the
// same way it is used against a remote node), in an 80×24 terminal without colour: every part of the
// screen fits, verdicts are readable as words, tab and number keys switch views, a pod added at run
// time shows as a highlighted route change, help comes from the keymap, resize is clean, and Ctrl-C
// quits and restores the terminal; a server that goes away is reported, not fatal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { KEY, PtyScreen } from '../helpers/tui-pty';
import { withLab } from '../helpers/lab';
import { labExecArgv, nodeNetns, podAdd } from '../../src/lab';
import { KEYMAP } from '../../src/tui/keymap';
import { waitForApi } from '../../src/tui/wait-api';
import { describeColours, sgrColours } from '../helpers/sgr';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'calitrace.js');

test('calitrace ui against calitrace serve: 80x24, no colour, views, route change, help, resize, Ctrl-C', { timeout: 240_000 }, async () => {
  await withLab(async (lab) => {
    const sock = `/run/calitrace-uitest-${lab.prefix}.sock`;
    const server = `unix:${sock}`;
    const serve = spawn(process.execPath, [BIN, 'serve', '--netns', nodeNetns(lab.prefix, 'node1'), '--listen', server], { stdio: ['ignore', 'pipe', 'pipe'] });
    let serveLog = '';
    serve.stdout!.on('data', (d: Buffer) => (serveLog += d.toString()));
    serve.stderr!.on('data', (d: Buffer) => (serveLog += d.toString()));
    let ui: PtyScreen | undefined;
    const pings: ChildProcess[] = [];
    try {
      await waitForApi(server, 30_000, () => (serve.exitCode !== null ? `serve exited ${serve.exitCode}: ${serveLog}` : undefined));
      ui = new PtyScreen(process.execPath, [BIN, 'ui', '--server', server, '--no-color'], { cols: 80, rows: 24 });
      const s = ui;
      await s.waitForText(/node ems203-w2/, 20_000);
      // Traffic until the test ends (stopped in finally): same node, and into the blackhole.
      for (const dst of ['10.233.101.224', '10.233.101.230']) {
        const argv = labExecArgv(lab.prefix, '10.233.101.222', ['ping', '-n', '-q', '-i', '0.2', '-W', '1', dst]);
        pings.push(spawn(argv[0], argv.slice(1), { stdio: 'ignore' }));
      }
      const screen = await s.waitFor(
        'both flows with verdict words',
        (t, ls) =>
          ls.some((l) => l.includes('→ 10.233.101.224') && /MATCHED/.test(l)) && ls.some((l) => l.includes('→ 10.233.101.230') && /EXPECTED_DROP/.test(l)) ? t : false,
        60_000,
      );
      // Nothing wraps or spills: every row within 80 columns, header and footer in place.
      for (const l of s.lines()) assert.ok(l.length <= 80, `line over 80 columns: '${l}'`);
      assert.match(screen, /lost: kernel \d+\s+pipe \d+\s+collector \d+\s+subscribers \d+\s+this-client \d+/);
      assert.match(s.lines()[23], /\? help\s+\/ filter\s+space pause/);
      // No colour was asked for: not one SGR colour parameter, in any form (see test/helpers/sgr.ts), in
      // everything the UI wrote so far. Checked again at the end, after every view has been drawn.
      const noColour = (when: string) => {
        const found = sgrColours(s.raw);
        assert.equal(found.length, 0, `--no-color, ${when}: colour parameters in the UI's output: ${describeColours(s.raw, found)}`);
      };
      noColour('first screen');

      // Views by number and by tab.
      s.press('3');
      await s.waitForText(/\[3 Routes\]/);
      await s.waitForText(/blackhole 10\.233\.101\.192\/26/);
      // A pod added at run time: its /32 appears, marked as a change.
      await podAdd({ prefix: lab.prefix, node: 'node1', namespace: 'uitest', name: 'late-pod', ip: '10.233.101.240' });
      await s.waitForText(/\+ NEW\s+10\.233\.101\.240 dev cali/, 20_000);
      // A hostile interface name (legal for Linux) inside the lab node: the tracer attaches to it (cali*)
      // and the header lists it as the text it is, not as blessed markup.
      const node1 = nodeNetns(lab.prefix, 'node1');
      const ip = (...a: string[]) => {
        const r = spawnSync('ip', ['netns', 'exec', node1, 'ip', ...a], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
      };
      ip('link', 'add', 'cali{red-fg}', 'type', 'veth', 'peer', 'name', 'peer{bold}');
      ip('link', 'set', 'cali{red-fg}', 'up');
      await s.waitForText(/interfaces \(\d+\):.*cali\{red-fg\}/, 20_000);
      s.press(KEY.tab);
      await s.waitForText(/\[4 Drops\]/);
      await s.waitFor('a drop row for the blackholed address', (_t, ls) => ls.some((l) => l.includes('→ 10.233.101.230') && /EXPECTED_DROP/.test(l)));
      s.press('2');
      await s.waitForText(/\[2 Packets\]/);
      await s.waitFor('packet rows', (_t, ls) => ls.some((l) => /\d\d:\d\d:\d\d\.\d{3}/.test(l) && /MATCHED|EXPECTED_DROP/.test(l)));
      s.press('1');
      await s.waitForText(/\[1 Flows\]/);

      // Help is the keymap table.
      s.press('?');
      const help = await s.waitForText(/calitrace keys/);
      for (const b of KEYMAP.slice(0, 8)) assert.ok(help.includes(b.description.slice(0, 40)), `help shows '${b.description}'`);
      s.press(KEY.escape);
      await s.waitFor('help closed', (t) => !/calitrace keys/.test(t));

      // Resize: the layout follows the new size (wider shows more columns), then back to 80x24.
      s.resize(140, 30);
      await s.waitFor('the wide layout', (_t, ls) => ls.some((l) => /PROTO\/PORTS/.test(l) && /PREDICTED/.test(l)));
      s.resize(80, 24);
      await s.waitFor('the narrow layout', (_t, ls) => ls.some((l) => /^SOURCE/.test(l)) && !ls.some((l) => /PREDICTED/.test(l)));
      for (const l of s.lines()) assert.ok(l.length <= 80, `after resize, line over 80 columns: '${l}'`);

      // The server goes away: the header says so (and the UI keeps running, retrying).
      serve.kill('SIGTERM');
      await s.waitForText(/DISCONNECTED/, 20_000);

      noColour('after every view, help, resize and the disconnect');
      // Ctrl-C quits and restores the terminal.
      s.press(KEY.ctrlC);
      const exit = await s.exited;
      assert.equal(exit.exitCode, 0);
      assert.equal(s.term.buffer.active.type, 'normal', 'alternate screen left');
      const lastHide = s.raw.lastIndexOf('\x1b[?25l');
      assert.ok(s.raw.indexOf('\x1b[?25h', lastHide) > lastHide, 'cursor visible again');
    } finally {
      await ui?.kill();
      if (serve.exitCode === null && serve.signalCode === null) {
        serve.kill('SIGTERM');
        await new Promise((r) => serve.once('exit', r));
      }
      for (const p of pings) {
        if (p.exitCode === null && p.signalCode === null) {
          p.kill('SIGTERM');
          await new Promise((r) => p.once('exit', r));
        }
      }
      if (existsSync(sock)) rmSync(sock, { force: true });
    }
  });
});

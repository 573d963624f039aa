// The whole demo in a real pseudo-terminal: `calitrace demo` builds a lab (random prefix), runs the
// tracer + API for node1 and the UI, with real traffic. The test reads the screen through a headless
// xterm and drives it with keys: flows with their verdicts and paths, an invalid filter in red, a valid
// filter, pause, the detail pane's explanation for 10.233.101.222 → 10.233.101.224, and `q` restoring
// the terminal and removing the lab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { KEY, PtyScreen } from '../helpers/tui-pty';
import { labDown, labStatus, randomPrefix } from '../../src/lab';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'calitrace.js');

/** The row of the flows table for src → dst, or undefined. */
function flowRow(lines: string[], src: string, dst: string): string | undefined {
  return lines.find((l) => l.includes(src) && l.includes(`→ ${dst}`));
}

/** Packet count of a flow row: the number right after the verdict word. */
function packetsOf(row: string): number {
  const m = /(MATCHED|EXPECTED_DROP|DROPPED|DIVERGED|INCOMPLETE|STALE_MODEL)\s+(\d+)/.exec(row);
  assert.ok(m, `no verdict + packet count in row: ${row}`);
  return Number(m[2]);
}

function eventsOf(screen: string): number {
  const m = /events (\d+)/.exec(screen);
  return m ? Number(m[1]) : -1;
}

/** The row index the UI shows selected (drawn in inverse video). */
function selectedRow(s: PtyScreen): number {
  const b = s.term.buffer.active;
  for (let y = 0; y < s.term.rows; y++) {
    const line = b.getLine(b.viewportY + y);
    const cell = line?.getCell(2);
    if (cell && cell.isInverse() && /\d+\.\d+\.\d+\.\d+/.test(line!.translateToString(true))) return y;
  }
  return -1;
}

/** Pages through the detail pane from the top and returns every line it showed. */
async function readDetail(s: PtyScreen): Promise<string> {
  const seen: string[] = [];
  for (let page = 0; page < 20; page++) {
    const t = await s.waitFor('the detail pane', (x) => (/Detail \(esc closes\)/.test(x) ? x : false));
    seen.push(t);
    const m = /lines (\d+)-(\d+) of (\d+)/.exec(t);
    if (!m || Number(m[2]) >= Number(m[3])) break;
    s.press('\x1b[6~'); // page down
    await s.waitFor('the pane to scroll', (x) => {
      const n = /lines (\d+)-/.exec(x);
      return n && Number(n[1]) > Number(m[1]) ? x : false;
    });
  }
  return seen.join('\n');
}

test('calitrace demo: live flows, filter, pause, detail pane, and q restores the terminal', { timeout: 240_000 }, async () => {
  const prefix = randomPrefix();
  const s = new PtyScreen(process.execPath, [BIN, 'demo', '--prefix', prefix, '--interval', '0.2'], { cols: 180, rows: 45 });
  try {
    // 1. Flows from the lab's traffic, with the walkthrough's verdicts and paths.
    const lines = await s.waitFor(
      'the three demo flows with their verdicts',
      (_t, ls) => {
        const same = flowRow(ls, '10.233.101.222', '10.233.101.224');
        const cross = flowRow(ls, '10.233.101.222', '10.233.100.130');
        const hole = flowRow(ls, '10.233.101.222', '10.233.101.230');
        return same && /MATCHED/.test(same) && cross && /MATCHED/.test(cross) && hole && /EXPECTED_DROP/.test(hole) ? ls : false;
      },
      120_000,
    );
    const same = flowRow(lines, '10.233.101.222', '10.233.101.224')!;
    assert.match(same, /cali11299111064>caliaa479e31ff6/, 'same node: observed cali → cali');
    assert.doesNotMatch(same, /vxlan\.calico|ens3/, 'same node: no VXLAN, no uplink');
    const cross = flowRow(lines, '10.233.101.222', '10.233.100.130')!;
    assert.match(cross, /cali11299111064>vxlan\.calico>ens3/, 'cross node: observed through VXLAN and the uplink');
    // The header comes from the Status call, which may answer after the first flows have streamed in.
    const header = await s.waitForText(/interfaces \(\d+\):.*cali11299111064/, 30_000);
    assert.match(header, /node ems203-w2/);
    for (const c of ['kernel', 'pipe', 'collector', 'subscribers', 'this-client']) assert.match(header, new RegExp(`lost:.*\\b${c} \\d+`));

    // 2. An invalid filter: the error, in red, and the rows stay.
    s.press('/');
    await s.waitForText('filter> ');
    s.press('verdict=NOPE');
    s.press(KEY.enter);
    const errScreen = await s.waitForText(/invalid filter 'verdict=NOPE'/);
    assert.ok(flowRow(errScreen.split('\n'), '10.233.101.222', '10.233.101.230'), 'an invalid filter is not applied');
    const errY = s.lines().findIndex((l) => l.includes("invalid filter 'verdict=NOPE'"));
    const cell = s.term.buffer.active.getLine(s.term.buffer.active.viewportY + errY)!.getCell(0)!;
    assert.ok(cell.isFgPalette() && cell.getFgColor() === 1, `the error is drawn in red (fg palette ${cell.getFgColor()})`);

    // 3. A valid filter in the API's language: only matching flows remain.
    s.press('/');
    await s.waitForText('filter> ');
    s.press(KEY.backspace.repeat(20) + 'dst=10.233.101.224');
    s.press(KEY.enter);
    await s.waitFor('only the same-node flow', (_t, ls) =>
      flowRow(ls, '10.233.101.222', '10.233.101.224') && !flowRow(ls, '10.233.101.222', '10.233.101.230') && !flowRow(ls, '10.233.101.222', '10.233.100.130'),
    );
    assert.match(s.text(), /filter: dst=10\.233\.101\.224/);

    // 4. Pause: PAUSED shown, rows frozen, counting goes on.
    s.press(' ');
    const paused = await s.waitForText('PAUSED');
    const frozen = packetsOf(flowRow(paused.split('\n'), '10.233.101.222', '10.233.101.224')!);
    const events0 = eventsOf(paused);
    const later = await s.waitFor('the event counter to keep counting while paused', (t) => (eventsOf(t) >= events0 + 10 ? t : false), 30_000);
    assert.equal(packetsOf(flowRow(later.split('\n'), '10.233.101.222', '10.233.101.224')!), frozen, 'rows are frozen while paused');
    s.press(' ');
    await s.waitFor('rows to move again after resume', (t, ls) => {
      const r = flowRow(ls, '10.233.101.222', '10.233.101.224');
      return !/PAUSED/.test(t) && r && packetsOf(r) > frozen;
    });

    // 5. Detail pane of 10.233.101.222 → 10.233.101.224: the /32-beats-/26 explanation and the hops.
    const y = s.lines().findIndex((l) => !!flowRow([l], '10.233.101.222', '10.233.101.224'));
    assert.equal(selectedRow(s), y, 'the only flow is selected');
    s.press(KEY.enter);
    await s.waitFor('the explanation in the detail pane', (t) => (/Why: the route decision/.test(t) && /\d+\. /.test(t) ? t : false), 20_000);
    const detail = await readDetail(s);
    assert.match(detail, /Verdict\s+MATCHED/);
    // The walkthrough's point, from live data: the /32 beats the /26s; neither VXLAN nor the blackhole applies.
    assert.match(detail, /\/32 route wins/i);
    assert.match(detail, /less specific \(\/26\) than the selected \/32|\/32 is more specific than a \/26/);
    assert.match(detail, /VXLAN is NOT used/i);
    assert.match(detail, /blackhole is NOT used/i);
    assert.match(detail, /Predicted\s+cali11299111064>caliaa479e31ff6/);
    assert.match(detail, /cali11299111064 ingress .*t\+/);
    assert.match(detail, /caliaa479e31ff6 egress .*t\+/);
    assert.match(detail, /Kernel view.*caliaa479e31ff6/);
    s.press(KEY.escape);
    await s.waitFor('the flows table back', (_t, ls) => ls.some((l) => /^SOURCE\s+DESTINATION/.test(l)));

    // 6. q: the UI leaves the alternate screen, shows the cursor, and the demo removes its lab.
    s.press('q');
    const exit = await s.exited;
    assert.equal(exit.exitCode, 0, `demo exit code; screen:\n${s.text()}`);
    assert.equal(s.term.buffer.active.type, 'normal', 'back on the normal screen');
    const lastAlt = s.raw.lastIndexOf('\x1b[?1049h');
    assert.ok(lastAlt >= 0 && s.raw.indexOf('\x1b[?1049l', lastAlt) > lastAlt, 'alternate screen left');
    const lastHide = s.raw.lastIndexOf('\x1b[?25l');
    assert.ok(s.raw.indexOf('\x1b[?25h', lastHide) > lastHide, 'cursor shown again');
    assert.match(s.text(), /removing the lab/);
    assert.equal((await labStatus({ prefix })).exists, false, 'the demo removed the lab it created');
  } finally {
    await s.kill();
    await labDown({ prefix });
  }
});

test('calitrace demo interrupted while starting: it cleans up the lab and the tracer', { timeout: 120_000 }, async () => {
  const prefix = randomPrefix();
  const s = new PtyScreen(process.execPath, [BIN, 'demo', '--prefix', prefix], { cols: 120, rows: 30 });
  try {
    await s.waitForText(/starting the tracer \+ API for node1/, 90_000);
    s.proc.kill('SIGINT');
    const exit = await s.exited;
    assert.equal(exit.exitCode, 2, s.text());
    assert.match(s.text(), /interrupted: cleaning up/);
    assert.match(s.text(), /removing the lab/);
    assert.equal((await labStatus({ prefix })).exists, false, 'the lab is gone');
    assert.ok(!existsSync(`/run/calitrace-demo-${prefix}.sock`), 'the API socket is gone');
    const left = spawnSync('pgrep', ['-f', `serve --netns ${prefix}-node1`], { encoding: 'utf8' }).stdout.trim();
    assert.equal(left, '', 'no tracer process of this demo is left');
  } finally {
    await s.kill();
    await labDown({ prefix });
  }
});

// Column layout of the flows view: at 80 columns the essentials stay (addresses, observed path,
// verdict, count); paths get their full width before optional columns (pods, last seen) appear; a path
// that does not fit shortens Calico interface names before anything is cut.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { layout } from '../../src/tui/views/table';
import { FLOW_COLUMNS } from '../../src/tui/views/flows';
import { fitPath } from '../../src/tui/views/format';

const titles = (w: number) => layout(FLOW_COLUMNS, w).columns.map((c) => c.title);
const widthOf = (w: number, t: string) => layout(FLOW_COLUMNS, w).columns.find((c) => c.title === t)?.w;

test('the flows table keeps the essentials at 80 columns and never overflows', () => {
  assert.deepEqual(titles(80), ['SOURCE', 'DESTINATION', 'OBSERVED', 'VERDICT', 'PKTS']);
  for (const w of [60, 80, 100, 120, 140, 180, 200, 260]) {
    const cols = layout(FLOW_COLUMNS, w).columns;
    const used = cols.reduce((s, c) => s + c.w, 0) + cols.length - 1;
    assert.ok(used <= Math.max(w, 15 + 17 + 13 + 6 + 3), `width ${w}: ${used} columns used`);
  }
});

test('paths reach their full width before pods or last-seen are shown', () => {
  assert.ok(!titles(180).includes('PODS'));
  assert.ok(widthOf(180, 'OBSERVED')! >= 33 && widthOf(180, 'PREDICTED')! >= 33);
  assert.ok(titles(220).includes('PODS'));
  assert.ok(widthOf(220, 'OBSERVED')! >= 33);
});

test('a path too long for its column shortens cali names first', () => {
  const p = ['cali11299111064', 'vxlan.calico', 'ens3'];
  assert.equal(fitPath(p, 40), 'cali11299111064>vxlan.calico>ens3');
  const short = fitPath(p, 25);
  assert.ok(short.length <= 25);
  assert.match(short, /^cali11\d*…>vxlan\.calico>ens3$/);
});

// One keymap table drives the bindings, the help screen and the footer: every key in the table is
// found by lookup, listed in help, and every footer hint comes from a table entry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Binding, KEYMAP, footerHints, helpLines, lookup } from '../../src/tui/keymap';
import { renderHelp } from '../../src/tui/views/help';
import { stripTags } from '../../src/tui/escape';

test('every key of the table is bound to its own action, and no key is bound twice', () => {
  const seen = new Set<string>();
  for (const b of KEYMAP) {
    for (const k of b.keys) {
      assert.ok(!seen.has(k), `key '${k}' bound twice`);
      seen.add(k);
      assert.equal(lookup(k), b);
    }
  }
  for (const k of ['q', 'C-c', '?', '/', 'space', 'tab', '1', '2', '3', '4', 'enter']) assert.ok(seen.has(k), `'${k}' must be bound`);
  assert.equal(lookup('q')?.action.kind, 'quit');
  assert.equal(lookup('C-c')?.action.kind, 'quit');
  assert.deepEqual(lookup('3')?.action, { kind: 'view', view: 'routes' });
  assert.equal(lookup(undefined, 'G')?.action.kind, 'bottom');
  assert.equal(lookup('x'), undefined);
});

test('the help screen lists every binding of the table with its description', () => {
  const help = renderHelp().map(stripTags).join('\n');
  for (const b of KEYMAP) {
    assert.ok(help.includes(b.label), `help misses ${b.label}`);
    assert.ok(help.includes(b.description), `help misses '${b.description}'`);
  }
});

test('the footer is drawn from the same table and fits the width', () => {
  const footer = footerHints(80);
  assert.ok(footer.length <= 80);
  for (const b of KEYMAP.filter((x) => x.hint)) assert.ok(footer.includes(`${b.label} ${b.hint}`), `footer misses ${b.label}`);
  // Narrower: hints drop off the end, never cut in the middle.
  const narrow = footerHints(30);
  assert.ok(narrow.length <= 30);
  assert.ok(narrow.split('  ').every((h) => KEYMAP.some((b) => `${b.label} ${b.hint}` === h)));
});

test('a different table gives a different help and footer: they are generated, not written', () => {
  const table: Binding[] = [{ keys: ['z'], label: 'z', action: { kind: 'quit' }, description: 'leave now', hint: 'bye' }];
  assert.deepEqual(helpLines(table), ['z  leave now']);
  assert.equal(footerHints(80, table), 'z bye');
  assert.equal(lookup('z', undefined, table), table[0]);
  assert.equal(lookup('q', undefined, table), undefined);
});

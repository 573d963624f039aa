// Without a UTF-8 locale the UI swaps its glyphs for ASCII ones of the same width, so columns stay aligned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toAscii } from '../../src/tui/ascii';

test('each glyph the UI draws has a one-character ASCII stand-in; other non-ASCII becomes ?', () => {
  const row = '10.233.101.222  → 10.233.101.224  cali1129911…>caliaa479e3…  14µs — ≠ 名';
  const out = toAscii(row);
  assert.equal(out, '10.233.101.222  > 10.233.101.224  cali1129911~>caliaa479e3~  14us - # ?');
  assert.equal(out.length, row.length, 'same width');
  assert.match(out, /^[\x00-\x7f]*$/);
});

test('ASCII text and blessed markup pass through unchanged', () => {
  const line = '{red-fg}EXPECTED_DROP{/red-fg}  cali11299111064';
  assert.equal(toAscii(line), line);
});

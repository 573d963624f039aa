// The SGR reader the UI tests use to decide "no colour": every way a colour can be asked for is found,
// and what is not colour (styles, resets, other sequences) is not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sgrColours, sgrSequences } from '../helpers/sgr';

const colours = (s: string): string[] => sgrColours(s).map((c) => c.parameter);

test('basic foreground and background colours, alone and combined with styles', () => {
  assert.deepEqual(colours('\x1b[31mred\x1b[m'), ['31']);
  assert.deepEqual(colours('\x1b[1;31mbold red'), ['31'], "blessed's combined form");
  assert.deepEqual(colours('\x1b[0;1;4;37;44m'), ['37', '44']);
  assert.deepEqual(colours('\x1b[30m\x1b[37m\x1b[40m\x1b[47m'), ['30', '37', '40', '47']);
  assert.deepEqual(colours('\x1b[90m\x1b[97m\x1b[100m\x1b[107m'), ['90', '97', '100', '107'], 'bright colours');
});

test('extended colours: palette and direct, with semicolons and with colons', () => {
  assert.deepEqual(colours('\x1b[38;5;1m'), ['38;5;1']);
  assert.deepEqual(colours('\x1b[48;5;196m'), ['48;5;196']);
  assert.deepEqual(colours('\x1b[38;2;255;0;0m'), ['38;2;255;0;0']);
  assert.deepEqual(colours('\x1b[1;38;2;10;20;30;4m'), ['38;2;10;20;30'], 'the styles around a direct colour are not read as colours');
  assert.deepEqual(colours('\x1b[38:5:1m'), ['38:5:1']);
  assert.deepEqual(colours('\x1b[38:2::255:0:0m'), ['38:2::255:0:0']);
  assert.deepEqual(colours('\x1b[58;5;3m'), ['58;5;3'], 'underline colour');
  // 38;5;31 is palette colour 31, not a second colour parameter 31.
  assert.deepEqual(colours('\x1b[38;5;31m'), ['38;5;31']);
  // A truncated extended colour is still a request for colour.
  assert.deepEqual(colours('\x1b[38m'), ['38']);
});

test('the C1 introducer is read like ESC [', () => {
  assert.deepEqual(colours('\x9b32mgreen'), ['32']);
});

test('not colour: resets, styles, default colours, other sequences, text that looks like a code', () => {
  assert.deepEqual(colours('\x1b[m\x1b[0m\x1b[1m\x1b[4m\x1b[7m\x1b[22;24;27m'), []);
  assert.deepEqual(colours('\x1b[39m\x1b[49m\x1b[59m\x1b[39;49m'), [], 'back to the default colours is not colour');
  assert.deepEqual(colours('\x1b[31;1H\x1b[?25l\x1b[?1049h\x1b[2J\x1b[K'), [], 'cursor moves and modes are not SGR');
  assert.deepEqual(colours('\x1b[>4;2m'), [], 'a private-marker sequence (xterm modifyOtherKeys) is not SGR');
  assert.deepEqual(colours('[31m 31m 38;5;1'), [], 'without the introducer it is just text');
  assert.deepEqual(colours('\x1b[1;2;3;5;8;9m'), []);
});

test('sequences are listed in order with their parameters, an empty one undefined (read as 0)', () => {
  const seqs = sgrSequences('a\x1b[mb\x1b[1;;31mc\x1b[38:2::1:2:3m');
  assert.deepEqual(
    seqs.map((s) => [s.index, s.text, s.params]),
    [
      [1, '\x1b[m', [[0]]],
      [5, '\x1b[1;;31m', [[1], [undefined], [31]]],
      [14, '\x1b[38:2::1:2:3m', [[38, 2, undefined, 1, 2, 3]]],
    ],
  );
  assert.deepEqual(colours('\x1b[1;;31m'), ['31']);
});

// The help screen, generated from the keymap table (the same table that binds the keys).
import { helpLines } from '../keymap';
import { escapeMarkup } from '../escape';

export function renderHelp(): string[] {
  return [
    '{bold}calitrace keys{/bold}  (? or esc closes, up/down scroll)',
    '',
    ...helpLines().map(escapeMarkup),
    '',
    'Colours: green MATCHED, yellow EXPECTED_DROP, red DROPPED, magenta DIVERGED, cyan STALE_MODEL,',
    'white INCOMPLETE. The verdict word is always written, so no colour is needed to read it.',
  ];
}

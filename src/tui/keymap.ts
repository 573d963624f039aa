// The one keymap table. app.ts binds keys from it, the help screen (`?`) lists it, and the footer hints
// are drawn from it, so the three can never disagree.
import type { ViewName } from './store';

export type Action =
  | { kind: 'quit' }
  | { kind: 'help' }
  | { kind: 'pause' }
  | { kind: 'filter' }
  | { kind: 'nextView' }
  | { kind: 'view'; view: ViewName }
  | { kind: 'move'; delta: number }
  | { kind: 'top' }
  | { kind: 'bottom' }
  | { kind: 'detail' }
  | { kind: 'back' }
  | { kind: 'sort' }
  | { kind: 'reverse' };

export interface Binding {
  /** blessed key names as reported in `key.full` (e.g. 'q', 'C-c', 'enter', 'S-tab'). */
  keys: string[];
  /** How the help screen writes the keys. */
  label: string;
  action: Action;
  description: string;
  /** Short hint for the footer; absent = help screen only. Listed in table order. */
  hint?: string;
}

export const KEYMAP: readonly Binding[] = [
  { keys: ['?'], label: '?', action: { kind: 'help' }, description: 'show or hide this help', hint: 'help' },
  { keys: ['/'], label: '/', action: { kind: 'filter' }, description: "filter (the API's filter language, e.g. dst=10.233.101.224 verdict=MATCHED); empty clears", hint: 'filter' },
  { keys: ['space'], label: 'space', action: { kind: 'pause' }, description: 'pause or resume the rows (counters keep counting)', hint: 'pause' },
  { keys: ['enter'], label: 'enter', action: { kind: 'detail' }, description: 'open the detail pane of the selected flow', hint: 'detail' },
  { keys: ['escape'], label: 'esc', action: { kind: 'back' }, description: 'close the detail pane, help or filter prompt' },
  { keys: ['tab'], label: 'tab', action: { kind: 'nextView' }, description: 'next view', hint: 'view' },
  { keys: ['1'], label: '1', action: { kind: 'view', view: 'flows' }, description: 'flows view' },
  { keys: ['2'], label: '2', action: { kind: 'view', view: 'packets' }, description: 'packets view' },
  { keys: ['3'], label: '3', action: { kind: 'view', view: 'routes' }, description: 'routes view (live model, changes highlighted)' },
  { keys: ['4'], label: '4', action: { kind: 'view', view: 'drops' }, description: 'drops view' },
  { keys: ['up', 'k'], label: 'up/k', action: { kind: 'move', delta: -1 }, description: 'select the previous row / scroll up' },
  { keys: ['down', 'j'], label: 'down/j', action: { kind: 'move', delta: 1 }, description: 'select the next row / scroll down' },
  { keys: ['pageup'], label: 'pgup', action: { kind: 'move', delta: -10 }, description: 'ten rows up' },
  { keys: ['pagedown'], label: 'pgdn', action: { kind: 'move', delta: 10 }, description: 'ten rows down' },
  { keys: ['home', 'g'], label: 'home/g', action: { kind: 'top' }, description: 'first row' },
  { keys: ['end', 'G'], label: 'end/G', action: { kind: 'bottom' }, description: 'last row' },
  { keys: ['s'], label: 's', action: { kind: 'sort' }, description: 'sort flows by the next column (last seen, packets, verdict, latency, src, dst)', hint: 'sort' },
  { keys: ['r'], label: 'r', action: { kind: 'reverse' }, description: 'reverse the sort order' },
  { keys: ['q', 'C-c'], label: 'q/ctrl-c', action: { kind: 'quit' }, description: 'quit and restore the terminal', hint: 'quit' },
];

/** The binding for a key as blessed names it (`key.full`), or for the typed character. */
export function lookup(keyFull: string | undefined, ch?: string, table: readonly Binding[] = KEYMAP): Binding | undefined {
  return table.find((b) => (keyFull !== undefined && b.keys.includes(keyFull)) || (ch !== undefined && b.keys.includes(ch)));
}

/** The help screen's lines (plain text; callers escape nothing: the table is ours). */
export function helpLines(table: readonly Binding[] = KEYMAP): string[] {
  const width = Math.max(...table.map((b) => b.label.length));
  return table.map((b) => `${b.label.padEnd(width)}  ${b.description}`);
}

/** Footer hints ("? help  / filter …") cut to the width without breaking a hint in two. */
export function footerHints(width: number, table: readonly Binding[] = KEYMAP): string {
  let out = '';
  for (const b of table) {
    if (!b.hint) continue;
    const part = `${b.label} ${b.hint}`;
    const next = out ? `${out}  ${part}` : part;
    if (next.length > width) break;
    out = next;
  }
  return out;
}

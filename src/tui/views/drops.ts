// The drops view: packets the kernel dropped, where, and why (the kernel's reason and the verdict's).
import type { Store } from '../store';
import type { UiVerdict } from '../model';
import { Column, headerLine, layout, rowLine } from './table';
import { clockMs, colourRow, protoPorts } from './format';

function dropHop(v: UiVerdict) {
  return [...v.observed].reverse().find((h) => h.dir === 'drop');
}

const DROP_COLUMNS: Column<UiVerdict>[] = [
  { title: 'TIME', width: 12, priority: 3, cell: (v) => clockMs(v.timeMs) },
  { title: 'SOURCE', width: 15, priority: 0, cell: (v) => v.src },
  { title: 'DESTINATION', width: 17, priority: 0, cell: (v) => `→ ${v.dst}` },
  { title: 'PROTO/PORTS', width: 15, priority: 4, cell: (v) => protoPorts(v) },
  { title: 'AT', width: 15, priority: 2, cell: (v) => dropHop(v)?.iface ?? v.observed[v.observed.length - 1]?.iface ?? '-' },
  { title: 'KERNEL REASON', width: 14, priority: 2, cell: (v) => dropHop(v)?.dropReason ?? '-' },
  { title: 'VERDICT', width: 13, priority: 0, cell: (v) => v.verdict },
  { title: 'WHY', width: 20, flex: true, priority: 1, cell: (v) => v.reason },
];

export function renderDrops(store: Store, width: number, height: number): string[] {
  const l = layout(DROP_COLUMNS, width);
  const rows = store.dropRows();
  const lines = [headerLine(l)];
  if (rows.length === 0) return [...lines, 'No drops seen.'];
  const top = Math.min(store.listScroll.drops, Math.max(0, rows.length - 1));
  store.listScroll.drops = top;
  for (const v of rows.slice(top, top + Math.max(0, height - 1))) lines.push(colourRow(rowLine(l, v), v.verdict, false));
  return lines;
}

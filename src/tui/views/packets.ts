// The live packets view: the newest verdicts first, one line each.
import type { Store } from '../store';
import type { UiVerdict } from '../model';
import { observedPath } from '../store';
import { Column, headerLine, layout, rowLine } from './table';
import { clockMs, colourRow, fitPath, micros, path, protoPorts } from './format';

const PACKET_COLUMNS: Column<UiVerdict>[] = [
  { title: 'TIME', width: 12, priority: 1, cell: (v) => clockMs(v.timeMs) },
  { title: 'SOURCE', width: 15, priority: 0, cell: (v) => v.src },
  { title: 'DESTINATION', width: 17, priority: 0, cell: (v) => `→ ${v.dst}` },
  { title: 'PROTO/PORTS', width: 15, priority: 2, cell: (v) => protoPorts(v) },
  { title: 'OBSERVED', width: 15, flex: true, priority: 1, cell: (v) => path(observedPath(v)), fitCell: (v, w) => fitPath(observedPath(v), w) },
  { title: 'VERDICT', width: 13, priority: 0, cell: (v) => v.verdict },
  { title: 'HOP LAT', width: 7, priority: 3, align: 'right', cell: (v) => micros(v.latencyUs) },
  { title: 'REASON', width: 20, flex: true, priority: 4, cell: (v) => v.reason },
];

export function renderPackets(store: Store, width: number, height: number): string[] {
  const l = layout(PACKET_COLUMNS, width);
  const rows = store.packetRows();
  const lines = [headerLine(l)];
  if (rows.length === 0) return [...lines, 'No packets yet.'];
  const top = Math.min(store.listScroll.packets, Math.max(0, rows.length - 1));
  store.listScroll.packets = top;
  for (const v of rows.slice(top, top + Math.max(0, height - 1))) lines.push(colourRow(rowLine(l, v), v.verdict, false));
  return lines;
}

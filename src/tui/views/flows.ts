// The flows view: one row per flow, coloured by its current verdict, the verdict word always written.
import type { FlowRow, Store } from '../store';
import { Column, headerLine, layout, rowLine, windowFor } from './table';
import { clock, colourRow, fitPath, micros, path, podName, protoPorts } from './format';
import type { PodRef } from '../model';

const pod = (p?: PodRef) => (p ? podName(p) : '-');

export const FLOW_COLUMNS: Column<FlowRow>[] = [
  { title: 'SOURCE', width: 15, priority: 0, cell: (r) => r.src },
  { title: 'DESTINATION', width: 17, priority: 0, cell: (r) => `→ ${r.dst}` },
  // Pod names are long: shown only when the terminal is wide enough for them and the paths.
  { title: 'PODS', width: 40, flex: true, weight: 2, priority: 5, cell: (r) => `${pod(r.srcPod)} → ${pod(r.dstPod)}` },
  { title: 'PROTO/PORTS', width: 15, priority: 2, cell: (r) => protoPorts(r) },
  { title: 'PREDICTED', width: 15, want: 33, flex: true, weight: 3, priority: 3, cell: (r) => path(r.predicted), fitCell: (r, w) => fitPath(r.predicted, w) },
  { title: 'OBSERVED', width: 15, want: 33, flex: true, weight: 3, priority: 1, cell: (r) => path(r.observed), fitCell: (r, w) => fitPath(r.observed, w) },
  { title: 'VERDICT', width: 13, priority: 0, cell: (r) => r.verdict },
  { title: 'PKTS', width: 6, priority: 0, align: 'right', cell: (r) => String(r.packets) },
  { title: 'LAST', width: 8, priority: 4, cell: (r) => clock(r.lastMs) },
  { title: 'HOP LAT', width: 7, priority: 3, align: 'right', cell: (r) => micros(r.latencyUs) },
];

export interface FlowsViewState {
  top: number;
}

export function renderFlows(store: Store, width: number, height: number, state: FlowsViewState): string[] {
  const l = layout(FLOW_COLUMNS, width);
  const rows = store.flowRows();
  const lines = [headerLine(l)];
  if (rows.length === 0) {
    lines.push(
      store.filterText
        ? 'No flows match the filter yet.'
        : 'No flows yet: waiting for packets on the traced interfaces.',
    );
    return lines;
  }
  const bodyHeight = Math.max(0, height - 1);
  const sel = store.selectedIndex(rows);
  state.top = windowFor(sel, rows.length, bodyHeight, state.top);
  for (let i = state.top; i < Math.min(rows.length, state.top + bodyHeight); i++) {
    lines.push(colourRow(rowLine(l, rows[i]), rows[i].verdict, i === sel));
  }
  return lines;
}

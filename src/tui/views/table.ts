// Column layout for the list views: columns carry a priority, and when the terminal is narrow the least
// important ones go first, so 80 columns still shows the flow, its verdict and its count.
import { escapeMarkup, fit } from '../escape';

export interface Column<T> {
  title: string;
  /** Fixed width, or the minimum width of a flexible column. */
  width: number;
  flex?: boolean;
  /** Share of the spare width a flexible column gets (default 1). */
  weight?: number;
  /** 0 = always shown; higher numbers are dropped first when space runs out. */
  priority: number;
  align?: 'left' | 'right';
  cell(row: T): string;
}

export interface Layout<T> {
  columns: Array<Column<T> & { w: number }>;
}

const GAP = 1;

export function layout<T>(columns: Column<T>[], width: number): Layout<T> {
  let shown = columns.slice();
  const total = (cols: Column<T>[]) => cols.reduce((s, c) => s + c.width, 0) + GAP * Math.max(0, cols.length - 1);
  while (total(shown) > width && shown.some((c) => c.priority > 0)) {
    const worst = Math.max(...shown.map((c) => c.priority));
    const idx = shown.map((c) => c.priority).lastIndexOf(worst);
    shown = shown.filter((_c, i) => i !== idx);
  }
  const spare = Math.max(0, width - total(shown));
  const flex = shown.filter((c) => c.flex);
  const weights = flex.reduce((s, c) => s + (c.weight ?? 1), 0);
  const grant = new Map(flex.map((c) => [c, Math.floor((spare * (c.weight ?? 1)) / weights)]));
  let extra = spare - [...grant.values()].reduce((a, b) => a + b, 0);
  for (const c of flex) {
    if (extra <= 0) break;
    grant.set(c, grant.get(c)! + 1);
    extra--;
  }
  return { columns: shown.map((c) => ({ ...c, w: c.width + (grant.get(c) ?? 0) })) };
}

/** The header line (plain column titles, bold). */
export function headerLine<T>(l: Layout<T>): string {
  return '{bold}' + l.columns.map((c) => escapeMarkup(fit(c.title, c.w, c.align))).join(' '.repeat(GAP)) + '{/bold}';
}

/** One row: every cell fitted first, then escaped, so markup never counts towards the width. */
export function rowLine<T>(l: Layout<T>, row: T): string {
  return l.columns.map((c) => escapeMarkup(fit(c.cell(row), c.w, c.align))).join(' '.repeat(GAP));
}

/** Which rows to show so the selected one stays visible. */
export function windowFor(selected: number, count: number, height: number, previousTop = 0): number {
  if (height <= 0 || count <= height) return 0;
  let top = Math.min(previousTop, count - height);
  if (selected < top) top = selected;
  if (selected >= top + height) top = selected - height + 1;
  return Math.max(0, top);
}

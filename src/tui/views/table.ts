// Column layout for the list views: columns carry a priority, and when the terminal is narrow the least
// important ones go first, so 80 columns still shows the flow, its verdict and its count.
import { escapeMarkup, fit } from '../escape';

export interface Column<T> {
  title: string;
  /** Fixed width, or the minimum width of a flexible column. */
  width: number;
  flex?: boolean;
  /** Width the column should reach before less important columns are shown (paths: their full text). */
  want?: number;
  /** Share of the spare width a flexible column gets (default 1). */
  weight?: number;
  /** 0 = always shown; higher numbers are dropped first when space runs out. */
  priority: number;
  align?: 'left' | 'right';
  cell(row: T): string;
  /** Fits the cell itself when plain cutting would lose the point (paths); plain text, unescaped. */
  fitCell?(row: T, width: number): string;
}

export interface Layout<T> {
  columns: Array<Column<T> & { w: number }>;
}

const GAP = 1;

export function layout<T>(columns: Column<T>[], width: number): Layout<T> {
  const total = (cols: Column<T>[]) => cols.reduce((s, c) => s + c.width, 0) + GAP * Math.max(0, cols.length - 1);
  const dropWorst = (cols: Column<T>[], above: number) => {
    const worst = Math.max(...cols.map((c) => c.priority));
    if (worst <= above) return undefined;
    const idx = cols.map((c) => c.priority).lastIndexOf(worst);
    return cols.filter((_c, i) => i !== idx);
  };
  let shown = columns.slice();
  for (;;) {
    // 1. Drop the least important columns until the minimum widths fit.
    while (total(shown) > width) {
      const next = dropWorst(shown, 0);
      if (!next) break;
      shown = next;
    }
    // 2. Columns that want more room get it, most important first.
    let spare = Math.max(0, width - total(shown));
    const grant = new Map<Column<T>, number>();
    const byPriority = shown.map((c, i) => ({ c, i })).sort((a, b) => a.c.priority - b.c.priority || a.i - b.i);
    let starved: Column<T> | undefined;
    for (const { c } of byPriority) {
      const need = Math.max(0, (c.want ?? c.width) - c.width);
      const g = Math.min(spare, need);
      grant.set(c, g);
      spare -= g;
      if (g < need && !starved) starved = c;
    }
    // 3. A column short of what it wants outranks less important columns: drop those and retry.
    if (starved) {
      const next = dropWorst(shown, Math.max(1, starved.priority));
      if (next) {
        shown = next;
        continue;
      }
    }
    // 4. What is left goes to the flexible columns by weight.
    const flex = shown.filter((c) => c.flex);
    const weights = flex.reduce((s, c) => s + (c.weight ?? 1), 0);
    let left = spare;
    for (const c of flex) {
      const g = Math.floor((spare * (c.weight ?? 1)) / weights);
      grant.set(c, (grant.get(c) ?? 0) + g);
      left -= g;
    }
    for (const c of flex) {
      if (left <= 0) break;
      grant.set(c, (grant.get(c) ?? 0) + 1);
      left--;
    }
    return { columns: shown.map((c) => ({ ...c, w: c.width + (grant.get(c) ?? 0) })) };
  }
}

/** The header line (plain column titles, bold). */
export function headerLine<T>(l: Layout<T>): string {
  return '{bold}' + l.columns.map((c) => escapeMarkup(fit(c.title, c.w, c.align))).join(' '.repeat(GAP)) + '{/bold}';
}

/** One row: every cell fitted first, then escaped, so markup never counts towards the width. */
export function rowLine<T>(l: Layout<T>, row: T): string {
  return l.columns
    .map((c) => escapeMarkup(fit(c.fitCell ? c.fitCell(row, c.w) : c.cell(row), c.w, c.align)))
    .join(' '.repeat(GAP));
}

/** Which rows to show so the selected one stays visible. */
export function windowFor(selected: number, count: number, height: number, previousTop = 0): number {
  if (height <= 0 || count <= height) return 0;
  let top = Math.min(previousTop, count - height);
  if (selected < top) top = selected;
  if (selected >= top + height) top = selected - height + 1;
  return Math.max(0, top);
}

// The routes view: the live route model; a route that just appeared, changed or went away is marked
// with a word (and a colour), and stays marked for a while so the change can be seen.
import type { RouteRow, Store } from '../store';
import { escapeMarkup, fit } from '../escape';

const MARK: Record<NonNullable<RouteRow['change']>, { word: string; colour: string }> = {
  added: { word: '+ NEW', colour: 'green' },
  changed: { word: '~ CHANGED', colour: 'yellow' },
  removed: { word: '- GONE', colour: 'red' },
};

export function renderRoutes(store: Store, width: number, height: number): string[] {
  const rows = store.routeRows();
  const tableW = 6;
  const markW = 9;
  const meaningW = width >= 100 ? 22 : 0;
  const textW = Math.max(10, width - tableW - markW - meaningW - 3);
  const lines = [
    '{bold}' +
      escapeMarkup(
        [fit('TABLE', tableW), fit('CHANGE', markW), fit('ROUTE', textW), meaningW ? fit('CALICO MEANING', meaningW) : '']
          .filter(Boolean)
          .join(' '),
      ) +
      '{/bold}',
  ];
  if (rows.length === 0) return [...lines, 'No routes received yet.'];
  const top = Math.min(store.listScroll.routes, Math.max(0, rows.length - 1));
  store.listScroll.routes = top;
  for (const r of rows.slice(top, top + Math.max(0, height - 1))) {
    const m = r.change ? MARK[r.change] : undefined;
    const cells = [fit(r.route.table ?? 'main', tableW), fit(m?.word ?? '', markW), fit(r.route.text, textW)];
    if (meaningW) cells.push(fit(r.route.meaning ?? '', meaningW));
    const line = escapeMarkup(cells.join(' '));
    lines.push(m ? `{bold}{${m.colour}-fg}${line}{/${m.colour}-fg}{/bold}` : line);
  }
  return lines;
}

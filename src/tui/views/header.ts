// The header: where we are (node, mode, interfaces), how busy (events/s), what was lost (every loss
// counter, always, wrapped onto more lines rather than hidden), who else watches, and PAUSED.
import type { Store } from '../store';
import { VIEWS } from '../store';
import { escapeMarkup, fit, visibleLength } from '../escape';

const e = escapeMarkup;

/** Joins parts (markup) two spaces apart, starting a new line rather than cutting a part. */
function wrapParts(prefix: string, parts: string[], width: number): string[] {
  const lines: string[] = [];
  let cur = prefix;
  for (const p of parts) {
    const next = cur.length > prefix.length ? `${cur}  ${p}` : `${cur}${p}`;
    if (visibleLength(next) > width && cur.length > prefix.length) {
      lines.push(cur);
      cur = ' '.repeat(prefix.length) + p;
    } else cur = next;
  }
  lines.push(cur);
  return lines;
}

export function headerLines(store: Store, width: number): string[] {
  const s = store.status;
  const out: string[] = [];
  const paused = store.paused ? '{inverse}{bold} PAUSED {/bold}{/inverse} ' : '';
  const conn =
    store.connection.state === 'error'
      ? ` {red-fg}{bold}DISCONNECTED{/bold}: ${e(fit(store.connection.message ?? '', Math.max(10, width - 16)).trimEnd())}{/red-fg}`
      : store.connection.state === 'connecting'
        ? ' connecting…'
        : '';
  const first = [
    `${paused}{bold}node ${e(s.node)}{/bold}`,
    `mode ${e(s.mode)}`,
    `events/s ${store.eventsPerSecond()}`,
    `events ${store.eventsTotal}`,
    `subscribers ${s.subscribers}`,
  ];
  if (conn) first.push(conn.trim());
  const behind = store.backlogS(Date.now());
  // Slower than the storm: what is on screen is the past, and its losses are still ahead in the queue.
  if (behind !== undefined) first.push(`{yellow-fg}{bold}${behind}s behind{/bold}: reading a backlog, its losses show when reached{/yellow-fg}`);
  out.push(...wrapParts('', first, width));
  const loss = store.lossCounters().map((c) => `${c.name} ${c.value}`);
  const anyLoss = store.lossCounters().some((c) => c.value > 0);
  // A node too busy to answer Status in time: the figures are still shown, with their age.
  const age = store.statusAgeS(Date.now());
  const prefix = age === undefined ? 'lost: ' : `lost (${age}s old): `;
  for (const l of wrapParts(prefix, loss.map(e), width)) out.push(anyLoss ? `{red-fg}${l}{/red-fg}` : l);
  const ifaceLines = wrapParts(`interfaces (${s.interfaces.length}): `, s.interfaces.length ? s.interfaces : ['none attached'], width);
  // Interfaces may be many: two lines at most, the count says how many there are.
  out.push(...ifaceLines.slice(0, 2).map((l, i) => e(i === 1 && ifaceLines.length > 2 ? fit(l, width - 1) + '…' : fit(l, width).trimEnd())));
  const tabs = VIEWS.map((v, i) => {
    const label = `${i + 1} ${v[0].toUpperCase()}${v.slice(1)}`;
    return v === store.view ? `{inverse}[${label}]{/inverse}` : ` ${label} `;
  }).join(' ');
  const order = store.sortDescending ? 'desc' : 'asc';
  out.push(`${tabs}  flows ${store.flowCount()}  sort ${store.sort} ${order}`);
  return out;
}

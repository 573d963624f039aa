// Every string that comes from outside (interface names, pod names, reasons, filter text, server errors)
// passes through here before it reaches blessed markup: braces would otherwise be read as tags
// ("{red-fg}" in an interface name must print as itself), and control characters would let a hostile
// name move the cursor or switch the terminal's modes.

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** Text safe to embed in a tag-enabled blessed element: shows exactly the visible characters. */
export function escapeMarkup(text: string): string {
  return stripControl(text).replace(/[{}]/g, (ch) => (ch === '{' ? '{open}' : '{close}'));
}

/** Replaces control characters by '?' so a name can never drive the terminal. */
export function stripControl(text: string): string {
  return String(text).replace(CONTROL, '?');
}

/** The visible width of a tagged line (tags removed, {open}/{close} counted as one character). */
export function visibleLength(markup: string): number {
  return stripTags(markup).length;
}

/** Removes blessed tags, turning {open}/{close} back into braces: what a terminal without colour shows. */
export function stripTags(markup: string): string {
  return markup
    .replace(/\{(open|close)\}/g, (_m, w: string) => (w === 'open' ? '\u0000' : '\u0001'))
    .replace(/\{\/?[a-z0-9-]*\}/gi, '')
    .replace(/\u0000/g, '{')
    .replace(/\u0001/g, '}');
}

/** Cuts or pads plain (unescaped) text to exactly `width` columns, marking a cut with '…'. */
export function fit(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  if (width <= 0) return '';
  const s = stripControl(text);
  if (s.length > width) return width === 1 ? '…' : s.slice(0, width - 1) + '…';
  return align === 'left' ? s.padEnd(width) : s.padStart(width);
}

/**
 * Wraps one line of markup to `width` visible columns, breaking at a space where possible; tags take no
 * room and {open}/{close} count as the one brace they show. Continuation lines start with `indent` spaces.
 */
export function wrapMarkup(line: string, width: number, indent = 2): string[] {
  if (width <= indent + 1 || visibleLength(line) <= width) return [line];
  const tokens = line.match(/\{(?:open|close)\}|\{\/?[a-z0-9-]*\}|[^{]|\{/gi) ?? [];
  const out: string[] = [];
  let cur = '';
  let vis = 0;
  let lastSpace = -1; // index in `cur` just after the last space, and its visible count
  let visAtSpace = 0;
  for (const t of tokens) {
    const isTag = t.length > 1 && !/^\{(open|close)\}$/i.test(t);
    if (isTag) {
      cur += t;
      continue;
    }
    if (vis >= width) {
      if (lastSpace > 0 && visAtSpace > indent + 1) {
        out.push(cur.slice(0, lastSpace).trimEnd());
        const rest = cur.slice(lastSpace);
        cur = ' '.repeat(indent) + rest;
        vis = indent + visibleLength(rest);
      } else {
        out.push(cur);
        cur = ' '.repeat(indent);
        vis = indent;
      }
      lastSpace = -1;
    }
    cur += t;
    vis++;
    if (t === ' ') {
      lastSpace = cur.length;
      visAtSpace = vis;
    }
  }
  if (cur.trim()) out.push(cur);
  return out;
}

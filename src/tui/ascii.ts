// Terminals whose locale is not UTF-8 (a minimal server's SSH session often has LANG unset) cannot show
// the UI's few non-ASCII glyphs: blessed would print '?' for each. Each glyph gets a one-character ASCII
// stand-in so column widths stay as laid out; anything else non-ASCII (a pod name, say) becomes '?'.
const STAND_INS: Record<string, string> = {
  '→': '>',
  '…': '~',
  '—': '-',
  '–': '-',
  '−': '-',
  '≠': '#',
  'µ': 'u',
  '×': 'x',
  '≤': '<',
  '≥': '>',
};

export function toAscii(text: string): string {
  return text.replace(/[^\x00-\x7f]/g, (ch) => STAND_INS[ch] ?? '?');
}

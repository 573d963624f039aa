// A small reader of SGR ("Select Graphic Rendition", CSI … m) sequences in raw terminal output, for tests
// that must know whether a program asked the terminal for colour. A regular expression over the bytes
// misses combined forms (`ESC[1;31m`, blessed's own), sub-parameters (`ESC[38:2::255:0:0m`) and the C1
// introducer; this reads every sequence parameter by parameter, as a terminal does.
//
// What counts as colour: any parameter that sets a foreground, background or underline colour —
// 30–37, 38 (extended), 40–47, 48 (extended), 58 (underline, extended), 90–97, 100–107. The resets to
// the terminal's own default colours (39, 49, 59) are not colour: they take colour away, which is what
// "no colour" asks for, and a program without colour may still emit them when it resets attributes.
// Bold, underline, inverse and the like (1, 4, 7, 22, …) are styles, not colours (NO_COLOR allows them).

export interface SgrSequence {
  /** Offset of the sequence in the text. */
  index: number;
  /** The sequence as written. */
  text: string;
  /** Parameters: each an array of the value and its colon sub-parameters (undefined when empty). */
  params: (number | undefined)[][];
}

export interface SgrColour {
  sequence: SgrSequence;
  /** The colour parameter as written: '31', '38;5;1', '38:2::255:0:0', '101'… */
  parameter: string;
}

// ESC [ or the one-byte C1 CSI, then parameter bytes (digits, ';', ':'), then 'm'. Private-marker
// sequences (ESC[?…m, ESC[>…m) are not SGR and are left out; so are other final bytes.
const SGR = /(?:\x1b\[|\x9b)([0-9;:]*)m/g;

/** Every SGR sequence in `text`, in order. */
export function sgrSequences(text: string): SgrSequence[] {
  const out: SgrSequence[] = [];
  for (const m of text.matchAll(SGR)) {
    const body = m[1];
    // "ESC[m" is "ESC[0m"; an empty parameter between separators stays undefined and reads as 0.
    const params = (body === '' ? ['0'] : body.split(';')).map((p) => p.split(':').map((s) => (s === '' ? undefined : Number(s))));
    out.push({ index: m.index!, text: m[0], params });
  }
  return out;
}

const isBasicColour = (n: number): boolean => (n >= 30 && n <= 37) || (n >= 40 && n <= 47) || (n >= 90 && n <= 97) || (n >= 100 && n <= 107);
const isExtendedColour = (n: number): boolean => n === 38 || n === 48 || n === 58;

/** The colour parameters in one sequence (empty when it sets none). */
export function coloursIn(seq: SgrSequence): SgrColour[] {
  const out: SgrColour[] = [];
  const ps = seq.params;
  for (let i = 0; i < ps.length; i++) {
    const [n, ...sub] = ps[i];
    const v = n ?? 0;
    if (isBasicColour(v)) {
      out.push({ sequence: seq, parameter: String(v) });
      continue;
    }
    if (!isExtendedColour(v)) continue;
    if (sub.length > 0) {
      // Colon form: everything the colour needs is in this parameter's sub-parameters.
      out.push({ sequence: seq, parameter: ps[i].map((x) => x ?? '').join(':') });
      continue;
    }
    // Semicolon form: 5;N (palette) takes the next two parameters, 2;R;G;B the next four; whatever is
    // there is part of this colour, not a style of its own (38;5;1 is colour 1, not blink and bold).
    const mode = ps[i + 1]?.[0];
    const take = mode === 5 ? 2 : mode === 2 ? 4 : 0;
    const parts = ps.slice(i, i + 1 + take).map((p) => String(p[0] ?? ''));
    out.push({ sequence: seq, parameter: parts.join(';') });
    i += take;
  }
  return out;
}

/** Every colour parameter in `text`: empty exactly when the output asks for no colour at all. */
export function sgrColours(text: string): SgrColour[] {
  return sgrSequences(text).flatMap(coloursIn);
}

/** A short report of colour parameters found, for assertion messages (with the bytes around each). */
export function describeColours(text: string, found: SgrColour[], max = 5): string {
  return found
    .slice(0, max)
    .map((c) => `${JSON.stringify(c.parameter)} in ${JSON.stringify(c.sequence.text)} near ${JSON.stringify(text.slice(Math.max(0, c.sequence.index - 20), c.sequence.index + 30))}`)
    .join('; ');
}

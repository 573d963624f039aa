// Texts kept for long or compared often, as one flat string.
//
// A string built with + or a template is a chain of its pieces: several times its length in memory, and
// each comparison or hash walks (or first copies) the chain. A property name is always stored flat and
// once per distinct text (V8 internalizes it), so passing a text through an object key is the way to get
// a compact copy that equal texts share — after which "same text?" is usually a pointer test.
export function flat(text: string): string {
  const holder: Record<string, true> = {};
  holder[text] = true;
  for (const k in holder) return k;
  return text;
}

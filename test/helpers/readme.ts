// The README's examples as data: what test/e2e/readme-examples.test.ts runs.

export interface Example {
  section: string;
  command: string;
  /** A transcript's expected output line (```console blocks). */
  expect?: string;
}

/** Indented example blocks and ```console transcripts of README.md, in order, with their section. */
export function readmeExamples(text: string): Example[] {
  const out: Example[] = [];
  const lines = text.split('\n');
  let section = '';
  let fence: string | undefined;
  let prevBlank = true;
  let inBlock = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const f = /^```(\w*)/.exec(l);
    if (f) {
      fence = fence === undefined ? f[1] || 'text' : undefined;
      prevBlank = false;
      continue;
    }
    if (fence === 'console') {
      if (l.startsWith('$ ')) out.push({ section, command: l.slice(2), expect: lines[i + 1] });
      continue;
    }
    if (fence !== undefined) continue;
    if (/^#{2,3} /.test(l)) section = l.replace(/^#+ /, '');
    if (l.startsWith('    ') && (prevBlank || inBlock)) {
      inBlock = true;
      // Drop a trailing comment (" # …"), never a '#' inside a word or quotes.
      const command = l.trim().replace(/\s+#\s.*$/, '');
      const prev = out[out.length - 1];
      // A line continued with a backslash: one command.
      if (prev && !prev.expect && prev.command.endsWith('\\')) prev.command = `${prev.command.slice(0, -1).trimEnd()} ${command}`;
      else if (command) out.push({ section, command });
    } else if (l.trim() !== '') inBlock = false;
    prevBlank = l.trim() === '';
  }
  return out;
}

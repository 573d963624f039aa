// The structure, checked: every import between src/ folders goes down the layers (design.md: the domain
// imports no transport; adapters are thin; the CLI only wires). A new arrow upwards fails here, naming
// the file and the import.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

// Lowest first; a folder may import only folders before it in this list (and itself).
const LAYERS: string[][] = [
  ['vocabulary', 'util'],
  ['lab', 'k8s', 'routing'],
  ['capture'],
  ['path'],
  ['pcapng'],
  ['collector'],
  ['hub'],
  ['pods'],
  ['api'],
  ['metrics', 'relay'],
  ['session'],
  ['tui'],
  ['cli'],
];

const SRC = path.resolve(__dirname, '..', '..', '..', 'src');

function rank(folder: string): number {
  const i = LAYERS.findIndex((l) => l.includes(folder));
  assert.ok(i >= 0, `src/${folder} is in no layer: add it to LAYERS in test/unit/layers.test.ts`);
  return i;
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'generated' ? [] : sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

test('imports between src/ folders only go down the layers', () => {
  const wrong: string[] = [];
  let arrows = 0;
  for (const file of sources(SRC)) {
    const from = path.relative(SRC, file).split(path.sep)[0];
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^(?:import|export)\b[^;]*?from '([^']+)'/gms)) {
      if (!m[1].startsWith('.')) continue;
      const target = path.relative(SRC, path.resolve(path.dirname(file), m[1])).split(path.sep)[0];
      if (target === from) continue;
      arrows++;
      if (rank(target) > rank(from)) wrong.push(`${path.relative(SRC, file)} imports ${m[1]} (${from} is below ${target})`);
    }
  }
  assert.ok(arrows > 50, `the scan found the imports (${arrows})`);
  assert.deepEqual(wrong, []);
});

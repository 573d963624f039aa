// Self-contained words: every help text (each command and subcommand, run through the real CLI) and every
// document a user gets (README.md, docs/) speaks for itself — no reference to a "seed" or a "walkthrough"
// the user does not have — and the reasoning those words used to point at is told in docs/explain.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'bin', 'calitrace.js');
const FOREIGN = /\bseed\b|seed's|walkthrough/i;

function help(args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...args, '--help'], { encoding: 'utf8' });
  return r.stdout + r.stderr;
}

test('no help text refers to a seed or a walkthrough', () => {
  const commands = ['lab', 'trace', 'ui', 'demo', 'explain', 'serve', 'observe', 'status'];
  const subs = ['up', 'down', 'list', 'status', 'exec', 'pod', 'traffic'].map((s) => ['lab', s]);
  const texts: [string, string][] = [['calitrace', help([])], ...[...commands.map((c) => [c]), ...subs].map((a): [string, string] => [a.join(' '), help(a)])];
  for (const [name, text] of texts) {
    assert.ok(text.length > 200, `${name} --help says something`);
    assert.doesNotMatch(text, FOREIGN, `${name} --help`);
  }
  assert.match(help(['lab']), /docs\/explain\.md/, 'lab --help points to where the reasoning is told');
  assert.match(help(['explain']), /docs\/explain\.md/);
});

test('README and docs tell the reasoning in their own words', () => {
  const files = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join('docs', f))];
  for (const f of files) assert.doesNotMatch(readFileSync(path.join(ROOT, f), 'utf8'), FOREIGN, f);
  const explain = readFileSync(path.join(ROOT, 'docs', 'explain.md'), 'utf8');
  for (const topic of [/## The routes/, /## Which route wins, and why the \/32 does/, /## What the IPAM-block blackhole is for/, /## Where the packet comes from: the ingress/]) {
    assert.match(explain, topic);
  }
});

#!/usr/bin/env node
// The mutations issue 15 names in src/path/verdict.ts, each applied by hand to the compiled file: the unit
// tests must fail on every one. Stryker finds these among thousands; this checks them by name, in seconds.
// Run after a build (npm run test:unit builds): node scripts/mutation-named.js
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const js = path.join(root, 'dist/src/path/verdict.js');
const original = fs.readFileSync(js, 'utf8');
const mutations = [
  ['the FIB\'s not_fwded/fwd_disabled always agrees', /return pred\.decision !== 'unicast' && pred\.decision !== 'blackhole'[^;]*;/, 'return true;'],
  ['refusing decisions cut to blackhole, martian, multicast_not_joined', /new Set\(\['blackhole', 'unreachable'[^\]]*\]\)/, "new Set(['blackhole', 'martian', 'multicast_not_joined'])"],
  ['TCP exemption from the MTU warning removed', /if \(!pred \|\| first\.proto === 6\)/, 'if (!pred)'],
  ['multipath (any next hop accepted) removed', /if \(i === 0 && pred\.nexthops\.length > 1[^\n]*\n\s*continue;/, ''],
];
const unitDir = path.join(root, 'dist/test/unit');
const tests = fs.readdirSync(unitDir).filter((f) => /^path-.*\.test\.js$/.test(f)).map((f) => path.join(unitDir, f));
let survived = 0;
try {
  for (const [name, pattern, replacement] of mutations) {
    if (!pattern.test(original)) throw new Error(`the code this mutation changes is gone (${name}): update scripts/mutation-named.js`);
    fs.writeFileSync(js, original.replace(pattern, replacement));
    const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', ...tests], { encoding: 'utf8' });
    const failing = r.stdout.split('\n').filter((l) => /^not ok /.test(l)).length;
    if (r.status === 0) survived++;
    process.stdout.write(`${r.status === 0 ? 'SURVIVED' : 'killed  '}  ${name}${failing ? ` (${failing} failing tests)` : ''}\n`);
  }
} finally {
  fs.writeFileSync(js, original);
}
process.exit(survived ? 1 : 0);

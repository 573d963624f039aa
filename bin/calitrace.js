#!/usr/bin/env node
// Entry point for `npx calitrace` and the package's bin: the compiled CLI lives in dist/.
'use strict';
const path = require('path');
const fs = require('fs');
const main = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!fs.existsSync(main)) {
  process.stderr.write('calitrace: not built yet. Run `npm run build` (or `bash scripts/setup.sh && npm run build`) in ' +
    path.join(__dirname, '..') + '\n');
  process.exit(2);
}
require(main).main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code ?? 0; },
  (err) => { process.stderr.write(`calitrace: ${err && err.message ? err.message : err}\n`); process.exitCode = 1; },
);

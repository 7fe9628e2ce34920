#!/usr/bin/env node
// `npm run bench:<name>`: runs the compiled benchmark dist/tools/bench/<name>.bench.js.
const path = require('node:path');
const fs = require('node:fs');
const name = process.argv[2];
const entry = path.join(__dirname, '..', 'dist', 'tools', 'bench', `${name}.bench.js`);
if (!name || !fs.existsSync(entry)) {
  process.stderr.write(`bench: no compiled benchmark ${entry}; run "npm run build" first\n`);
  process.exit(1);
}
require(entry);

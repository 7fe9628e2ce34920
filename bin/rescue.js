#!/usr/bin/env node
// The `rescue` command: runs the compiled CLI (built by `npm run build`, which `npm ci` runs via `prepare`).
const path = require('node:path');
const fs = require('node:fs');
const entry = path.join(__dirname, '..', 'dist', 'apps', 'cli', 'src', 'main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write(`rescue: ${entry} is missing; run "npm run build" in ${path.join(__dirname, '..')}\n`);
  process.exit(1);
}
require(entry);

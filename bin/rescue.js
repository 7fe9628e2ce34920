#!/usr/bin/env node
// The `rescue` command: runs the compiled CLI (built by `npm run build`, which `npm ci` runs via `prepare`).
const path = require('node:path');
const fs = require('node:fs');
const entry = path.join(__dirname, '..', 'dist', 'apps', 'cli', 'src', 'main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write(`rescue: ${entry} is missing; run "npm run build" in ${path.join(__dirname, '..')}\n`);
  process.exit(1);
}
// LanceDB's native code logs its own notices on stderr (a table about to be created, a
// deprecation), three or more per command, burying ours; its errors still show. LANCEDB_LOG set by
// the user (e.g. `warn`, `debug`) wins.
process.env.LANCEDB_LOG ??= 'error';
require(entry);

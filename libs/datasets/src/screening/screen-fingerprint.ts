import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

let memo: string | undefined;

/**
 * An identity of the screen's rules: a hash of the code of this folder (patterns, capabilities,
 * Unicode tables, how findings are put together), as this process runs it. Caches of findings are
 * keyed by it, so a change to any rule, even one nobody remembered to version, makes every cached
 * verdict stale instead of trusted. Comment-only edits invalidate too; that only costs a rescreen.
 */
export function screenRulesFingerprint(): string {
  if (memo) return memo;
  const h = createHash('sha256').update('rescue-screen\n');
  const files = readdirSync(__dirname)
    .filter((n) => /\.(?:ts|js)$/.test(n) && !/\.d\.ts$|\.spec\.|\.map$/.test(n))
    .sort();
  for (const name of files)
    h.update(`${name}\n`)
      .update(readFileSync(join(__dirname, name)))
      .update('\n');
  memo = h.digest('hex');
  return memo;
}

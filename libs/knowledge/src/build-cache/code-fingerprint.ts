import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

let memo: string | undefined;

function sourcesUnder(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...sourcesUnder(dir, rel));
    else if (/\.(?:ts|js)$/.test(entry.name) && !/\.d\.ts$|\.spec\./.test(entry.name)) out.push(rel);
  }
  return out.sort();
}

/**
 * An identity of the code that distils a cluster (this library: assembly, the extractive summarizer,
 * the LLM distiller, the distillation screen), as this process runs it: a hash of the library's
 * source files. A cached summary is keyed by it, so any change to how a cluster is summarized
 * makes the old summaries stale instead of trusted, without anyone having to bump a version.
 */
export function knowledgeCodeFingerprint(): string {
  if (memo) return memo;
  // This file sits in <lib>/src/build-cache: the library's sources are the folder above.
  const root = join(__dirname, '..');
  const h = createHash('sha256').update('rescue-knowledge-code\n');
  for (const rel of sourcesUnder(root))
    h.update(`${rel}\n`)
      .update(readFileSync(join(root, rel)))
      .update('\n');
  memo = h.digest('hex');
  return memo;
}

import { join } from 'node:path';
import { type ScreenFinding, SCREEN_REASONS, screenRulesFingerprint } from '@rescue/datasets';
import { KeyedCache, contentKey } from './keyed-cache';

/**
 * Screen verdicts remembered by content: what a screen found in the texts of one item. A finding
 * depends on those texts and on the screen's rules alone (not on trust or releases, which the
 * caller applies afterwards), so a record read again in the next build is not screened again.
 */
export interface ScreenMemo {
  /** The findings for `texts` (every text the screen reads, in a fixed order) of an item of `kind`, computed when not remembered. */
  findings(kind: string, texts: readonly (string | undefined)[], compute: () => ScreenFinding[]): ScreenFinding[];
  /** Saves what this process used (see {@link KeyedCache.flush}). */
  flush(): Promise<void>;
}

const reasons = new Set<string>(SCREEN_REASONS);

function isFindings(v: unknown): v is ScreenFinding[] {
  return (
    Array.isArray(v) &&
    v.every(
      (f) =>
        typeof f === 'object' &&
        f !== null &&
        reasons.has((f as ScreenFinding).reason) &&
        typeof (f as ScreenFinding).field === 'string' &&
        typeof (f as ScreenFinding).rule === 'string' &&
        typeof (f as ScreenFinding).detail === 'string',
    )
  );
}

/** Where a KB folder keeps its build caches. */
export const buildCacheDir = (kbDir: string): string => join(kbDir, 'cache');

/**
 * The screen memo of a KB folder, for the screen's current rules (another rule set starts empty).
 * One file per stage that saves it (`ingest`: records and sources; `index`: the CWE nodes'
 * distilled text), so workers of different stages never drop each other's verdicts.
 */
export async function openScreenMemo(kbDir: string, stage: 'ingest' | 'index' = 'ingest'): Promise<ScreenMemo & { stats: KeyedCache<ScreenFinding[]>['stats'] }> {
  const cache = await KeyedCache.open(join(buildCacheDir(kbDir), stage === 'ingest' ? 'screen-findings.jsonl' : `screen-findings-${stage}.jsonl`), screenRulesFingerprint(), isFindings);
  return {
    stats: cache.stats,
    findings: (kind, texts, compute) => cache.get(contentKey([kind, ...texts.map((t) => t ?? null)]), compute),
    flush: () => cache.flush(),
  };
}

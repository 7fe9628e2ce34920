import { join } from 'node:path';
import type { CweId } from '@rescue/domain';
import type { Advice, ExtractiveSummary } from '../extractive-summarizer';
import { knowledgeCodeFingerprint } from './code-fingerprint';
import { KeyedCache, type KeyedCacheStats, contentKey } from './keyed-cache';
import { buildCacheDir } from './screen-memo';

/**
 * The extractive summary of each CWE's language-neutral node that no cluster stands for (about 940
 * catalogue CWEs), remembered between builds into a KB folder. Such a summary is a function of its
 * catalogue entry, of which of the catalogue's sentences are boilerplate (decided over the whole
 * catalogue), of the CWE's advice and of whether the catalogue may be quoted: the key holds the
 * screened catalogue's digest, the CWE, the advice and that choice, and the file's version is this
 * library's code. Summarizing them all again was about a tenth of a +1% rebuild's index stage,
 * though nothing they read had changed. The screen still judges each summary (through its own memo).
 */
export interface CweSummaryMemo {
  summary(cwe: CweId, advice: readonly Advice[], compute: () => ExtractiveSummary): ExtractiveSummary;
  flush(): Promise<void>;
  stats: KeyedCacheStats;
}

const SOURCES = new Set(['catalog', 'codeql', 'descriptions']);

function isSummary(v: unknown): v is ExtractiveSummary {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as ExtractiveSummary;
  return Array.isArray(s.guidelines) && s.guidelines.every((g) => typeof g === 'string') && typeof s.cause === 'string' && Array.isArray(s.sources) && s.sources.every((x) => SOURCES.has(x));
}

/** The KB folder's memo, for summaries made from the catalogue whose digest is `catalogDigest`, quoted or not. */
export async function openCweSummaryMemo(kbDir: string, catalogDigest: string, quoteCatalog: boolean): Promise<CweSummaryMemo> {
  const cache = await KeyedCache.open(join(buildCacheDir(kbDir), 'cwe-summaries.jsonl'), knowledgeCodeFingerprint(), isSummary);
  return {
    stats: cache.stats,
    summary: (cwe, advice, compute) => cache.get(contentKey(['cwe-summary', catalogDigest, quoteCatalog, cwe, advice]), compute),
    flush: () => cache.flush(),
  };
}

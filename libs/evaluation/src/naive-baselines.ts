import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as lancedb from '@lancedb/lancedb';
import { lanceDb } from '@rescue/retrieval';

/** One raw fix record (or vulnerable example) as the naive baseline indexes it. */
export interface BaselineRecord {
  id: string;
  cwe: string;
  language: string;
  /** Both versions, description and commit message, as they are. */
  text: string;
}

/** One catalogue entry as the naive baseline indexes it: all its text. */
export interface BaselineEntry {
  cwe: string;
  text: string;
}

/** The naive systems Rescue is measured against (issue: "the three naive baselines"), each over the KB's own sources. */
export const NAIVE_BASELINES = ['naive-records', 'naive-records-any', 'naive-catalog', 'naive-rrf', 'naive-rrf-any'] as const;
export type NaiveBaseline = (typeof NAIVE_BASELINES)[number];

/** RRF of several rankings (k = 60), each id once, best first. */
export function reciprocalRankFusion(lists: string[][], k = 60): string[] {
  const score = new Map<string, number>();
  for (const list of lists) list.forEach((id, i) => score.set(id, (score.get(id) ?? 0) + 1 / (k + i + 1)));
  return [...score.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([id]) => id);
}

/**
 * The "conventional RAG" Rescue must beat, over the same sources its KB was built from, with an
 * off-the-shelf analyzer (LanceDB's default full-text tokenizer) and the task text as the query:
 * - `naive-records`: BM25 over the raw fix records in the task's language (all languages when it
 *   has none), CWEs ranked by their best record;
 * - `naive-records-any`: the same over every language;
 * - `naive-catalog`: BM25 over the catalogue entries' whole text;
 * - `naive-rrf` / `naive-rrf-any`: reciprocal rank fusion of the record and catalogue rankings.
 * Both record variants are reported so that "the best naive baseline" of a set is the stronger one.
 */
export class NaiveBaselines {
  private constructor(
    private readonly records: lancedb.Table,
    private readonly catalog: lancedb.Table | undefined,
    private readonly languages: Set<string>,
    private readonly dir: string,
  ) {}

  static async build(records: BaselineRecord[], catalog: BaselineEntry[]): Promise<NaiveBaselines> {
    const dir = mkdtempSync(join(tmpdir(), 'rescue-naive-'));
    try {
      const lance = lanceDb();
      const db = await lance.connect(dir);
      const table = await db.createTable(
        'records',
        records.map((r) => ({ id: r.id, cwe: r.cwe, language: r.language, text: r.text || ' ' })),
        { mode: 'overwrite' },
      );
      await table.createIndex('text', { config: lance.Index.fts() });
      let cat: lancedb.Table | undefined;
      if (catalog.length > 0) {
        cat = await db.createTable(
          'catalog',
          catalog.map((e) => ({ cwe: e.cwe, text: e.text || ' ' })),
          { mode: 'overwrite' },
        );
        await cat.createIndex('text', { config: lance.Index.fts() });
      }
      return new NaiveBaselines(table, cat, new Set(records.map((r) => r.language)), dir);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** CWE ids, best first (at most `k`), of one baseline for one task. */
  async rank(baseline: NaiveBaseline, task: { prompt: string; language: string }, k = 10): Promise<string[]> {
    const q = task.prompt.replace(/[^\p{L}\p{N}_\s]/gu, ' ').trim();
    if (!q) return [];
    const records = async (anyLanguage: boolean): Promise<string[]> => {
      let builder = this.records.query().fullTextSearch(q, { columns: 'text' }).select(['cwe']).limit(200);
      if (!anyLanguage && this.languages.has(task.language)) builder = builder.where(`language = '${task.language.replace(/'/g, "''")}'`);
      return [...new Set(((await builder.toArray()) as { cwe: string }[]).map((r) => r.cwe))];
    };
    const catalog = async (): Promise<string[]> =>
      this.catalog ? ((await this.catalog.query().fullTextSearch(q, { columns: 'text' }).select(['cwe']).limit(50).toArray()) as { cwe: string }[]).map((r) => r.cwe) : [];
    switch (baseline) {
      case 'naive-records':
        return (await records(false)).slice(0, k);
      case 'naive-records-any':
        return (await records(true)).slice(0, k);
      case 'naive-catalog':
        return (await catalog()).slice(0, k);
      case 'naive-rrf':
        return reciprocalRankFusion([(await records(false)).slice(0, 50), await catalog()]).slice(0, k);
      case 'naive-rrf-any':
        return reciprocalRankFusion([(await records(true)).slice(0, 50), await catalog()]).slice(0, k);
    }
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

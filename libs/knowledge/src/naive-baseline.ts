import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import type { FixRecord } from '@rescue/domain';

/**
 * The "conventional RAG" the paper improves on: BM25 over the raw fix records (both versions,
 * description, commit message), the task text as the query; CWEs ranked by their best record.
 */
export class NaiveRecordSearch {
  private constructor(private readonly table: lancedb.Table, private readonly dir: string) {}

  static async build(records: FixRecord[]): Promise<NaiveRecordSearch> {
    const dir = mkdtempSync(join(tmpdir(), 'rescue-naive-'));
    const db = await lancedb.connect(dir);
    const rows = records.map((r) => ({ id: r.id, cwe: r.cwe, language: r.language, text: [r.before, r.after, r.description ?? '', r.commitMessage ?? ''].join('\n') }));
    const table = await db.createTable('records', rows, { mode: 'overwrite' });
    await table.createIndex('text', { config: lancedb.Index.fts() });
    return new NaiveRecordSearch(table, dir);
  }

  /** CWE ids, best first, from the top `k` records matching the task. */
  async rankCwes(task: string, language: string | undefined, k = 50): Promise<string[]> {
    const q = task.replace(/[^\p{L}\p{N}_\s]/gu, ' ').trim();
    if (!q) return [];
    let builder = this.table.query().fullTextSearch(q, { columns: 'text' }).select(['cwe']).limit(k);
    if (language) builder = builder.where(`language = '${language.replace(/'/g, "''")}'`);
    const rows = (await builder.toArray()) as { cwe: string }[];
    return [...new Set(rows.map((r) => r.cwe))];
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

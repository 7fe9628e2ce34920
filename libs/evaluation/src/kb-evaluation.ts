import { join } from 'node:path';
import { type CodingTask, type CweEntry, FsRecordStore } from '@rescue/datasets';
import type { CweId } from '@rescue/domain';
import { type OpenedKb, catalogText, isDatasetExample } from '@rescue/knowledge';
import type { RetrievalQuery } from '@rescue/retrieval';
import type { EvaluationSet } from './evaluation-sets';
import { isNegativeSet } from './evaluation-sets';
import type { BaselineEntry, BaselineRecord } from './naive-baselines';
import type { TaskAnalysis } from './ranker-fitting';

/** CWEs with fix pairs from fix-pair datasets in the KB (the "seen" side of the seen/unseen split). */
export function seenCwes(kb: OpenedKb): Set<string> {
  return new Set([...kb.examples.values()].filter((e) => e.kind !== 'vulnerable' && isDatasetExample(e)).map((e) => e.cwe));
}

/**
 * The naive baselines' corpus: the raw fix records behind the KB's examples (read back from the
 * KB folder's record store: both whole versions, description, commit message), the vulnerable-only
 * examples' code, and the catalogue's entries with all their text.
 */
export async function baselineCorpus(kb: OpenedKb, kbDir: string, catalog: Map<CweId, CweEntry>): Promise<{ records: BaselineRecord[]; entries: BaselineEntry[] }> {
  const store = new FsRecordStore(join(kbDir, 'records'));
  const records: BaselineRecord[] = [];
  for (const e of kb.examples.values()) {
    if (e.kind === 'vulnerable') {
      records.push({ id: e.id, cwe: e.cwe, language: e.language, text: [e.slicedVulnerable, e.description ?? ''].join('\n') });
      continue;
    }
    const r = await store.get(e.recordId);
    if (r) records.push({ id: r.id, cwe: r.cwe, language: r.language, text: [r.before, r.after, r.description ?? '', r.commitMessage ?? ''].join('\n') });
  }
  await store.close();
  return { records, entries: [...catalog.values()].map((entry) => ({ cwe: entry.id, text: catalogText(entry) })) };
}

/** The CWE level of every task, for fitting and leave-one-set-out evaluation. A task whose query fails (`undefined`) is left out. */
export async function analyseTasks(
  kb: OpenedKb,
  sets: EvaluationSet[],
  queryFor: (task: CodingTask) => Promise<RetrievalQuery | undefined>,
  onTask?: (done: number, total: number) => void,
): Promise<TaskAnalysis[]> {
  const seen = seenCwes(kb);
  const total = sets.reduce((n, s) => n + s.tasks.length, 0);
  const out: TaskAnalysis[] = [];
  let done = 0;
  for (const set of sets) {
    const negative = isNegativeSet(set);
    for (const task of set.tasks) {
      const query = await queryFor(task);
      onTask?.((done += 1), total);
      if (!query) continue;
      const a = await kb.retriever.analyse(query);
      const gold = task.goldCwes ?? [];
      out.push({ set: set.name, negative, gold, seen: gold.some((g) => seen.has(g)), candidates: a.candidates, terms: a.terms });
    }
  }
  return out;
}

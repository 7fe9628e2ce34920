import { type FormatChoice, type IngestRunResult, type RecordStore, runIngest } from '@rescue/datasets';
import type { FixRecord } from '@rescue/domain';
import type { BuildKnowledge } from '../build-knowledge';

export interface IngestStageInput {
  /** Fix-pair files and folders (CodeQL checkouts are read as the build's knowledge, not here). */
  sources: string[];
  format: FormatChoice;
  maxLineBytes: number;
  rejectsPath: string;
  /** When given (queue jobs), each file must still have the content hash it had at enqueue time. */
  expectedSha256?: Record<string, string>;
}

export interface IngestStageDeps {
  records: RecordStore;
  /** Given when the ingest starts a KB build: its fix pairs beyond the sources join the store. */
  knowledge?: BuildKnowledge;
}

export interface IngestStageResult extends IngestRunResult {
  /** The build's records, each once (empty when the ingest starts no build). */
  records: FixRecord[];
}

/**
 * The ingest stage: the sources' fix pairs into the record store, bad lines to the rejects file.
 * For a build, the fix pairs of its other knowledge (CodeQL's and the catalogue's examples) join
 * the store too, by content id, so a pair already read from a dataset is kept once.
 */
export async function ingestStage(input: IngestStageInput, deps: IngestStageDeps): Promise<IngestStageResult> {
  const records: FixRecord[] = [];
  const building = deps.knowledge !== undefined;
  const result = await runIngest({ ...input, store: deps.records }, { onRecord: (r) => building && records.push(r) });
  if (!deps.knowledge) return { ...result, records };
  const known = new Set(records.map((r) => r.id));
  const fresh = deps.knowledge.extra.records.filter((r) => !known.has(r.id) && known.add(r.id));
  await deps.records.putMany(fresh);
  records.push(...fresh);
  return { ...result, records };
}

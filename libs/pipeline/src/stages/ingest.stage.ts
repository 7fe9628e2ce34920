import { type FormatChoice, type IngestRunResult, type RecordStore, runIngest } from '@rescue/datasets';
import type { FixRecord } from '@rescue/domain';
import { type QuarantineEntry, type QuarantineStore, type QuarantineSummary, screenRecords, summarizeQuarantine, withTrust } from '@rescue/knowledge';
import type { BuildKnowledge } from '../build-knowledge';

export interface IngestStageInput {
  /** Fix-pair files and folders (CodeQL checkouts are read as the build's knowledge, not here). */
  sources: string[];
  format: FormatChoice;
  maxLineBytes: number;
  rejectsPath: string;
  /** When given (queue jobs), each file must still have the content hash it had at enqueue time. */
  expectedSha256?: Record<string, string>;
  /** Where unchanged source files are remembered, so a rebuild into the same store skips them (runIngest). */
  manifestPath?: string;
}

export interface IngestStageDeps {
  records: RecordStore;
  /** Given when the ingest starts a KB build: its fix pairs beyond the sources join the store. */
  knowledge?: BuildKnowledge;
  /** Where a build's quarantine report goes (the KB folder's), and the build it describes. */
  quarantine?: { store: QuarantineStore; buildId: string };
}

/** What planning a build needs of a record: its id and what its cluster key is made of. */
export type PlannedRecord = Pick<FixRecord, 'id' | 'cwe' | 'language'>;

export interface IngestStageResult extends IngestRunResult {
  /**
   * The build's records that passed the screen (or were released), each once, in the order they
   * were read (empty when the ingest starts no build). Only what planning reads: the records
   * themselves are in the store, and a 100× build cannot hold them all in memory.
   */
  records: PlannedRecord[];
  /** What the screen held back (only when the ingest starts a build). */
  quarantine?: QuarantineSummary;
}

/**
 * The ingest stage: the sources' fix pairs into the record store, bad lines to the rejects file.
 * For a build, the fix pairs of its other knowledge (CodeQL's and the catalogue's examples) join
 * the store too, by content id, so a pair already read from a dataset is kept once; then every
 * record goes through the screen, and only those that pass (or that an operator released) are
 * planned. Held-back records stay in the store and are listed in the KB folder's quarantine
 * report with their file, line and reasons, beside what the build's knowledge held back.
 *
 * Records are screened as they are read, one at a time, and only their planning fields are kept,
 * so memory does not grow with the records' code. The screen looks at each record alone, so the
 * verdicts, the admitted records and the report's entries (in reading order) are those of
 * screening the whole list at once.
 */
export async function ingestStage(input: IngestStageInput, deps: IngestStageDeps): Promise<IngestStageResult> {
  const knowledge = deps.knowledge;
  if (!knowledge) return { ...(await runIngest({ ...input, store: deps.records })), records: [] };
  const policy = knowledge.screen;
  const admitted: PlannedRecord[] = [];
  const screenEntries: QuarantineEntry[] = [];
  const known = new Set<string>();
  const screen = (r: FixRecord): void => {
    known.add(r.id);
    const screened = screenRecords([withTrust(r, policy.trust, policy.codeqlRoots)], policy);
    screenEntries.push(...screened.entries);
    for (const a of screened.admitted) admitted.push({ id: a.id, cwe: a.cwe, language: a.language });
  };
  const result = await runIngest({ ...input, store: deps.records }, { onRecord: screen });
  const fresh = knowledge.extra.records.filter((r) => !known.has(r.id) && known.add(r.id));
  await deps.records.putMany(fresh);
  for (const r of fresh) screen(r);
  // The verdicts go back to the KB folder's memo: the next build screens only what is new.
  await policy.memo?.flush();
  const entries = [...screenEntries, ...knowledge.quarantined];
  let path: string | undefined;
  if (deps.quarantine) {
    await deps.quarantine.store.writeReport({ buildId: deps.quarantine.buildId, createdAt: new Date().toISOString(), entries });
    path = deps.quarantine.store.reportPath;
  }
  return { ...result, records: admitted, quarantine: summarizeQuarantine(entries, path) };
}

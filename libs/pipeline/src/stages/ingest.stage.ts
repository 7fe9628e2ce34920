import { type FormatChoice, type IngestRunResult, type RecordStore, runIngest } from '@rescue/datasets';
import type { FixRecord } from '@rescue/domain';
import { type QuarantineStore, type QuarantineSummary, screenRecords, summarizeQuarantine, withTrust } from '@rescue/knowledge';
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

export interface IngestStageResult extends IngestRunResult {
  /** The build's records that passed the screen (or were released), each once, with their source's trust (empty when the ingest starts no build). */
  records: FixRecord[];
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
  const policy = deps.knowledge.screen;
  const screened = screenRecords(
    records.map((r) => withTrust(r, policy.trust, policy.codeqlRoots)),
    policy,
  );
  // The verdicts go back to the KB folder's memo: the next build screens only what is new.
  await policy.memo?.flush();
  const entries = [...screened.entries, ...deps.knowledge.quarantined];
  let path: string | undefined;
  if (deps.quarantine) {
    await deps.quarantine.store.writeReport({ buildId: deps.quarantine.buildId, createdAt: new Date().toISOString(), entries });
    path = deps.quarantine.store.reportPath;
  }
  return { ...result, records: screened.admitted, quarantine: summarizeQuarantine(entries, path) };
}

import type { JobName, JobPayload } from '@rescue/contracts';
import type { RecordStore } from '@rescue/datasets';
import { type FixRecord, InvalidInputError, NotFoundError } from '@rescue/domain';
import { type ClusterDistiller, type QuarantineEntry, adviceFor, countLlmCalls, summarizeCluster, withTrust } from '@rescue/knowledge';
import { type SliceDocument, sliceId } from '@rescue/slicing';
import type { BuildKnowledge } from '../build-knowledge';
import type { BuildStaging } from '../build-staging';

export interface SummarizeStageDeps {
  records: RecordStore;
  slices: RecordStore<SliceDocument>;
  staging: BuildStaging;
  knowledge: BuildKnowledge;
  distiller: ClusterDistiller;
}

/** What a summarize job returns (small: the cluster itself goes to the staging). */
export interface SummarizeJobResult {
  clusterKey: string;
  examples: number;
  llmCalls: number;
  llmCached: number;
  /** Guidelines and causes the distillation screen held back (few; the index stage adds them to the quarantine report). */
  withheld?: QuarantineEntry[];
}

/**
 * The summarize stage: one cluster's records and slices distilled into its CWE node and examples,
 * staged for the index stage under the build id.
 */
export async function summarizeStage(payload: JobPayload<JobName.ClusterSummarize>, deps: SummarizeStageDeps): Promise<SummarizeJobResult> {
  if (!payload.build || !payload.recordIds) throw new InvalidInputError(`summarize job for ${payload.clusterKey} carries no build spec or record ids`);
  const records: FixRecord[] = [];
  const missing: string[] = [];
  for (const id of [...payload.recordIds].sort()) {
    const r = await deps.records.get(id);
    // Trust is the build's verdict on the record's source, not a property stored with the record.
    if (r) records.push(withTrust(r, deps.knowledge.screen.trust, deps.knowledge.screen.codeqlRoots));
    else missing.push(id);
  }
  if (missing.length > 0) throw new NotFoundError(`${missing.length} record(s) of ${payload.clusterKey} are not in the record store: ${missing.slice(0, 3).join(', ')}`);
  const slices = new Map<string, SliceDocument>();
  for (const r of records) {
    const s = await deps.slices.get(sliceId(r.id, payload.build.hops));
    if (s) slices.set(r.id, s);
  }
  const { catalog, documents, isGeneric, screen, catalogTrust } = deps.knowledge;
  const cwe = records[0].cwe;
  const { clusterBy } = payload.build;
  // Counted for this cluster alone: other clusters may be distilled at the same time with the same client.
  const counted = await countLlmCalls(() =>
    summarizeCluster(payload.clusterKey, records, slices, catalog.get(cwe), clusterBy, deps.distiller, {
      advice: adviceFor(cwe, documents),
      isGeneric,
      screen,
      quoteCatalog: catalogTrust === 'trusted',
    }),
  );
  const { withheld, ...result } = counted.value;
  await deps.staging.put(payload.buildId, result);
  return {
    clusterKey: payload.clusterKey,
    examples: result.examples.length,
    llmCalls: counted.calls,
    llmCached: counted.cached,
    ...(withheld.length > 0 ? { withheld } : {}),
  };
}

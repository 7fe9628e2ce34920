import type { JobName, JobPayload } from '@rescue/contracts';
import { type CweEntry, type RecordStore, readCweCatalog } from '@rescue/datasets';
import { type CweId, type FixRecord, InvalidInputError } from '@rescue/domain';
import { type SliceDocument, sliceId } from '@rescue/slicing';
import { type ClusterDistiller, catalogOnlyNodes, summarizeCluster } from './kb-assembly';
import { type BuildEmbedder, publishKnowledgeBase } from './kb-build';
import type { KbManifest } from './kb-directory';
import type { BuildStaging } from './build-staging';

// The queue runner's summarize and index stages: the same functions the inline runner calls, fed
// from the stores instead of memory, so both runners publish the same KB for the same input.

const catalogs = new Map<string, Promise<Map<CweId, CweEntry>>>();

/** The catalogue at a path, read once per process. */
export function catalogAt(path: string | undefined): Promise<Map<CweId, CweEntry>> {
  if (!path) return Promise.resolve(new Map());
  let c = catalogs.get(path);
  if (!c) {
    c = readCweCatalog(path);
    catalogs.set(path, c);
    c.catch(() => catalogs.delete(path));
  }
  return c;
}

export interface SummarizeJobResult {
  clusterKey: string;
  examples: number;
  llmCalls: number;
  llmCached: number;
}

export async function runSummarizeJob(
  payload: JobPayload<JobName.ClusterSummarize>,
  deps: { records: RecordStore; slices: RecordStore<SliceDocument>; staging: BuildStaging; distiller: ClusterDistiller; llmStats?: () => { requests: number; cacheHits: number } },
): Promise<SummarizeJobResult> {
  if (!payload.build || !payload.recordIds) throw new InvalidInputError(`summarize job for ${payload.clusterKey} carries no build spec or record ids`);
  const records: FixRecord[] = [];
  const missing: string[] = [];
  for (const id of [...payload.recordIds].sort()) {
    const r = await deps.records.get(id);
    if (r) records.push(r);
    else missing.push(id);
  }
  if (missing.length > 0) throw new InvalidInputError(`${missing.length} record(s) of ${payload.clusterKey} are not in the record store: ${missing.slice(0, 3).join(', ')}`);
  const slices = new Map<string, SliceDocument>();
  for (const r of records) {
    const s = await deps.slices.get(sliceId(r.id, payload.build.hops));
    if (s) slices.set(r.id, s);
  }
  const catalog = await catalogAt(payload.build.catalogPath);
  const before = deps.llmStats?.() ?? { requests: 0, cacheHits: 0 };
  const result = await summarizeCluster(payload.clusterKey, records, slices, catalog.get(records[0].cwe), payload.build.clusterBy, deps.distiller);
  const after = deps.llmStats?.() ?? before;
  await deps.staging.put(payload.buildId, result);
  return { clusterKey: payload.clusterKey, examples: result.examples.length, llmCalls: after.requests - before.requests, llmCached: after.cacheHits - before.cacheHits };
}

export async function runIndexJob(
  payload: JobPayload<JobName.KbIndex>,
  deps: { staging: BuildStaging; embedder: (corpus: string[]) => Promise<BuildEmbedder>; distillationMode: 'llm' | 'extractive' },
  children: SummarizeJobResult[],
): Promise<KbManifest> {
  const build = payload.build;
  if (!build) throw new InvalidInputError(`index job ${payload.buildId} carries no build spec`);
  const clusters = await deps.staging.all(payload.buildId);
  if (clusters.length !== children.length) {
    throw new InvalidInputError(`build ${payload.buildId}: ${children.length} clusters summarized but ${clusters.length} staged`);
  }
  const nodes = clusters.map((c) => c.node);
  const examples = clusters.flatMap((c) => c.examples);
  if (build.catalogOnlyNodes) nodes.push(...catalogOnlyNodes(await catalogAt(build.catalogPath), new Set(nodes.map((n) => n.cwe))));
  const manifest = await publishKnowledgeBase({
    kbDir: build.kbDir,
    nodes,
    examples,
    records: examples.length,
    clusterBy: build.clusterBy,
    hops: build.hops,
    distillationMode: deps.distillationMode,
    llmCalls: children.reduce((n, c) => n + c.llmCalls, 0),
    llmCallsCached: children.reduce((n, c) => n + c.llmCached, 0),
    embedder: deps.embedder,
  });
  await deps.staging.clear(payload.buildId);
  return manifest;
}

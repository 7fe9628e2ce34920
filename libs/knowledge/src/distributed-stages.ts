import type { JobName, JobPayload } from '@rescue/contracts';
import { type CweEntry, type RecordStore, readCweCatalog } from '@rescue/datasets';
import { type CweId, type FixRecord, InvalidInputError, NotFoundError } from '@rescue/domain';
import { type SliceDocument, sliceId } from '@rescue/slicing';
import { Slicer } from '@rescue/slicing';
import { type ClusterDistiller, adviceFor, completeKnowledge, summarizeCluster } from './kb-assembly';
import { genericMitigations } from './extractive-summarizer';
import { type ExtraKnowledge, extraKnowledgeAt, sourceDocuments } from './sources/knowledge-sources';
import { type BuildEmbedder, type PublishInput, publishKnowledgeBase } from './kb-build';
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

/** A build's knowledge beyond its fix-pair files (CodeQL roots, the catalogue's examples), read once per process. */
export async function extraKnowledgeOf(build: { codeqlRoots?: string[]; catalogPath?: string }): Promise<ExtraKnowledge> {
  return extraKnowledgeAt(build.codeqlRoots ?? [], await catalogAt(build.catalogPath), build.catalogPath, () => Slicer.create());
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
  if (missing.length > 0) throw new NotFoundError(`${missing.length} record(s) of ${payload.clusterKey} are not in the record store: ${missing.slice(0, 3).join(', ')}`);
  const slices = new Map<string, SliceDocument>();
  for (const r of records) {
    const s = await deps.slices.get(sliceId(r.id, payload.build.hops));
    if (s) slices.set(r.id, s);
  }
  const catalog = await catalogAt(payload.build.catalogPath);
  const documents = sourceDocuments(await extraKnowledgeOf(payload.build), catalog);
  const before = deps.llmStats?.() ?? { requests: 0, cacheHits: 0 };
  const cwe = records[0].cwe;
  const result = await summarizeCluster(payload.clusterKey, records, slices, catalog.get(cwe), payload.build.clusterBy, deps.distiller, { advice: adviceFor(cwe, documents), isGeneric: genericMitigations(catalog.values()) });
  const after = deps.llmStats?.() ?? before;
  await deps.staging.put(payload.buildId, result);
  return { clusterKey: payload.clusterKey, examples: result.examples.length, llmCalls: after.requests - before.requests, llmCached: after.cacheHits - before.cacheHits };
}

export async function runIndexJob(
  payload: JobPayload<JobName.KbIndex>,
  deps: { staging: BuildStaging; embedder: (corpus: string[]) => Promise<BuildEmbedder>; alsoPublish?: PublishInput['alsoPublish'] },
  children: SummarizeJobResult[],
): Promise<KbManifest> {
  const build = payload.build;
  if (!build) throw new InvalidInputError(`index job ${payload.buildId} carries no build spec`);
  const clusters = await deps.staging.all(payload.buildId);
  if (clusters.length !== children.length) {
    throw new InvalidInputError(`build ${payload.buildId}: ${children.length} clusters summarized but ${clusters.length} staged`);
  }
  const catalog = await catalogAt(build.catalogPath);
  const extra = await extraKnowledgeOf(build);
  const clusterExamples = clusters.flatMap((c) => c.examples);
  const { nodes, examples, documents } = completeKnowledge({
    clusterNodes: clusters.map((c) => c.node),
    clusterExamples,
    vulnerableOnly: extra.vulnerableOnly,
    sourceDocuments: sourceDocuments(extra, catalog),
    catalog,
    clusterBy: build.clusterBy,
    includeCatalog: build.catalogOnlyNodes,
  });
  const manifest = await publishKnowledgeBase({
    kbDir: build.kbDir,
    nodes,
    examples,
    documents,
    catalog,
    inputs: { sources: [], ...(build.catalogPath ? { catalog: build.catalogPath } : {}) },
    records: clusterExamples.length,
    clusterBy: build.clusterBy,
    hops: build.hops,
    alsoPublish: deps.alsoPublish,
    llmCalls: children.reduce((n, c) => n + c.llmCalls, 0),
    llmCallsCached: children.reduce((n, c) => n + c.llmCached, 0),
    embedder: deps.embedder,
  });
  await deps.staging.clear(payload.buildId);
  return manifest;
}

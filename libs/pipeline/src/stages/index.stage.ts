import type { JobName, JobPayload } from '@rescue/contracts';
import { InvalidInputError } from '@rescue/domain';
import {
  type EmbedderFactory,
  ClusterSummaryCache,
  type CodeExample,
  type CweNode,
  type ExampleSource,
  type KnowledgeDocument,
  type QuarantineEntry,
  completeKnowledgeStreamed,
  type KbManifest,
  type PublishInput,
  QuarantineStore,
  completeKnowledge,
  indexTermsFile,
  openCweSummaryMemo,
  openScreenMemo,
  openSearchTermsMemo,
  publishKnowledgeBase,
  retainClusterTerms,
} from '@rescue/knowledge';
import type { BuildKnowledge } from '../build-knowledge';
import type { BuildStaging } from '../build-staging';
import type { SummarizeJobResult } from './summarize.stage';

export interface IndexStageDeps {
  staging: BuildStaging;
  knowledge: BuildKnowledge;
  embedder: EmbedderFactory;
  alsoPublish?: PublishInput['alsoPublish'];
  keepVersions?: number;
  /** The source and catalogue paths the manifest records (the inline runner knows them). */
  inputs?: PublishInput['inputs'];
  /** Documents the embedder is fitted on, at most (publishKnowledgeBase's default when absent). */
  maxFitDocuments?: number;
  /** Examples above which the publish keeps their search terms in a file (publishKnowledgeBase's default when absent). */
  spillTextsAbove?: number;
}

/**
 * The index stage: every staged cluster of the build, completed into the KB's levels and
 * documents, indexed and published as one version; then the staging is cleared. `summarized` are
 * the results of the summarize jobs this job waited for, one per staged cluster.
 */
export async function indexStage(payload: JobPayload<JobName.KbIndex>, summarized: SummarizeJobResult[], deps: IndexStageDeps): Promise<KbManifest> {
  const build = payload.build;
  if (!build) throw new InvalidInputError(`index job ${payload.buildId} carries no build spec`);
  const keys = summarized.map((s) => s.clusterKey).sort();
  const staged = await deps.staging.count(payload.buildId);
  if (staged !== summarized.length) {
    throw new InvalidInputError(`build ${payload.buildId}: ${summarized.length} clusters summarized but ${staged} staged`);
  }
  const { catalog, extra, documents: sourceDocuments, screen, catalogTrust, isGeneric, catalogDigest } = deps.knowledge;
  // Search terms of the catalogue's text, CWE documents and nodes, remembered by text in the KB
  // folder: most of them are the same from one build to the next (this stage alone writes the memo).
  const terms = await openSearchTermsMemo(indexTermsFile(build.kbDir));
  // The distilled text of every CWE's language-neutral node is screened here: verdicts remembered
  // in this stage's own memo (the ingest stage saves the records').
  const screenMemo = await openScreenMemo(build.kbDir, 'index');
  const quoteCatalog = catalogTrust === 'trusted';
  // The summaries of the CWEs no cluster stands for, remembered for this catalogue: most builds
  // into a folder summarize the same ~940 catalogue CWEs the same way.
  const cweSummaries = await openCweSummaryMemo(build.kbDir, catalogDigest, quoteCatalog);
  const assembly = {
    vulnerableOnly: extra.vulnerableOnly,
    sourceDocuments,
    catalog,
    clusterBy: build.clusterBy,
    includeCatalog: build.catalogOnlyNodes,
    screen: { ...screen, memo: screenMemo },
    quoteCatalog,
    searchTerms: terms.terms,
    isGeneric,
    cweSummaries,
  };
  let completed: { nodes: CweNode[]; examples: CodeExample[] | ExampleSource; documents: KnowledgeDocument[]; withheld: QuarantineEntry[] };
  let records: number;
  if (deps.staging.outOfMemory(payload.buildId)) {
    // Staged in files or Redis (a big build): read cluster by cluster, pass after pass, so the
    // build's examples are never all in memory at once; the nodes are few and kept.
    const clusterNodes: CweNode[] = [];
    records = 0;
    for (const key of keys) {
      const head = await deps.staging.head(payload.buildId, key);
      if (!head) throw notStaged(payload.buildId, key);
      clusterNodes.push(head.node);
      records += head.examples;
    }
    completed = await completeKnowledgeStreamed({ ...assembly, clusterNodes, clusterExamples: stagedExamples(deps.staging, payload.buildId, keys, records) });
  } else {
    const clusters = await deps.staging.all(payload.buildId);
    const clusterExamples = clusters.flatMap((c) => c.examples);
    records = clusterExamples.length;
    completed = completeKnowledge({ ...assembly, clusterNodes: clusters.map((c) => c.node), clusterExamples });
  }
  const { nodes, examples, documents, withheld } = completed;
  // The distillation screen's findings join the ingest screen's in the KB folder's report, before
  // the version is published: a build never serves text whose withholding it did not report.
  await new QuarantineStore(build.kbDir).addToReport(payload.buildId, [...summarized.flatMap((s) => s.withheld ?? []), ...withheld]);
  const manifest = await publishKnowledgeBase({
    kbDir: build.kbDir,
    nodes,
    examples,
    documents,
    catalog,
    inputs: deps.inputs ?? { sources: [], ...(build.catalogPath ? { catalog: build.catalogPath } : {}) },
    records,
    clusterBy: build.clusterBy,
    hops: build.hops,
    alsoPublish: deps.alsoPublish,
    llmCalls: summarized.reduce((n, c) => n + c.llmCalls, 0),
    llmCallsCached: summarized.reduce((n, c) => n + c.llmCached, 0),
    embedder: deps.embedder,
    keepVersions: deps.keepVersions,
    searchTerms: terms.terms,
    ...(deps.maxFitDocuments ? { maxFitDocuments: deps.maxFitDocuments } : {}),
    ...(deps.spillTextsAbove !== undefined ? { spillTextsAbove: deps.spillTextsAbove } : {}),
  });
  await Promise.all([terms.flush(), screenMemo.flush(), cweSummaries.flush()]);
  await deps.staging.clear(payload.buildId);
  // Cached cluster summaries this build did not use are for clusters that changed or went: dropped,
  // so the cache holds one build's worth (every cluster of the build passes through here).
  const used = new Set(summarized.flatMap((s) => (s.cacheKey ? [s.cacheKey] : [])));
  if (used.size > 0) await ClusterSummaryCache.of(build.kbDir).retainOnly(used);
  await retainClusterTerms(
    build.kbDir,
    summarized.map((s) => s.clusterKey),
  );
  return manifest;
}

const notStaged = (buildId: string, key: string): InvalidInputError => new InvalidInputError(`build ${buildId}: cluster ${key} was summarized but is not staged`);

/**
 * The clusters' examples in the KB's order (by node, then id: see completeKnowledge), read from
 * the staging again on every pass: clusters by key, which is their node's id and every one of
 * their examples' node id, each cluster's examples by id, a batch at a time (the staging keeps
 * them by id), so a pass holds one batch, not the biggest cluster.
 */
function stagedExamples(staging: BuildStaging, buildId: string, keys: string[], count: number): ExampleSource {
  return {
    count,
    async *batches() {
      for (const key of keys) {
        let found = false;
        for await (const examples of staging.examples(buildId, key)) {
          found = true;
          const stray = examples.find((e) => e.cweNodeId !== key);
          if (stray) throw new InvalidInputError(`build ${buildId}: staged cluster ${key} holds example ${stray.id} of node ${stray.cweNodeId}`);
          yield examples;
        }
        if (!found && !(await staging.head(buildId, key))) throw notStaged(buildId, key);
      }
    },
  };
}

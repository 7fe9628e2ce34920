import { join, resolve } from 'node:path';
import pMap from 'p-map';
import { JobName, type JobPayload, type KbBuildSpecValue } from '@rescue/contracts';
import { type CweEntry, FsRecordStore, type IngestReport, type TrustSettings } from '@rescue/datasets';
import type { CweId } from '@rescue/domain';
import {
  type EmbedderFactory,
  type ClusterBy,
  type ClusterDistiller,
  type KbManifest,
  type KnowledgeProblem,
  type PublishInput,
  type QuarantineSummary,
  QuarantineStore,
  extractiveDistiller,
  openScreenMemo,
  readExtraKnowledge,
  splitSources,
  summarizeQuarantine,
} from '@rescue/knowledge';
import { type RecordSlicer, type SliceDocument, Slicer, SlicerPool, sliceId } from '@rescue/slicing';
import { knowledgeFrom, screenPolicyOf } from './build-knowledge';
import { FsBuildStaging, SpillingBuildStaging } from './build-staging';
import { KB_BUILD_ROOT, type KbBuildJob, type PlannedJob, jobsByStage, kbBuildStages, planJobs, planKbBuild } from './kb-build-plan';
import { LEAN_HEAP_ABOVE_RECORDS, growHeapLeanly } from './lean-heap';
import { ingestStage } from './stages/ingest.stage';
import { indexStage } from './stages/index.stage';
import { type SliceBatchResult, sliceStage } from './stages/slice.stage';
import { type SummarizeJobResult, summarizeStage } from './stages/summarize.stage';

export interface KbBuildOptions {
  sources: string[];
  kbDir: string;
  catalog: Map<CweId, CweEntry>;
  /** The catalogue's file, named in the origin of the fix pairs read from its examples. */
  catalogPath?: string;
  /** Problems of the knowledge sources (a CodeQL help citing a missing file), each reported and skipped. */
  onProblem?: (problem: KnowledgeProblem) => void;
  clusterBy: ClusterBy;
  catalogOnlyNodes: boolean;
  hops: number;
  maxLineBytes: number;
  distiller?: ClusterDistiller;
  /**
   * @deprecated Running LLM counters. Unused by the build: its calls are counted per cluster by the distiller
   * (docs of countLlmCalls); kept so callers that pass them need no change.
   */
  llmStats?: () => { requests: number; cacheHits: number };
  /** Fits the embedder on the KB's own text (so the local LSA embedder learns its vocabulary). */
  embedder: EmbedderFactory;
  keepVersions?: number;
  /** Which sources are trusted beyond their kind's default (docs/kb-poisoning.md); released quarantine ids are read from the KB folder. */
  trust?: TrustSettings;
  alsoPublish?: PublishInput['alsoPublish'];
  onStage?: (stage: KbBuildStage, event: 'start' | 'progress' | 'done', done?: number, total?: number) => void;
  /** Worker threads that slice records when there are many to slice (default: one per core; see SLICE_THREADS_FROM_RECORDS); 0 slices in this thread. */
  sliceThreads?: number;
  /** Records without a slice from which the worker threads are started (default {@link SLICE_THREADS_FROM_RECORDS}). */
  sliceThreadsFromRecords?: number;
  /** Documents the embedder is fitted on, at most (default FIT_CORPUS_MAX_DOCUMENTS: a sample by content above it). */
  maxFitDocuments?: number;
  /**
   * Characters of summarized clusters' JSON held in memory for the index stage (default 64M);
   * past that they wait in `<kb>/staging`, and the index stage reads them cluster by cluster.
   */
  stagingMemoryChars?: number;
  /** Examples above which the publish keeps their search terms in a file (default SPILL_TEXTS_ABOVE_EXAMPLES). */
  spillTextsAbove?: number;
  /** Records above which a cluster is summarized a chunk at a time, with a distiller that reads no code (default CHUNKED_ABOVE_RECORDS). */
  chunkedAboveRecords?: number;
  /** Records above which the stages after ingest run with a lean V8 heap (default LEAN_HEAP_ABOVE_RECORDS; Infinity: never). */
  leanHeapAboveRecords?: number;
}

export type KbBuildStage = 'ingest' | 'slice' | 'summarize' | 'index';

/** How the CLI and the report name each stage of the DAG. */
export const STAGE_NAME: Record<typeof KB_BUILD_ROOT | KbBuildJob, KbBuildStage> = {
  [JobName.DatasetIngest]: 'ingest',
  [JobName.RecordSlice]: 'slice',
  [JobName.ClusterSummarize]: 'summarize',
  [JobName.KbIndex]: 'index',
};

export interface KbBuildReport {
  manifest: KbManifest;
  /** LLM calls of this build (the manifest keeps those of the build that first wrote the version). */
  llm: { calls: number; cached: number };
  ingest: IngestReport;
  /** `threads`: the worker threads that sliced (0: this thread did, see SLICE_THREADS_FROM_RECORDS). */
  slicing: { sliced: number; failed: number; reused: number; threads: number };
  /** What the screen held back, at ingest and at distillation (`rescue kb quarantine list`). */
  quarantine: QuarantineSummary;
  stageMs: Record<KbBuildStage, number>;
  /**
   * What came from the KB folder's build caches instead of being worked out again: clusters whose
   * summary was reused (of all clusters), and screen verdicts remembered (of all asked for).
   */
  reused: { clusters: number; of: number; screenVerdicts: number; screenVerdictsOf: number };
}

/** A stage's work on one job in this process; `children` are the results of the jobs it waited for. */
type InlineStages = { [N in KbBuildJob]: (payload: JobPayload<N>, children: unknown[]) => Promise<unknown> };

/** The build id of every inline build: its staging lives and dies with the run. */
const INLINE_BUILD_ID = 'inline';

/**
 * The whole KB build in-process (the embedded runner), stage by stage in the DAG's order: ingest,
 * then the jobs the queue runner would enqueue, run here with the same stage functions, then an
 * atomic publish. Records and slices are kept under the KB folder by content id, so a rebuild
 * slices only new records.
 */
export async function buildKnowledgeBase(options: KbBuildOptions): Promise<KbBuildReport> {
  const stageMs = Object.fromEntries(Object.values(STAGE_NAME).map((name) => [name, 0])) as Record<KbBuildStage, number>;
  const timed = async <T>(stage: KbBuildStage, fn: () => Promise<T>): Promise<T> => {
    options.onStage?.(stage, 'start');
    const t = performance.now();
    try {
      return await fn();
    } finally {
      stageMs[stage] = Math.round(performance.now() - t);
      options.onStage?.(stage, 'done');
    }
  };

  const records = new FsRecordStore(join(options.kbDir, 'records'));
  const slices = new FsRecordStore<SliceDocument>(join(options.kbDir, 'slices'));
  // This thread's Slicer splits CodeQL examples into functions, and slices the records when they
  // are few; many are sliced on worker threads, one per core (slicing is most of a build's CPU),
  // started once the ingest has told how many records have no slice yet (see slicerFor).
  const slicer = await Slicer.create();
  const pool: InlineResources['pool'] = {};
  const heap: InlineResources['heap'] = {};
  try {
    return await runInline(options, { records, slices, slicer, pool, timed, stageMs, heap });
  } finally {
    heap.restore?.();
    // The stores' close lets the folder's writer lock go and saves their index snapshots now, not
    // after the process may have exited.
    await Promise.all([pool.started?.close(), records.close(), slices.close()]);
  }
}

interface InlineResources {
  records: FsRecordStore;
  slices: FsRecordStore<SliceDocument>;
  slicer: Slicer;
  /** The slicing threads, once started (see slicerFor): closed with the build. */
  pool: { started?: SlicerPool };
  timed: <T>(stage: KbBuildStage, fn: () => Promise<T>) => Promise<T>;
  stageMs: Record<KbBuildStage, number>;
  /** Undoes the lean heap when the build set it (see {@link growHeapLeanly}). */
  heap: { restore?: () => void };
}

/**
 * Records without a slice at and above which they are sliced on worker threads. Below, this
 * thread slices them: starting the threads (each loads the slicer and compiles its grammars'
 * queries again) cost about half a second of a +1% rebuild that had 13 records to slice, about
 * what this thread takes for a few hundred records.
 */
export const SLICE_THREADS_FROM_RECORDS = 256;

/**
 * What slices this build's records: worker threads when `threads` is not 0 and at least `from`
 * of the slice jobs' records have no slice in the store, else
 * this thread's slicer. Both give the same slices (the same code, the same work budget).
 */
async function slicerFor(
  sliceJobs: PlannedJob[],
  { slicer, pool, slices, threads, from }: { slicer: Slicer; pool: InlineResources['pool']; slices: FsRecordStore<SliceDocument>; threads?: number; from: number },
): Promise<{ recordSlicer: RecordSlicer; few?: { unsliced: string[]; stored: number } }> {
  if (threads === 0) return { recordSlicer: slicer };
  const unsliced: string[] = [];
  let stored = 0;
  for (const job of sliceJobs) {
    const { recordIds, hops } = job.data as JobPayload<JobName.RecordSlice>;
    // A job's stored slices read together (see RecordStore.hasMany), not one has() each.
    const present = await slices.hasMany(recordIds.map((id) => sliceId(id, hops)));
    recordIds.forEach((id, i) => {
      if (present[i]) stored += 1;
      else unsliced.push(id);
    });
    if (unsliced.length >= from) {
      // This thread takes the grammars the threads compile (see Slicer.loadGrammars): its next
      // build's few records then parse with the code the threads optimized.
      [pool.started] = await Promise.all([SlicerPool.create({ threads }), slicer.loadGrammars()]);
      return { recordSlicer: pool.started };
    }
  }
  return { recordSlicer: slicer, few: { unsliced, stored } };
}

/**
 * The slice jobs as one batch of the records they have without a slice (none when all have one):
 * what the inline build runs when it has few records to slice. Each batch ends in an fsync of the
 * slice store, which took 50–250 ms a batch here: a +1% rebuild's 13 new records, one in each of
 * 13 cluster batches, spent most of its slice stage waiting on them. And the records already
 * sliced, each looked up (and its stored slice checked) by slicerFor, are not looked up again.
 */
function asOneSliceJob(sliceJobs: PlannedJob[], unsliced: string[]): PlannedJob[] {
  const [first] = sliceJobs;
  if (!first || first.name !== JobName.RecordSlice || unsliced.length === 0) return [];
  return [{ name: JobName.RecordSlice, data: { ...first.data, recordIds: unsliced }, children: [] }];
}

async function runInline(options: KbBuildOptions, { records, slices, slicer, pool, timed, stageMs, heap }: InlineResources): Promise<KbBuildReport> {
  // Summarized clusters wait for the index stage in memory while small, past that in the KB
  // folder (a 100× build's clusters do not fit beside everything else). A killed earlier build may
  // have left clusters there: cleared first, or they would join this build's.
  const staging = new SpillingBuildStaging(new FsBuildStaging(join(options.kbDir, 'staging')), options.stagingMemoryChars);
  await staging.clear(INLINE_BUILD_ID);
  const [root, ...planned] = kbBuildStages();
  const quarantine = new QuarantineStore(options.kbDir);

  const { ingest, plan, knowledge, screenMemo } = await timed(STAGE_NAME[root], async () => {
    const screenMemo = await openScreenMemo(options.kbDir);
    const { fixPairSources, codeqlRoots } = await splitSources(options.sources);
    const build = inlineBuildSpec(options, codeqlRoots, await quarantine.releasedIds());
    // CodeQL checkouts and the catalogue's examples are sources too: their fix pairs join the store.
    const extra = await readExtraKnowledge({ codeqlRoots, catalog: options.catalog, catalogPath: options.catalogPath, splitter: slicer });
    for (const p of extra.problems) options.onProblem?.(p);
    // Screen verdicts of earlier builds into this folder, by content: only new texts are screened.
    const knowledge = knowledgeFrom(options.catalog, extra, { catalogPath: options.catalogPath, screen: screenPolicyOf(build, screenMemo) });
    const ingested = await ingestStage(
      {
        sources: fixPairSources,
        format: 'auto',
        maxLineBytes: options.maxLineBytes,
        rejectsPath: join(options.kbDir, 'ingest', 'rejects.jsonl'),
        // The records live in the KB folder between builds, so an unchanged source file need not be read again.
        manifestPath: join(options.kbDir, 'ingest', 'sources.json'),
      },
      { records, knowledge, quarantine: { store: quarantine, buildId: INLINE_BUILD_ID } },
    );
    if (ingested.records.length > (options.leanHeapAboveRecords ?? LEAN_HEAP_ABOVE_RECORDS)) heap.restore = growHeapLeanly();
    return { ingest: ingested.report, plan: planKbBuild(build, ingested.records), knowledge, screenMemo };
  });

  const distiller = options.distiller ?? extractiveDistiller;
  const top = planJobs(plan);
  const jobs = jobsByStage(top);
  // What slices the records, chosen when the slice stage starts (its time is the stage's).
  let recordSlicer: RecordSlicer = slicer;
  // Records found sliced already when choosing it, and so in no slice job (see asOneSliceJob).
  let storedBeforeSlicing = 0;
  const stages: InlineStages = {
    [JobName.RecordSlice]: (payload) => sliceStage(payload, { slicer: recordSlicer, records, slices }),
    [JobName.ClusterSummarize]: (payload) =>
      summarizeStage(payload, { records, slices, staging, knowledge, distiller, ...(options.chunkedAboveRecords !== undefined ? { chunkedAboveRecords: options.chunkedAboveRecords } : {}) }),
    [JobName.KbIndex]: (payload, children) =>
      indexStage(payload, children as SummarizeJobResult[], {
        staging,
        knowledge,
        embedder: options.embedder,
        alsoPublish: options.alsoPublish,
        keepVersions: options.keepVersions,
        ...(options.maxFitDocuments ? { maxFitDocuments: options.maxFitDocuments } : {}),
        ...(options.spillTextsAbove !== undefined ? { spillTextsAbove: options.spillTextsAbove } : {}),
        inputs: { sources: options.sources.map((p) => resolve(p)), ...(options.catalogPath ? { catalog: resolve(options.catalogPath) } : {}) },
      }),
  };

  const results = new Map<PlannedJob, unknown>();
  for (const stage of planned) {
    let done = 0;
    await timed(STAGE_NAME[stage], async () => {
      if (stage === JobName.RecordSlice) {
        const chosen = await slicerFor(jobs.get(stage) ?? [], {
          slicer,
          pool,
          slices,
          threads: options.sliceThreads,
          from: options.sliceThreadsFromRecords ?? SLICE_THREADS_FROM_RECORDS,
        });
        recordSlicer = chosen.recordSlicer;
        // No summarize job reads its slice jobs' results (they read the slice store), so the slice
        // jobs may run as one batch; the report sums the batches' counts whatever their number.
        if (chosen.few) {
          jobs.set(stage, asOneSliceJob(jobs.get(stage) ?? [], chosen.few.unsliced));
          storedBeforeSlicing = chosen.few.stored;
        }
      }
      const todo = jobs.get(stage) ?? [];
      // Clusters are independent: distilled several at once when the distiller can overlap them (the
      // LLM one shares one in-flight cap among them). Results are kept by job, so their order (and the
      // KB) does not depend on which finishes first.
      // Slice batches are per cluster and often small: several at once keep every pool thread busy.
      const concurrency = stage === JobName.ClusterSummarize ? Math.max(1, distiller.clusterConcurrency ?? 1) : stage === JobName.RecordSlice ? (recordSlicer.concurrency ?? 1) : 1;
      await pMap(
        stage === JobName.ClusterSummarize ? largestFirst(todo) : todo,
        async (job) => {
          const run = stages[job.name] as (payload: unknown, children: unknown[]) => Promise<unknown>;
          results.set(
            job,
            await run(
              job.data,
              job.children.map((c) => results.get(c)),
            ),
          );
          done += 1;
          options.onStage?.(STAGE_NAME[stage], 'progress', done, todo.length);
        },
        { concurrency },
      );
    });
    // The slicing threads (a V8 isolate and a parser each, a hundred MB or more of memory) have no
    // more work once the slice stage is done: ended now, not after the summarize and index stages.
    if (stage === JobName.RecordSlice) await pool.started?.close();
  }

  const resultsOf = <T>(stage: KbBuildJob): T[] => (jobs.get(stage) ?? []).map((job) => results.get(job) as T);
  const sliced = resultsOf<SliceBatchResult>(JobName.RecordSlice);
  const summarized = resultsOf<SummarizeJobResult>(JobName.ClusterSummarize);
  return {
    manifest: results.get(top) as KbManifest,
    llm: { calls: summarized.reduce((n, s) => n + s.llmCalls, 0), cached: summarized.reduce((n, s) => n + s.llmCached, 0) },
    ingest,
    slicing: {
      sliced: sliced.reduce((n, s) => n + s.sliced, 0),
      failed: sliced.reduce((n, s) => n + s.failed, 0),
      reused: storedBeforeSlicing + sliced.reduce((n, s) => n + s.alreadyStored, 0),
      threads: pool.started?.concurrency ?? 0,
    },
    quarantine: summarizeQuarantine((await quarantine.report())?.entries ?? [], quarantine.reportPath),
    stageMs,
    reused: {
      clusters: summarized.filter((s) => s.reused).length,
      of: summarized.length,
      screenVerdicts: screenMemo.stats.hits,
      screenVerdictsOf: screenMemo.stats.hits + screenMemo.stats.misses,
    },
  };
}

/**
 * The build spec the inline jobs carry, as a distributed build's would. What only a worker reads
 * from it (how to distil and embed, where to publish) this process is given as objects instead.
 */
function inlineBuildSpec(options: KbBuildOptions, codeqlRoots: string[], releasedIds: string[]): KbBuildSpecValue {
  return {
    buildId: INLINE_BUILD_ID,
    hops: options.hops,
    clusterBy: options.clusterBy,
    kbDir: options.kbDir,
    ...(options.catalogPath ? { catalogPath: options.catalogPath } : {}),
    catalogOnlyNodes: options.catalogOnlyNodes,
    codeqlRoots,
    distillation: options.distiller?.mode === 'llm' ? 'llm' : 'extractive',
    batchSize: 10,
    embedder: 'local',
    ...(options.trust ? { trust: options.trust } : {}),
    ...(releasedIds.length > 0 ? { releasedIds } : {}),
  };
}

/**
 * Summarize jobs with the most records first (stable among equals): a large cluster has the
 * longest chain of merges and the most calls, so started last it would leave its chain running
 * alone at the end of the stage while the other slots sat idle (longest-first list scheduling).
 */
function largestFirst(jobs: PlannedJob[]): PlannedJob[] {
  const size = (job: PlannedJob): number => (job.name === JobName.ClusterSummarize ? (job.data.recordIds?.length ?? 0) : 0);
  return jobs
    .map((job, i) => ({ job, i }))
    .sort((a, b) => size(b.job) - size(a.job) || a.i - b.i)
    .map((x) => x.job);
}

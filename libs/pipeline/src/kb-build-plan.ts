import { JobName, type JobPayload, type JobPayloadInput, type KbBuildSpecValue, PIPELINE, type PipelineEdge, nextJobs, parsePayload, previousJobs, topologicalOrder } from '@rescue/contracts';
import type { FixRecord } from '@rescue/domain';
import { groupClusters } from '@rescue/knowledge';

// Both runners run a KB build the way PIPELINE (libs/contracts) declares it: the stages reachable
// from ingest, in topological order. Ingest reads the records and so decides how much work
// there is (a plan); every later job comes from walking the DAG's edges backwards from its last
// stage: a job's children are the jobs of the stages that fan in to it, for the part of the build
// the job covers. The queue runner ships that tree as one BullMQ flow (children run before their
// parent); the inline runner runs the same jobs in-process, stage by stage.

/** Records per slice job: small enough to retry cheaply, large enough to amortize a worker thread. */
export const SLICE_BATCH = 50;

/** The root of the KB build: the stage that reads the sources and plans the rest. */
export const KB_BUILD_ROOT = JobName.DatasetIngest;

/** The jobs a KB build plans after ingest (generation is not part of it). */
export type KbBuildJob = Exclude<JobName, typeof KB_BUILD_ROOT | JobName.TaskGenerate>;

export interface PlannedCluster {
  key: string;
  recordIds: string[];
}

/** A KB build once ingest has read its records: what every later job works on. */
export interface KbBuildPlan {
  build: KbBuildSpecValue;
  clusters: PlannedCluster[];
}

/** One job of a plan, its payload validated, with the jobs it waits for. */
export type PlannedJob = { [N in KbBuildJob]: { name: N; data: JobPayload<N>; children: PlannedJob[] } }[KbBuildJob];

/** Clusters of the ingested records (sorted keys, sorted record ids: the same plan for the same records). */
export function planKbBuild(build: KbBuildSpecValue, records: Pick<FixRecord, 'id' | 'cwe' | 'language'>[]): KbBuildPlan {
  return { build, clusters: [...groupClusters(records, build.clusterBy)].map(([key, rs]) => ({ key, recordIds: rs.map((r) => r.id) })) };
}

/** The stages of a KB build: the DAG's jobs reachable from ingest, in topological order (ingest first). */
export function kbBuildStages(edges: readonly PipelineEdge[] = PIPELINE): [typeof KB_BUILD_ROOT, ...KbBuildJob[]] {
  const order = topologicalOrder(edges);
  const reached = new Set<JobName>([KB_BUILD_ROOT]);
  // In topological order every stage is visited after all the stages that lead to it.
  for (const stage of order) if (reached.has(stage)) for (const edge of nextJobs(stage, edges)) reached.add(edge.to);
  return [KB_BUILD_ROOT, ...(order.filter((s) => s !== KB_BUILD_ROOT && reached.has(s)) as KbBuildJob[])];
}

/** Which part of the build a job covers: all of it, or one cluster. */
interface Scope {
  cluster?: PlannedCluster;
}

type JobsUnder = { [N in KbBuildJob]: (plan: KbBuildPlan, scope: Scope) => { data: JobPayloadInput<N>; scope: Scope }[] };

/**
 * How each stage's work splits into jobs within the part of the build its parent covers: one
 * index job for the build, one summarize job per cluster, slice jobs per batch of the records in
 * scope. The DAG says which stage waits for which; this says only how big each job is.
 */
const JOBS_UNDER: JobsUnder = {
  [JobName.KbIndex]: ({ build }) => [{ data: { v: 1, buildId: build.buildId, build }, scope: {} }],
  [JobName.ClusterSummarize]: ({ build, clusters }, scope) =>
    (scope.cluster ? [scope.cluster] : clusters).map((cluster) => ({ data: { v: 1, buildId: build.buildId, clusterKey: cluster.key, recordIds: cluster.recordIds, build }, scope: { cluster } })),
  [JobName.RecordSlice]: ({ build, clusters }, scope) =>
    (scope.cluster ? [scope.cluster] : clusters).flatMap((cluster) => {
      const batches: { data: JobPayloadInput<JobName.RecordSlice>; scope: Scope }[] = [];
      for (let i = 0; i < cluster.recordIds.length; i += SLICE_BATCH) {
        batches.push({ data: { v: 1, buildId: build.buildId, recordIds: cluster.recordIds.slice(i, i + SLICE_BATCH), hops: build.hops }, scope: { cluster } });
      }
      return batches;
    }),
};

function jobsOf<N extends KbBuildJob>(stage: N, plan: KbBuildPlan, scope: Scope, edges: readonly PipelineEdge[]): PlannedJob[] {
  const fanIn = previousJobs(stage, edges)
    .filter((e) => e.kind === 'fan-in')
    .map((e) => e.from as KbBuildJob);
  return JOBS_UNDER[stage](plan, scope).map((job) => ({ name: stage, data: parsePayload(stage, job.data), children: fanIn.flatMap((from) => jobsOf(from, plan, job.scope, edges)) }) as PlannedJob);
}

/**
 * Every job of a KB build after ingest, as the tree of its last stage's job (the index job):
 * children first, parents once all their children are done.
 */
export function planJobs(plan: KbBuildPlan, edges: readonly PipelineEdge[] = PIPELINE): PlannedJob {
  const stages = kbBuildStages(edges);
  const last = stages[stages.length - 1] as KbBuildJob;
  return jobsOf(last, plan, {}, edges)[0];
}

/** The jobs of a planned tree, grouped by stage, each stage's jobs in the order they were planned. */
export function jobsByStage(top: PlannedJob): Map<KbBuildJob, PlannedJob[]> {
  const out = new Map<KbBuildJob, PlannedJob[]>();
  const visit = (job: PlannedJob): void => {
    job.children.forEach(visit);
    const list = out.get(job.name);
    if (list) list.push(job);
    else out.set(job.name, [job]);
  };
  visit(top);
  return out;
}

import { JOB_QUEUE, JobName, PIPELINE, type KbBuildSpecValue, type PipelineEdge, jobIdFor, topologicalOrder } from '@rescue/contracts';
import { type KbBuildPlan, type PlannedJob, SLICE_BATCH, jobsByStage, kbBuildFlow, kbBuildStages, planJobs } from '@rescue/pipeline';

const build: KbBuildSpecValue = {
  buildId: 'b1',
  hops: 2,
  clusterBy: 'language-cwe',
  kbDir: '/kb',
  catalogOnlyNodes: true,
  codeqlRoots: [],
  distillation: 'extractive',
  batchSize: 10,
  embedder: 'local',
};
const ids = (n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => (from + i).toString(16).padStart(32, '0'));
const plan: KbBuildPlan = {
  build,
  clusters: [
    { key: 'c:CWE-787', recordIds: ids(SLICE_BATCH + 1) },
    { key: 'python:CWE-89', recordIds: ids(3, 1000) },
  ],
};

const shape = (job: PlannedJob): unknown => ({ [job.name]: job.children.map(shape) });

describe('the KB build plan, walked from PIPELINE', () => {
  it("runs the DAG's stages reachable from ingest, in its topological order", () => {
    const stages = kbBuildStages();
    expect(stages).toEqual([JobName.DatasetIngest, JobName.RecordSlice, JobName.ClusterSummarize, JobName.KbIndex]);
    expect(stages).toEqual(topologicalOrder().filter((s) => s !== JobName.TaskGenerate));
  });

  it('is the tree of the last stage: one index job waiting for a summarize job per cluster, each waiting for its slice batches', () => {
    const top = planJobs(plan);
    expect(shape(top)).toEqual({
      KbIndex: [{ ClusterSummarize: [{ RecordSlice: [] }, { RecordSlice: [] }] }, { ClusterSummarize: [{ RecordSlice: [] }] }],
    });
    const jobs = jobsByStage(top);
    const slices = (jobs.get(JobName.RecordSlice) ?? []).map((j) => (j.name === JobName.RecordSlice ? j.data.recordIds.length : 0));
    expect(slices).toEqual([SLICE_BATCH, 1, 3]);
    const summaries = jobs.get(JobName.ClusterSummarize) ?? [];
    expect(summaries.map((j) => j.name === JobName.ClusterSummarize && j.data.clusterKey)).toEqual(['c:CWE-787', 'python:CWE-89']);
    expect(top.data).toEqual({ v: 1, buildId: 'b1', build });
    // Every stage after ingest has jobs: a stage the DAG names but no runner plans would show here.
    expect([...jobs.keys()].sort()).toEqual(kbBuildStages().slice(1).sort());
  });

  it('follows the edges it is given, not a fixed order: without summarize, the index job waits for every slice batch', () => {
    const edges: PipelineEdge[] = [PIPELINE[0], { from: JobName.RecordSlice, to: JobName.KbIndex, kind: 'fan-in', note: 'test' }];
    expect(kbBuildStages(edges)).toEqual([JobName.DatasetIngest, JobName.RecordSlice, JobName.KbIndex]);
    expect(shape(planJobs(plan, edges))).toEqual({ KbIndex: [{ RecordSlice: [] }, { RecordSlice: [] }, { RecordSlice: [] }] });
  });

  it('refuses a plan whose payloads the contracts refuse', () => {
    expect(() => planJobs({ build: { ...build, hops: 11 }, clusters: plan.clusters })).toThrow(/hops/);
  });
});

describe('kbBuildFlow (the queue runner)', () => {
  it('ships the planned tree as one BullMQ flow: queues and job ids from the contracts, children failing their parent', () => {
    const flow = kbBuildFlow(plan, 3);
    const top = planJobs(plan);
    expect(flow.name).toBe(JobName.KbIndex);
    expect(flow.queueName).toBe(JOB_QUEUE[JobName.KbIndex]);
    expect(flow.opts).toMatchObject({ jobId: jobIdFor(JobName.KbIndex, top.data), attempts: 3 });
    expect(flow.opts?.failParentOnFailure).toBeUndefined();
    const summarize = flow.children ?? [];
    expect(summarize.map((c) => [c.queueName, c.opts?.failParentOnFailure])).toEqual([
      [JOB_QUEUE[JobName.ClusterSummarize], true],
      [JOB_QUEUE[JobName.ClusterSummarize], true],
    ]);
    const slice = summarize[0].children?.[0];
    expect(slice).toMatchObject({ name: JobName.RecordSlice, queueName: JOB_QUEUE[JobName.RecordSlice], opts: { failParentOnFailure: true } });
    expect(slice?.children).toBeUndefined();
  });
});

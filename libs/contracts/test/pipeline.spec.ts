import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { JOB_PAYLOAD, JOB_QUEUE, JobName, PIPELINE, QUEUE_CONSUMER, QueueName, WorkerApp, nextJobs, pipelineRoots, previousJobs, queuesConsumedBy, topologicalOrder } from '@rescue/contracts';

describe('pipeline DAG', () => {
  it('walks from its roots through every job, in dependency order, without cycles', () => {
    const order = topologicalOrder();
    expect(new Set(order)).toEqual(new Set(Object.values(JobName)));
    for (const edge of PIPELINE) expect(order.indexOf(edge.from)).toBeLessThan(order.indexOf(edge.to));
    const reached = new Set<JobName>();
    const walk = (n: JobName): void => {
      reached.add(n);
      for (const e of nextJobs(n)) walk(e.to);
    };
    pipelineRoots().forEach(walk);
    expect(reached).toEqual(new Set(Object.values(JobName)));
  });

  it('is ingest → slice → summarize → index, with generation standing alone', () => {
    expect(PIPELINE.map((e) => `${e.from}>${e.to}:${e.kind}`)).toEqual(['DatasetIngest>RecordSlice:fan-out', 'RecordSlice>ClusterSummarize:fan-in', 'ClusterSummarize>KbIndex:fan-in']);
    expect(pipelineRoots().sort()).toEqual([JobName.DatasetIngest, JobName.TaskGenerate].sort());
  });

  it('answers the edges into a job, and refuses a graph with a cycle', () => {
    expect(previousJobs(JobName.ClusterSummarize).map((e) => e.from)).toEqual([JobName.RecordSlice]);
    expect(previousJobs(JobName.DatasetIngest)).toEqual([]);
    const loop = [...PIPELINE, { from: JobName.KbIndex, to: JobName.RecordSlice, kind: 'fan-out' as const, note: 'a loop' }];
    expect(() => topologicalOrder(loop)).toThrow(/pipeline cycle/);
  });

  it('gives every job a queue, a payload schema and exactly one consumer app', () => {
    for (const job of Object.values(JobName)) {
      expect(Object.values(QueueName)).toContain(JOB_QUEUE[job]);
      expect(JOB_PAYLOAD[job]).toBeDefined();
      const consumers = Object.values(WorkerApp).filter((app) => queuesConsumedBy(app).includes(JOB_QUEUE[job]));
      expect(consumers).toHaveLength(1);
    }
  });

  it('names a consumer app that exists as a folder under apps/, and each worker app consumes one queue', () => {
    const apps = readdirSync(join(__dirname, '../../../apps'));
    for (const app of Object.values(QUEUE_CONSUMER)) expect(apps).toContain(app);
    for (const app of Object.values(WorkerApp)) expect(queuesConsumedBy(app)).toHaveLength(1);
  });

  it('uses queue names BullMQ accepts (no ":")', () => {
    for (const q of Object.values(QueueName)) expect(q).toMatch(/^[a-z][a-z-]*$/);
  });
});

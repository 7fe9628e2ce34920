import type { FlowJob } from 'bullmq';
import { JOB_QUEUE, JobName, type KbBuildSpecValue, parsePayload } from '@rescue/contracts';
import { jobOptionsFor } from './job-options';

/** Records per slice job: small enough to retry cheaply, large enough to amortize a worker thread. */
export const SLICE_BATCH = 50;

/**
 * The fan-out/fan-in of a distributed KB build as one BullMQ flow: the index job waits for every
 * cluster's summarize job, which waits for its records' slice jobs. Every child fails its parent
 * when it fails for good (after its own retries), so a broken build ends failed instead of
 * waiting in `waiting-children` for ever.
 */
export function kbBuildFlow(build: KbBuildSpecValue, clusters: { key: string; recordIds: string[] }[], attempts = 5): FlowJob {
  const node = <N extends JobName>(name: N, data: unknown, children?: FlowJob[], child = true): FlowJob => {
    const payload = parsePayload(name, data);
    return {
      name,
      queueName: JOB_QUEUE[name],
      data: payload,
      opts: { ...jobOptionsFor(name, payload, attempts), ...(child ? { failParentOnFailure: true } : {}) },
      children,
    };
  };
  const summarize = clusters.map((c) => {
    const slices: FlowJob[] = [];
    for (let i = 0; i < c.recordIds.length; i += SLICE_BATCH) {
      slices.push(node(JobName.RecordSlice, { v: 1, buildId: build.buildId, recordIds: c.recordIds.slice(i, i + SLICE_BATCH), hops: build.hops }));
    }
    return node(JobName.ClusterSummarize, { v: 1, buildId: build.buildId, clusterKey: c.key, recordIds: c.recordIds, build }, slices);
  });
  return node(JobName.KbIndex, { v: 1, buildId: build.buildId, kbVersion: build.buildId, build }, summarize, false);
}

import { JobName } from './queues';

/**
 * How a job's completion leads to the next: `fan-out` makes one child job per unit of work,
 * `fan-in` waits (as a BullMQ flow parent) for all of its children before it runs.
 */
export type EdgeKind = 'fan-out' | 'fan-in';

export interface PipelineEdge {
  from: JobName;
  to: JobName;
  kind: EdgeKind;
  /** Why the edge exists, for people reading the graph. */
  note: string;
}

/** The KB build and the generation job, declared once. Both runners (inline, queue) walk this (libs/pipeline/src/kb-build-plan.ts). */
export const PIPELINE: readonly PipelineEdge[] = [
  { from: JobName.DatasetIngest, to: JobName.RecordSlice, kind: 'fan-out', note: 'new records are sliced in batches' },
  { from: JobName.RecordSlice, to: JobName.ClusterSummarize, kind: 'fan-in', note: 'a cluster is summarized after all of its slices' },
  { from: JobName.ClusterSummarize, to: JobName.KbIndex, kind: 'fan-in', note: 'a KB version is indexed after all of its clusters' },
];

// The walks below take the edges as an argument (PIPELINE unless told) so a test can show that
// what reads them follows another graph too.

/** Jobs nothing else triggers: the entry points of the graph. */
export function pipelineRoots(edges: readonly PipelineEdge[] = PIPELINE): JobName[] {
  const targets = new Set(edges.map((e) => e.to));
  return (Object.values(JobName) as JobName[]).filter((n) => !targets.has(n));
}

export function nextJobs(name: JobName, edges: readonly PipelineEdge[] = PIPELINE): PipelineEdge[] {
  return edges.filter((e) => e.from === name);
}

/** The edges into a job: the jobs it depends on. */
export function previousJobs(name: JobName, edges: readonly PipelineEdge[] = PIPELINE): PipelineEdge[] {
  return edges.filter((e) => e.to === name);
}

/** The jobs in an order where every job comes after the jobs it depends on; throws on a cycle. */
export function topologicalOrder(edges: readonly PipelineEdge[] = PIPELINE): JobName[] {
  const order: JobName[] = [];
  const state = new Map<JobName, 'visiting' | 'done'>();
  const visit = (n: JobName, path: JobName[]): void => {
    if (state.get(n) === 'done') return;
    // The graph is a constant of the code (PIPELINE, or a test's), so a cycle is a bug in it (a test keeps PIPELINE acyclic), never input: a plain Error.
    if (state.get(n) === 'visiting') throw new Error(`pipeline cycle: ${[...path, n].join(' → ')}`);
    state.set(n, 'visiting');
    for (const e of previousJobs(n, edges)) visit(e.from, [...path, n]);
    state.set(n, 'done');
    order.push(n);
  };
  for (const n of Object.values(JobName) as JobName[]) visit(n, []);
  return order;
}

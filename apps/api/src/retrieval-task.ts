import type { OfflineRetrieval } from '@rescue/generation';
import type { RetrieveRequest } from './retrieve-request';

/** What the API hands a pool thread: a retrieval, or a probe that only opens the live KB. */
export type RetrievalTask = { kind: 'retrieve'; request: RetrieveRequest } | { kind: 'probe' };

export interface RetrievalTimings {
  cweMs?: number;
  codeMs?: number;
  totalMs: number;
}

export type RetrievalTaskResult = { ok: true; kbVersion: string; result?: OfflineRetrieval; timings: RetrievalTimings } | { ok: false; status: number; kind?: string; message: string };

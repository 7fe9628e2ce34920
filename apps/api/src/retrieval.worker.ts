/**
 * One retrieval, in a worker thread of the API's pool (retrieval-pool.ts). Query building, BM25 and
 * ranking are CPU work: for a 500 KB prompt they take long enough to stall every other request if
 * they ran on the event loop. Each thread opens the KB itself (the reader follows the live version)
 * and keeps it, so only the first task of a thread pays for the open.
 */
import { workerData } from 'node:worker_threads';
import { classify } from '@rescue/domain';
import { retrieveOffline } from '@rescue/generation';
import { KnowledgeBaseReader, type OpenedKb, llmEmbedderFor } from '@rescue/knowledge';
import { llmFromEnv } from '@rescue/llm';
import { Slicer } from '@rescue/slicing';
import type { ApiConfig } from './api.config';
import type { RetrievalTask, RetrievalTaskResult } from './retrieval-task';

const config = (workerData as { config: ApiConfig }).config;
let reader: KnowledgeBaseReader | undefined;
let slicer: Promise<Slicer> | undefined;

function open(): Promise<OpenedKb> {
  reader ??= new KnowledgeBaseReader(
    { dir: config.RESCUE_KB_DIR, elasticsearchUrl: config.ELASTICSEARCH_URL, elasticsearchPrefix: config.ELASTICSEARCH_PREFIX },
    { embedderFor: llmEmbedderFor(llmFromEnv(config)) },
  );
  return reader.live();
}

/** The KB with a retriever that records its levels' timings (retrieveOffline does not return them). */
function timed(kb: OpenedKb, sink: { cweMs?: number; codeMs?: number }): OpenedKb {
  const retriever = Object.create(kb.retriever) as OpenedKb['retriever'];
  retriever.retrieve = async (...args: Parameters<OpenedKb['retriever']['retrieve']>) => {
    const result = await kb.retriever.retrieve(...args);
    Object.assign(sink, result.timings);
    return result;
  };
  return { ...kb, retriever };
}

export default async function run(task: RetrievalTask): Promise<RetrievalTaskResult> {
  const t0 = performance.now();
  let kb: OpenedKb;
  try {
    kb = await open();
  } catch (err) {
    // A KB that cannot be opened (not built, none live, Elasticsearch away) is the service being
    // unavailable, whatever the cause's kind: the next task retries the open.
    return { ok: false, status: 503, message: `the KB cannot be opened: ${classify(err).message}` };
  }
  if (task.kind === 'probe') return { ok: true, kbVersion: kb.manifest.version, timings: { totalMs: performance.now() - t0 } };
  try {
    slicer ??= Slicer.create();
    const sink: { cweMs?: number; codeMs?: number } = {};
    const { request } = task;
    const result = await retrieveOffline(
      timed(kb, sink),
      await slicer,
      { id: request.id, language: request.language, prompt: request.prompt, kind: request.kind },
      { cwes: request.guidanceCwes, tokens: request.guidanceTokens },
    );
    return { ok: true, kbVersion: kb.manifest.version, result, timings: { ...sink, totalMs: performance.now() - t0 } };
  } catch (err) {
    // Errors do not cross the thread boundary with their class; their classification does.
    const c = classify(err);
    return { ok: false, status: c.httpStatus, kind: c.kind, message: c.message };
  }
}

/**
 * The KB folder specs' sample KB and what they ask of it (not a test file itself): our example fix
 * pairs and sample catalogue built in-process, and every sample task's retrieval result (but how
 * long it took), which specs compare between two ways of opening the same version.
 */
import { join, resolve } from 'node:path';
import { readCweCatalog, readTaskLines } from '@rescue/datasets';
import { type OpenOptions, localEmbedder, offlineQuery, openKnowledgeBase } from '@rescue/knowledge';
import { type KbBuildOptions, buildKnowledgeBase } from '@rescue/pipeline';
import { Slicer } from '@rescue/slicing';

const root = resolve(__dirname, '../../..');

/**
 * Builds our example fix pairs (or `sources`) and the sample catalogue into `kbDir`, as the KB
 * folder specs and the rebuild specs do; `options` may swap the embedder or the distiller, or trust sources.
 */
export async function buildSample(kbDir: string, sources: string[] = [join(root, 'examples/fix-pairs')], options: Partial<Pick<KbBuildOptions, 'embedder' | 'distiller' | 'trust'>> = {}) {
  return buildKnowledgeBase({
    sources,
    kbDir,
    catalog: await readCweCatalog(join(root, 'examples/cwe-catalog-sample.csv')),
    clusterBy: 'language-cwe',
    catalogOnlyNodes: true,
    hops: 2,
    maxLineBytes: 1 << 20,
    embedder: localEmbedder,
    ...options,
  });
}

/** Builds the sample KB into `kbDir`; returns the version it published. */
export async function buildSampleKb(kbDir: string): Promise<string> {
  return (await buildSample(kbDir)).manifest.version;
}

/** Every sample task's retrieval result from the KB folder `kbDir` opened with `options`, timings left out. */
export async function retrieveSampleTasks(kbDir: string, options: OpenOptions = {}): Promise<unknown[]> {
  const kb = await openKnowledgeBase(kbDir, options);
  const slicer = await Slicer.create();
  const results: unknown[] = [];
  for await (const task of readTaskLines(join(root, 'examples/tasks-sample.jsonl'), (p) => {
    throw new Error(`${p.file}:${p.line}: ${p.message}`);
  }))
    results.push({ ...(await kb.retriever.retrieve(await offlineQuery(task, slicer))), timings: undefined });
  return results;
}

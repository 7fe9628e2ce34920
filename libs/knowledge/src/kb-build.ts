import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type CweEntry, FixPairIngestor, FsRecordStore, type IngestReport, RejectsFileWriter } from '@rescue/datasets';
import type { CweId, FixRecord } from '@rescue/domain';
import { type IndexedExample, type IndexedNode, LanceKnowledgeIndex, LsaEmbedder } from '@rescue/retrieval';
import { SLICER_VERSION, type SliceDocument, Slicer, sliceBatch, sliceId } from '@rescue/slicing';
import { type ClusterDistiller, assembleKnowledgeBase, extractiveDistiller } from './kb-assembly';
import { KbDirectory, type KbManifest } from './kb-directory';
import type { ClusterBy, CodeExample, CweNode } from './kb-model';

/** The embedder a build fits (or is given) and stores with the version. */
export interface BuildEmbedder {
  describe(): Record<string, unknown>;
  embed(texts: string[]): Promise<Float32Array[]>;
  toJSON?(): unknown;
}

export interface KbBuildOptions {
  sources: string[];
  kbDir: string;
  catalog: Map<CweId, CweEntry>;
  clusterBy: ClusterBy;
  catalogOnlyNodes: boolean;
  hops: number;
  maxLineBytes: number;
  distiller?: ClusterDistiller;
  /** Running LLM counters, to report calls made and served from cache by this build. */
  llmStats?: () => { requests: number; cacheHits: number };
  /** Fits the embedder on the KB's own text (so the local LSA embedder learns its vocabulary). */
  embedder: (corpus: string[]) => Promise<BuildEmbedder>;
  keepVersions?: number;
  alsoPublish?: PublishInput['alsoPublish'];
  onStage?: (stage: KbBuildStage, event: 'start' | 'progress' | 'done', done?: number, total?: number) => void;
}

export type KbBuildStage = 'ingest' | 'slice' | 'summarize' | 'index';

export interface KbBuildReport {
  manifest: KbManifest;
  /** LLM calls of this build (the manifest keeps those of the build that first wrote the version). */
  llm: { calls: number; cached: number };
  ingest: IngestReport;
  slicing: { sliced: number; failed: number; reused: number };
  stageMs: Record<KbBuildStage, number>;
}

/** The embedded default: LSA fitted on the KB's own text (same parameters in both runners). */
export const localEmbedder = async (corpus: string[]): Promise<BuildEmbedder> => LsaEmbedder.fit(corpus, { dimensions: 256, seed: 1 });

/** What a CWE node contributes to text search: name, description, guidelines and cause. */
export function nodeText(n: CweNode): string {
  return [n.cwe, n.name, n.description, ...n.guidelines, n.cause].filter(Boolean).join('\n');
}

export function apiText(names: string[]): string {
  return names.map((a) => a.toLowerCase().replace(/\./g, ' ')).join(' ');
}

/**
 * The whole KB build in-process (the embedded runner): ingest → slice → summarize → index, then
 * an atomic publish. Records and slices are kept under the KB folder by content id, so a rebuild
 * slices only new records.
 */
export async function buildKnowledgeBase(options: KbBuildOptions): Promise<KbBuildReport> {
  const stageMs = { ingest: 0, slice: 0, summarize: 0, index: 0 } as Record<KbBuildStage, number>;
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

  // The KB is built from the records this build's sources hold, not everything ever ingested.
  const included: FixRecord[] = [];
  const ingest = await timed('ingest', async () => {
    const rejects = new RejectsFileWriter(join(options.kbDir, 'ingest', 'rejects.jsonl'));
    try {
      return await new FixPairIngestor(records).ingest(options.sources, { format: 'auto', maxLineBytes: options.maxLineBytes }, { onReject: (r) => rejects.write(r), onRecord: (r) => included.push(r) });
    } finally {
      await rejects.close();
    }
  });
  included.sort((a, b) => (a.id < b.id ? -1 : 1));

  const slicing = await timed('slice', async () => {
    const slicer = await Slicer.create();
    const ids = included.map((r) => r.id);
    let reused = 0;
    let sliced = 0;
    let failed = 0;
    const batch = 50;
    for (let i = 0; i < ids.length; i += batch) {
      const res = await sliceBatch(slicer, ids.slice(i, i + batch), options.hops, records, slices);
      reused += res.alreadyStored;
      sliced += res.sliced;
      failed += res.failed;
      options.onStage?.('slice', 'progress', Math.min(ids.length, i + batch), ids.length);
    }
    return { sliced, failed, reused };
  });

  const sliceMap = new Map<string, SliceDocument>();
  for (const r of included) {
    const s = await slices.get(sliceId(r.id, options.hops));
    if (s) sliceMap.set(r.id, s);
  }

  const llmBefore = options.llmStats?.() ?? { requests: 0, cacheHits: 0 };
  const { nodes, examples } = await timed('summarize', () =>
    assembleKnowledgeBase({
      records: included,
      slices: sliceMap,
      catalog: options.catalog,
      clusterBy: options.clusterBy,
      catalogOnlyNodes: options.catalogOnlyNodes,
      distiller: options.distiller ?? extractiveDistiller,
      onCluster: (done, total) => options.onStage?.('summarize', 'progress', done, total),
    }),
  );

  const llmAfter = options.llmStats?.() ?? llmBefore;
  const llmCalls = llmAfter.requests - llmBefore.requests;
  const llmCallsCached = llmAfter.cacheHits - llmBefore.cacheHits;

  const manifest = await timed('index', () =>
    publishKnowledgeBase({
      kbDir: options.kbDir,
      nodes,
      examples,
      records: included.length,
      clusterBy: options.clusterBy,
      hops: options.hops,
      distillationMode: (options.distiller ?? extractiveDistiller).mode,
      llmCalls,
      llmCallsCached,
      embedder: options.embedder,
      keepVersions: options.keepVersions,
      alsoPublish: options.alsoPublish,
    }),
  );

  return { manifest, llm: { calls: llmCalls, cached: llmCallsCached }, ingest, slicing, stageMs };
}

export interface PublishInput {
  kbDir: string;
  nodes: CweNode[];
  examples: CodeExample[];
  records: number;
  clusterBy: ClusterBy;
  hops: number;
  distillationMode: 'llm' | 'extractive';
  llmCalls: number;
  llmCallsCached: number;
  embedder: (corpus: string[]) => Promise<BuildEmbedder>;
  keepVersions?: number;
  /** Another index to publish the same version to (Elasticsearch), after the local one. */
  alsoPublish?: (version: string, nodes: IndexedNode[], examples: IndexedExample[], dims: number) => Promise<void>;
}

/**
 * The index stage, in both runners: fit the embedder on the KB's own text, embed causes and secure
 * examples, write the LanceDB tables and publish the version atomically.
 */
export async function publishKnowledgeBase(input: PublishInput): Promise<KbManifest> {
  const { nodes, examples } = input;
  const corpus = [...nodes.map(nodeText), ...examples.map((e) => `${e.slicedSecure}\n${e.description ?? ''}`)];
  const embedder = await input.embedder(corpus);
  const causeVectors = await embedder.embed(nodes.map((n) => `${n.name ?? ''}\n${n.cause}`));
  const codeVectors = await embedder.embed(examples.map((e) => e.slicedSecure));
  const indexedNodes: IndexedNode[] = nodes.map((n, i) => ({ id: n.id, cwe: n.cwe, language: n.language ?? '', text: nodeText(n), apiText: apiText(n.apiNames), causeVector: causeVectors[i] }));
  const indexedExamples: IndexedExample[] = examples.map((e, i) => ({
    id: e.id,
    nodeId: e.cweNodeId,
    cwe: e.cwe,
    language: e.language,
    apiText: apiText(e.apiNames),
    codeText: e.searchText ?? [e.slicedVulnerable, e.slicedSecure, e.description ?? ''].join('\n'),
    codeVector: codeVectors[i],
  }));
  const manifest = await new KbDirectory(input.kbDir).publish(
    {
      manifest: {
        clusterBy: input.clusterBy,
        counts: { nodes: nodes.length, catalogOnlyNodes: nodes.filter((n) => n.provenance.mode === 'catalog-only').length, examples: examples.length, records: input.records },
        embedder: embedder.describe(),
        distillation: { mode: input.distillationMode, llmCalls: input.llmCalls, llmCallsCached: input.llmCallsCached },
        slicer: { version: SLICER_VERSION, hops: input.hops },
      },
      nodes,
      examples,
    },
    async (versionDir) => {
      if (embedder.toJSON) await writeFile(join(versionDir, 'embedder.json'), JSON.stringify(embedder.toJSON()));
      await LanceKnowledgeIndex.write(versionDir, indexedNodes, indexedExamples);
    },
    input.keepVersions,
  );
  if (input.alsoPublish) await input.alsoPublish(manifest.version, indexedNodes, indexedExamples, causeVectors[0]?.length ?? 0);
  return manifest;
}

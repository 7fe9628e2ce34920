import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@elastic/elasticsearch';
import {
  type Embedder,
  DEFAULT_RETRIEVAL,
  ElasticsearchKbDocuments,
  ElasticsearchKnowledgeIndex,
  HierarchicalRetriever,
  LanceKnowledgeIndex,
  LsaEmbedder,
  type RetrievalConfig,
  type RetrievalIndex,
  type RetrievalQuery,
  elasticsearchClient,
  elasticsearchSearchFor,
  urlForMessages,
} from '@rescue/retrieval';
import { KbDirectory, type KbManifest } from './kb-directory';
import type { CodeExample, CweNode } from './kb-model';

/** Thresholds fitted by `rescue kb calibrate`, kept beside (not inside) the immutable version. */
export interface CalibrationFile {
  thresholds: Partial<RetrievalConfig['thresholds']>;
  fittedOn: string;
  quantile: number;
  createdAt: string;
}

export async function readThresholds(versionDir: string): Promise<CalibrationFile | undefined> {
  try {
    return JSON.parse(await readFile(join(versionDir, 'thresholds.json'), 'utf8')) as CalibrationFile;
  } catch {
    return undefined;
  }
}

export async function writeThresholds(versionDir: string, file: CalibrationFile): Promise<void> {
  const tmp = join(versionDir, `thresholds.json.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify(file, null, 2));
  await rename(tmp, join(versionDir, 'thresholds.json'));
}

export interface OpenedKb {
  manifest: KbManifest;
  /** Where it was read from: the version folder, or the Elasticsearch documents index. */
  source: string;
  nodes: Map<string, CweNode>;
  examples: Map<string, CodeExample>;
  retriever: HierarchicalRetriever;
  /** Stores thresholds fitted by `kb calibrate` with this version, wherever it lives. */
  saveThresholds(file: CalibrationFile): Promise<void>;
}

/** Offline queries need the embedder's model; an LLM-embedded KB would need the LLM at query time. */
function assertQueryable(manifest: KbManifest): void {
  if (manifest.embedder.id !== 'local-lsa') {
    throw new Error(`KB ${manifest.version} was embedded with ${String(manifest.embedder.id)}; only local-lsa KBs can be queried offline for now`);
  }
}

function assemble(
  manifest: KbManifest,
  source: string,
  parts: { embedderJson: string; calibrated?: CalibrationFile; nodes: CweNode[]; examples: CodeExample[]; index: RetrievalIndex; saveThresholds: (file: CalibrationFile) => Promise<void> },
  overrides: Partial<RetrievalConfig>,
): OpenedKb {
  const embedder: Embedder = LsaEmbedder.fromJSON(parts.embedderJson);
  const thresholds = { ...DEFAULT_RETRIEVAL.thresholds, ...(manifest.thresholds ?? {}), ...(parts.calibrated?.thresholds ?? {}), ...(overrides.thresholds ?? {}) };
  return {
    manifest,
    source,
    nodes: new Map(parts.nodes.map((n) => [n.id, n])),
    examples: new Map(parts.examples.map((e) => [e.id, e])),
    retriever: new HierarchicalRetriever(parts.index, embedder, { ...DEFAULT_RETRIEVAL, ...overrides, thresholds }),
    saveThresholds: parts.saveThresholds,
  };
}

/**
 * Opens the serving (or a given) KB version for retrieval with the embedder it was built with, so
 * queries land in the same vector space, and the thresholds stored with it when it has them. The
 * searches run on the folder's LanceDB tables unless `searchIndex` gives another backend for the
 * version (Elasticsearch, reading that version's own indices, published by `kb build --es`); the
 * documents, embedder and thresholds then still come from the folder.
 */
export async function openKnowledgeBase(kbDir: string, overrides: Partial<RetrievalConfig> = {}, version?: string, searchIndex?: (version: string) => RetrievalIndex | Promise<RetrievalIndex>): Promise<OpenedKb> {
  const dir = new KbDirectory(kbDir);
  const manifest = await dir.manifest(version);
  const versionDir = dir.versionDir(manifest.version);
  assertQueryable(manifest);
  return assemble(
    manifest,
    versionDir,
    {
      embedderJson: await readFile(join(versionDir, 'embedder.json'), 'utf8'),
      calibrated: await readThresholds(versionDir),
      nodes: await dir.nodes(manifest.version),
      examples: await dir.examples(manifest.version),
      index: searchIndex ? await searchIndex(manifest.version) : await LanceKnowledgeIndex.open(versionDir),
      saveThresholds: (file) => writeThresholds(versionDir, file),
    },
    overrides,
  );
}

/**
 * Opens a KB served by Elasticsearch alone: the live version behind `${prefix}-nodes` (or the one
 * given), its documents, embedder and thresholds from `${prefix}-docs-${version}`, its searches on
 * that version's indices. `kb build --es` publishes all three.
 */
export async function openKnowledgeBaseFromElasticsearch(url: string, prefix: string, overrides: Partial<RetrievalConfig> = {}, version?: string): Promise<OpenedKb> {
  const client = elasticsearchClient(url);
  let live: string | undefined;
  try {
    live = version ?? (await new ElasticsearchKnowledgeIndex(client, { prefix }).liveVersion());
  } catch (err) {
    throw new Error(`Elasticsearch at ${urlForMessages(url)} did not answer (${(err as Error).message}); check the address`);
  }
  if (!live) throw new Error(`no KB is live in Elasticsearch at ${urlForMessages(url)} under prefix "${prefix}"; publish one with \`rescue kb build --es ${urlForMessages(url)} --es-prefix ${prefix}\``);
  const documents = new ElasticsearchKbDocuments(client, prefix);
  const docs = await documents.read(live);
  assertQueryable(docs.manifest as KbManifest);
  if (docs.embedder === undefined) throw new Error(`KB version ${live} in Elasticsearch has no embedder document; republish it with \`rescue kb build --es\``);
  return assemble(
    docs.manifest as KbManifest,
    `${urlForMessages(url)}/${documents.indexOf(live)}`,
    {
      embedderJson: docs.embedder,
      calibrated: docs.thresholds as CalibrationFile | undefined,
      nodes: docs.nodes as CweNode[],
      examples: docs.examples as CodeExample[],
      index: await elasticsearchSearchFor(url, prefix, client)(live),
      saveThresholds: (file) => documents.writeThresholds(live as string, file),
    },
    overrides,
  );
}

/** Where a KB is served from: a folder, a folder whose searches run on Elasticsearch, or Elasticsearch alone. */
export interface KbLocation {
  dir?: string;
  elasticsearchUrl?: string;
  elasticsearchPrefix: string;
}

/** Opens the KB at a location (the one decision CLI, API and workers share). */
export function openKnowledgeBaseAt(at: KbLocation, overrides: Partial<RetrievalConfig> = {}): Promise<OpenedKb> {
  const { dir, elasticsearchUrl: url, elasticsearchPrefix: prefix } = at;
  if (dir) return openKnowledgeBase(dir, overrides, undefined, url ? elasticsearchSearchFor(url, prefix) : undefined);
  if (url) return openKnowledgeBaseFromElasticsearch(url, prefix, overrides);
  throw new Error('no KB location: give a KB folder or an Elasticsearch URL it was published to');
}

/**
 * Writes a published version's documents, embedder and thresholds from its folder to
 * Elasticsearch, before its search indices go live (`kb build --es`).
 */
export async function publishKbDocuments(client: Client, prefix: string, versionDir: string): Promise<{ documents: number }> {
  const manifest = JSON.parse(await readFile(join(versionDir, 'manifest.json'), 'utf8')) as KbManifest;
  const dir = new KbDirectory(join(versionDir, '..', '..'));
  let embedder: string | undefined;
  try {
    embedder = await readFile(join(versionDir, 'embedder.json'), 'utf8');
  } catch {
    // An LLM embedder has no model to store; queries embed through the LLM.
  }
  return new ElasticsearchKbDocuments(client, prefix).write(manifest.version, {
    manifest,
    embedder,
    thresholds: await readThresholds(versionDir),
    nodes: await dir.nodes(manifest.version),
    examples: await dir.examples(manifest.version),
  });
}

/** What offline retrieval reads from a task's code: API references and the prose in it. */
export interface TaskCodeReader {
  apiReferences(language: string, code: string): Promise<{ callee: string; name: string }[]>;
  prose(language: string, code: string): Promise<string>;
}

/**
 * CWE-level facets without an LLM. The cause facet is left out: offline there is no analysis, and
 * the task's words already reach the CWE prose through the text facet, so a dense "cause" over the
 * same words counts that evidence twice (on the dev set it pulled catalogue-only look-alikes into
 * the top 4: hit@4 on seen CWEs 0.71 with it, 0.85 without). With an LLM all four facets run.
 */
export const OFFLINE_CWE_FACETS: RetrievalConfig['cweFacets'] = ['examples', 'api', 'text'];

/**
 * The offline query (no LLM, issue mode `offline`): the task text stands in for the cause analysis
 * and the task's code for the draft. API references (calls and imports) come from the task's
 * syntax tree; the text facet gets the task's prose: an instruction as it is, a code prefix's
 * comments and docstrings (its whole text when it has none), since CWE descriptions are prose.
 */
export async function offlineQuery(task: { language: string; prompt: string; kind?: 'completion' | 'instruction' }, reader: TaskCodeReader): Promise<RetrievalQuery> {
  let apis: string[] = [];
  let prose = '';
  try {
    apis = (await reader.apiReferences(task.language, task.prompt)).flatMap((c) => [c.callee, c.name]);
    if (task.kind !== 'instruction') prose = await reader.prose(task.language, task.prompt);
  } catch {
    // A prefix that does not parse (or a language without a grammar) has no API facet, and its
    // whole text is the prose.
  }
  return { language: task.language, cause: task.prompt, apis, code: task.prompt, text: prose.trim() ? prose : task.prompt };
}

import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Client } from '@elastic/elasticsearch';
import writeFileAtomic from 'write-file-atomic';
import { ConfigError, InvalidInputError, NotFoundError, TransientUpstreamError } from '@rescue/domain';
// The module, not the library's index (its ingestors and zod schemas): `rescue retrieve` loads this file.
import { readJsonIfExists } from '@rescue/datasets/optional-file';
import type { Llm } from '@rescue/llm';
import {
  type CweFacts,
  CweRetriever,
  DEFAULT_CODE_LEVEL,
  DEFAULT_RANKER,
  ElasticsearchKbDocuments,
  ElasticsearchKnowledgeIndex,
  type Embedder,
  type EmbedderDescription,
  type GateModel,
  type IndexedKnowledge,
  type KnowledgeFacts,
  type KnowledgeIndexReader,
  LanceKnowledgeIndex,
  LazyLanceKnowledgeIndex,
  LlmEmbedder,
  LsaEmbedder,
  MEMORY_INDEX_FILE,
  MEMORY_SEARCH_MAX_ROWS,
  MemoryKnowledgeIndex,
  type RankerModel,
  type RetrievalConfig,
  type RetrievalQuery,
  type TermCounts,
  elasticsearchClient,
  elasticsearchSearchFor,
  urlForMessages,
  validateGate,
  readMemoryIndexSnapshot,
  validateRanker,
} from '@rescue/retrieval';
import { SliceFailure } from '@rescue/slicing';
import { type GateCacheNotice, cachedDefaultGate, fitDefaultGate } from './gate-cache';
import { KbDirectory, type KbManifest, readText } from './kb-directory';
import { type CodeExample, type CweNode, type KnowledgeDocument, cweNodeId } from './kb-model';

/**
 * What `rescue kb calibrate` fits for one KB version: a ranker and a relevance gate, and the
 * code-level thresholds. Kept beside the version, never inside it (a published version folder is
 * immutable), or in the version's Elasticsearch documents.
 */
export interface CalibrationFile {
  ranker?: RankerModel;
  gate?: GateModel;
  codeThresholds?: RetrievalConfig['codeThresholds'];
  fittedOn: string;
  createdAt: string;
}

/** Where a folder KB keeps a version's calibration: `<kb>/calibration/<version>.json`. */
export const calibrationPath = (kbDir: string, version: string): string => join(kbDir, 'calibration', `${version}.json`);

export async function readCalibration(path: string): Promise<CalibrationFile | undefined> {
  const parsed = await readJsonIfExists<CalibrationFile>(path, 'delete it or run "rescue kb calibrate" again');
  return parsed === undefined ? undefined : checkCalibration(parsed, path);
}

function checkCalibration(c: CalibrationFile, where: string): CalibrationFile {
  return { ...c, ...(c.ranker ? { ranker: validateRanker(c.ranker, `${where} (ranker)`) } : {}), ...(c.gate ? { gate: validateGate(c.gate, `${where} (gate)`) } : {}) };
}

/** A path inside a published version folder (`…/versions/kb-<16 hex>/…`). */
const INSIDE_VERSION = /[\\/]versions[\\/]kb-[0-9a-f]{16}([\\/]|$)/;

export async function writeCalibration(path: string, file: CalibrationFile): Promise<void> {
  // A version folder is immutable and checksummed: a file written into it would fail `kb verify`
  // and the readiness probe. Calibration lives beside it, in <kb>/calibration/<version>.json.
  if (INSIDE_VERSION.test(resolve(path)))
    throw new InvalidInputError(`${path} is inside a published KB version folder, which is immutable (its files are checksummed): calibration goes to <kb>/calibration/<version>.json`);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFileAtomic(path, JSON.stringify(file, null, 2));
}

export interface OpenedKb {
  manifest: KbManifest;
  /** Where it was read from: the version folder, or the Elasticsearch documents index. */
  source: string;
  nodes: Map<string, CweNode>;
  examples: Map<string, CodeExample>;
  documents: KnowledgeDocument[];
  retriever: CweRetriever;
  index: KnowledgeIndexReader;
  facts: KnowledgeFacts;
  /** Stores a calibration fitted by `kb calibrate` with this version, wherever it lives. */
  saveCalibration(file: CalibrationFile): Promise<void>;
}

/**
 * The embedder a version's vectors were made with, so queries land in the same space: the local
 * LSA model stored with the version, or, for a KB embedded by an embeddings endpoint, one the
 * caller builds from its LLM configuration (`embedderFor`).
 */
function embedderOf(manifest: KbManifest, embedderJson: string | undefined, embedderFor: OpenOptions['embedderFor']): Embedder {
  const description = manifest.embedder as EmbedderDescription;
  if (description.id === 'local-lsa') {
    if (embedderJson === undefined) throw new InvalidInputError(`KB version ${manifest.version} has no embedder.json; rebuild it with "rescue kb build"`);
    return LsaEmbedder.fromJSON(embedderJson);
  }
  const embedder = embedderFor?.(description);
  if (!embedder) {
    const model = typeof description.params?.model === 'string' ? description.params.model : 'its model';
    throw new ConfigError([`KB version ${manifest.version} was embedded with ${description.id} (${model}): set LLM_BASE_URL and LLM_MODEL_EMBEDDER=${model} where it is queried`]);
  }
  return embedder;
}

/** For callers with an LLM: the embeddings endpoint a KB built with `--embedder llm` needs at query time. */
export function llmEmbedderFor(llm: Llm | undefined): OpenOptions['embedderFor'] {
  return (description) => (llm && description.id === 'openai-compatible' && typeof description.params.model === 'string' ? new LlmEmbedder(llm, description.params.model) : undefined);
}

/**
 * The facts ranking weighs per CWE (catalogue priors on the language-neutral node, CodeQL
 * queries, fixes by language) and the node that answers a task: the CWE's node in the task's
 * language when there is one, else its language-neutral node.
 */
export function knowledgeFacts(nodes: Map<string, CweNode>, examples: Iterable<CodeExample>, documents: KnowledgeDocument[], termCounts: TermCounts): KnowledgeFacts {
  const facts = new Map<string, CweFacts>();
  const of = (cwe: string): CweFacts => {
    let f = facts.get(cwe);
    if (!f) {
      const node = nodes.get(cweNodeId(cwe));
      const p = node?.priors;
      f = {
        abstraction: p?.abstraction,
        mappingUsage: p?.mappingUsage,
        observedExamples: p?.observedExamples ?? 0,
        topLists: p?.topLists ?? 0,
        platforms: p?.platforms ?? [],
        codeqlQueries: 0,
        fixesByLanguage: {},
        parents: node?.parents ?? [],
      };
      facts.set(cwe, f);
    }
    return f;
  };
  for (const n of nodes.values()) of(n.cwe);
  for (const e of examples) if (e.kind !== 'vulnerable') of(e.cwe).fixesByLanguage[e.language] = (of(e.cwe).fixesByLanguage[e.language] ?? 0) + 1;
  for (const d of documents) if (d.kind === 'codeql-help') for (const c of d.cwes) of(c).codeqlQueries += 1;
  return {
    facts: (cwe) => facts.get(cwe),
    nodeFor: (cwe, language) =>
      language && nodes.has(`${language}:${cwe}`) ? `${language}:${cwe}` : nodes.has(cweNodeId(cwe)) ? cweNodeId(cwe) : ([...nodes.values()].find((n) => n.cwe === cwe)?.id ?? cweNodeId(cwe)),
    termCounts,
  };
}

/** Retrieval settings a caller may change per opened KB (evaluation compares rankers and gates). */
export interface OpenOptions {
  ranker?: RankerModel;
  /** A gate, or `false` to never abstain. */
  gate?: GateModel | false;
  topK?: number;
  /** The query embedder for a KB not embedded locally (see {@link llmEmbedderFor}). */
  embedderFor?: (description: EmbedderDescription) => Embedder | undefined;
  /** Told when a folder KB's cached relevance gate is stale or damaged, and fitted again (default: a line on stderr). */
  onGateCacheProblem?: GateCacheNotice;
}

function assemble(
  manifest: KbManifest,
  source: string,
  parts: {
    embedderJson?: string;
    termCounts: TermCounts;
    /**
     * The relevance gate of an uncalibrated KB (see gate-cache.ts): a folder KB's comes from its
     * cache; without one it is fitted here, against the KB's own term counts and our ordinary-task
     * fixtures, so every KB, small or large, gets the threshold its vocabulary calls for.
     */
    defaultGate?: GateModel;
    calibration?: CalibrationFile;
    nodes: CweNode[];
    examples: CodeExample[];
    documents: KnowledgeDocument[];
    index: KnowledgeIndexReader;
    saveCalibration: (file: CalibrationFile) => Promise<void>;
  },
  options: OpenOptions,
): OpenedKb {
  const embedder = embedderOf(manifest, parts.embedderJson, options.embedderFor);
  const nodes = new Map(parts.nodes.map((n) => [n.id, n]));
  const examples = new Map(parts.examples.map((e) => [e.id, e]));
  const facts = knowledgeFacts(nodes, parts.examples, parts.documents, parts.termCounts);
  const gate = options.gate === false ? undefined : (options.gate ?? parts.calibration?.gate ?? parts.defaultGate ?? fitDefaultGate(parts.termCounts));
  const config: RetrievalConfig = {
    ...DEFAULT_CODE_LEVEL,
    topK: options.topK ?? 4,
    ranker: options.ranker ?? parts.calibration?.ranker ?? DEFAULT_RANKER,
    gate,
    codeThresholds: parts.calibration?.codeThresholds ?? DEFAULT_CODE_LEVEL.codeThresholds,
  };
  return {
    manifest,
    source,
    nodes,
    examples,
    documents: parts.documents,
    retriever: new CweRetriever(parts.index, embedder, facts, config),
    index: parts.index,
    facts,
    saveCalibration: parts.saveCalibration,
  };
}

async function readTermCountsText(versionDir: string): Promise<string> {
  const path = join(versionDir, 'term-counts.json');
  if (!existsSync(path)) throw new InvalidInputError(`KB version folder ${versionDir} has no term-counts.json; rebuild it with "rescue kb build"`);
  return readFile(path, 'utf8');
}

async function readTermCounts(versionDir: string): Promise<TermCounts> {
  return JSON.parse(await readTermCountsText(versionDir)) as TermCounts;
}

/**
 * The default relevance gate of a published folder version, from the KB folder's gate cache
 * (fitted and cached when absent, stale or damaged). A publish calls it so that the first open of
 * a new version finds it cached.
 */
export async function folderDefaultGate(kbDir: string, version: string, notice?: GateCacheNotice): Promise<GateModel> {
  const text = await readTermCountsText(new KbDirectory(kbDir).versionDir(version));
  return cachedDefaultGate(kbDir, version, text, JSON.parse(text) as TermCounts, notice);
}

/**
 * A version folder's search index. Small collections are searched in memory (a LanceDB query costs
 * ~6 ms whatever the size), from the snapshot of that index published with the version when it has
 * one: one file read instead of loading LanceDB and tokenizing every row again (most of a cold
 * `rescue retrieve`). A version published before snapshots, or with a snapshot of another format,
 * is read from its tables as before; one whose manifest lists a snapshot that is gone is damaged.
 */
async function folderIndex(versionDir: string, manifest: KbManifest): Promise<KnowledgeIndexReader> {
  const snapshotPath = join(versionDir, MEMORY_INDEX_FILE);
  if (existsSync(snapshotPath)) {
    const prebuilt = await readMemoryIndexSnapshot(snapshotPath);
    if (prebuilt) return new MemoryKnowledgeIndex(new LazyLanceKnowledgeIndex(versionDir), MEMORY_SEARCH_MAX_ROWS, prebuilt);
  } else if (manifest.checksums && Object.hasOwn(manifest.checksums.files, MEMORY_INDEX_FILE)) {
    throw new InvalidInputError(
      `${snapshotPath} is missing, though KB version ${manifest.version} was published with it: the version is damaged; check it with "rescue kb verify" and rebuild it with "rescue kb build"`,
    );
  }
  return new MemoryKnowledgeIndex(await LanceKnowledgeIndex.open(versionDir));
}

/**
 * Opens the serving (or a given) KB version for retrieval with the embedder it was built with, so
 * queries land in the same vector space, and the calibration stored beside it when it has one.
 * The searches run on the folder's LanceDB tables unless `searchIndex` gives another backend for
 * the version (Elasticsearch, reading that version's own indices, published by `kb build --es`);
 * the documents, embedder and calibration then still come from the folder.
 */
export async function openKnowledgeBase(
  kbDir: string,
  options: OpenOptions = {},
  version?: string,
  searchIndex?: (version: string) => KnowledgeIndexReader | Promise<KnowledgeIndexReader>,
): Promise<OpenedKb> {
  const dir = new KbDirectory(kbDir);
  const manifest = await dir.manifest(version);
  const versionDir = dir.versionDir(manifest.version);
  const calibration = calibrationPath(kbDir, manifest.version);
  const embedderPath = join(versionDir, 'embedder.json');
  const termCountsText = await readTermCountsText(versionDir);
  const termCounts = JSON.parse(termCountsText) as TermCounts;
  const calibrated = await readCalibration(calibration);
  // Only a KB answered with its default gate needs it (a calibration or the caller may give one).
  const needsDefaultGate = options.gate === undefined && !calibrated?.gate;
  return assemble(
    manifest,
    versionDir,
    {
      embedderJson: existsSync(embedderPath) ? await readText(embedderPath) : undefined,
      termCounts,
      defaultGate: needsDefaultGate ? await cachedDefaultGate(kbDir, manifest.version, termCountsText, termCounts, options.onGateCacheProblem) : undefined,
      calibration: calibrated,
      nodes: await dir.nodes(manifest.version),
      examples: await dir.examples(manifest.version),
      documents: await dir.documents(manifest.version),
      index: searchIndex ? await searchIndex(manifest.version) : await folderIndex(versionDir, manifest),
      saveCalibration: (file) => writeCalibration(calibration, file),
    },
    options,
  );
}

/**
 * Opens a KB served by Elasticsearch alone: the live version behind `${prefix}-nodes` (or the one
 * given), its documents, embedder, term counts and calibration from `${prefix}-docs-${version}`,
 * its searches on that version's indices. `kb build --es` publishes all of them.
 */
export async function openKnowledgeBaseFromElasticsearch(url: string, prefix: string, options: OpenOptions = {}, version?: string): Promise<OpenedKb> {
  const client = elasticsearchClient(url);
  let live: string | undefined;
  try {
    live = version ?? (await new ElasticsearchKnowledgeIndex(client, { prefix }).liveVersion());
  } catch (err) {
    throw new TransientUpstreamError(`Elasticsearch at ${urlForMessages(url)} did not answer (${(err as Error).message}); check the address`, { cause: err });
  }
  if (!live)
    throw new NotFoundError(
      `no KB is live in Elasticsearch at ${urlForMessages(url)} under prefix "${prefix}"; publish one with \`rescue kb build --es ${urlForMessages(url)} --es-prefix ${prefix}\``,
    );
  const documents = new ElasticsearchKbDocuments(client, prefix);
  const docs = await documents.read(live);
  const manifest = docs.manifest as KbManifest;
  if (docs.termCounts === undefined) throw new InvalidInputError(`KB version ${live} in Elasticsearch has no term counts; republish it with \`rescue kb build --es\``);
  const calibration = docs.calibration ? checkCalibration(docs.calibration as CalibrationFile, `the calibration of ${live} in Elasticsearch`) : undefined;
  return assemble(
    manifest,
    `${urlForMessages(url)}/${documents.indexOf(live)}`,
    {
      embedderJson: docs.embedder,
      termCounts: docs.termCounts as TermCounts,
      calibration,
      nodes: docs.nodes as CweNode[],
      examples: docs.examples as CodeExample[],
      documents: docs.documents as KnowledgeDocument[],
      index: await elasticsearchSearchFor(url, prefix, client)(live),
      saveCalibration: (file) => documents.writeCalibration(live as string, file),
    },
    options,
  );
}

/** Where a KB is served from: a folder, a folder whose searches run on Elasticsearch, or Elasticsearch alone. */
export interface KbLocation {
  dir?: string;
  elasticsearchUrl?: string;
  elasticsearchPrefix: string;
}

/** Opens the KB at a location, its live version or the one given (the one decision CLI, API and workers share). */
export function openKnowledgeBaseAt(at: KbLocation, options: OpenOptions = {}, version?: string): Promise<OpenedKb> {
  const { dir, elasticsearchUrl: url, elasticsearchPrefix: prefix } = at;
  if (dir) return openKnowledgeBase(dir, options, version, url ? elasticsearchSearchFor(url, prefix) : undefined);
  if (url) return openKnowledgeBaseFromElasticsearch(url, prefix, options, version);
  throw new InvalidInputError('no KB location: give a KB folder or an Elasticsearch URL it was published to');
}

/**
 * Writes a published version's documents, embedder, term counts and calibration from its folder
 * to Elasticsearch, before its search indices go live (`kb build --es`).
 */
export async function publishKbDocuments(client: Client, prefix: string, kbDir: string, version: string): Promise<{ documents: number }> {
  const dir = new KbDirectory(kbDir);
  const manifest = await dir.manifest(version);
  const versionDir = dir.versionDir(version);
  const embedderPath = join(versionDir, 'embedder.json');
  return new ElasticsearchKbDocuments(client, prefix).write(manifest.version, {
    manifest,
    // An LLM embedder has no model to store; queries embed through the LLM.
    embedder: existsSync(embedderPath) ? await readFile(embedderPath, 'utf8') : undefined,
    termCounts: await readTermCounts(versionDir),
    calibration: await readCalibration(calibrationPath(kbDir, version)),
    nodes: await dir.nodes(manifest.version),
    examples: await dir.examples(manifest.version),
    documents: await dir.documents(manifest.version),
  });
}

/**
 * The `alsoPublish` step of a build that also goes to Elasticsearch: the version's documents
 * first (readers of a live version then find them), then its search indices behind the aliases,
 * then the documents of the versions the publish pruned. Shared by the inline build and the
 * distributed indexer.
 */
export function elasticsearchPublisher(url: string, prefix: string, kbDir: string): (version: string, index: IndexedKnowledge, dims: number) => Promise<void> {
  return async (version, index, dims) => {
    const client = elasticsearchClient(url);
    await publishKbDocuments(client, prefix, kbDir, version);
    const result = await new ElasticsearchKnowledgeIndex(client, { prefix }).publish(version, index, { dims });
    await new ElasticsearchKbDocuments(client, prefix).delete(result.deletedVersions);
  };
}

/** What offline retrieval reads from a task's code: API references (calls and imports). */
export interface TaskCodeReader {
  apiReferences(language: string, code: string): Promise<{ callee: string; name: string }[]>;
}

/**
 * The offline query (no LLM): the task stands in for the cause analysis and for the draft. Its
 * whole text is searched both as words and as code (a prefix's identifiers name what it does as
 * much as its comments do), and API references come from its syntax tree when its language has a
 * grammar; a task in any other language, or one that does not parse, is searched by its text alone.
 */
export async function offlineQuery(task: { language: string; prompt: string }, reader: TaskCodeReader): Promise<RetrievalQuery> {
  let apis: string[] = [];
  try {
    apis = (await reader.apiReferences(task.language, task.prompt)).flatMap((c) => [c.callee, c.name]);
  } catch (err) {
    // No grammar for the language (C#, PHP, Rust…), or code the parser refuses: no API names.
    if (!(err instanceof SliceFailure)) throw err;
  }
  return { language: task.language, text: task.prompt, code: task.prompt, apis };
}

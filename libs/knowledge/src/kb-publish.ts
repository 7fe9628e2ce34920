import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CweEntry } from '@rescue/datasets';
import { type CweId, InvalidInputError } from '@rescue/domain';
import {
  type FieldPostings,
  type IndexedDocument,
  type IndexedExample,
  type IndexedKnowledge,
  type IndexedNode,
  LanceKnowledgeIndex,
  LsaEmbedder,
  MEMORY_INDEX_FILE,
  MEMORY_SEARCH_MAX_ROWS,
  SEARCH_TERMS_VERSION,
  type SearchCollection,
  type TermCounts,
  type TextField,
  WrittenRows,
  countTerms,
  fitSampleKey,
  fitSampleOfKeys,
  lsaCodeFingerprint,
  searchText,
  termCountsOf,
  writeMemoryIndexSnapshot,
} from '@rescue/retrieval';
import { SLICER_VERSION } from '@rescue/slicing';
import { REUSE_VECTORS_MAX_EXAMPLES, earlierCauseVectors, earlierExampleVectors, earlierMemoryIndexes } from './build-cache/earlier-vectors';
import { type EmbedderRefit, rememberFit, rememberModel, reusedFit } from './build-cache/embedder-fit-cache';
import { contentKey } from './build-cache/keyed-cache';
import { type ExampleSource, asExampleSource } from './example-source';
import { SpilledTexts } from './spilled-texts';
import { SpilledVectors } from './spilled-vectors';
import { KbDirectory, type KbManifest, type PublishOptions } from './kb-directory';
import { folderDefaultGate } from './kb-retriever';
import { cachedDefaultGate } from './gate-cache';
import { type ClusterBy, type CodeExample, type CweNode, type KnowledgeDocument, causeText } from './kb-model';

/** The embedder a build fits (or is given) and stores with the version. */
export interface BuildEmbedder {
  describe(): Record<string, unknown>;
  embed(texts: string[]): Promise<Float32Array[]>;
  toJSON?(): unknown;
}

/**
 * What fits a build's embedder on the KB's text. One that can read back a model it fitted
 * (`refit`) is not fitted again on a corpus a version of the same KB folder was fitted on (see
 * reusedFit): the model read back is the one the fit would make.
 */
export type EmbedderFactory = ((corpus: string[]) => Promise<BuildEmbedder>) & { refit?: EmbedderRefit<BuildEmbedder> };

const LOCAL_FIT = { dimensions: 256, seed: 1 } as const;

/** The embedded default: LSA (same parameters in both runners), fitted on what knowledgeFitCorpus says. */
export const localEmbedder: EmbedderFactory = Object.assign(async (corpus: string[]): Promise<BuildEmbedder> => LsaEmbedder.fit(corpus, LOCAL_FIT), {
  refit: {
    identity: () => `local-lsa ${JSON.stringify(LOCAL_FIT)} ${lsaCodeFingerprint()}`,
    fromJSON: (json: string, fingerprint?: string): BuildEmbedder => LsaEmbedder.fromJSON(json, fingerprint),
  },
});

/** What a CWE node contributes to text search: name, description, guidelines and cause. */
export function nodeText(n: CweNode): string {
  return [n.cwe, n.name, n.description, ...n.guidelines, n.cause].filter(Boolean).join('\n');
}

/** The catalogue's text about a weakness: name, descriptions, alternate terms, background, examples' prose, mitigations. */
export function catalogText(entry: CweEntry): string {
  return [
    entry.name,
    entry.description,
    entry.extendedDescription ?? '',
    ...(entry.alternateTerms ?? []).map((t) => `${t.term} ${t.description ?? ''}`),
    ...(entry.backgroundDetails ?? []),
    ...(entry.demonstrativeExamples ?? []).flatMap((d) => d.prose),
    ...entry.mitigations.map((m) => m.description),
  ].join('\n');
}

/** The catalogue's example code of a weakness, for the CWE's whole-knowledge document. */
function catalogCode(entry: CweEntry): string {
  return (entry.demonstrativeExamples ?? []).flatMap((d) => d.blocks.map((b) => b.code)).join('\n');
}

export function apiText(names: string[]): string {
  return names.map((a) => a.toLowerCase().replace(/\./g, ' ')).join(' ');
}

export interface PublishInput {
  kbDir: string;
  nodes: CweNode[];
  /** In the KB's order: a list, or a source read pass by pass (a build's staging). */
  examples: CodeExample[] | ExampleSource;
  documents?: KnowledgeDocument[];
  /** The catalogue the nodes were enriched from (its text joins each CWE's search document). */
  catalog?: Map<CweId, CweEntry>;
  records: number;
  clusterBy: ClusterBy;
  hops: number;
  llmCalls: number;
  llmCallsCached: number;
  embedder: EmbedderFactory;
  keepVersions?: number;
  /** Another index to publish the same version to (Elasticsearch), after the local one. */
  alsoPublish?: (version: string, index: IndexedKnowledge, dims: number) => Promise<void>;
  /** The source and catalogue paths, recorded in the manifest. */
  inputs?: KbManifest['inputs'];
  /** How to wait for another build holding the KB folder's lock (default: up to 10 minutes, told on stderr). */
  lock?: PublishOptions;
  /** How texts' search terms are worked out: searchText, or a memo of it (the KB folder's cache). */
  searchTerms?: (text: string) => string;
  /** Documents the embedder is fitted on, at most (default {@link FIT_CORPUS_MAX_DOCUMENTS}). */
  maxFitDocuments?: number;
  /** Examples above which their search terms wait in a file while the version is written (default {@link SPILL_TEXTS_ABOVE_EXAMPLES}). */
  spillTextsAbove?: number;
}

/**
 * Documents the build's embedder is fitted on, at most, when it is fitted on the records (see
 * knowledgeFitCorpus). The LSA fit's memory grows with its corpus (a term map and a TF-IDF row per
 * document, and dense documents × 266 float64 matrices in the randomized SVD, 266 MB each for the
 * ~125k examples of a 100× build), while 20,000 documents already hold the vocabulary of every CWE
 * and language the data has. Above what the shared data
 * at 1× and 10× reach (about 2,300 and 14,300 documents), so those KBs are fitted, and come out,
 * exactly as before.
 */
export const FIT_CORPUS_MAX_DOCUMENTS = 20_000;

/**
 * Documents of security knowledge (catalogue entries and CodeQL help) at and above which the
 * embedder is fitted on them alone, not on the KB's records. The CWE catalogue has about 940
 * entries; a sample catalogue of a dozen does not hold the vocabulary, and a KB built from one is
 * fitted on its records and nodes as before (see knowledgeFitCorpus).
 */
export const MIN_KNOWLEDGE_FIT_DOCUMENTS = 500;

/**
 * The embedder's fit corpus when the build has enough security knowledge: every catalogue entry's
 * text and every CodeQL help page, in id order. Records, and the nodes and examples distilled from
 * them, are left out on purpose:
 * - A rebuild with new or changed records keeps the same fit corpus, so it reads the model back
 *   (see reusedFit) and every unchanged vector stays as it was: adding 1% of records no longer
 *   refits the embedder and rewrites every vector.
 * - It chose the secure example as well or better (offline the embedder only ranks examples;
 *   the CWE level's facets are lexical): with the shared sources (fix pairs, CodeQL help and the
 *   catalogue) the example was of a gold CWE for 0.511 of tasks (macro over the four sets) against
 *   0.489 when fitted on the records, better on three sets and equal on the fourth.
 * Undefined when there is less than {@link MIN_KNOWLEDGE_FIT_DOCUMENTS} of it.
 */
function knowledgeFitCorpus(catalog: Map<CweId, CweEntry> | undefined, documents: KnowledgeDocument[]): string[] | undefined {
  const entries = [...(catalog?.values() ?? [])].sort((a, b) => (a.id < b.id ? -1 : 1));
  const help = documents.filter((d) => d.kind === 'codeql-help').sort((a, b) => (a.id < b.id ? -1 : 1));
  const corpus = [...entries.map((e) => `${e.id}\n${catalogText(e)}`), ...help.map((d) => `${d.title}\n${d.text}`)];
  return corpus.length >= MIN_KNOWLEDGE_FIT_DOCUMENTS ? corpus : undefined;
}

/** An example's text in the embedder's fit corpus (when it is fitted on the records). */
const fitText = (e: CodeExample): string => `${e.kind === 'vulnerable' ? e.slicedVulnerable : e.slicedSecure}\n${e.description ?? ''}`;

/**
 * Examples up to which the LanceDB tables and the in-memory index snapshot are written at the same
 * time (the shared data at 1× has about 2,900): above, one after the other, so their memory does
 * not add up (at 10× the snapshot's postings and the tables' Arrow buffers peaked together).
 */
export const SIDE_BY_SIDE_MAX_EXAMPLES = 5_000;

/**
 * Examples above which a publish keeps their search terms in a file under `<kb>/staging` rather
 * than in memory (see SpilledTexts): above what the shared data at 1× has, so a small KB is
 * written as before, without the reads.
 */
export const SPILL_TEXTS_ABOVE_EXAMPLES = 5_000;

/** Examples that join a CWE's whole-knowledge document, at most. */
export const MAX_EXAMPLES_PER_CWE_DOCUMENT = 100;

/**
 * Up to `max` examples of each CWE, the first by id, gathered in any order: what joins a CWE's
 * whole-knowledge document. Ids are unique in a KB (slice or record ids, content-addressed).
 */
class FirstExamplesByCwe {
  private readonly byCwe = new Map<string, { id: string; terms: string }[]>();

  constructor(private readonly max: number) {}

  offer(cwe: string, id: string, terms: string): void {
    let list = this.byCwe.get(cwe);
    if (!list) this.byCwe.set(cwe, (list = []));
    if (list.length >= this.max && !(id < list[list.length - 1].id)) return;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid].id <= id) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, { id, terms });
    if (list.length > this.max) list.pop();
  }

  terms(cwe: string): string[] {
    return (this.byCwe.get(cwe) ?? []).map((e) => e.terms);
  }
}

/** An example's row, without its vector (added once the embedder is fitted). */
function indexedExample(e: CodeExample, terms: (text: string) => string): IndexedExample {
  return {
    id: e.id,
    nodeId: e.cweNodeId,
    cwe: e.cwe,
    language: e.language,
    kind: e.kind ?? 'fix',
    apiText: apiText(e.apiNames),
    codeText: e.searchText ?? terms([e.slicedVulnerable, e.slicedSecure, e.description ?? ''].join('\n')),
    codeVector: new Float32Array(0),
  };
}

/**
 * The node and document rows, given the example rows: each CWE's whole-knowledge document
 * (catalogue text and code, its first examples, its documents) on its language-neutral node.
 */
function nodeAndDocumentRows(
  input: { nodes: CweNode[]; documents: KnowledgeDocument[]; catalog: Map<CweId, CweEntry> },
  firstExamples: FirstExamplesByCwe,
  causeVectors: Float32Array[],
  terms: (text: string) => string,
): { nodes: IndexedNode[]; documents: IndexedDocument[] } {
  const documentTerms = new Map(input.documents.map((d) => [d.id, terms(d.text)]));
  const byDocumentCwe = new Map<string, string[]>();
  for (const d of input.documents)
    for (const cwe of d.cwes) {
      const list = byDocumentCwe.get(cwe);
      const t = documentTerms.get(d.id) ?? '';
      if (list) list.push(t);
      else byDocumentCwe.set(cwe, [t]);
    }
  const nodes: IndexedNode[] = input.nodes.map((n, i) => {
    const neutral = !n.language;
    const entry = input.catalog.get(n.cwe);
    const catalogTerms = neutral && entry ? terms(catalogText(entry)) : '';
    const text = terms(nodeText(n));
    return {
      id: n.id,
      cwe: n.cwe,
      language: n.language ?? '',
      text,
      apiText: apiText(n.apiNames),
      docTerms: neutral ? [text, catalogTerms, entry ? terms(catalogCode(entry)) : '', ...firstExamples.terms(n.cwe), ...(byDocumentCwe.get(n.cwe) ?? [])].filter(Boolean).join(' ') : '',
      catalogTerms,
      causeVector: causeVectors[i],
    };
  });
  const documents: IndexedDocument[] = input.documents.map((d) => ({ id: d.id, kind: d.kind, cwes: d.cwes, language: d.language, terms: documentTerms.get(d.id) ?? '' }));
  return { nodes, documents };
}

/**
 * The index rows of a version: search terms for every text field, each CWE's whole-knowledge
 * document (catalogue text and code, its examples, its documents) on its language-neutral node,
 * and the vectors.
 */
export function indexRows(
  input: { nodes: CweNode[]; examples: CodeExample[]; documents: KnowledgeDocument[]; catalog: Map<CweId, CweEntry> },
  causeVectors: Float32Array[],
  codeVectors: Float32Array[],
  /** searchText, or a memo of it (the KB folder's cache): the same terms either way. */
  terms: (text: string) => string = searchText,
): IndexedKnowledge {
  // A CWE's document holds at most MAX_EXAMPLES_PER_CWE_DOCUMENT of its examples (the first by id,
  // so the choice is stable): the catalogue, the CodeQL help and a hundred fixes say what the
  // weakness looks like, and the document stays the same size when the KB grows a hundredfold.
  const first = new FirstExamplesByCwe(MAX_EXAMPLES_PER_CWE_DOCUMENT);
  for (const e of input.examples) first.offer(e.cwe, e.id, e.searchText ?? '');
  const examples = input.examples.map((e, i) => ({ ...indexedExample(e, terms), codeVector: codeVectors[i] }));
  return { ...nodeAndDocumentRows(input, first, causeVectors, terms), examples };
}

/**
 * How a version's text was written, read off its nodes (each records its provenance), never off
 * the environment of the process that publishes it: the indexer of a distributed build has no say.
 */
export function distillationOf(nodes: CweNode[]): { mode: 'llm' | 'extractive'; model?: string } {
  const llm = nodes.find((n) => n.provenance.mode === 'llm');
  return llm && llm.provenance.mode === 'llm' ? { mode: 'llm', model: llm.provenance.model } : { mode: 'extractive' };
}

/** Distinct terms the KB's term counts keep, at most (the most frequent). */
const TERM_COUNTS_KEEP = 400_000;

/** The fields whose texts the KB's term counts are over: the examples' code, the documents, each node's catalogue text. */
const TERM_COUNT_FIELDS: readonly (readonly [SearchCollection, TextField])[] = [
  ['examples', 'code_text'],
  ['documents', 'terms'],
  ['nodes', 'catalog_terms'],
];

/**
 * The KB's term counts read off the BM25 postings of the snapshot being written: a term's
 * occurrences in a field are the sum of its postings' term frequencies, the same tokens (the
 * texts split on spaces) that counting the texts again found. That count, over every example,
 * document and node, was about a tenth of writing a version at 1×.
 */
class TermOccurrences {
  private readonly counts = new Map<string, number>();
  private total = 0;
  private readonly shown = new Set<string>();

  add(postings: FieldPostings): void {
    if (!TERM_COUNT_FIELDS.some(([collection, field]) => collection === postings.collection && field === postings.field)) return;
    this.shown.add(`${postings.collection} ${postings.field}`);
    const { terms, termIds, starts, tfs } = postings;
    for (let i = 0; i < terms.length; i++) {
      const t = termIds[i];
      let occurrences = 0;
      for (let at = starts[t]; at < starts[t + 1]; at++) occurrences += tfs[at];
      this.counts.set(terms[i], (this.counts.get(terms[i]) ?? 0) + occurrences);
      this.total += occurrences;
    }
  }

  /** The counts, when every field was shown (a collection too big for the snapshot is not): else undefined. */
  counted(keep: number): TermCounts | undefined {
    return this.shown.size === TERM_COUNT_FIELDS.length ? termCountsOf(this.counts, this.total, keep) : undefined;
  }
}

/** Examples by source and language, documents by kind: what a version was built from (examples added batch by batch). */
class SourceCounts {
  private readonly examples: Record<string, Record<string, number>> = {};

  add(batch: readonly CodeExample[]): void {
    for (const e of batch) {
      const key = `${e.source ?? 'generic'}${e.kind === 'vulnerable' ? ' (vulnerable only)' : ''}`;
      this.examples[key] ??= {};
      this.examples[key][e.language] = (this.examples[key][e.language] ?? 0) + 1;
    }
  }

  of(documents: KnowledgeDocument[]): NonNullable<KbManifest['sources']> {
    const docs: Record<string, number> = {};
    for (const d of documents) docs[d.kind] = (docs[d.kind] ?? 0) + 1;
    return { examples: this.examples, documents: docs };
  }
}

/**
 * The embedder fitted on `corpus`, and the key the corpus is remembered by when the embedder can
 * be read back: a rebuild whose fit corpus is the one this folder's embedder was last fitted on
 * (nothing changed, or only what the fit does not read) reads that model back instead of fitting
 * again (see reusedFit). The corpus is held only while fitting (a 100× build's is tens of MB).
 */
async function fittedEmbedder(input: PublishInput, corpus: string[]): Promise<{ embedder: BuildEmbedder; fitKey?: string; modelBytes?: Buffer; modelOf?: string }> {
  const refit = input.embedder.refit;
  if (!refit) return { embedder: await input.embedder(corpus) };
  const fitKey = contentKey(['embedder-fit', refit.identity(), corpus]);
  const reused = await reusedFit(input.kbDir, fitKey, refit.fromJSON);
  return reused ? { embedder: reused.embedder, fitKey, modelBytes: reused.bytes, modelOf: reused.version } : { embedder: await input.embedder(corpus), fitKey };
}

/** What an example's vector is embedded from: its fixed code, or the vulnerable code of a vulnerable-only example. */
const embedText = (e: CodeExample): string => (e.kind === 'vulnerable' ? e.slicedVulnerable : e.slicedSecure);

/**
 * The index stage, in both runners: fit the embedder (see knowledgeFitCorpus), embed causes and secure
 * examples, write the search tables and the KB's term counts (for the relevance gate), and publish
 * the version atomically.
 */
export async function publishKnowledgeBase(input: PublishInput): Promise<KbManifest> {
  const { nodes } = input;
  const examples = asExampleSource(input.examples);
  const documents = input.documents ?? [];
  const terms = input.searchTerms ?? searchText;
  // A big build's example terms and vectors wait in files (see SpilledTexts, SpilledVectors), each
  // row reading its own back when a step that writes the version asks for it.
  if (examples.count <= (input.spillTextsAbove ?? SPILL_TEXTS_ABOVE_EXAMPLES)) return publishRows(input, { nodes, examples, documents, terms });
  const dir = join(input.kbDir, 'staging', 'publish');
  const texts = await SpilledTexts.create(dir);
  try {
    const vectors = await SpilledVectors.create(dir);
    try {
      return await publishRows(input, { nodes, examples, documents, terms, spilled: { texts, vectors } });
    } finally {
      await vectors.remove();
    }
  } finally {
    await texts.remove();
  }
}

/** The files a big publish keeps its example rows' terms and vectors in. */
interface SpilledRows {
  texts: SpilledTexts;
  vectors: SpilledVectors;
}

/** {@link publishKnowledgeBase}, its example rows' terms and vectors in `spilled` when given. */
async function publishRows(
  input: PublishInput,
  { nodes, examples, documents, terms, spilled }: { nodes: CweNode[]; examples: ExampleSource; documents: KnowledgeDocument[]; terms: (text: string) => string; spilled?: SpilledRows },
): Promise<KbManifest> {
  // The examples are read pass by pass and never held (see ExampleSource): the first pass keeps
  // their rows (ids, search terms; the vectors come in the third), what the manifest counts, the
  // first examples of each CWE's document, and the embedder's fit sample or the keys it is chosen by.
  // Every node (as many as the catalogue has CWEs, whatever the records), and the examples, which
  // grow with the records, up to the cap: a sample chosen by content when there are more.
  const knowledgeCorpus = knowledgeFitCorpus(input.catalog, documents);
  const fitsRecords = knowledgeCorpus === undefined;
  const room = Math.max(1, (input.maxFitDocuments ?? FIT_CORPUS_MAX_DOCUMENTS) - nodes.length);
  const sampling = fitsRecords && examples.count > room;
  const exampleRows: IndexedExample[] = [];
  const fitKeys: string[] = [];
  let fitTexts: string[] = [];
  const first = new FirstExamplesByCwe(MAX_EXAMPLES_PER_CWE_DOCUMENT);
  const sources = new SourceCounts();
  for await (const batch of examples.batches()) {
    sources.add(batch);
    for (const e of batch) {
      const row = indexedExample(e, terms);
      if (spilled) {
        const { texts, vectors } = spilled;
        const at = await texts.add(row.codeText ?? '');
        // The vectors are added in the same order, in the third pass: example `at` is vector `at`.
        const { codeText: _held, codeVector: _none, ...rest } = row;
        exampleRows.push({
          ...rest,
          get codeText(): string {
            return texts.get(at);
          },
          get codeVector(): Float32Array {
            return vectors.get(at);
          },
        });
      } else exampleRows.push(row);
      first.offer(e.cwe, e.id, e.searchText ?? '');
      if (sampling) fitKeys.push(fitSampleKey(fitText(e)));
      else if (fitsRecords) fitTexts.push(fitText(e));
    }
  }
  await spilled?.texts.seal();
  if (exampleRows.length !== examples.count) throw new InvalidInputError(`the publish was promised ${examples.count} examples and read ${exampleRows.length}`);
  if (sampling) {
    // Second pass: the texts of the sample, in the examples' order.
    const chosen = fitSampleOfKeys(fitKeys, room);
    fitKeys.length = 0;
    fitTexts = [];
    let index = 0;
    let next = 0;
    for await (const batch of examples.batches())
      for (const e of batch) {
        if (chosen[next] === index) {
          fitTexts.push(fitText(e));
          next += 1;
        }
        index += 1;
      }
  }
  const { embedder, fitKey, modelBytes, modelOf } = await fittedEmbedder(input, knowledgeCorpus ?? [...nodes.map(nodeText), ...fitTexts]);
  fitTexts = [];
  // The vectors, the index rows and the term counts: all of them change with the embedder (every
  // vector does when it is refitted), and they are what writing a version costs. Worked out only
  // when the version is written (or another index is published to): a rebuild whose sources make
  // a version this folder already holds, verified, reuses it without them.
  // Earlier versions' snapshots, each read once: the embedder's version gives vectors, CURRENT's postings.
  const earlierIndex = earlierMemoryIndexes(input.kbDir);
  let computed: { rows: IndexedKnowledge; causeVectors: Float32Array[] } | undefined;
  const rowsAndVectors = async (): Promise<{ rows: IndexedKnowledge; causeVectors: Float32Array[] }> => {
    if (computed) return computed;
    // With the model read back from an earlier version, a cause embedded there keeps its vector
    // (see earlierCauseVectors): only the causes of the clusters that changed are embedded.
    // Under the same bound as the examples' vectors: the earlier snapshot is read whole and held.
    const reuseEarlier = modelOf !== undefined && exampleRows.length <= REUSE_VECTORS_MAX_EXAMPLES;
    const causeTexts = nodes.map(causeText);
    const earlierCauses = reuseEarlier ? await earlierCauseVectors(input.kbDir, modelOf, await earlierIndex(modelOf)) : undefined;
    const toEmbedCauses = earlierCauses ? causeTexts.filter((t) => !earlierCauses.has(t)) : causeTexts;
    const embeddedCauses = toEmbedCauses.length > 0 ? await embedder.embed(toEmbedCauses) : [];
    let nextCause = 0;
    const causeVectors = causeTexts.map((t) => earlierCauses?.get(t) ?? embeddedCauses[nextCause++]);
    // Third pass: the examples' vectors, a batch at a time. With the model read back from an
    // earlier version, its examples keep their vectors (see earlierExampleVectors) and only the
    // new ones are embedded: at 1× embedding every example was about a tenth of a +1% rebuild.
    const earlier = reuseEarlier ? earlierExampleVectors(await earlierIndex(modelOf)) : undefined;
    let at = 0;
    for await (const batch of examples.batches()) {
      const toEmbed = earlier ? batch.filter((e) => !earlier.has(e.id)) : batch;
      const embedded = toEmbed.length > 0 ? await embedder.embed(toEmbed.map(embedText)) : [];
      let next = 0;
      const batchVectors = earlier ? batch.map((e) => earlier.get(e.id) ?? embedded[next++]) : embedded;
      if (at + batchVectors.length > exampleRows.length) throw new InvalidInputError(`the examples' passes disagree: more than ${exampleRows.length} examples the third time`);
      for (const v of batchVectors) {
        if (spilled) await spilled.vectors.add(v);
        else exampleRows[at].codeVector = v;
        at += 1;
      }
    }
    if (at !== exampleRows.length) throw new InvalidInputError(`the examples' passes disagree: ${exampleRows.length} examples, then ${at}`);
    await spilled?.vectors.seal();
    const rows: IndexedKnowledge = { ...nodeAndDocumentRows({ nodes, documents, catalog: input.catalog ?? new Map() }, first, causeVectors, terms), examples: exampleRows };
    computed = { rows, causeVectors };
    return computed;
  };
  // The term counts this publish wrote into the version (none when the version was already there).
  let written: { termCountsText: string; termCounts: TermCounts } | undefined;
  // The model this publish fitted, as written into the version (none when it was read back or the version was there).
  let fittedBytes: Buffer | undefined;
  const manifest = await new KbDirectory(input.kbDir).publish(
    {
      manifest: {
        clusterBy: input.clusterBy,
        counts: {
          nodes: nodes.length,
          catalogOnlyNodes: nodes.filter((n) => n.provenance.mode === 'catalog-only').length,
          examples: examples.count,
          records: input.records,
          documents: documents.length,
        },
        sources: sources.of(documents),
        embedder: embedder.describe(),
        distillation: { ...distillationOf(nodes), llmCalls: input.llmCalls, llmCallsCached: input.llmCallsCached },
        slicer: { version: SLICER_VERSION, hops: input.hops },
        searchTerms: SEARCH_TERMS_VERSION,
        ...(input.inputs ? { inputs: input.inputs } : {}),
      },
      nodes,
      examples,
      documents,
    },
    // The LanceDB tables first: their full-text indexes are built off this thread, while this
    // thread writes the embedder model, the term counts and the in-memory index snapshot
    // (different files of the same folder). Past a few thousand examples one after the other
    // instead: each holds memory that grows with the examples (the tables' Arrow buffers, a
    // shard at a time; the snapshot's postings), and side by side their peaks add up.
    // Both settle before a failure is thrown: the publish removes the folder then, and no write may still be going.
    async (versionDir) => {
      const { rows } = await rowsAndVectors();
      // A collection the snapshot below holds is searched from it (see folderIndex): its table is
      // written without LanceDB's own indexes, which would never be queried (at 1x building them
      // was about half of writing the tables).
      const tables = (): Promise<void> => LanceKnowledgeIndex.write(versionDir, rows.nodes, rows.examples, rows.documents, undefined, MEMORY_SEARCH_MAX_ROWS);
      const files = async (): Promise<void> => {
        // A model read back is written as the bytes it was read from (the earlier version's file,
        // checked against its checksum), not serialized again. Not copied from that file: when the
        // version rebuilt is that very one, damaged, it is moved aside before this is written.
        if (modelBytes) await writeFile(join(versionDir, 'embedder.json'), modelBytes);
        else if (embedder.toJSON) {
          fittedBytes = Buffer.from(JSON.stringify(embedder.toJSON()), 'utf8');
          await writeFile(join(versionDir, 'embedder.json'), fittedBytes);
        }
        // What a reader's in-memory search index would build from the tables, built from the
        // same rows here: opening the version then costs one file read (see memory-snapshot.ts).
        // The KB's term counts are read off its postings (see TermOccurrences).
        const occurrences = new TermOccurrences();
        // The version CURRENT names (this one's predecessor): its unchanged documents' postings are
        // taken rather than tokenized again. Held while this snapshot is written, so only up to
        // the bound on examples that the earlier vectors are kept for.
        const earlier = exampleRows.length <= REUSE_VECTORS_MAX_EXAMPLES ? await earlierIndex() : undefined;
        await writeMemoryIndexSnapshot(join(versionDir, MEMORY_INDEX_FILE), new WrittenRows(rows), MEMORY_SEARCH_MAX_ROWS, (postings) => occurrences.add(postings), earlier);
        // Every distinct term up to a generous bound: retrieval picks a query's rarest terms by these counts.
        // (Counted afresh, one text at a time, when the snapshot left a collection out: the examples' may be spilled.)
        const termCounts =
          occurrences.counted(TERM_COUNTS_KEEP) ??
          countTerms(
            (function* () {
              for (const e of rows.examples) yield e.codeText ?? '';
              for (const d of rows.documents) yield d.terms;
              for (const n of rows.nodes) yield n.catalogTerms ?? '';
            })(),
            TERM_COUNTS_KEEP,
          );
        const termCountsText = JSON.stringify(termCounts);
        await writeFile(join(versionDir, 'term-counts.json'), termCountsText);
        written = { termCountsText, termCounts };
      };
      if (examples.count > SIDE_BY_SIDE_MAX_EXAMPLES) {
        await files();
        await tables();
        return;
      }
      const settled = await Promise.allSettled([tables(), files()]);
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
    input.keepVersions,
    input.lock,
  );
  // The version's default relevance gate, fitted now and cached beside it (see gate-cache.ts): the
  // first open, a `rescue retrieve` right after the build, then reads it instead of fitting it.
  // From the counts just written (the file's very text), not read back and parsed again; from the
  // folder when the version was already there (nothing was written).
  if (written) await cachedDefaultGate(input.kbDir, manifest.version, written.termCountsText, written.termCounts);
  else await folderDefaultGate(input.kbDir, manifest.version);
  if (fitKey && embedder.toJSON) {
    await rememberFit(input.kbDir, fitKey, manifest.version);
    // The model as this version holds it, for this process's next build (see rememberModel).
    const modelSha256 = manifest.checksums?.files['embedder.json'];
    const bytes = fittedBytes ?? modelBytes;
    if (modelSha256 && bytes) rememberModel(modelSha256, bytes, embedder);
  }
  if (input.alsoPublish) {
    const { rows, causeVectors } = await rowsAndVectors();
    await input.alsoPublish(manifest.version, rows, causeVectors[0]?.length ?? 0);
  }
  return manifest;
}

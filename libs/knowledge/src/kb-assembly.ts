import type { CweEntry } from '@rescue/datasets';
import type { CweId, FixRecord, SourceTrust } from '@rescue/domain';
import { searchText } from '@rescue/retrieval';
import type { SliceDocument } from '@rescue/slicing';
import { type Advice, type ExtractiveSummary, extractiveSummary, genericMitigations } from './extractive-summarizer';
import type { CweSummaryMemo } from './build-cache/cwe-summary-memo';
import { type ClusterBy, type CodeExample, type CweNode, type CwePriors, type KnowledgeDocument, type Provenance, clusterKey, cweNodeId } from './kb-model';
import type { VulnerableExample } from './sources/codeql-records';
import { type ExampleSource, concatExamples, exampleList } from './example-source';
import { descriptionDocuments } from './sources/knowledge-documents';
import type { QuarantineEntry } from './quarantine/quarantine-store';
import { DEFAULT_SCREEN_POLICY, type ScreenPolicy, screenDistilled } from './quarantine/screen-knowledge';

/** Writes a cluster's guidelines and cause, saying how; the extractive one needs no LLM. */
export interface ClusterDistiller {
  readonly mode: 'llm' | 'extractive';
  /** How many clusters a runner may distil at once with this distiller (1 when absent: nothing to overlap). */
  readonly clusterConcurrency?: number;
  /**
   * What makes this distiller write what it writes (its kind, model, prompts, batch sizes): two
   * distillers with the same identity write the same text for the same cluster, so a summary
   * cached under it may be reused. Absent: its summaries are never cached (a test double, say).
   */
  readonly identity?: string;
  /**
   * False when `distill` reads a record's metadata alone (its CWE, language, function name,
   * description and origin), never its code, and is done with the records when its promise is
   * made: the caller may then let each record's code go once the record's example is built (a big
   * cluster's code is most of what summarizing it holds). Absent: the records are kept whole.
   */
  readonly readsRecordCode?: boolean;
  distill(cwe: CweId, records: FixRecord[], entry: CweEntry | undefined, context?: DistillContext): Promise<{ guidelines: string[]; cause: string; provenance: Provenance }>;
}

/** What a distiller may use beyond the cluster's records: other sources' advice, the catalogue's boilerplate. */
export interface DistillContext {
  advice: Advice[];
  isGeneric?: (sentence: string) => boolean;
  /** What the distilled text is screened with (who is trusted, what was released); the default releases nothing. */
  screen?: ScreenPolicy;
  /** False when the catalogue is untrusted: its mitigations and descriptions are then never quoted. */
  quoteCatalog?: boolean;
  /** How the examples' search terms are worked out: searchText, or a memo of it (the KB folder's cache). */
  searchTerms?: (text: string) => string;
}

/** The trust of a node's distilled text: trusted only when every record and piece of advice it may quote is. */
function distilledTrust(records: FixRecord[], advice: Advice[]): SourceTrust {
  return records.every((r) => r.origin.trust === 'trusted') && advice.every((a) => a.trust !== 'untrusted') ? 'trusted' : 'untrusted';
}

export const extractiveDistiller: ClusterDistiller = {
  mode: 'extractive',
  // Its code is this library's, which the summary cache's key covers.
  identity: 'extractive',
  // extractiveSummary quotes descriptions and function names, and is synchronous.
  readsRecordCode: false,
  async distill(_cwe, records, entry, context) {
    const s = extractiveSummary(context?.quoteCatalog === false ? undefined : entry, records, records[0]?.language, context?.advice, context?.isGeneric);
    return { guidelines: s.guidelines, cause: s.cause, provenance: { mode: 'extractive', sources: s.sources } };
  },
};

export interface AssembledKnowledge {
  nodes: CweNode[];
  examples: CodeExample[];
  documents: KnowledgeDocument[];
}

/** Records grouped by cluster key, keys sorted, records in each sorted by id (a stable order). */
export function groupClusters<R extends Pick<FixRecord, 'id' | 'cwe' | 'language'>>(records: R[], by: ClusterBy): Map<string, R[]> {
  const clusters = new Map<string, R[]>();
  for (const r of records) {
    const key = clusterKey(r.cwe, r.language, by);
    const list = clusters.get(key);
    if (list) list.push(r);
    else clusters.set(key, [r]);
  }
  const sorted = new Map<string, R[]>();
  for (const key of [...clusters.keys()].sort())
    sorted.set(
      key,
      (clusters.get(key) as R[]).sort((a, b) => (a.id < b.id ? -1 : 1)),
    );
  return sorted;
}

/** The CodeQL advice a cluster's distiller may quote: the recommendations of queries tagged with the CWE. */
export function adviceFor(cwe: CweId, documents: KnowledgeDocument[]): Advice[] {
  return documents.filter((d) => d.kind === 'codeql-help' && d.guidance && d.cwes.includes(cwe)).map(adviceOf);
}

const adviceOf = (d: KnowledgeDocument): Advice => ({ text: d.guidance as string, language: d.language, ...(d.trust ? { trust: d.trust } : {}) });

/** {@link adviceFor} of every CWE at once, in one pass over the documents (each CWE's in the documents' order). */
function adviceByCwe(documents: KnowledgeDocument[]): Map<CweId, Advice[]> {
  const out = new Map<CweId, Advice[]>();
  for (const d of documents) {
    if (d.kind !== 'codeql-help' || !d.guidance) continue;
    for (const cwe of new Set(d.cwes)) {
      const list = out.get(cwe);
      if (list) list.push(adviceOf(d));
      else out.set(cwe, [adviceOf(d)]);
    }
  }
  return out;
}

const EXAMPLES_PER_TURN = 2;

// One lane for every cluster's example building: a turn is one event-loop iteration, taken in
// order, so with many clusters at once the loop still polls I/O (the LLM's answers) between any two
// chunks. (A bare setImmediate per cluster would run every cluster's chunk in the same iteration.)
let lane: Promise<void> = Promise.resolve();
function nextTurn(): Promise<void> {
  const turn = lane.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
  lane = turn;
  return turn;
}

/**
 * One cluster's CWE node and its examples: the summarize stage's unit of work, in both runners.
 * With a distiller that does not read records' code ({@link ClusterDistiller.readsRecordCode}),
 * `records` is left holding them without their code and `slices` without the slices used.
 */
export async function summarizeCluster(
  key: string,
  records: FixRecord[],
  slices: Map<string, SliceDocument>,
  entry: CweEntry | undefined,
  clusterBy: ClusterBy,
  distiller: ClusterDistiller,
  context?: DistillContext,
  /**
   * The records (whole, in `records`' order) with their slices, read again a few at a time, to
   * build the examples from when `records` holds them without their code (a big cluster, with a
   * distiller that reads no code): then `slices` is not read.
   */
  reread?: () => AsyncIterable<[FixRecord, SliceDocument | undefined]>,
  /**
   * Where the examples go, one at a time, as they are built from `reread` (which it requires):
   * then they are not kept, and the result's `examples` is empty (the node still lists them all).
   */
  spool?: { add(example: CodeExample): Promise<void> },
): Promise<{ node: CweNode; examples: CodeExample[]; withheld: QuarantineEntry[] }> {
  if (spool && !reread) throw new RangeError(`cluster ${key}: examples are spooled only when the records are read again`);
  const { cwe, language } = records[0];
  const policy = context?.screen ?? DEFAULT_SCREEN_POLICY;
  const distilling = distiller.distill(cwe, records, entry, context);
  // Examples do not depend on the distillation: built while its calls are out, a few records per
  // turn of the event loop (their search terms cost milliseconds each), so a big cluster never
  // holds up the answers and next calls of the clusters distilled beside it.
  distilling.catch(() => undefined); // awaited below; this only keeps a failure during the loop from counting as unhandled
  const examples: CodeExample[] = [];
  // What the node lists of its examples, gathered as they are built (spooled, they are not kept).
  const exampleIds: string[] = [];
  const apiNames = new Set<string>();
  const terms = context?.searchTerms ?? searchText;
  const built = (r: FixRecord, slice: SliceDocument | undefined): CodeExample => {
    const example = toExample(r, key, slice, policy, terms);
    exampleIds.push(example.id);
    for (const a of example.apiNames) apiNames.add(a);
    return example;
  };
  const releaseCode = distiller.readsRecordCode === false;
  if (reread) {
    for await (const [r, slice] of reread()) {
      const example = built(r, slice);
      if (spool) await spool.add(example);
      else examples.push(example);
      if (exampleIds.length % EXAMPLES_PER_TURN === 0) await nextTurn();
    }
    if (exampleIds.length !== records.length) throw new RangeError(`cluster ${key}: ${records.length} records, ${exampleIds.length} read again`);
  }
  for (let i = 0; i < (reread ? 0 : records.length); i++) {
    const r = records[i];
    examples.push(built(r, slices.get(r.id)));
    if (releaseCode) {
      // The example holds what it needs of the record and its slice; the rest goes now rather
      // than after the whole cluster (the caller's list and map: it reads neither after this).
      records[i] = { ...r, before: '', after: '' };
      slices.delete(r.id);
    }
    if (examples.length % EXAMPLES_PER_TURN === 0) await nextTurn();
  }
  const distilled = await distilling;
  // The screen at distillation: whatever the distiller wrote (an LLM can be talked into repeating
  // an instruction it read in a fix) is screened before it becomes the node's advice.
  const screened = screenDistilled({ id: key, cwe, language: clusterBy === 'cwe' ? undefined : language }, distilled, distilledTrust(records, context?.advice ?? []), policy);
  const summary = { ...distilled, guidelines: screened.guidelines, cause: screened.cause };
  const node: CweNode = {
    id: key,
    cwe,
    language: clusterBy === 'cwe' ? undefined : language,
    name: entry?.name,
    description: entry?.description,
    parents: entry?.parents ?? [],
    guidelines: summary.guidelines,
    cause: summary.cause,
    apiNames: [...apiNames].sort(),
    exampleIds,
    provenance: summary.provenance,
  };
  return { node, examples, withheld: screened.entries };
}

/** What ranking needs to know about a weakness from the catalogue (see {@link CwePriors}). */
export function priorsOf(entry: CweEntry): CwePriors {
  return {
    abstraction: entry.abstraction,
    mappingUsage: entry.mappingUsage,
    observedExamples: entry.observedExamples?.length ?? 0,
    topLists: (entry.views ?? []).filter((v) => /\bTop 25\b/i.test(v.name)).length,
    platforms: entry.platforms ?? [],
  };
}

/**
 * What {@link cweLevelNodes} reads of the examples, gathered one batch at a time: the CWEs they
 * show with the API names of each (sorted when used, so in any order), and the ids of the examples
 * of each node, in the examples' order.
 */
export interface ExampleFacts {
  apiNamesByCwe: Map<CweId, Set<string>>;
  idsByNode: Map<string, string[]>;
}

export const newExampleFacts = (): ExampleFacts => ({ apiNamesByCwe: new Map(), idsByNode: new Map() });

/** Adds a batch of examples (in the examples' order) to `facts`; returns it. */
export function addExampleFacts(facts: ExampleFacts, examples: readonly CodeExample[]): ExampleFacts {
  for (const e of examples) {
    let names = facts.apiNamesByCwe.get(e.cwe);
    if (!names) facts.apiNamesByCwe.set(e.cwe, (names = new Set()));
    for (const a of e.apiNames) names.add(a);
    const ids = facts.idsByNode.get(e.cweNodeId);
    if (ids) ids.push(e.id);
    else facts.idsByNode.set(e.cweNodeId, [e.id]);
  }
  return facts;
}

/**
 * The language-neutral node of every weakness the KB knows: each CWE with fix data, vulnerable
 * examples or documents, and (with `includeCatalog`) every catalogue CWE. With clustering by CWE
 * the cluster node already is that node and only gains its priors. Guidelines come from the
 * catalogue and CodeQL's advice for the CWE in any language; the cause from the catalogue.
 */
export function cweLevelNodes(input: {
  clusterNodes: CweNode[];
  /** The examples, or what this reads of them (see {@link ExampleFacts}). */
  examples: CodeExample[] | ExampleFacts;
  catalog: Map<CweId, CweEntry>;
  documents: KnowledgeDocument[];
  includeCatalog: boolean;
  isGeneric?: (sentence: string) => boolean;
  screen?: ScreenPolicy;
  quoteCatalog?: boolean;
  /** The KB folder's memo of these summaries (see CweSummaryMemo): made for this catalogue and `quoteCatalog`. */
  summaries?: CweSummaryMemo;
  /** Receives what the screen held back of these nodes' guidelines and causes. */
  onWithheld?: (entries: QuarantineEntry[]) => void;
}): CweNode[] {
  const facts = Array.isArray(input.examples) ? addExampleFacts(newExampleFacts(), input.examples) : input.examples;
  const cwes = new Set<CweId>([...input.clusterNodes.map((n) => n.cwe), ...facts.apiNamesByCwe.keys(), ...input.documents.flatMap((d) => d.cwes)]);
  if (input.includeCatalog) for (const id of input.catalog.keys()) cwes.add(id);
  const existing = new Map(input.clusterNodes.map((n) => [n.id, n]));
  const withData = new Set(input.clusterNodes.map((n) => n.cwe));
  const out: CweNode[] = [];
  const adviceOfCwe = adviceByCwe(input.documents);
  for (const cwe of [...cwes].sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)))) {
    const entry = input.catalog.get(cwe);
    const id = cweNodeId(cwe);
    const cluster = existing.get(id);
    if (cluster) {
      if (entry) cluster.priors = priorsOf(entry);
      continue;
    }
    const own = facts.idsByNode.get(id) ?? [];
    const advice = adviceOfCwe.get(cwe) ?? [];
    const summarize = (): ExtractiveSummary => extractiveSummary(input.quoteCatalog === false ? undefined : entry, [], undefined, advice, input.isGeneric);
    const extracted = input.summaries ? input.summaries.summary(cwe, advice, summarize) : summarize();
    const screened = screenDistilled({ id, cwe }, extracted, distilledTrust([], advice), input.screen ?? DEFAULT_SCREEN_POLICY);
    if (screened.entries.length > 0) input.onWithheld?.(screened.entries);
    const s = { ...extracted, guidelines: screened.guidelines, cause: screened.cause };
    out.push({
      id,
      cwe,
      name: entry?.name,
      description: entry?.description,
      parents: entry?.parents ?? [],
      guidelines: s.guidelines,
      cause: s.cause,
      apiNames: [...(facts.apiNamesByCwe.get(cwe) ?? [])].sort(),
      exampleIds: [...own],
      provenance: withData.has(cwe) || own.length > 0 || s.sources.includes('codeql') ? { mode: 'extractive', sources: s.sources } : { mode: 'catalog-only' },
      ...(entry ? { priors: priorsOf(entry) } : {}),
    });
  }
  return out;
}

/** Vulnerable-only examples under their language's cluster node when the CWE has one there, else under the CWE's node. */
export function vulnerableExamples(items: VulnerableExample[], clusterIds: Set<string>, clusterBy: ClusterBy, terms: (text: string) => string = searchText): CodeExample[] {
  return [...items]
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .map((v) => {
      const cluster = clusterKey(v.cwe, v.language, clusterBy);
      return {
        id: v.id,
        recordId: v.id,
        cweNodeId: clusterIds.has(cluster) ? cluster : cweNodeId(v.cwe),
        cwe: v.cwe,
        language: v.language,
        slicedSecure: '',
        slicedVulnerable: v.code,
        apiNames: [],
        description: v.description,
        sourceUrl: v.filePath,
        searchText: terms([v.code, v.description ?? ''].join('\n')),
        kind: 'vulnerable' as const,
        source: v.origin.format,
      };
    });
}

/**
 * The index stage's half of assembly, in both runners: the clusters' nodes and examples joined by
 * the vulnerable-only examples, the language-neutral node of every CWE, and the documents (the
 * sources' own plus the dataset fixes' functional descriptions), each list in a stable order.
 */
export function completeKnowledge(input: {
  clusterNodes: CweNode[];
  clusterExamples: CodeExample[];
  vulnerableOnly: VulnerableExample[];
  sourceDocuments: KnowledgeDocument[];
  catalog: Map<CweId, CweEntry>;
  clusterBy: ClusterBy;
  includeCatalog: boolean;
  screen?: ScreenPolicy;
  quoteCatalog?: boolean;
  /** searchText, or a memo of it (the KB folder's cache). */
  searchTerms?: (text: string) => string;
  /** The catalogue's boilerplate test, when the build has worked it out (else worked out here). */
  isGeneric?: (sentence: string) => boolean;
  /** The KB folder's memo of the summaries of CWEs no cluster stands for (see cweLevelNodes). */
  cweSummaries?: CweSummaryMemo;
}): AssembledKnowledge & { withheld: QuarantineEntry[] } {
  const clusterNodes = [...input.clusterNodes].sort((a, b) => (a.id < b.id ? -1 : 1));
  const byNode = (a: CodeExample, b: CodeExample): number => (a.cweNodeId < b.cweNodeId ? -1 : a.cweNodeId > b.cweNodeId ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const examples = [...[...input.clusterExamples].sort(byNode), ...vulnerableExamples(input.vulnerableOnly, new Set(clusterNodes.map((n) => n.id)), input.clusterBy, input.searchTerms)];
  const documents = [...input.sourceDocuments, ...descriptionDocuments({ examples, helps: [], catalog: new Map() })].sort((a, b) => (a.id < b.id ? -1 : 1));
  const { nodes, withheld } = allNodes(input, clusterNodes, examples, documents);
  return { nodes, examples, documents, withheld };
}

/**
 * {@link completeKnowledge} over examples read pass by pass (see {@link ExampleSource}): the same
 * nodes, documents and examples, in the same order, with the clusters' examples never all held at
 * once. `clusterExamples` must already be in the KB's order (by node, then id), as a build's
 * staging yields them (clusters by key, each cluster's examples by id); the vulnerable-only
 * examples follow them.
 */
export async function completeKnowledgeStreamed(
  input: Omit<Parameters<typeof completeKnowledge>[0], 'clusterExamples'> & { clusterExamples: ExampleSource },
): Promise<{ nodes: CweNode[]; examples: ExampleSource; documents: KnowledgeDocument[]; withheld: QuarantineEntry[] }> {
  const clusterNodes = [...input.clusterNodes].sort((a, b) => (a.id < b.id ? -1 : 1));
  const examples = concatExamples(input.clusterExamples, exampleList(vulnerableExamples(input.vulnerableOnly, new Set(clusterNodes.map((n) => n.id)), input.clusterBy, input.searchTerms)));
  const facts = newExampleFacts();
  const described: KnowledgeDocument[] = [];
  for await (const batch of examples.batches()) {
    addExampleFacts(facts, batch);
    for (const d of descriptionDocuments({ examples: batch, helps: [], catalog: new Map() })) described.push(d);
  }
  const documents = [...input.sourceDocuments, ...described].sort((a, b) => (a.id < b.id ? -1 : 1));
  const { nodes, withheld } = allNodes(input, clusterNodes, facts, documents);
  return { nodes, examples, documents, withheld };
}

/** The clusters' nodes followed by every CWE's language-neutral node (both assemblies), and what the screen withheld of the catalogue's text. */
function allNodes(
  input: Pick<Parameters<typeof completeKnowledge>[0], 'catalog' | 'includeCatalog' | 'screen' | 'quoteCatalog' | 'isGeneric' | 'cweSummaries'>,
  clusterNodes: CweNode[],
  examples: Parameters<typeof cweLevelNodes>[0]['examples'],
  documents: KnowledgeDocument[],
): { nodes: CweNode[]; withheld: QuarantineEntry[] } {
  const withheld: QuarantineEntry[] = [];
  const nodes = [
    ...clusterNodes,
    ...cweLevelNodes({
      clusterNodes,
      examples,
      catalog: input.catalog,
      documents,
      includeCatalog: input.includeCatalog,
      isGeneric: input.isGeneric ?? genericMitigations(input.catalog.values()),
      screen: input.screen,
      quoteCatalog: input.quoteCatalog,
      summaries: input.cweSummaries,
      onWithheld: (e) => withheld.push(...e),
    }),
  ];
  return { nodes, withheld };
}

function toExample(r: FixRecord, nodeId: string, slice: SliceDocument | undefined, policy: ScreenPolicy, terms: (text: string) => string): CodeExample {
  const sliced = slice?.status === 'sliced' ? slice : undefined;
  const apiNames = sliced ? [...new Set([...sliced.secure.apiCalls, ...sliced.vulnerable.apiCalls].flatMap((c) => [c.callee, c.name]))].sort() : [];
  return {
    id: slice?.id ?? r.id,
    recordId: r.id,
    cweNodeId: nodeId,
    cwe: r.cwe,
    language: r.language,
    slicedSecure: sliced?.secure.code ?? r.after,
    slicedVulnerable: sliced?.vulnerable.code ?? r.before,
    apiNames,
    description: r.description,
    ...(r.commitMessage?.trim() ? { commitSubject: r.commitMessage.split('\n')[0].trim() } : {}),
    sourceUrl: r.sourceUrl,
    // The whole fix, not the slices: a task's code shares its context (imports, framework calls)
    // with the whole function, which is what tells one weakness's code from another's.
    searchText: terms([r.before, r.after, r.description ?? '', r.commitMessage?.split('\n')[0] ?? ''].join('\n')),
    kind: 'fix',
    source: r.origin.format,
    ...(r.origin.trust ? { trust: r.origin.trust } : {}),
    ...(policy.released.has(r.id) ? { released: true } : {}),
  };
}

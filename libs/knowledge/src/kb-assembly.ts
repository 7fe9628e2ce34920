import type { CweEntry } from '@rescue/datasets';
import type { CweId, FixRecord } from '@rescue/domain';
import type { SliceDocument } from '@rescue/slicing';
import { extractiveSummary } from './extractive-summarizer';
import { type ClusterBy, type CodeExample, type CweNode, type Provenance, clusterKey } from './kb-model';

/** Writes a cluster's guidelines and cause, saying how; the extractive one needs no LLM. */
export interface ClusterDistiller {
  readonly mode: 'llm' | 'extractive';
  distill(cwe: CweId, records: FixRecord[], entry: CweEntry | undefined): Promise<{ guidelines: string[]; cause: string; provenance: Provenance }>;
}

export const extractiveDistiller: ClusterDistiller = {
  mode: 'extractive',
  async distill(_cwe, records, entry) {
    const s = extractiveSummary(entry, records, records[0]?.language);
    return { guidelines: s.guidelines, cause: s.cause, provenance: { mode: 'extractive', sources: s.sources } };
  },
};

export interface AssembleInput {
  records: FixRecord[];
  /** Slices by record id (failed slices fall back to the whole functions). */
  slices: Map<string, SliceDocument>;
  catalog: Map<CweId, CweEntry>;
  clusterBy: ClusterBy;
  /** Add catalogue-only nodes for CWEs without fix data, so unseen weaknesses can be retrieved. */
  catalogOnlyNodes: boolean;
  distiller: ClusterDistiller;
  concurrency?: number;
  onCluster?: (done: number, total: number) => void;
}

/** Records grouped by cluster key, keys sorted, records in each sorted by id (a stable order). */
export function groupClusters(records: FixRecord[], by: ClusterBy): Map<string, FixRecord[]> {
  const clusters = new Map<string, FixRecord[]>();
  for (const r of records) {
    const key = clusterKey(r.cwe, r.language, by);
    const list = clusters.get(key);
    if (list) list.push(r);
    else clusters.set(key, [r]);
  }
  const sorted = new Map<string, FixRecord[]>();
  for (const key of [...clusters.keys()].sort()) sorted.set(key, (clusters.get(key) as FixRecord[]).sort((a, b) => (a.id < b.id ? -1 : 1)));
  return sorted;
}

/** One cluster's CWE node and its examples: the summarize stage's unit of work, in both runners. */
export async function summarizeCluster(
  key: string,
  records: FixRecord[],
  slices: Map<string, SliceDocument>,
  entry: CweEntry | undefined,
  clusterBy: ClusterBy,
  distiller: ClusterDistiller,
): Promise<{ node: CweNode; examples: CodeExample[] }> {
  const { cwe, language } = records[0];
  const summary = await distiller.distill(cwe, records, entry);
  const examples = records.map((r) => toExample(r, key, slices.get(r.id)));
  const node: CweNode = {
    id: key,
    cwe,
    language: clusterBy === 'cwe' ? undefined : language,
    name: entry?.name,
    description: entry?.description,
    parents: entry?.parents ?? [],
    guidelines: summary.guidelines,
    cause: summary.cause,
    apiNames: [...new Set(examples.flatMap((e) => e.apiNames))].sort(),
    exampleIds: examples.map((e) => e.id),
    provenance: summary.provenance,
  };
  return { node, examples };
}

/** Nodes for catalogue CWEs that have no fix data, so unseen weaknesses can still be retrieved. */
export function catalogOnlyNodes(catalog: Map<CweId, CweEntry>, seen: Set<CweId>): CweNode[] {
  return [...catalog.values()]
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .filter((entry) => !seen.has(entry.id))
    .map((entry) => {
      const s = extractiveSummary(entry, []);
      return { id: clusterKey(entry.id, undefined, 'cwe'), cwe: entry.id, name: entry.name, description: entry.description, parents: entry.parents, guidelines: s.guidelines, cause: s.cause, apiNames: [], exampleIds: [], provenance: { mode: 'catalog-only' } };
    });
}

/** Groups records into clusters, distils each, and builds the two KB levels (the inline runner). */
export async function assembleKnowledgeBase(input: AssembleInput): Promise<{ nodes: CweNode[]; examples: CodeExample[] }> {
  const clusters = groupClusters(input.records, input.clusterBy);
  const nodes: CweNode[] = [];
  const examples: CodeExample[] = [];
  let done = 0;
  for (const [key, records] of clusters) {
    const part = await summarizeCluster(key, records, input.slices, input.catalog.get(records[0].cwe), input.clusterBy, input.distiller);
    nodes.push(part.node);
    examples.push(...part.examples);
    done += 1;
    input.onCluster?.(done, clusters.size);
  }
  if (input.catalogOnlyNodes) nodes.push(...catalogOnlyNodes(input.catalog, new Set(input.records.map((r) => r.cwe))));
  return { nodes, examples };
}

function toExample(r: FixRecord, nodeId: string, slice: SliceDocument | undefined): CodeExample {
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
    sourceUrl: r.sourceUrl,
    // The slices, not the whole functions: as good a match on the dev set, and a tenth of the text
    // to index (whole functions made the 100× benchmark index ~0.9 GB of text).
    searchText: [sliced?.vulnerable.code ?? r.before, sliced?.secure.code ?? r.after, r.description ?? '', r.commitMessage?.split('\n')[0] ?? ''].join('\n'),
  };
}

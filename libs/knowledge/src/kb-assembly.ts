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

/** Groups records into clusters, distils each, and builds the two KB levels. */
export async function assembleKnowledgeBase(input: AssembleInput): Promise<{ nodes: CweNode[]; examples: CodeExample[] }> {
  const clusters = new Map<string, FixRecord[]>();
  for (const r of input.records) {
    const key = clusterKey(r.cwe, r.language, input.clusterBy);
    const list = clusters.get(key);
    if (list) list.push(r);
    else clusters.set(key, [r]);
  }
  const keys = [...clusters.keys()].sort();
  const nodes: CweNode[] = [];
  const examples: CodeExample[] = [];
  let done = 0;
  for (const key of keys) {
    const records = (clusters.get(key) as FixRecord[]).sort((a, b) => (a.id < b.id ? -1 : 1));
    const { cwe, language } = records[0];
    const entry = input.catalog.get(cwe);
    const summary = await input.distiller.distill(cwe, records, entry);
    const nodeExamples = records.map((r) => toExample(r, key, input.slices.get(r.id)));
    examples.push(...nodeExamples);
    nodes.push({
      id: key,
      cwe,
      language: input.clusterBy === 'cwe' ? undefined : language,
      name: entry?.name,
      description: entry?.description,
      parents: entry?.parents ?? [],
      guidelines: summary.guidelines,
      cause: summary.cause,
      apiNames: [...new Set(nodeExamples.flatMap((e) => e.apiNames))].sort(),
      exampleIds: nodeExamples.map((e) => e.id),
      provenance: summary.provenance,
    });
    done += 1;
    input.onCluster?.(done, keys.length);
  }
  if (input.catalogOnlyNodes) {
    const seen = new Set(input.records.map((r) => r.cwe));
    for (const entry of [...input.catalog.values()].sort((a, b) => (a.id < b.id ? -1 : 1))) {
      if (seen.has(entry.id)) continue;
      const s = extractiveSummary(entry, []);
      nodes.push({ id: clusterKey(entry.id, undefined, 'cwe'), cwe: entry.id, name: entry.name, description: entry.description, parents: entry.parents, guidelines: s.guidelines, cause: s.cause, apiNames: [], exampleIds: [], provenance: { mode: 'catalog-only' } });
    }
  }
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
  };
}

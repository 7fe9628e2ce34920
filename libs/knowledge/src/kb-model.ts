import type { CweId, Language } from '@rescue/domain';

/** How a CWE node's text was written: by an LLM (model + template versions), extracted, or catalogue only. */
export type Provenance =
  | { mode: 'llm'; model: string; templates: string[] }
  | { mode: 'extractive'; sources: ('catalog' | 'commit-messages' | 'descriptions')[] }
  | { mode: 'catalog-only' };

/** The upper level of the KB: one node per cluster (language and CWE by default). */
export interface CweNode {
  /** `python:CWE-89`, or `any:CWE-89` when clustering by CWE only. */
  id: string;
  cwe: CweId;
  language?: Language;
  /** From the MITRE catalogue, when it has the CWE. */
  name?: string;
  description?: string;
  parents: CweId[];
  /** One-sentence rules. */
  guidelines: string[];
  /** Why code gets this weakness. */
  cause: string;
  /** API names seen in the node's examples (dotted callee and last segment), for the API facet. */
  apiNames: string[];
  exampleIds: string[];
  provenance: Provenance;
}

/** The lower level: one sliced fix under its CWE node. */
export interface CodeExample {
  /** The slice id (content-addressed from the record id, slicer version and h). */
  id: string;
  recordId: string;
  cweNodeId: string;
  cwe: CweId;
  language: Language;
  slicedSecure: string;
  slicedVulnerable: string;
  apiNames: string[];
  description?: string;
  sourceUrl?: string;
  /** Words of the fix (both slices, description, commit subject), for the `examples` search facet. */
  searchText?: string;
}

export type ClusterBy = 'language-cwe' | 'cwe';

export function clusterKey(cwe: CweId, language: Language | undefined, by: ClusterBy): string {
  return by === 'cwe' || !language ? `any:${cwe}` : `${language}:${cwe}`;
}

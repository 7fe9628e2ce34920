import type { CweId, DatasetFormat, Language, SourceTrust } from '@rescue/domain';

/** How a CWE node's text was written: by an LLM (model + template versions), extracted, or catalogue only. */
export type Provenance =
  { mode: 'llm'; model: string; templates: string[] } | { mode: 'extractive'; sources: ('catalog' | 'codeql' | 'commit-messages' | 'descriptions')[] } | { mode: 'catalog-only' };

/**
 * What the catalogue says about a weakness that ranking weighs beside the text: its level of
 * abstraction, MITRE's mapping advice, how often it was seen in real vulnerabilities, the top
 * lists that name it, and the languages it applies to.
 */
export interface CwePriors {
  abstraction?: string;
  mappingUsage?: string;
  observedExamples: number;
  /** How many of the catalogue's "Top 25" views list it (one per edition). */
  topLists: number;
  platforms: string[];
}

/**
 * The upper level of the KB. Two kinds share the shape: one node per cluster with fix data
 * (`python:CWE-89`; language and CWE by default), and one language-neutral node per weakness
 * (`any:CWE-89`) for every CWE the KB knows, which is what CWE-level retrieval ranks and what a
 * task in a language without fix data is answered from.
 */
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
  /** On language-neutral nodes when the catalogue has the CWE. */
  priors?: CwePriors;
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
  /** The fix's commit subject, when its dataset has one (for the functional descriptions). */
  commitSubject?: string;
  sourceUrl?: string;
  /** Search terms of the whole fix (both functions, description, commit subject), for the `examples` facet. */
  searchText?: string;
  /** A fix pair, or code that shows the weakness without a fix (never offered as the secure example). */
  kind?: 'fix' | 'vulnerable';
  /** Which kind of source it came from (a fix-pair dataset, CodeQL's help, the CWE catalogue). */
  source?: DatasetFormat;
  /** The trust of that source in the build (see docs/kb-poisoning.md). */
  trust?: SourceTrust;
  /** Set when the screen held it back and an operator released it (`rescue kb quarantine release`). */
  released?: boolean;
}

/**
 * Prose about a weakness beyond the catalogue entry, searched on its own: a CodeQL query's help
 * (what goes wrong, what to do, for one language), or the functional description of a fix or an
 * example ("the function reads a file named in the request").
 */
export interface KnowledgeDocument {
  id: string;
  kind: 'codeql-help' | 'description';
  cwes: CweId[];
  language?: Language;
  title: string;
  text: string;
  /** The advice part (a CodeQL recommendation), which extractive guidelines may quote. */
  guidance?: string;
  /** Where it was read (a help file, a record's origin). */
  source: string;
  /** The trust of that source: an untrusted document's guidance is never quoted. */
  trust?: SourceTrust;
}

export type ClusterBy = 'language-cwe' | 'cwe';

export function clusterKey(cwe: CweId, language: Language | undefined, by: ClusterBy): string {
  return by === 'cwe' || !language ? `any:${cwe}` : `${language}:${cwe}`;
}

/** The language-neutral node of a weakness. */
export const cweNodeId = (cwe: CweId | string): string => `any:${cwe}`;

/** Whether an example came from a fix-pair dataset (SVEN, SafeCoder, the generic format) rather than CodeQL or the catalogue. */
export const isDatasetExample = (e: CodeExample): boolean => e.source === undefined || e.source === 'sven' || e.source === 'safecoder' || e.source === 'generic';

/** What a node's cause vector is embedded from: its name, then its cause. */
export const causeText = (n: Pick<CweNode, 'name' | 'cause'>): string => `${n.name ?? ''}\n${n.cause}`;

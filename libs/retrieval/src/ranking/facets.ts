import { InvalidInputError } from '@rescue/domain';
import type { KnowledgeIndexReader, SearchCollection, SearchFilter, TextField, TextHit } from '../knowledge-index/knowledge-index';

/** A query as the facets search it: search terms and vectors (the retriever makes it from a {@link RetrievalQuery}). */
export interface SearchQuery {
  language?: string;
  /** Search terms of the task's words (and, with an LLM, of its cause analysis). */
  text: string;
  /** Search terms of the task's code (and the LLM's draft): what the examples facet compares with fixes. */
  code: string;
  /** API names read from the task's (and the draft's) syntax tree, and calls named in its prose. */
  apis: string[];
  /** The vulnerability-cause analysis, embedded for the dense `cause` facet (LLM mode only). */
  causeVector?: Float32Array;
}

/** One CWE and its score in a facet, best first. */
export interface CweScore {
  cwe: string;
  score: number;
}

/**
 * A CWE-level facet as data: which collection and field to search with which part of the query,
 * how many hits to group into CWEs, and how much a hit in another language than the task's counts.
 */
export interface CweFacetSpec {
  collection: SearchCollection;
  /** A term field, or `vector` for the dense cause facet (nodes' cause vectors). */
  field: TextField | 'vector';
  input: 'text' | 'code' | 'api' | 'cause';
  /** Hits fetched before grouping by CWE. */
  k: number;
  filter?: SearchFilter;
  /** A hit in another language than the task's counts this much of its score (1: language-blind). */
  otherLanguage?: number;
  /** Only meaningful with an LLM's analysis (offline the task's own words stand in, and double-count). */
  llmOnly?: boolean;
  about: string;
}

/**
 * The CWE-level facets. Ours beside the paper's `cause` and `api`: fixes of every language
 * (`examples`, and `examples-language`, the same search with other languages' fixes at half
 * weight), CodeQL's help (`codeql`), all text about each CWE as one document (`cwe`), functional
 * descriptions of vulnerable code (`descriptions`) and the catalogue entry (`catalog`).
 */
export const CWE_FACETS = {
  examples: { collection: 'examples', field: 'code_text', input: 'code', k: 200, about: 'BM25 of the task over whole fixes and vulnerable examples, every language; a CWE scores its best example' },
  'examples-language': { collection: 'examples', field: 'code_text', input: 'code', k: 200, otherLanguage: 0.5, about: "the examples search with other languages' examples at half weight" },
  codeql: {
    collection: 'documents',
    field: 'terms',
    input: 'text',
    k: 100,
    filter: { kind: 'codeql-help' },
    about: 'BM25 over CodeQL query help (name, description, overview, recommendation, example prose)',
  },
  cwe: { collection: 'nodes', field: 'doc_terms', input: 'text', k: 100, filter: { neutral: true }, about: 'BM25 over one document per CWE holding all the KB knows of it' },
  descriptions: {
    collection: 'documents',
    field: 'terms',
    input: 'text',
    k: 200,
    filter: { kind: 'description' },
    about: 'BM25 over functional descriptions of vulnerable code (fixes, CodeQL queries, catalogue examples)',
  },
  catalog: {
    collection: 'nodes',
    field: 'catalog_terms',
    input: 'text',
    k: 100,
    filter: { neutral: true },
    about: 'BM25 over the catalogue entry (name, description, alternate terms, example prose, mitigations)',
  },
  api: { collection: 'examples', field: 'api_text', input: 'api', k: 200, about: "BM25 of the task's API names over the examples' API calls (the paper's API facet)" },
  cause: {
    collection: 'nodes',
    field: 'vector',
    input: 'cause',
    k: 100,
    filter: { neutral: true },
    llmOnly: true,
    about: "cosine of the LLM's cause analysis and each CWE's cause (the paper's cause facet)",
  },
} as const satisfies Record<string, CweFacetSpec>;

export type CweFacetName = keyof typeof CWE_FACETS;

export const CWE_FACET_NAMES = Object.keys(CWE_FACETS) as CweFacetName[];

/** Facet names as given by a user (`--facets examples,codeql`), checked: an unknown one is an error, not a silent text search. */
export function parseFacetNames(list: string): CweFacetName[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !Object.hasOwn(CWE_FACETS, n));
  if (unknown.length > 0) throw new InvalidInputError(`unknown facet ${unknown.map((u) => JSON.stringify(u)).join(', ')}: the facets are ${CWE_FACET_NAMES.join(', ')}`);
  if (names.length === 0) throw new InvalidInputError(`no facet given: choose from ${CWE_FACET_NAMES.join(', ')}`);
  return [...new Set(names)] as CweFacetName[];
}

const apiQuery = (apis: string[]): string => [...new Set(apis.flatMap((a) => [a.toLowerCase(), ...a.toLowerCase().split('.')]))].filter((a) => a.length > 1).join(' ');

/**
 * Runs facets for one query, sharing identical searches (`examples` and `examples-language` are
 * one search read two ways).
 */
export class FacetSearch {
  private readonly memo = new Map<string, Promise<TextHit[]>>();

  constructor(
    private readonly index: KnowledgeIndexReader,
    readonly query: SearchQuery,
  ) {}

  async run(name: CweFacetName): Promise<CweScore[]> {
    const spec: CweFacetSpec = CWE_FACETS[name];
    const hits = await this.hits(spec);
    return groupByCwe(hits, spec.otherLanguage ?? 1, this.query.language);
  }

  private hits(spec: CweFacetSpec): Promise<TextHit[]> {
    const q = this.query;
    const input = spec.input === 'text' ? q.text : spec.input === 'code' ? q.code : spec.input === 'api' ? apiQuery(q.apis) : '';
    const key = JSON.stringify([spec.collection, spec.field, spec.input, spec.k, spec.filter ?? {}, spec.input === 'cause' ? '' : input]);
    let found = this.memo.get(key);
    if (!found) {
      if (spec.field === 'vector') {
        const v = q.causeVector;
        found = v && v.some((x) => x !== 0) && spec.collection !== 'documents' ? this.index.searchVector(spec.collection, v, spec.k, spec.filter) : Promise.resolve([]);
      } else {
        found = input.trim() ? this.index.searchText(spec.collection, spec.field, input, spec.k, spec.filter) : Promise.resolve([]);
      }
      this.memo.set(key, found);
    }
    return found;
  }
}

/**
 * Hits to CWEs: a CWE scores its best hit plus half its second (a hit of several CWEs counts for
 * each; other languages' hits scaled). The second hit is evidence the best alone lacks: a CWE
 * two fixes resemble is likelier than one a single stray fix does (measured on the development
 * sets: hit@4 and MRR up on all four, against the best hit alone).
 */
export function groupByCwe(hits: TextHit[], otherLanguage: number, language: string | undefined): CweScore[] {
  const all = new Map<string, number[]>();
  for (const h of hits) {
    const factor = otherLanguage !== 1 && language && h.language && h.language !== language ? otherLanguage : 1;
    const score = h.score * factor;
    for (const cwe of h.cwes ?? []) {
      const list = all.get(cwe);
      if (list) list.push(score);
      else all.set(cwe, [score]);
    }
  }
  return [...all.entries()]
    .map(([cwe, scores]) => {
      scores.sort((a, b) => b - a);
      return { cwe, score: scores[0] + (scores.length > 1 ? scores[1] / 2 : 0) };
    })
    .sort((a, b) => b.score - a.score || (a.cwe < b.cwe ? -1 : 1));
}

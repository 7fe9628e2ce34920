import type { Embedder } from './embedding/embedder';
import { type FacetRanking, type FusedItem, thresholdedRrf } from './fusion/thresholded-rrf';
import type { Hit, SearchFilter } from './knowledge-index/lance-knowledge-index';

/** What a task offers retrieval (paper §4.1), whichever mode produced it. */
export interface RetrievalQuery {
  language?: string;
  /** The vulnerability-cause analysis (LLM) or, offline, the task text. */
  cause: string;
  /** API names read from the draft's and the task prefix's syntax trees. */
  apis: string[];
  /** The draft (LLM) or, offline, the task's code prefix. */
  code: string;
  /** The task in words (for the text facet, beyond the paper). */
  text: string;
}

/** `examples`: BM25 of the task's code over the nodes' example code (ours, beyond the paper). */
export type CweFacet = 'cause' | 'api' | 'text' | 'examples';
export type CodeFacet = 'api' | 'code';

export interface RetrievalConfig {
  /** CWE-level facets (the paper: cause and api; `text` is ours). */
  cweFacets: CweFacet[];
  codeFacets: CodeFacet[];
  /** The paper's k: CWE nodes kept after the first level. */
  topK: number;
  /** Candidates fetched per facet before fusion. */
  candidates: number;
  alpha: number;
  rankCap: number;
  /** Per facet, the score an item must beat (score spaces of this KB's embedder and BM25). */
  thresholds: { cause: number; api: number; text: number; code: number; examples: number };
}

/**
 * Thresholds for the local LSA embedder and LanceDB's BM25 until `rescue kb calibrate` fits the
 * KB's own: permissive (any positive similarity, any BM25 match), so the rank cap and the fusion
 * decide. The paper's values (cause 0.75, code 0.65, API 4.0) belong to bge and rank_bm25.
 */
export const UNCALIBRATED_THRESHOLDS: RetrievalConfig['thresholds'] = { cause: 0, api: 0, text: 0, code: 0, examples: 0 };

export const DEFAULT_RETRIEVAL: RetrievalConfig = {
  cweFacets: ['cause', 'api', 'text', 'examples'],
  codeFacets: ['api', 'code'],
  topK: 4,
  candidates: 50,
  alpha: 60,
  rankCap: 10,
  thresholds: UNCALIBRATED_THRESHOLDS,
};

/** The reads the retriever needs from a knowledge index (LanceDB or Elasticsearch). */
export interface RetrievalIndex {
  searchNodesText(query: string, column: 'text' | 'api_text', k: number, filter?: SearchFilter): Promise<Hit[]>;
  searchNodesVector(vector: Float32Array, k: number, filter?: SearchFilter): Promise<Hit[]>;
  searchExamplesApi(query: string, k: number, filter?: SearchFilter): Promise<Hit[]>;
  searchExamplesVector(vector: Float32Array, k: number, filter?: SearchFilter): Promise<Hit[]>;
  /** Optional: backends without it simply offer no `examples` facet. */
  searchNodesByExampleCode?(query: string, k: number, filter?: SearchFilter): Promise<Hit[]>;
}

export interface RetrievalResult {
  abstained: boolean;
  /** Fused CWE nodes, best first (at most topK). */
  cwes: FusedItem[];
  /** The best code example under those nodes, when any passes. */
  example?: FusedItem;
  /** Each facet's own ranking, before fusion (for calibration and traces). */
  rankings: { cwe: FacetRanking[]; code: FacetRanking[] };
  timings: { cweMs: number; codeMs: number };
}

const apiQuery = (apis: string[]): string => [...new Set(apis.flatMap((a) => [a.toLowerCase(), ...a.toLowerCase().split('.')]))].join(' ');
const isZero = (v: Float32Array): boolean => v.every((x) => x === 0);

/**
 * RESCUE's hierarchical multi-faceted retrieval (paper §4.2–4.4): CWE nodes first (cause, API
 * and text facets fused by the thresholded RRF, top k kept), then the code examples under them
 * (API and code-similarity facets, same fusion). Nothing passing means abstain: the caller uses
 * the plain prompt.
 */
export class HierarchicalRetriever {
  constructor(private readonly index: RetrievalIndex, private readonly embedder: Embedder, readonly config: RetrievalConfig = DEFAULT_RETRIEVAL) {}

  async retrieve(q: RetrievalQuery): Promise<RetrievalResult> {
    const c = this.config;
    const t0 = performance.now();
    const filter: SearchFilter = q.language ? { language: q.language } : {};
    const [causeVec, codeVec] = await this.embedder.embed([q.cause, q.code]);
    const api = apiQuery(q.apis);
    const cweRankings = await Promise.all(
      c.cweFacets.map(async (facet) => {
        if (facet === 'cause') return { name: facet, hits: isZero(causeVec) ? [] : await this.index.searchNodesVector(causeVec, c.candidates, filter), threshold: c.thresholds.cause };
        if (facet === 'api') return { name: facet, hits: api ? await this.index.searchNodesText(api, 'api_text', c.candidates, filter) : [], threshold: c.thresholds.api };
        if (facet === 'examples') return { name: facet, hits: q.code.trim() && this.index.searchNodesByExampleCode ? await this.index.searchNodesByExampleCode(q.code, c.candidates * 4, filter) : [], threshold: c.thresholds.examples };
        return { name: facet, hits: q.text.trim() ? await this.index.searchNodesText(q.text, 'text', c.candidates, filter) : [], threshold: c.thresholds.text };
      }),
    );
    const cwes = thresholdedRrf(cweRankings, { alpha: c.alpha, rankCap: c.rankCap }).slice(0, c.topK);
    const t1 = performance.now();
    if (cwes.length === 0) return { abstained: true, cwes, rankings: { cwe: cweRankings, code: [] }, timings: { cweMs: t1 - t0, codeMs: 0 } };

    const exampleFilter: SearchFilter = { nodeIds: cwes.map((n) => n.id) };
    const codeRankings = await Promise.all(
      c.codeFacets.map(async (facet) => {
        if (facet === 'api') return { name: facet, hits: api ? await this.index.searchExamplesApi(api, c.candidates, exampleFilter) : [], threshold: c.thresholds.api };
        return { name: facet, hits: isZero(codeVec) ? [] : await this.index.searchExamplesVector(codeVec, c.candidates, exampleFilter), threshold: c.thresholds.code };
      }),
    );
    const examples = thresholdedRrf(codeRankings, { alpha: c.alpha, rankCap: c.rankCap });
    return { abstained: false, cwes, example: examples[0], rankings: { cwe: cweRankings, code: codeRankings }, timings: { cweMs: t1 - t0, codeMs: performance.now() - t1 } };
  }
}

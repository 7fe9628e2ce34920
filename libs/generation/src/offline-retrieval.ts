import type { CodingTask } from '@rescue/datasets';
// The module, not the library's index (which loads the build: ingestors, LLM distiller, zod): `rescue retrieve` loads this file.
import { type OpenedKb, type TaskCodeReader, offlineQuery } from '@rescue/knowledge/kb-retriever';
import type { GateVerdict } from '@rescue/retrieval';
import { chooseContext } from './security-context';

/** The security context for one task without an LLM: what `rescue retrieve` prints and the API returns. */
export interface OfflineRetrieval {
  id: string;
  mode: 'offline';
  abstained: boolean;
  /**
   * The relevance gate's score and threshold (below it, the task is not about security and gets no
   * context), and what the score is made of: the lexical score, the task's distinct terms, the
   * facets' agreement on the best CWE.
   */
  relevance?: GateVerdict;
  /** The kept CWEs, best first, with each facet's score and rank. */
  cwes: { cwe: string; node: string; score: number; facets: Record<string, unknown> }[];
  guidelines: string[];
  /** When more than one CWE's guidance was asked for: further CWEs' guidelines, fitted to the budget. */
  moreGuidance?: { cwe: string; name?: string; guidelines: string[] }[];
  example?: { id: string; cwe: string; language: string; code: string; sourceUrl?: string; score: number };
}

/** Offline retrieval for one task (paper §4.2–4.4 without the LLM analysis), with the context a prompt would get. */
export async function retrieveOffline(
  kb: OpenedKb,
  reader: TaskCodeReader,
  task: Pick<CodingTask, 'id' | 'language' | 'prompt' | 'kind'>,
  guidance?: { cwes: number; tokens: number },
): Promise<OfflineRetrieval> {
  const result = await kb.retriever.retrieve(await offlineQuery(task, reader));
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  const { context, example } = chooseContext(kb, result, guidance);
  return {
    id: task.id,
    mode: 'offline',
    abstained: result.abstained,
    ...(result.relevance
      ? {
          relevance: {
            ...result.relevance,
            score: round(result.relevance.score),
            threshold: round(result.relevance.threshold),
            lexical: round(result.relevance.lexical),
            agreement: round(result.relevance.agreement),
          },
        }
      : {}),
    cwes: result.cwes.map((c) => ({ cwe: c.cwe, node: c.id, score: round(c.score), facets: c.facets })),
    guidelines: context?.guidelines ?? [],
    ...(guidance && guidance.cwes > 1 ? { moreGuidance: context?.more ?? [] } : {}),
    example:
      example && result.example ? { id: example.id, cwe: example.cwe, language: example.language, code: example.slicedSecure, sourceUrl: example.sourceUrl, score: result.example.score } : undefined,
  };
}

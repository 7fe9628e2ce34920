import type { CodingTask } from '@rescue/datasets';
import { type OpenedKb, type TaskCodeReader, offlineQuery } from '@rescue/knowledge';
import { chooseContext } from './security-context';

/** The security context for one task without an LLM: what `rescue retrieve` prints and the API returns. */
export interface OfflineRetrieval {
  id: string;
  mode: 'offline';
  abstained: boolean;
  /** The kept CWEs, best first, with each facet's score and rank. */
  cwes: { cwe: string; node: string; score: number; facets: Record<string, unknown> }[];
  guidelines: string[];
  /** When more than one CWE's guidance was asked for: further CWEs' guidelines, fitted to the budget. */
  moreGuidance?: { cwe: string; name?: string; guidelines: string[] }[];
  example?: { id: string; cwe: string; language: string; code: string; sourceUrl?: string; score: number };
}

/** Offline retrieval for one task (paper §4.2–4.4 without the LLM analysis), with the context a prompt would get. */
export async function retrieveOffline(kb: OpenedKb, reader: TaskCodeReader, task: Pick<CodingTask, 'id' | 'language' | 'prompt' | 'kind'>, guidance?: { cwes: number; tokens: number }): Promise<OfflineRetrieval> {
  const result = await kb.retriever.retrieve(await offlineQuery(task, reader));
  const { context, example } = chooseContext(kb, result, guidance);
  return {
    id: task.id,
    mode: 'offline',
    abstained: result.abstained,
    cwes: result.cwes.map((c) => ({ cwe: kb.nodes.get(c.id)?.cwe ?? c.id, node: c.id, score: c.score, facets: c.facets })),
    guidelines: context?.guidelines ?? [],
    ...(guidance && guidance.cwes > 1 ? { moreGuidance: context?.more ?? [] } : {}),
    example: example && result.example ? { id: example.id, cwe: example.cwe, language: example.language, code: example.slicedSecure, sourceUrl: example.sourceUrl, score: result.example.score } : undefined,
  };
}

import type { CodeExample, CweNode, OpenedKb } from '@rescue/knowledge';
import type { RetrievalResult } from '@rescue/retrieval';
import { type GuidanceSection, type SecurityContext, fitGuidance } from './prompts';

export interface ChosenContext {
  /** Undefined when retrieval abstained: the plain prompt is used. */
  context?: SecurityContext;
  example?: CodeExample;
  /**
   * The CWE node whose guidelines lead: the best-ranked CWE's (in the task's language when the KB
   * has fixes there). The paper leads with the chosen example's CWE; when the example comes from a
   * lower-ranked CWE (a `strcpy` task whose best fix sits under CWE-190 while CWE-787 ranks first),
   * that would drop the weakness retrieval was surest of.
   */
  node?: CweNode;
  /** The CWEs whose guidelines the context holds, the leading one first. */
  guidanceCwes: string[];
}

/**
 * The security knowledge for a prompt from a retrieval result: the chosen example and its CWE's
 * guidelines, plus (beyond the paper, when `guidance.cwes` > 1) the guidelines of further
 * retrieved CWEs in rank order, all fitted to `guidance.tokens`. Used by generation and by
 * `rescue retrieve`, so both show the same context.
 */
export function chooseContext(kb: OpenedKb, result: RetrievalResult, guidance?: { cwes: number; tokens: number }): ChosenContext {
  if (result.abstained) return { guidanceCwes: [] };
  const example = result.example ? kb.examples.get(result.example.id) : undefined;
  const node = result.cwes[0] ? kb.nodes.get(result.cwes[0].id) : undefined;
  let context: SecurityContext = { guidelines: node?.guidelines ?? [], example: example ? { language: example.language, code: example.slicedSecure } : undefined };
  if (guidance && guidance.cwes > 1) {
    const more: GuidanceSection[] = [];
    for (const c of result.cwes) {
      const n = kb.nodes.get(c.id);
      if (!n || n.cwe === node?.cwe || n.guidelines.length === 0 || more.some((m) => m.cwe === n.cwe)) continue;
      more.push({ cwe: n.cwe, name: n.name, guidelines: n.guidelines });
    }
    context = fitGuidance({ ...context, more: more.slice(0, guidance.cwes - 1) }, guidance.tokens);
  }
  return { context, example, node, guidanceCwes: [...(node ? [node.cwe] : []), ...(context.more ?? []).map((m) => m.cwe)] };
}

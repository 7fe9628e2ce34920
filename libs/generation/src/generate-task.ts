import type { CodingTask } from '@rescue/datasets';
import { RescueError } from '@rescue/domain';
import type { OpenedKb } from '@rescue/knowledge';
import type { RetrievalQuery } from '@rescue/retrieval';
import { type Llm, type LlmUsage, causeAnalysisTemplate } from '@rescue/llm';
import { SliceFailure } from '@rescue/slicing';
import { type PromptStyle, draftPrompt, extractCode, generationPrompt } from './prompts';
import { chooseContext } from './security-context';

export interface GenerationOptions {
  samples: number;
  temperature: number;
  style: PromptStyle;
  /** Calls for API names in code (the slicing library's extractor). */
  apiCalls: (language: string, code: string) => Promise<{ callee: string; name: string }[]>;
  /**
   * Beyond the paper: the guidelines of up to `cwes` retrieved CWEs (the chosen example's first),
   * fitted to `tokens`. Absent or `cwes: 1`: the paper's context, one CWE's guidelines.
   */
  guidance?: { cwes: number; tokens: number };
  signal?: AbortSignal;
}

export interface GeneratedSample {
  code: string;
  tokens: { prompt: number; completion: number };
  latencyMs: number;
}

export interface GenerationResult {
  id: string;
  mode: 'llm';
  model: string;
  kbVersion: string;
  abstained: boolean;
  samples: GeneratedSample[];
  /** Why the context was chosen: CWEs with their facet scores, the example, and the analysis. */
  retrieval: { cwes: { cwe: string; node: string; score: number }[]; example?: { id: string; cwe: string; score: number }; guidanceCwes: string[]; apis: string[]; cause: string };
  analysisMs: number;
  tokens: { prompt: number; completion: number };
}

const add = (a: { prompt: number; completion: number }, u: LlmUsage): void => {
  a.prompt += u.promptTokens;
  a.completion += u.completionTokens;
};

/** The LLM analysis of a task (paper §4.1) and the retrieval query it makes. */
export interface TaskAnalysis {
  query: RetrievalQuery;
  /** The model that wrote the draft. */
  model: string;
  tokens: { prompt: number; completion: number };
  analysisMs: number;
}

/**
 * The zero-shot draft and the one-shot cause analysis, issued concurrently, then API references
 * from the draft's and the task's syntax trees: the LLM-mode retrieval query. Shared by
 * generation and `rescue eval retrieval --mode llm`.
 */
export async function analyzeTask(task: CodingTask, llm: Llm, options: Pick<GenerationOptions, 'temperature' | 'style' | 'apiCalls' | 'signal'>): Promise<TaskAnalysis> {
  const tokens = { prompt: 0, completion: 0 };
  const t0 = performance.now();
  const draftInput = draftPrompt(task, options.style);
  const call = { temperature: options.temperature, signal: options.signal };
  const [draft, cause] = await Promise.all([
    typeof draftInput === 'string' ? llm.complete('generator', draftInput, call) : llm.chat('generator', draftInput, call),
    llm.run(causeAnalysisTemplate, { code: task.prompt, language: task.language }, { signal: options.signal }),
  ]);
  add(tokens, draft.usage);
  add(tokens, cause.usage);
  const draftCode = extractCode(draft.text);
  const apis: string[] = [];
  for (const code of [draftCode, task.prompt]) {
    try {
      for (const c of await options.apiCalls(task.language, code)) apis.push(c.callee, c.name);
    } catch (err) {
      // A draft that does not parse contributes no API names; anything else is a real failure.
      if (!(err instanceof SliceFailure)) throw err;
    }
  }
  return {
    // The analysis joins the task's words (it names the weakness the words only imply) and the
    // draft joins its code; the cause alone feeds the dense cause facet.
    query: { language: task.language, cause: cause.value.cause, apis: [...new Set(apis)], code: `${task.prompt}\n${draftCode}`, text: `${task.prompt}\n${cause.value.cause}`, gateText: task.prompt },
    model: draft.model,
    tokens,
    analysisMs: performance.now() - t0,
  };
}

/**
 * RESCUE for one task (paper §4): the zero-shot draft and the cause analysis run concurrently,
 * API calls are read from the draft's and the task's syntax trees, retrieval picks the CWEs and the
 * secure example, and the model writes `samples` answers with that context in its prompt.
 * Generated code is returned as text and never executed.
 */
export async function generateForTask(task: CodingTask, kb: OpenedKb, llm: Llm, options: GenerationOptions): Promise<GenerationResult> {
  const call = { temperature: options.temperature, signal: options.signal };
  const analysis = await analyzeTask(task, llm, options);
  const tokens = { ...analysis.tokens };
  const result = await kb.retriever.retrieve(analysis.query);
  const { context, example, guidanceCwes } = chooseContext(kb, result, options.guidance);
  const prompt = generationPrompt(task, context, options.style);
  const samples: GeneratedSample[] = [];
  let model = analysis.model;
  for (let i = 0; i < options.samples; i += 1) {
    const t = performance.now();
    // Distinct samples must not be served from the cache as one answer.
    const answer = typeof prompt === 'string' ? await llm.complete('generator', prompt, { ...call, cache: false }) : await llm.chat('generator', prompt, { ...call, cache: false });
    add(tokens, answer.usage);
    model = answer.model;
    const code = typeof prompt === 'string' ? `${task.prompt}${answer.text}` : extractCode(answer.text);
    samples.push({ code, tokens: { prompt: answer.usage.promptTokens, completion: answer.usage.completionTokens }, latencyMs: Math.round(performance.now() - t) });
  }
  return {
    id: task.id,
    mode: 'llm',
    model,
    kbVersion: kb.manifest.version,
    abstained: result.abstained,
    samples,
    retrieval: {
      cwes: result.cwes.map((c) => ({ cwe: c.cwe, node: c.id, score: c.score })),
      example: example && result.example ? { id: example.id, cwe: example.cwe, score: result.example.score } : undefined,
      guidanceCwes,
      apis: analysis.query.apis,
      cause: analysis.query.cause ?? '',
    },
    analysisMs: Math.round(analysis.analysisMs),
    tokens,
  };
}

/** The error class a failed task is recorded with. */
export function errorClass(err: unknown): string {
  if (err instanceof RescueError) return err.name;
  if (err instanceof Error) return err.name || 'Error';
  return 'Unknown';
}

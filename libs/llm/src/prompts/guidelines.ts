import { z } from 'zod';
import { describeWeakness, weaknessContext } from './context';
import { DATA_NOTICE, quoteData } from './quote';
import type { ChatMessage, PromptTemplate } from './template';

// Security-guideline prompts (paper §3.3, App. D.1), written in our own words. The paper asks for
// markdown bullets; we ask for the same one-sentence rules as a JSON array, so the answer can be
// validated instead of scraped.

/** Input of {@link guidelineExtractTemplate}: fixed vulnerabilities, each as code plus the fixing diff. */
export const guidelineExtractInput = weaknessContext.extend({
  cases: z
    .array(
      z.object({
        vulnerableCode: z.string().min(1).max(200_000),
        /** The fix as a unified diff (`---`/`+++`/`@@`). */
        patch: z.string().min(1).max(200_000),
        /** Overrides the group's language for this case's fences. */
        language: z.string().max(40).optional(),
      }),
    )
    .min(1)
    .max(50),
});

/** Input of {@link guidelineExtractTemplate}. */
export type GuidelineExtractInput = z.output<typeof guidelineExtractInput>;

/** Input of {@link guidelineMergeTemplate}: two or more guideline lists to fold into one. */
export const guidelineMergeInput = weaknessContext.extend({
  lists: z
    .array(z.array(z.string().min(1).max(2_000)).min(1).max(200))
    .min(1)
    .max(50),
});

/** Input of {@link guidelineMergeTemplate}. */
export type GuidelineMergeInput = z.output<typeof guidelineMergeInput>;

/** Output of both guideline templates: one sentence per rule. */
export const guidelinesOutput = z.object({
  guidelines: z.array(z.string().trim().min(1).max(1_000)).min(1).max(100),
});

/** Output of both guideline templates. */
export type GuidelinesOutput = z.output<typeof guidelinesOutput>;

const SYSTEM = 'You are an application-security engineer who turns real vulnerability fixes into short, reusable secure-coding ' + `rules for developers. ${DATA_NOTICE}`;

const RULES = [
  'Each guideline is one clear sentence that tells a developer what to do or what to avoid.',
  'Each guideline states a different practice; do not restate one in other words.',
  'Be concrete: name the API, construct or check involved when the material shows one (for example: "Resolve a user-supplied file name against a fixed base directory and reject the result if it leaves that directory.").',
  'Write rules that hold beyond these examples: do not mention their file, function or variable names.',
];

/**
 * Leaf step of the guideline summarization: cases (vulnerable code + fixing diff) → the rules
 * they teach.
 */
export const guidelineExtractTemplate: PromptTemplate<GuidelineExtractInput, GuidelinesOutput> = {
  id: 'guideline-extract',
  version: 1,
  role: 'summarizer',
  description: 'Fixed vulnerabilities (code + unified diff) → one-sentence security guidelines',
  input: guidelineExtractInput,
  output: guidelinesOutput,
  render(input): ChatMessage[] {
    const cases = input.cases.map((c, i) => {
      const lang = c.language ?? input.language ?? '';
      return [`## Case ${i + 1}`, '### Vulnerable code', quoteData(c.vulnerableCode, lang), '### Fix (unified diff)', quoteData(c.patch, 'diff')].join('\n');
    });
    const user = [
      `Below are ${input.cases.length} case(s) of ${describeWeakness(input, 'the same weakness')}. Each shows the vulnerable code and the patch that fixed it.`,
      'Work out which security practices the fixes apply, and write them down as guidelines.',
      '',
      ...RULES.map((r) => `- ${r}`),
      '',
      'Reply with a JSON object only: {"guidelines": ["<sentence>", ...]}.',
      '',
      ...cases,
    ].join('\n');
    return [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: user },
    ];
  },
};

/** Merge step of the guideline summarization: several lists → one list without duplicates. */
export const guidelineMergeTemplate: PromptTemplate<GuidelineMergeInput, GuidelinesOutput> = {
  id: 'guideline-merge',
  version: 1,
  role: 'summarizer',
  description: 'Several guideline lists → one merged list, duplicates combined',
  input: guidelineMergeInput,
  output: guidelinesOutput,
  render(input): ChatMessage[] {
    const lists = input.lists.map((list, i) => [`## Guideline list ${i + 1}`, quoteData(list.map((g) => `- ${g.replace(/\s+/g, ' ').trim()}`).join('\n'), 'markdown')].join('\n'));
    const user = [
      `Below are ${input.lists.length} list(s) of secure-coding guidelines, each written from a different group of fixes for ${describeWeakness(input, 'the same weakness')}.`,
      'Combine them into a single list:',
      '- guidelines that mean the same thing become one sentence that keeps the most specific wording;',
      '- every distinct practice is kept, even if only one list has it;',
      '- each guideline stays one clear sentence that tells a developer what to do or avoid.',
      '',
      'Reply with a JSON object only: {"guidelines": ["<sentence>", ...]}.',
      '',
      ...lists,
    ].join('\n');
    return [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: user },
    ];
  },
};

import { z } from 'zod';
import { describeWeakness, weaknessContext } from './context';
import { DATA_NOTICE, quoteData } from './quote';
import type { ChatMessage, PromptTemplate } from './template';

// Vulnerability-cause prompts (paper §4.1 / App. D.2.2 for the analysis, §3.3 for its use on KB
// cases), in our own words. The analysis is one-shot: one worked example as a user/assistant
// turn, then the real code. The paper has no cause-merge prompt; ours mirrors the guideline merge.

/** Input of {@link causeAnalysisTemplate}: code to analyse (a task prefix online, a vulnerable function offline). */
export const causeAnalysisInput = z.object({
  code: z.string().min(1).max(200_000),
  language: z.string().max(40).optional(),
});

/** Input of {@link causeAnalysisTemplate}. */
export type CauseAnalysisInput = z.output<typeof causeAnalysisInput>;

/** Input of {@link causeMergeTemplate}: cause paragraphs written for examples of one weakness. */
export const causeMergeInput = weaknessContext.extend({
  causes: z.array(z.string().min(1).max(20_000)).min(1).max(50),
});

/** Input of {@link causeMergeTemplate}. */
export type CauseMergeInput = z.output<typeof causeMergeInput>;

/** Output of both cause templates: one paragraph of plain text. */
export const causeOutput = z.object({
  cause: z.string().trim().min(1).max(5_000),
});

/** Output of both cause templates. */
export type CauseOutput = z.output<typeof causeOutput>;

const SYSTEM = 'You are an application-security reviewer. You explain why code is vulnerable; you do not propose fixes. ' + DATA_NOTICE;

// The worked example is ours (a path traversal in Node), deliberately a different weakness and
// language from most tasks so the model copies the form of the answer, not its content.
const EXAMPLE_CODE = [
  "const path = require('path');",
  "const fs = require('fs');",
  '',
  '// Serves a report from the reports folder by its name.',
  "app.get('/reports', (req, res) => {",
  "  const file = path.join(__dirname, 'reports', req.query.name);",
].join('\n');

const EXAMPLE_ANSWER = JSON.stringify({
  cause:
    'The handler is exposed to path traversal (CWE-22): the report name comes straight from the query string and is ' +
    'joined onto the reports directory without any check, so a name such as "../../etc/passwd" makes the resulting ' +
    'path point outside that directory, and whatever the handler goes on to read or send with it discloses arbitrary ' +
    'files that the server process can access.',
});

function analysisRequest(code: string, language: string | undefined): string {
  return [
    'Read the code below (it may be unfinished). Decide which security weakness it has, or is about to have once the obvious next lines are written.',
    'Answer with one paragraph of plain prose, no code and no lists, that names the weakness (with its CWE id when you know it) and explains its cause: where untrusted data or state comes from, what it reaches, and which check or safeguard is missing.',
    'Do not say how to fix it.',
    '',
    'Reply with a JSON object only: {"cause": "<paragraph>"}.',
    '',
    quoteData(code, language ?? ''),
  ].join('\n');
}

/** Vulnerability-cause analysis: code → one paragraph on why it is (or will be) vulnerable, without fix advice. */
export const causeAnalysisTemplate: PromptTemplate<CauseAnalysisInput, CauseOutput> = {
  id: 'cause-analysis',
  version: 1,
  role: 'analyzer',
  description: 'Code → a paragraph naming the likely weakness and its cause (no fix advice)',
  input: causeAnalysisInput,
  output: causeOutput,
  render(input): ChatMessage[] {
    return [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: analysisRequest(EXAMPLE_CODE, 'javascript') },
      { role: 'assistant', content: EXAMPLE_ANSWER },
      { role: 'user', content: analysisRequest(input.code, input.language) },
    ];
  },
};

/** Merge step of the cause summarization: several cause paragraphs → one. */
export const causeMergeTemplate: PromptTemplate<CauseMergeInput, CauseOutput> = {
  id: 'cause-merge',
  version: 1,
  role: 'summarizer',
  description: 'Several vulnerability-cause paragraphs → one paragraph covering their common root causes',
  input: causeMergeInput,
  output: causeOutput,
  render(input): ChatMessage[] {
    const causes = input.causes.map((c, i) => [`## Description ${i + 1}`, quoteData(c, 'text')].join('\n'));
    const user = [
      `Below are ${input.causes.length} description(s) of why code had ${describeWeakness(input, 'one weakness')}.`,
      'Write one concise paragraph of plain prose that explains the root conditions and recurring patterns behind them: combine causes that are the same, keep distinct ones, and leave out details specific to a single program.',
      'Do not say how to fix it.',
      '',
      'Reply with a JSON object only: {"cause": "<paragraph>"}.',
      '',
      ...causes,
    ].join('\n');
    return [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: user },
    ];
  },
};

import type { CweEntry } from '@rescue/datasets';
import type { FixRecord, Language } from '@rescue/domain';

/**
 * The no-LLM distillation: guidelines from the catalogue's mitigations and the fixes' commit
 * messages, the cause from the catalogue's description. Every sentence is one the sources already
 * contain; nothing is generated.
 */

const MAX_GUIDELINES = 12;

/** Lowercase words, for comparing sentences. */
function words(s: string): Set<string> {
  return new Set(s.toLowerCase().match(/[a-z0-9_]+/g) ?? []);
}

function jaccard(a: Set<string>, b: Set<string>): number {
  let inter = 0;
  for (const w of a) if (b.has(w)) inter += 1;
  return inter === 0 ? 0 : inter / (a.size + b.size - inter);
}

/** The first sentence of a text, trimmed to a readable length. */
export function firstSentence(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const m = /^(.+?[.!?])(\s|$)/.exec(flat);
  const s = (m ? m[1] : flat).trim();
  return s.length > max ? `${s.slice(0, max - 1).trimEnd()}…` : s;
}

/** Keeps the first of any sentences that say nearly the same thing (word Jaccard ≥ 0.7). */
export function dedupeSentences(sentences: string[]): string[] {
  const kept: { text: string; w: Set<string> }[] = [];
  for (const text of sentences) {
    const t = text.trim();
    if (t.length < 12) continue;
    const w = words(t);
    if (kept.some((k) => jaccard(k.w, w) >= 0.7)) continue;
    kept.push({ text: t, w });
  }
  return kept.map((k) => k.text);
}

/** A commit message's subject, when it reads like the description of a security fix. */
function fixSubject(message: string | undefined): string | undefined {
  if (!message) return undefined;
  const subject = message.split('\n')[0].trim().replace(/^(fix|fixes|fixed)(\(.+?\))?:\s*/i, 'Fix: ');
  if (subject.length < 15 || subject.length > 200) return undefined;
  if (/^(merge|bump|update|version|release|wip)\b/i.test(subject)) return undefined;
  if (!/(fix|prevent|escape|sanitiz|validat|check|avoid|secur|vuln|inject|overflow|travers|xss|cve|bound|saniti|safe|restrict|limit)/i.test(subject)) return undefined;
  return /[.!?]$/.test(subject) ? subject : `${subject}.`;
}

export interface ExtractiveSummary {
  guidelines: string[];
  cause: string;
  sources: ('catalog' | 'commit-messages' | 'descriptions')[];
}

/**
 * Guidelines: the catalogue's implementation and design mitigations first (most actionable), then
 * fix subjects from the cluster's commit messages; de-duplicated and capped. Cause: the
 * catalogue's description (and the first sentence of its extended description), or, without a
 * catalogue entry, a sentence naming the CWE and the functions it was found in.
 */
export function extractiveSummary(entry: CweEntry | undefined, records: FixRecord[], language?: Language): ExtractiveSummary {
  const sources: ExtractiveSummary['sources'] = [];
  const fromCatalog: string[] = [];
  if (entry) {
    // Mitigations with a named strategy are the actionable ones; within a rank, catalogue order.
    const ranked = [...entry.mitigations].sort((a, b) => rank(a.phase) - rank(b.phase) || Number(!a.strategy) - Number(!b.strategy));
    for (const m of ranked) {
      const sentence = firstSentence(m.description.replace(/\s*\[REF-\d+\]/g, ''));
      if (HEDGE.test(sentence) || mentionsOtherLanguage(sentence, language)) continue;
      fromCatalog.push(sentence);
    }
    if (fromCatalog.length > 0) sources.push('catalog');
  }
  const fromCommits = records.map((r) => fixSubject(r.commitMessage)).filter((s): s is string => !!s);
  if (fromCommits.length > 0) sources.push('commit-messages');
  const guidelines = dedupeSentences([...fromCatalog.slice(0, 8), ...fromCommits]).slice(0, MAX_GUIDELINES);
  let cause: string;
  if (entry) {
    cause = [entry.description, entry.extendedDescription ? firstSentence(entry.extendedDescription) : ''].filter(Boolean).join(' ');
  } else {
    const fns = [...new Set(records.map((r) => r.functionName).filter(Boolean))].slice(0, 5);
    const descriptions = dedupeSentences(records.map((r) => r.description ?? '').filter(Boolean)).slice(0, 2);
    if (descriptions.length > 0) sources.push('descriptions');
    cause = `Code fixed for ${records[0]?.cwe ?? 'this weakness'}${fns.length ? ` in ${fns.join(', ')}` : ''}.${descriptions.length ? ` ${descriptions.join(' ')}` : ''}`;
  }
  return { guidelines, cause, sources };
}

/** Sentences that set context rather than say what to do. */
const HEDGE = /^(while|although|though|note|this|these|in general|for example|however|if this is not possible)\b/i;

const LANGUAGE_MENTIONS: [RegExp, Language[]][] = [
  [/\bphp\b/i, ['php']],
  [/\bperl\b/i, []],
  [/\bjava\b(?!script)/i, ['java']],
  [/\bjavascript\b/i, ['javascript', 'typescript']],
  [/\bpython\b/i, ['python']],
  [/\bruby\b/i, ['ruby']],
  [/\basp(\.net)?\b|\.net\b|\bc#/i, ['csharp']],
  [/\bc\+\+/i, ['cpp']],
];

/** A catalogue sentence about another language's specifics (register_globals in a Python node). */
function mentionsOtherLanguage(sentence: string, language: Language | undefined): boolean {
  if (!language) return false;
  return LANGUAGE_MENTIONS.some(([re, langs]) => re.test(sentence) && !langs.includes(language));
}

function rank(phase: string | undefined): number {
  if (!phase) return 3;
  if (/implementation/i.test(phase)) return 0;
  if (/architecture|design/i.test(phase)) return 1;
  if (/requirements/i.test(phase)) return 2;
  return 3;
}

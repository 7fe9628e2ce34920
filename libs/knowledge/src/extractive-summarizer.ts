import type { CweEntry } from '@rescue/datasets';
import type { FixRecord, Language, SourceTrust } from '@rescue/domain';

/**
 * The no-LLM distillation: guidelines are sentences the sources already contain, chosen and
 * ordered, never written. Sources, best first: the advice of CodeQL's help for the weakness (in
 * the node's language first), then the catalogue's mitigations (implementation before design).
 * Commit messages are not guidelines: their subjects say what one fix did ("Fixed two file sizes
 * issues:."), not what to do, and they are free text anyone with a fix in the data wrote.
 *
 * Trust decides what may be quoted at all (OWASP LLM04): a record's free text (its description)
 * reaches a cause only when its source is trusted ({@link quotableRecordText}); advice comes from
 * CodeQL help and the catalogue, whose untrusted copies the caller leaves out of `advice` and
 * `entry`. Function names are quoted only when they look like identifiers.
 */

/** Whether a record's free text (description, commit message) may be quoted verbatim into the KB: only from a trusted source. */
export const quotableRecordText = (record: Pick<FixRecord, 'origin'>): boolean => record.origin.trust === 'trusted';

const IDENTIFIER = /^[A-Za-z_$][\w$.:<>~-]{0,80}$/;

const MAX_GUIDELINES = 8;

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

/** The sentences of a prose text (one paragraph a line, or several sentences a paragraph). */
export function sentences(text: string): string[] {
  return text
    .split(/\n+/)
    .flatMap((p) =>
      p
        .replace(/\s+/g, ' ')
        .trim()
        .split(/(?<=[.!?])\s+(?=[A-Z"'(])/),
    )
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
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

// A sentence that tells the reader what to do: an imperative or a modal of obligation, about code.
const ACTIONABLE =
  /^(use|avoid|ensure|validate|check|verify|sanitize|sanitise|escape|encode|restrict|limit|prefer|do not|don't|never|always|consider|make sure|set|enable|disable|configure|apply|store|keep|reject|compare|normalize|normalise|canonicalize|release|free|initialize|allocate|handle|call|pass|specify|require|perform|implement|follow|assume|treat|replace|remove|include|define|declare|lock|protect|generate|hash|encrypt)\b|\b(should|must|is recommended|are recommended|recommend)\b/i;

// Catalogue sentences that set context rather than say what to do.
const HEDGE = /^(while|although|though|note|this|these|in general|for example|however|if this is not possible|effectiveness)\b/i;

/** One piece of advice a source gives for a weakness (a CodeQL recommendation), with its language when it has one. */
export interface Advice {
  text: string;
  language?: Language;
  /** The trust of the source it came from; untrusted advice is never quoted. */
  trust?: SourceTrust;
}

export interface ExtractiveSummary {
  guidelines: string[];
  cause: string;
  sources: ('catalog' | 'codeql' | 'descriptions')[];
}

/** Actionable sentences of a piece of advice, tidied (references and trailing colons dropped). */
function adviceSentences(text: string): string[] {
  return sentences(text.replace(/\s*\[REF-\d+\]/g, ''))
    .map((s) => s.replace(/:$/, '.'))
    .filter((s) => s.length >= 20 && s.length <= 320 && ACTIONABLE.test(s) && !HEDGE.test(s));
}

/**
 * Guidelines and cause for one node. Guidelines: CodeQL advice in the node's language, then
 * language-neutral catalogue mitigations (implementation first), then CodeQL advice for other
 * languages that names none of them; de-duplicated, at most {@link MAX_GUIDELINES}. Cause: the
 * catalogue's description (and the first sentence of its extended description), or, without an
 * entry, the fixes' own descriptions.
 */
export function extractiveSummary(
  entry: CweEntry | undefined,
  records: FixRecord[],
  language?: Language,
  advice: Advice[] = [],
  isGeneric: (sentence: string) => boolean = () => false,
): ExtractiveSummary {
  const sources: ExtractiveSummary['sources'] = [];
  advice = advice.filter((a) => a.trust !== 'untrusted');
  const sameLanguage = advice.filter((a) => language !== undefined && a.language === language).flatMap((a) => adviceSentences(a.text));
  const otherAdvice = advice.filter((a) => language === undefined || a.language !== language).flatMap((a) => adviceSentences(a.text).filter((s) => !mentionsOtherLanguage(s, language)));
  const fromCatalog: string[] = [];
  if (entry) {
    const ranked = [...entry.mitigations].sort((a, b) => rank(a.phase) - rank(b.phase) || Number(!a.strategy) - Number(!b.strategy));
    for (const m of ranked) {
      const sentence = firstSentence(m.description.replace(/\s*\[REF-\d+\]/g, ''));
      if (HEDGE.test(sentence) || mentionsOtherLanguage(sentence, language)) continue;
      fromCatalog.push(sentence);
    }
    // Advice the catalogue repeats under many weaknesses ("Assume all input is malicious.") goes
    // last, and at most two such sentences are kept: they are true of every injection.
    const specific = fromCatalog.filter((s) => !isGeneric(s));
    fromCatalog.splice(0, fromCatalog.length, ...specific, ...fromCatalog.filter((s) => isGeneric(s)).slice(0, 2));
  }
  const guidelines = dedupeSentences([...sameLanguage.slice(0, 4), ...fromCatalog.slice(0, 5), ...otherAdvice.slice(0, 4)]).slice(0, MAX_GUIDELINES);
  if (sameLanguage.length + otherAdvice.length > 0 && guidelines.some((g) => [...sameLanguage, ...otherAdvice].includes(g))) sources.push('codeql');
  if (guidelines.some((g) => fromCatalog.includes(g))) sources.push('catalog');
  let cause: string;
  // A description the screen emptied leaves nothing to quote: the records' own words then, as without an entry.
  if (entry?.description) {
    cause = [entry.description, entry.extendedDescription ? firstSentence(entry.extendedDescription) : ''].filter(Boolean).join(' ');
  } else {
    const fns = [...new Set(records.map((r) => r.functionName).filter((f): f is string => f !== undefined && IDENTIFIER.test(f)))].slice(0, 5);
    const descriptions = dedupeSentences(
      records
        .filter(quotableRecordText)
        .map((r) => r.description ?? '')
        .filter(Boolean),
    ).slice(0, 2);
    if (descriptions.length > 0) sources.push('descriptions');
    cause = `Code fixed for ${records[0]?.cwe ?? 'this weakness'}${fns.length ? ` in ${fns.join(', ')}` : ''}.${descriptions.length ? ` ${descriptions.join(' ')}` : ''}`;
  }
  return { guidelines, cause, sources };
}

const LANGUAGE_MENTIONS: [RegExp, Language[]][] = [
  [/\bphp\b/i, ['php']],
  [/\bperl\b/i, ['perl']],
  [/\bjava\b(?!script)/i, ['java', 'kotlin', 'scala']],
  [/\bjavascript\b|\bnode\.?js\b/i, ['javascript', 'typescript']],
  [/\bpython\b/i, ['python']],
  [/\bruby\b|\brails\b/i, ['ruby']],
  [/\basp(\.net)?\b|\.net\b|\bc#/i, ['csharp']],
  [/\bc\+\+/i, ['cpp']],
];

/** A sentence about another language's specifics (register_globals in a Python node). */
function mentionsOtherLanguage(sentence: string, language: Language | undefined): boolean {
  if (!language) return false;
  return LANGUAGE_MENTIONS.some(([re, langs]) => re.test(sentence) && !langs.includes(language));
}

/**
 * The catalogue's boilerplate: mitigation sentences it repeats under at least `minEntries`
 * weaknesses (the generic input-validation and least-privilege advice). Specific advice is
 * preferred over them.
 */
export function genericMitigations(entries: Iterable<CweEntry>, minEntries = 5): (sentence: string) => boolean {
  const key = (s: string): string =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, ' ')
      .trim();
  // Counted on the first question, not when made: a build whose clusters and catalogue summaries
  // all come from its caches never asks, and counting reads every mitigation of the catalogue.
  // The entries are read then: they must not change meanwhile (a build's catalogue does not).
  let counts: Map<string, number> | undefined;
  const counted = (): Map<string, number> => {
    if (counts) return counts;
    counts = new Map<string, number>();
    for (const entry of entries) {
      for (const k of new Set(entry.mitigations.map((m) => key(firstSentence(m.description.replace(/\s*\[REF-\d+\]/g, '')))))) counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    return counts;
  };
  return (sentence) => (counted().get(key(sentence)) ?? 0) >= minEntries;
}

function rank(phase: string | undefined): number {
  if (!phase) return 3;
  if (/implementation/i.test(phase)) return 0;
  if (/architecture|design/i.test(phase)) return 1;
  if (/requirements/i.test(phase)) return 2;
  return 3;
}

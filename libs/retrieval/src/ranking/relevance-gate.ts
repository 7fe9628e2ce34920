import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { InvalidInputError } from '@rescue/domain';
import { SEARCH_TERMS_VERSION, searchTerms } from '../text/search-terms';

/** Term counts of a body of text: the KB's (stored with each version) or ordinary programming tasks' (in the gate model). */
export interface TermCounts {
  total: number;
  counts: Record<string, number>;
  /** True when every distinct term is counted (none was cut for size): an absent term then occurs nowhere. */
  complete?: boolean;
}

/**
 * How the gate weighs its evidence besides the task's most telling words, fitted on the
 * development sets by `rescue eval fit` (shipped as `default-gate-shape.json`) or by `kb calibrate`.
 */
export interface GateShape {
  /**
   * Subtracted per unit of ln(1 + the task's distinct terms): the lexical score is a maximum over
   * the task's words, so a long ordinary task has more chances to hold a telling word by accident
   * (a docstring that mentions a "hash" or a "path") than a two-line security instruction.
   */
  lengthWeight: number;
  /** Added per unit of the facets' agreement on the best CWE (see {@link facetAgreement}) above `agreementCenter`. */
  agreementWeight: number;
  /** The agreement our ordinary-task fixtures reach (their median): where the agreement term is zero. */
  agreementCenter: number;
}

/** A gate of the lexical score alone (what a `rescue-gate-1` file held). */
export const LEXICAL_GATE_SHAPE: GateShape = { lengthWeight: 0, agreementWeight: 0, agreementCenter: 0 };

/**
 * Whether a task is about security at all, decided before any guidance is given. Its lexical score:
 * how much more likely the task's most telling words are in the KB's text than in ordinary
 * programming tasks — the mean of the `topTerms` largest per-term log-likelihood ratios
 * (additively smoothed), so a few words like "password", "query" or "upload" speak for the task
 * while the words every task shares cancel out. The gate's score adds the {@link GateShape}'s
 * corrections for the task's length and the facets' agreement; below `threshold`, retrieval abstains.
 */
export interface GateModel {
  format: 'rescue-gate-2';
  ordinary: TermCounts;
  smoothing: number;
  vocabulary: number;
  topTerms: number;
  shape: GateShape;
  threshold: number;
  fittedOn: string;
}

const isShape = (s: unknown): s is GateShape => !!s && typeof s === 'object' && ['lengthWeight', 'agreementWeight', 'agreementCenter'].every((k) => Number.isFinite((s as Record<string, unknown>)[k]));

/** Checks a gate read from a file; a `rescue-gate-1` gate (lexical score alone) is read as the same gate in this format. */
export function validateGate(value: unknown, where: string): GateModel {
  const g = value as Omit<GateModel, 'format'> & { format: string };
  const known = g?.format === 'rescue-gate-2' || g?.format === 'rescue-gate-1';
  if (!g || !known || typeof g.threshold !== 'number' || !g.ordinary || typeof g.ordinary.total !== 'number')
    throw new InvalidInputError(`${where} is not a Rescue relevance gate (format rescue-gate-2)`);
  if (g.format === 'rescue-gate-1') return { ...g, format: 'rescue-gate-2', shape: LEXICAL_GATE_SHAPE };
  if (!isShape(g.shape)) throw new InvalidInputError(`${where}: shape must hold finite lengthWeight, agreementWeight and agreementCenter`);
  return g as GateModel;
}

/** Checks a gate shape read from a file. */
export function validateGateShape(value: unknown, where: string): GateShape {
  if (!isShape(value)) throw new InvalidInputError(`${where} is not a gate shape: it needs finite lengthWeight, agreementWeight and agreementCenter`);
  return { lengthWeight: value.lengthWeight, agreementWeight: value.agreementWeight, agreementCenter: value.agreementCenter };
}

/** The gate's score of a task: its lexical score (see {@link relevanceScore}) corrected by the gate's shape. */
export function gateScore(lexical: number, distinctTerms: number, agreement: number, shape: GateShape): number {
  return lexical - shape.lengthWeight * Math.log1p(distinctTerms) + shape.agreementWeight * (agreement - shape.agreementCenter);
}

/** Counts terms (each occurrence) over texts already turned into search terms. */
export function countTerms(termTexts: Iterable<string>, keep = 60_000): TermCounts {
  const counts = new Map<string, number>();
  let total = 0;
  for (const text of termTexts) total += addTerms(counts, text.split(' '));
  return keptCounts(counts, total, keep);
}

/**
 * {@link countTerms} of texts whose terms were counted elsewhere: `counts` each term's
 * occurrences, `total` all of them (a publish reads them off the BM25 postings it builds anyway).
 */
export function termCountsOf(counts: Map<string, number>, total: number, keep = 60_000): TermCounts {
  return keptCounts(counts, total, keep);
}

/** Adds each term occurrence to `counts` (a term holding spaces counts as its words, as in a joined text); returns how many. */
function addTerms(counts: Map<string, number>, terms: readonly string[]): number {
  let added = 0;
  for (const term of terms) {
    for (const t of term.includes(' ') ? term.split(' ') : [term]) {
      if (!t) continue;
      counts.set(t, (counts.get(t) ?? 0) + 1);
      added += 1;
    }
  }
  return added;
}

/** The {@link TermCounts} of counted terms: the `keep` most frequent (ties by term), in term order. */
function keptCounts(counts: Map<string, number>, total: number, keep: number): TermCounts {
  // Rare terms weigh nothing against the smoothing; keeping the most frequent bounds the file.
  // (When nothing is cut, the frequency sort would only be undone by the sort by term below.)
  const kept =
    counts.size <= keep
      ? [...counts.keys()]
      : [...counts.entries()]
          .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
          .slice(0, keep)
          .map(([t]) => t);
  // By term: the default sort orders strings by UTF-16 code units, as `<` does, without a
  // comparator call per comparison (12 ms for a 1× KB's 36,000 terms, against 26–39 ms).
  kept.sort();
  const out: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const t of kept) out[t] = counts.get(t) as number;
  return { total, counts: out, complete: kept.length === counts.size };
}

export const countOf = (c: TermCounts, t: string): number => (Object.hasOwn(c.counts, t) ? c.counts[t] : 0);

/** The lexical score of a query's terms (see {@link GateModel}). */
export function relevanceScore(queryTerms: string[], kb: TermCounts, gate: Pick<GateModel, 'ordinary' | 'smoothing' | 'vocabulary' | 'topTerms'>): number {
  return scoreAgainst(queryTerms, kb, (t) => countOf(gate.ordinary, t), gate.ordinary.total, gate);
}

/** {@link relevanceScore} with the ordinary counts looked up by `ordinaryCount` (a fit scores against counts it never turns into a record). */
function scoreAgainst(queryTerms: string[], kb: TermCounts, ordinaryCount: (t: string) => number, ordinaryTotal: number, gate: Pick<GateModel, 'smoothing' | 'vocabulary' | 'topTerms'>): number {
  const unique = [...new Set(queryTerms)];
  if (unique.length === 0) return -Infinity;
  const a = gate.smoothing;
  const v = gate.vocabulary;
  const ratios = unique.map((t) => Math.log((countOf(kb, t) + a) / (kb.total + a * v)) - Math.log((ordinaryCount(t) + a) / (ordinaryTotal + a * v)));
  ratios.sort((x, y) => y - x);
  let sum = 0;
  for (let i = 0; i < Math.min(gate.topTerms, ratios.length); i++) sum += ratios[i];
  // Divided by topTerms, not by how many there are: a two-word task has less to say than a sentence.
  return sum / gate.topTerms;
}

export interface GateFitOptions {
  /**
   * The share of ordinary tasks the gate may let through, estimated out of fold on our ordinary
   * fixtures: the threshold is the score that many of them reach.
   */
  ordinaryFired: number;
  smoothing: number;
  vocabulary: number;
  topTerms: number;
  folds: number;
}

/**
 * 4% of ordinary tasks, out of fold: what our fixtures, which include deliberately borderline
 * tasks (hashing a checksum, parsing a path), may get security context at most. At 5% the shape
 * fitted without humaneval-even let 10% of it through (at 4% and 3%, 2.5%, with the same hits on
 * the security sets): the margin is worth more than the last borderline fixture. Three terms: a task's three most telling words
 * decide (five let common words dilute "rsa private pem"; one let a single stray word decide).
 */
export const DEFAULT_GATE_FIT: GateFitOptions = { ordinaryFired: 0.04, smoothing: 0.5, vocabulary: 50_000, topTerms: 3, folds: 5 };

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? -Infinity : s[Math.min(s.length - 1, Math.max(0, Math.floor(q * (s.length - 1))))];
};

/**
 * A relevance gate for one KB: ordinary-task term counts from every fixture, and the threshold the
 * fixtures' own scores set against the KB's counts — each fixture scored by a gate whose counts
 * leave out its fold (a task scored against counts that include its own words looks more ordinary
 * than a new one would), the threshold the score `ordinaryFired` of them reach. A fixture's
 * agreement is taken at the shape's centre (what ordinary tasks reach), so the threshold needs no
 * retrieval. No security task is involved, so every development set measures the gate, and each
 * KB gets the threshold its own vocabulary calls for (a 15-record KB and a 3,000-example one score
 * the same task differently).
 */
export function fitGate(ordinary: string[][], kb: TermCounts, options: GateFitOptions, shape: GateShape): GateModel {
  return fitGates(ordinary, kb, options, [shape])[0];
}

/** {@link fitGate} for several shapes at once: the out-of-fold scoring, most of the work, is done once. */
export function fitGates(ordinary: string[][], kb: TermCounts, options: GateFitOptions, shapes: GateShape[]): GateModel[] {
  const ORDINARY_KEEP = 20_000;
  // Each fold's tasks are counted once, and a fold's out-of-fold counts are all counts less the
  // fold's own: the same counts as counting those tasks' texts again, which for every fold and
  // the final gate was most of the fit (60 ms of each CLI retrieval). Out-of-fold counts are
  // looked up in their map; only a vocabulary past the cut needs the cut record.
  // (At least one bucket, so that without folds the final gate still counts every task.)
  const folds = Array.from({ length: Math.max(1, options.folds) }, () => ({ counts: new Map<string, number>(), total: 0 }));
  ordinary.forEach((t, i) => {
    const fold = folds[i % folds.length];
    fold.total += addTerms(fold.counts, t);
  });
  const all = new Map<string, number>();
  let allTotal = 0;
  for (const f of folds) {
    allTotal += f.total;
    for (const [t, c] of f.counts) all.set(t, (all.get(t) ?? 0) + c);
  }
  const outOfFold: { lexical: number; distinct: number }[] = [];
  for (let fold = 0; fold < options.folds; fold++) {
    const counts = new Map(all);
    for (const [t, c] of folds[fold].counts) {
      const left = (counts.get(t) as number) - c;
      if (left === 0) counts.delete(t);
      else counts.set(t, left);
    }
    const total = allTotal - folds[fold].total;
    const cut = counts.size > ORDINARY_KEEP ? keptCounts(counts, total, ORDINARY_KEEP) : undefined;
    const count = cut ? (t: string) => countOf(cut, t) : (t: string) => counts.get(t) ?? 0;
    ordinary.forEach((t, i) => {
      if (i % options.folds === fold) outOfFold.push({ lexical: scoreAgainst(t, kb, count, total, options), distinct: new Set(t).size });
    });
  }
  const ordinaryCounts = keptCounts(all, allTotal, ORDINARY_KEEP);
  return shapes.map((shape) => ({
    format: 'rescue-gate-2',
    ordinary: ordinaryCounts,
    smoothing: options.smoothing,
    vocabulary: options.vocabulary,
    topTerms: options.topTerms,
    shape,
    threshold:
      Math.round(
        quantile(
          outOfFold.map((o) => gateScore(o.lexical, o.distinct, shape.agreementCenter, shape)),
          1 - options.ordinaryFired,
        ) * 1e6,
      ) / 1e6,
    fittedOn: `${ordinary.length} ordinary tasks; threshold: ${Math.round(options.ordinaryFired * 1000) / 10}% of them fire (out of fold)`,
  }));
}

/** The folder of our ordinary-task fixtures (`libs/retrieval/data`), found from source and from `dist/`. */
function fixtureDir(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = join(dir, 'libs', 'retrieval', 'data');
    if (existsSync(candidate)) return candidate;
  }
  throw new InvalidInputError(`cannot find libs/retrieval/data above ${__dirname}: the ordinary-task fixtures ship with Rescue; reinstall it`);
}

/** Our fixtures of ordinary programming tasks (`ordinary-tasks*.jsonl`, written for Rescue), what the gate learns "not about security" from. */
export function ordinaryTaskFiles(): string[] {
  const dir = fixtureDir();
  return readdirSync(dir)
    .filter((f) => /^ordinary-tasks.*\.jsonl$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * The search terms of each prompt of our ordinary-task fixtures (our own files: one JSON object
 * with a "prompt" a line). Stemming the 880 prompts is most of a CLI retrieval's own work (0.1 s),
 * and the answer depends only on the files and the search-terms version, so it is cached in the
 * system's temporary folder under a hash of both: a stale file cannot be read for changed inputs.
 * The cache is an optimisation only: an unreadable or malformed one is recomputed, and one that
 * cannot be written (read-only or full disk) is left unwritten.
 */
export function ordinaryTaskTerms(files = ordinaryTaskFiles()): string[][] {
  const texts = files.map((file) => readFileSync(file, 'utf8'));
  const cache = ordinaryTermsCacheFile(files, texts);
  const cached = readCachedTerms(cache);
  if (cached) return cached;
  const out: string[][] = [];
  files.forEach((file, f) =>
    texts[f].split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      let prompt: unknown;
      try {
        prompt = (JSON.parse(line) as { prompt?: unknown }).prompt;
      } catch (err) {
        throw new InvalidInputError(`${file}:${i + 1}: not JSON (${(err as Error).message})`);
      }
      if (typeof prompt !== 'string') throw new InvalidInputError(`${file}:${i + 1}: prompt: expected a string`);
      out.push(searchTerms(prompt));
    }),
  );
  try {
    mkdirSync(dirname(cache), { recursive: true });
    writeFileAtomic.sync(cache, JSON.stringify(out));
  } catch (_unwritable) {
    // Unwritable temporary folder: the next run computes the terms again, nothing else changes.
  }
  return out;
}

/**
 * An identity of what a gate fitted by {@link fitGate} on these fixtures depends on besides the
 * KB's term counts and the fit's options and shape: this module's own code (the fit and the
 * scoring), the search-terms version (the fixtures' terms) and the fixture files' names and
 * contents. A gate kept for later (a KB folder's gate cache) is keyed by it, so a change to any of
 * them makes the kept gate stale instead of trusted, without anyone having to bump a version.
 */
export function gateFitFingerprint(files = ordinaryTaskFiles()): string {
  // This module as it runs (compiled JS, or the TypeScript under ts-jest): the fit is all in it.
  return createHash('sha256')
    .update('rescue-gate-fit\0')
    .update(readFileSync(__filename))
    .update(`\0${fixturesDigest(files)}`)
    .digest('hex');
}

/** The search-terms version and the fixture files' names and contents, hashed: what the fixtures' terms depend on. */
function fixturesDigest(files: string[], texts = files.map((file) => readFileSync(file, 'utf8'))): string {
  const hash = createHash('sha256').update(`${SEARCH_TERMS_VERSION}\0`);
  files.forEach((file, i) => hash.update(`${basename(file)}\0${texts[i]}\0`));
  return hash.digest('hex');
}

/** Where {@link ordinaryTaskTerms} caches the terms of these files with these contents. */
export function ordinaryTermsCacheFile(files: string[], texts = files.map((file) => readFileSync(file, 'utf8'))): string {
  return join(tmpdir(), 'rescue-cache', `ordinary-terms-${fixturesDigest(files, texts).slice(0, 24)}.json`);
}

function readCachedTerms(path: string): string[][] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (_absentOrDamaged) {
    // Absent (the first run) or damaged: computed again and rewritten.
    return undefined;
  }
  return Array.isArray(parsed) && parsed.every((p) => Array.isArray(p) && p.every((t) => typeof t === 'string')) ? (parsed as string[][]) : undefined;
}

import type { CweFacetName, CweScore } from './facets';

/** What ranking knows about a weakness besides the facets' scores (from the KB's nodes, examples and documents). */
export interface CweFacts {
  abstraction?: string;
  mappingUsage?: string;
  observedExamples: number;
  topLists: number;
  platforms: string[];
  /** CodeQL queries tagged with the CWE. */
  codeqlQueries: number;
  /** Fix examples of the CWE, by language. */
  fixesByLanguage: Record<string, number>;
  /** The catalogue's ChildOf parents (absent: none known). */
  parents?: string[];
}

/**
 * How many ChildOf steps up a candidate's ancestors are gathered: far enough to join a variant to
 * the class it refines (CWE-759 → 916 → 328 → 327), short of the pillars every weakness descends from.
 */
export const LINEAGE_STEPS = 3;

/** The ancestors of a CWE within `steps` ChildOf steps, nearest first. */
export function ancestorsOf(cwe: string, facts: (cwe: string) => CweFacts | undefined, steps = LINEAGE_STEPS): string[] {
  const seen = new Set<string>([cwe]);
  const out: string[] = [];
  let frontier = [cwe];
  for (let step = 0; step < steps && frontier.length > 0; step++) {
    const next: string[] = [];
    for (const c of frontier)
      for (const p of facts(c)?.parents ?? [])
        if (!seen.has(p)) {
          seen.add(p);
          out.push(p);
          next.push(p);
        }
    frontier = next;
  }
  return out;
}

/** A candidate CWE of one query: its features (see {@link featureNames}) and its ancestors (see {@link ancestorsOf}). */
export interface Candidate {
  cwe: string;
  features: number[];
  /** Absent: not known (no diversification by lineage for it). */
  ancestors?: string[];
}

/** The features of one candidate besides its facets' ranks, in this order. */
export const PRIOR_FEATURES = ['codeqlQueries', 'fixesInLanguage', 'observedExamples', 'topLists', 'platformFit', 'class', 'variant', 'discouraged'] as const;

/** How the catalogue names our languages in Applicable_Platforms, and the language classes they belong to. */
const PLATFORM_NAMES: Record<string, string[]> = {
  c: ['C', 'Memory-Unsafe', 'Compiled'],
  cpp: ['C++', 'Memory-Unsafe', 'Compiled'],
  java: ['Java'],
  python: ['Python', 'Interpreted'],
  javascript: ['JavaScript', 'Interpreted'],
  typescript: ['JavaScript', 'TypeScript'],
  php: ['PHP', 'Interpreted'],
  ruby: ['Ruby', 'Interpreted'],
  perl: ['Perl', 'Interpreted'],
  go: ['Go', 'Compiled'],
  csharp: ['C#', 'ASP.NET'],
  rust: ['Rust', 'Compiled'],
  kotlin: ['Kotlin', 'Java'],
  swift: ['Swift', 'Compiled'],
  scala: ['Scala', 'Java'],
  shell: ['Shell', 'Interpreted'],
};

/**
 * Whether the catalogue says the weakness occurs in the task's language: 1 when it names the
 * language (or its class), 0.5 when it is not language-specific or says nothing, 0 when it names
 * only other languages (a C memory weakness for a Python task).
 */
export function platformFit(platforms: string[], language: string | undefined): number {
  if (platforms.length === 0 || !language) return 0.5;
  const ours = PLATFORM_NAMES[language] ?? [];
  if (platforms.some((p) => ours.includes(p))) return 1;
  if (platforms.some((p) => /not language-specific/i.test(p))) return 0.5;
  return 0;
}

/** The feature names of a model over these facets: one reciprocal rank per facet, then the priors. */
export function featureNames(facets: readonly CweFacetName[]): string[] {
  return [...facets.map((f) => `rank:${f}`), ...PRIOR_FEATURES];
}

/**
 * Candidates (the top `depth` CWEs of each facet, each once) and their features: 1/rank in each
 * facet (0 beyond `depth`), then {@link PRIOR_FEATURES}; with each, its ancestors.
 */
export function candidateFeatures(rankings: { name: CweFacetName; hits: CweScore[] }[], facts: (cwe: string) => CweFacts | undefined, language: string | undefined, depth: number): Candidate[] {
  const ranks = rankings.map((r) => {
    const m = new Map<string, number>();
    r.hits.slice(0, depth).forEach((h, i) => m.set(h.cwe, i + 1));
    return m;
  });
  const cwes = [...new Set(rankings.flatMap((r) => r.hits.slice(0, depth).map((h) => h.cwe)))];
  return cwes.map((cwe) => {
    const f = facts(cwe);
    const rr = ranks.map((m) => (m.has(cwe) ? 1 / (m.get(cwe) as number) : 0));
    const usage = f?.mappingUsage ?? '';
    const priors = [
      Math.log1p(f?.codeqlQueries ?? 0),
      Math.log1p(language ? (f?.fixesByLanguage[language] ?? 0) : 0),
      Math.log1p(f?.observedExamples ?? 0),
      f?.topLists ?? 0,
      platformFit(f?.platforms ?? [], language),
      f?.abstraction === 'Class' ? 1 : 0,
      f?.abstraction === 'Variant' ? 1 : 0,
      usage === 'Discouraged' || usage === 'Prohibited' ? 1 : 0,
    ];
    return { cwe, features: [...rr, ...priors], ancestors: ancestorsOf(cwe, facts) };
  });
}

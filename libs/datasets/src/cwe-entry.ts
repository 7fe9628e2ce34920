import { type CweId, parseCweId } from '@rescue/domain';

// The catalogue model both readers fill (CSV in cwe-catalog.ts, XML in cwe-catalog-xml.ts). It has
// its own module because cwe-catalog.ts dispatches to the XML reader: if the XML reader took these
// types from cwe-catalog.ts, the two modules would import each other.

export interface CweMitigation {
  phase?: string;
  strategy?: string;
  description: string;
  effectiveness?: string;
}

/** One code block of a demonstrative example, as MITRE labels it. */
export interface CweCodeBlock {
  /** `bad`, `good`, or another of MITRE's natures (`informative`, `attack`, `result`), lowercased. */
  nature: string;
  /** MITRE's language name as written (`Java`, `C`, `PHP`, `JavaScript`), when the block has one. */
  language?: string;
  /** Plain text: XHTML line breaks and indentation turned into newlines and spaces, entities decoded. */
  code: string;
}

/** A demonstrative example: the prose around it and its code blocks, in document order. */
export interface CweDemonstrativeExample {
  id?: string;
  /** Intro and body texts, in order. */
  prose: string[];
  blocks: CweCodeBlock[];
}

/** One weakness from the MITRE catalogue, as Rescue uses it to enrich CWE nodes. */
export interface CweEntry {
  id: CweId;
  name: string;
  abstraction?: string;
  /** MITRE's maturity of the entry (`Draft`, `Incomplete`, `Stable`, `Usable`); only the XML catalogue has it. */
  status?: string;
  description: string;
  extendedDescription?: string;
  mitigations: CweMitigation[];
  /** ChildOf parents, primary ones first; from the research view (1000) when the row has it. */
  parents: CweId[];
  /** Only the XML catalogue has these (the CSV exports leave them out or pack them as prose). */
  alternateTerms?: { term: string; description?: string }[];
  observedExamples?: { reference?: string; description: string }[];
  demonstrativeExamples?: CweDemonstrativeExample[];
  backgroundDetails?: string[];
  /** Languages (`C`, `Java`) and language classes (`Not Language-Specific`, `Memory-Unsafe`) it applies to. */
  platforms?: string[];
  /** MITRE's advice on using the entry for mapping: `Allowed`, `Allowed-with-Review`, `Discouraged`, `Prohibited`. */
  mappingUsage?: string;
  likelihoodOfExploit?: string;
  /** The catalogue's views that list it, directly or through a category (`1003`; `1425`, the 2023 Top 25). */
  views?: { id: string; name: string }[];
}

export interface CatalogProblem {
  /** 1-based line in the file (in the zip entry, for a zipped catalogue); 0 when the problem has no line. */
  line: number;
  field: string;
  message: string;
  /** 1-based column, when the problem has one (XML well-formedness errors). */
  column?: number;
  /** The zip entry the problem is in, for a zipped catalogue. */
  entry?: string;
}

/** One `ChildOf`-style relation as both catalogue formats state it. */
export interface CweRelation {
  nature?: string;
  cweId?: string;
  viewId?: string;
  ordinal?: string;
}

/**
 * The parents of a weakness: its ChildOf relations in the research view (1000) when it has any
 * there, else in any view; Primary ones first (otherwise in the catalogue's order), without repeats.
 */
export function chooseParents(relations: readonly CweRelation[]): CweId[] {
  const childOf = relations.filter((r) => r.nature === 'ChildOf');
  const inResearchView = childOf.filter((r) => r.viewId === '1000');
  const chosen = [...(inResearchView.length > 0 ? inResearchView : childOf)];
  // Array.prototype.sort is stable, so non-primary parents keep the catalogue's order.
  chosen.sort((a, b) => Number(b.ordinal === 'Primary') - Number(a.ordinal === 'Primary'));
  const ids = chosen.map((r) => parseCweId(r.cweId)).filter((x): x is CweId => x !== undefined);
  return [...new Set(ids)];
}

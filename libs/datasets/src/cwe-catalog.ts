import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream';
import { parse } from 'csv-parse';
import { type CweId, parseCweId } from '@rescue/domain';

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
}

export interface CatalogProblem {
  line: number;
  field: string;
  message: string;
}

/**
 * Splits MITRE's packed cell format, `::KEY:value:KEY:value::KEY:value::`, into one map per
 * `::`-delimited entry. Only the given keys start a new field, so values keep their own colons.
 */
export function parsePackedEntries(cell: string, keys: readonly string[]): Record<string, string>[] {
  const alternatives = keys.map((k) => k.replace(/ /g, '\\s')).join('|');
  const keyPattern = new RegExp(`(?:^|:)(${alternatives}):`, 'g');
  // Values may hold "::" themselves (`std::unique_ptr`), so only a "::" that opens a known key, or
  // closes the cell, separates entries.
  const separator = new RegExp(`::(?=\\s*(?:${alternatives}):|\\s*$)`);
  return cell
    .split(separator)
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0)
    .map((entry) => {
      const out: Record<string, string> = {};
      const marks = [...entry.matchAll(keyPattern)];
      marks.forEach((m, i) => {
        const start = (m.index ?? 0) + m[0].length;
        const end = i + 1 < marks.length ? (marks[i + 1].index ?? entry.length) : entry.length;
        out[m[1]] = entry.slice(start, end).trim();
      });
      return out;
    })
    .filter((entry) => Object.keys(entry).length > 0);
}

const MITIGATION_KEYS = ['PHASE', 'STRATEGY', 'DESCRIPTION', 'EFFECTIVENESS_NOTES', 'EFFECTIVENESS'] as const;
const RELATION_KEYS = ['NATURE', 'CWE ID', 'VIEW ID', 'ORDINAL', 'CHAIN ID'] as const;

function parents(cell: string): CweId[] {
  const childOf = parsePackedEntries(cell, RELATION_KEYS).filter((r) => r.NATURE === 'ChildOf');
  const inResearchView = childOf.filter((r) => r['VIEW ID'] === '1000');
  const chosen = inResearchView.length > 0 ? inResearchView : childOf;
  chosen.sort((a, b) => Number(b.ORDINAL === 'Primary') - Number(a.ORDINAL === 'Primary'));
  const ids = chosen.map((r) => parseCweId(r['CWE ID'])).filter((x): x is CweId => x !== undefined);
  return [...new Set(ids)];
}

/**
 * Streams a MITRE CWE catalogue CSV (any view export: 1000, 699, Top 25) into entries. A row
 * whose id or name is missing, or that has more cells than the header (an unquoted comma, which
 * can also swallow the rows after it), is reported with its line and skipped; the other rows are kept.
 */
export async function readCweCatalog(path: string, onProblem?: (p: CatalogProblem) => void): Promise<Map<CweId, CweEntry>> {
  const entries = new Map<CweId, CweEntry>();
  // Rows as arrays, mapped to the header here: with `columns: true` csv-parse drops extra cells
  // without a word. MITRE's exports end every row with one empty cell past the header.
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: true, info: true });
  let header: string[] | undefined;
  // pipeline (not pipe) carries a read error such as ENOENT into the parser, so the loop below
  // rejects instead of waiting for ever.
  pipeline(createReadStream(path), parser, () => undefined);
  for await (const item of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    const line = item.info.lines;
    if (!header) {
      header = item.record.map((h) => h.trim());
      // A trailing comma on the header names no column.
      while (header.length > 0 && header[header.length - 1] === '') header.pop();
      continue;
    }
    const cells = item.record;
    const extra = cells.slice(header.length).filter((c) => c.trim() !== '');
    if (extra.length > 0) {
      onProblem?.({ line, field: header[header.length - 1], message: `the row ending here has ${cells.length} cells but the header has ${header.length}: put cells that contain commas or line breaks in double quotes (the row, and any it swallowed, were skipped)` });
      continue;
    }
    const row: Record<string, string> = Object.fromEntries(header.map((h, i) => [h, cells[i] ?? '']));
    const id = parseCweId(row['CWE-ID']);
    if (!id) {
      onProblem?.({ line, field: 'CWE-ID', message: `not a CWE id: ${JSON.stringify(String(row['CWE-ID'] ?? '').slice(0, 40))}` });
      continue;
    }
    const name = (row.Name ?? '').trim();
    if (!name) {
      onProblem?.({ line, field: 'Name', message: `${id} has no name` });
      continue;
    }
    const mitigations = parsePackedEntries(row['Potential Mitigations'] ?? '', MITIGATION_KEYS)
      .filter((m) => m.DESCRIPTION)
      .map((m) => ({ phase: m.PHASE, strategy: m.STRATEGY, description: m.DESCRIPTION, effectiveness: m.EFFECTIVENESS }));
    entries.set(id, {
      id,
      name,
      abstraction: row['Weakness Abstraction']?.trim() || undefined,
      description: (row.Description ?? '').trim(),
      extendedDescription: row['Extended Description']?.trim() || undefined,
      mitigations,
      parents: parents(row['Related Weaknesses'] ?? ''),
    });
  }
  return entries;
}

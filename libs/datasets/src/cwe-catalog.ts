import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream';
import { parse } from 'csv-parse';
import { type CweId, parseCweId } from '@rescue/domain';
import { readCweCatalogXml } from './cwe-catalog-xml';
import { openRegularFile } from './regular-file';
import { type CatalogProblem, type CweEntry, chooseParents } from './cwe-entry';

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
  return chooseParents(parsePackedEntries(cell, RELATION_KEYS).map((r) => ({ nature: r.NATURE, cweId: r['CWE ID'], viewId: r['VIEW ID'], ordinal: r.ORDINAL })));
}

/**
 * Reads a MITRE CWE catalogue into entries: MITRE's XML catalogue, plain (`.xml`) or zipped as
 * MITRE distributes it (`.zip`), through {@link readCweCatalogXml}; any other path as a CSV view
 * export through {@link readCweCatalogCsv}. The extension decides, in any letter case.
 */
export function readCweCatalog(path: string, onProblem?: (p: CatalogProblem) => void): Promise<Map<CweId, CweEntry>> {
  return /\.(xml|zip)$/i.test(path) ? readCweCatalogXml(path, onProblem) : readCweCatalogCsv(path, onProblem);
}

/**
 * Streams a MITRE CWE catalogue CSV (any view export: 1000, 699, Top 25) into entries. A row
 * whose id or name is missing, or that has more cells than the header (an unquoted comma, which
 * can also swallow the rows after it), is reported with its line and skipped; the other rows are kept.
 */
export async function readCweCatalogCsv(path: string, onProblem?: (p: CatalogProblem) => void): Promise<Map<CweId, CweEntry>> {
  const entries = new Map<CweId, CweEntry>();
  // Rows as arrays, mapped to the header here: with `columns: true` csv-parse drops extra cells
  // without a word. MITRE's exports end every row with one empty cell past the header.
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: true, info: true });
  let header: string[] | undefined;
  // Opened as a regular file only: a FIFO would block the read for ever, /dev/zero never end.
  const handle = await openRegularFile(path, 'CWE catalogue', "give MITRE's CWE catalogue as a CSV export, cwec_vX.Y.xml or cwec_vX.Y.xml.zip");
  // pipeline (not pipe) carries a read error into the parser, so the loop below rejects instead of
  // waiting for ever.
  pipeline(createReadStream(path, { fd: handle }), parser, () => undefined);
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
      onProblem?.({
        line,
        field: header[header.length - 1],
        message: `the row ending here has ${cells.length} cells but the header has ${header.length}: put cells that contain commas or line breaks in double quotes (the row, and any it swallowed, were skipped)`,
      });
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

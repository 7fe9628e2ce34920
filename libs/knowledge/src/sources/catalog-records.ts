import { type CweDemonstrativeExample, type CweEntry, fixRecordId, normalizeGenericRecord } from '@rescue/datasets';
import { type CweId, type FixRecord, type Language, normalizeLanguageName } from '@rescue/domain';
import type { VulnerableExample } from './codeql-records';

/*
 * The MITRE catalogue's demonstrative examples as knowledge. An example's bad block followed by a
 * good block of the same language is a fix record (before: the bad code, after: the good); a bad
 * block without a good partner still shows the weakness, so it is a vulnerable-only example. Blocks
 * in languages Rescue has no name for (Verilog, pseudocode, "Other") are left out: they would
 * match nothing a task in a programming language says.
 */

export interface CatalogKnowledge {
  records: FixRecord[];
  vulnerableOnly: VulnerableExample[];
  /** Blocks left out, by reason, for the build report. */
  skipped: { unknownLanguage: number; rejected: number };
}

/** MITRE's names that differ from ours (`ASP.NET` examples are C#). */
function languageOf(name: string | undefined): Language | undefined {
  if (!name) return undefined;
  const l = normalizeLanguageName(name);
  return l === 'other' || l === 'sql' ? undefined : l;
}

/**
 * Fix records and vulnerable-only examples from every entry's demonstrative examples, in catalogue
 * order (sorted by CWE id, then example order), so the same catalogue always gives the same ids.
 * `source` names the catalogue file for the records' origin.
 */
export function catalogKnowledge(catalog: Map<CweId, CweEntry>, source: string): CatalogKnowledge {
  const out: CatalogKnowledge = { records: [], vulnerableOnly: [], skipped: { unknownLanguage: 0, rejected: 0 } };
  const seen = new Set<string>();
  for (const entry of [...catalog.values()].sort((a, b) => Number(a.id.slice(4)) - Number(b.id.slice(4)))) {
    (entry.demonstrativeExamples ?? []).forEach((example, i) => collect(entry, example, i, source, out, seen));
  }
  return out;
}

function collect(entry: CweEntry, example: CweDemonstrativeExample, index: number, source: string, out: CatalogKnowledge, seen: Set<string>): void {
  // A block without a language takes the example's first named one (MITRE often labels only the first).
  const fallback = example.blocks.map((b) => languageOf(b.language)).find((l) => l !== undefined);
  const blocks = example.blocks.filter((b) => b.nature === 'bad' || b.nature === 'good').map((b) => ({ nature: b.nature, code: b.code, language: b.language ? languageOf(b.language) : fallback }));
  const place = `${source}#${entry.id}/${example.id ?? `example-${index + 1}`}`;
  const description = example.prose[0];
  const used = new Set<number>();
  blocks.forEach((bad, i) => {
    if (bad.nature !== 'bad') return;
    if (!bad.language) {
      out.skipped.unknownLanguage += 1;
      return;
    }
    const j = blocks.findIndex((g, k) => k > i && !used.has(k) && g.nature === 'good' && g.language === bad.language);
    if (j >= 0) {
      used.add(j);
      const result = normalizeGenericRecord({ language: bad.language, cwe: entry.id, before: bad.code, after: blocks[j].code, description }, { file: place, line: 1, format: 'cwe-catalog' });
      if (result.ok) {
        if (!seen.has(result.record.id)) out.records.push(result.record);
        seen.add(result.record.id);
        return;
      }
      out.skipped.rejected += 1;
      return;
    }
    const id = fixRecordId(bad.language, entry.id, bad.code, '');
    if (seen.has(id)) return;
    seen.add(id);
    out.vulnerableOnly.push({ id, language: bad.language, cwe: entry.id, code: bad.code, description, filePath: place, origin: { file: place, line: 1, format: 'cwe-catalog' } });
  });
}

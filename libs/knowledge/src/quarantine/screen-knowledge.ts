import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { type CodeqlQueryHelp, type CweEntry, NO_TRUST_SETTINGS, type ScreenFinding, type SourceKind, type TrustSettings, screenFixRecord, screenProse, screenTexts, trustOf } from '@rescue/datasets';
import type { CweId, DatasetFormat, FixRecord, Language, SourceTrust } from '@rescue/domain';
import type { ScreenMemo } from '../build-cache/screen-memo';
import type { VulnerableExample } from '../sources/codeql-records';
import { type QuarantineEntry, textItemId } from './quarantine-store';

/*
 * The KB build's screen (OWASP LLM01/LLM04): every item that can reach a generation prompt, from
 * every source whatever its trust, goes through the patterns of @rescue/datasets' screening before
 * it is used. At ingest: fix pairs (their free text, both versions of the code, what the fix
 * adds), vulnerable-only examples, CodeQL recommendations and the catalogue's quotable text. At
 * distillation: every guideline and cause a distiller wrote, the LLM's included. An item with a
 * finding is held back (a {@link QuarantineEntry}) unless an operator released its id.
 */

/** What a build screens with: who is trusted, and what an operator released. */
export interface ScreenPolicy {
  trust: TrustSettings;
  released: ReadonlySet<string>;
  /**
   * The build's CodeQL checkouts. CodeQL items name their files relative to their checkout
   * (`ql/python/ql/src/…`), so their trust and their place in the report are found under these.
   */
  codeqlRoots?: readonly string[];
  /**
   * Verdicts of earlier builds, by content (the KB folder's cache): an item whose texts were
   * screened before under the same rules is not screened again. Findings only: trust and releases
   * are applied here, each build.
   */
  memo?: ScreenMemo;
}

export const DEFAULT_SCREEN_POLICY: ScreenPolicy = { trust: NO_TRUST_SETTINGS, released: new Set() };

/** The kind of source a record format comes from (its default trust follows from it). */
export function sourceKindOf(format: DatasetFormat): SourceKind {
  return format === 'codeql' ? 'codeql' : format === 'cwe-catalog' ? 'cwe-catalog' : 'fix-pairs';
}

/**
 * Where a source file may be: itself when absolute or not from CodeQL, else under each checkout
 * that holds it (every checkout when none does, so that a file gone since is still judged).
 */
export function sourcePaths(file: string, kind: SourceKind, codeqlRoots: readonly string[] = []): string[] {
  if (kind !== 'codeql' || isAbsolute(file) || codeqlRoots.length === 0) return [file];
  const all = codeqlRoots.map((root) => join(root, file));
  const present = all.filter((p) => existsSync(p));
  return present.length > 0 ? present : all;
}

/** The trust of a source file; a relative CodeQL path that two checkouts hold is untrusted when either is. */
export function sourceTrust(file: string, kind: SourceKind, settings: TrustSettings, codeqlRoots?: readonly string[]): SourceTrust {
  return sourcePaths(file, kind, codeqlRoots).some((p) => trustOf(p, kind, settings) === 'untrusted') ? 'untrusted' : 'trusted';
}

/** A record's trust: the one its build gave it, else its source's under `settings`. */
export function recordTrust(record: Pick<FixRecord, 'origin'>, settings: TrustSettings, codeqlRoots?: readonly string[]): SourceTrust {
  return record.origin.trust ?? sourceTrust(record.origin.file, sourceKindOf(record.origin.format), settings, codeqlRoots);
}

/** The record with its source's trust in its origin (a copy: stored records are never changed). */
export function withTrust(record: FixRecord, settings: TrustSettings, codeqlRoots?: readonly string[]): FixRecord {
  return { ...record, origin: { ...record.origin, trust: recordTrust(record, settings, codeqlRoots) } };
}

/** A file as the report names it: a CodeQL file under its checkout. */
const reportedFile = (file: string, format: DatasetFormat, policy: ScreenPolicy): string => sourcePaths(file, sourceKindOf(format), policy.codeqlRoots)[0];

/** Items that passed, and the entries of those that did not (released ones pass and are listed). */
export interface Screened<T> {
  admitted: T[];
  entries: QuarantineEntry[];
}

function entryFor(base: Omit<QuarantineEntry, 'released' | 'findings'>, findings: ScreenFinding[], policy: ScreenPolicy): QuarantineEntry {
  return { ...base, findings, ...(policy.released.has(base.id) ? { released: true } : {}) };
}

/**
 * Items through the screen: one with no finding is admitted; one with findings is listed, and
 * admitted only when an operator released its id.
 */
function screenEach<T extends Pick<FixRecord, 'id' | 'cwe' | 'language' | 'origin'>>(
  items: T[],
  kind: QuarantineEntry['kind'],
  findingsOf: (item: T) => ScreenFinding[],
  policy: ScreenPolicy,
): Screened<T> {
  const out: Screened<T> = { admitted: [], entries: [] };
  for (const item of items) {
    const findings = findingsOf(item);
    if (findings.length === 0) {
      out.admitted.push(item);
      continue;
    }
    const { file, line, format } = item.origin;
    const entry = entryFor(
      { id: item.id, kind, source: { file: reportedFile(file, format, policy), line, format }, trust: recordTrust(item, policy.trust, policy.codeqlRoots), cwe: item.cwe, language: item.language },
      findings,
      policy,
    );
    out.entries.push(entry);
    if (entry.released) out.admitted.push(item);
  }
  return out;
}

/** `compute`'s findings, or the memo's verdict for the same texts. */
function remembered(policy: ScreenPolicy, kind: string, texts: readonly (string | undefined)[], compute: () => ScreenFinding[]): ScreenFinding[] {
  return policy.memo ? policy.memo.findings(kind, texts, compute) : compute();
}

/** A prose text's findings (through the policy's memo). */
const proseFindings = (policy: ScreenPolicy, text: string, field: string): ScreenFinding[] => remembered(policy, 'prose', [field, text], () => screenProse(text, field));

/** Fix pairs through the screen. */
export function screenRecords(records: FixRecord[], policy: ScreenPolicy = DEFAULT_SCREEN_POLICY): Screened<FixRecord> {
  return screenEach(
    records,
    'fix-record',
    // Every field screenFixRecord reads: the same texts, the same findings.
    (r) => remembered(policy, 'fix-record', [r.before, r.after, r.language, r.commitMessage, r.description, r.functionName, r.filePath], () => screenFixRecord(r)),
    policy,
  );
}

/** Vulnerable-only examples through the screen (their code and description). */
export function screenVulnerableExamples(items: VulnerableExample[], policy: ScreenPolicy = DEFAULT_SCREEN_POLICY): Screened<VulnerableExample> {
  return screenEach(
    items,
    'vulnerable-example',
    (v) =>
      remembered(policy, 'vulnerable-example', [v.code, v.description, v.functionName], () =>
        screenTexts([
          { name: 'code', text: v.code, code: true },
          { name: 'description', text: v.description, prose: true },
          { name: 'functionName', text: v.functionName },
        ]),
      ),
    policy,
  );
}

/**
 * CodeQL helps with every recommendation that fails the screen emptied (it is what guidelines
 * quote and what the help's document says to do); the rest of each help is searched, never quoted.
 */
export function screenCodeqlAdvice(helps: CodeqlQueryHelp[], policy: ScreenPolicy = DEFAULT_SCREEN_POLICY): { helps: CodeqlQueryHelp[]; entries: QuarantineEntry[] } {
  const entries: QuarantineEntry[] = [];
  const cleaned = helps.map((h) => {
    const findings = proseFindings(policy, h.recommendation, 'recommendation');
    if (findings.length === 0) return h;
    const entry = entryFor(
      {
        id: textItemId('advice', h.recommendation),
        kind: 'advice',
        source: { file: reportedFile(h.helpPath, 'codeql', policy), format: 'codeql' },
        trust: sourceTrust(h.helpPath, 'codeql', policy.trust, policy.codeqlRoots),
        cwe: h.cwes[0],
        language: h.language,
      },
      findings,
      policy,
    );
    entries.push(entry);
    return entry.released ? h : { ...h, recommendation: '' };
  });
  return { helps: cleaned, entries };
}

/**
 * The catalogue with every quotable passage that fails the screen left out: a mitigation is
 * dropped, a description emptied, a name replaced by the CWE id. Entries are copied only when
 * something is left out.
 */
export function screenCatalog(
  catalog: Map<CweId, CweEntry>,
  catalogPath: string | undefined,
  policy: ScreenPolicy = DEFAULT_SCREEN_POLICY,
): { catalog: Map<CweId, CweEntry>; entries: QuarantineEntry[] } {
  const entries: QuarantineEntry[] = [];
  const file = catalogPath ?? 'catalogue';
  const trust = trustOf(file, 'cwe-catalog', policy.trust);
  const out = new Map<CweId, CweEntry>();
  for (const [id, entry] of catalog) {
    const held = (field: string, text: string | undefined): boolean => {
      if (!text) return false;
      const findings = proseFindings(policy, text, field);
      if (findings.length === 0) return false;
      const e = entryFor({ id: textItemId('catalog-text', `${id}\n${field}\n${text}`), kind: 'catalog-text', source: { file, format: 'cwe-catalog', node: id }, trust, cwe: id }, findings, policy);
      entries.push(e);
      return !e.released;
    };
    const name = held('name', entry.name);
    const description = held('description', entry.description);
    const extended = held('extendedDescription', entry.extendedDescription);
    const mitigations = entry.mitigations.filter((m, i) => !held(`mitigation ${i + 1}`, m.description));
    if (!name && !description && !extended && mitigations.length === entry.mitigations.length) {
      out.set(id, entry);
      continue;
    }
    out.set(id, { ...entry, name: name ? id : entry.name, description: description ? '' : entry.description, extendedDescription: extended ? undefined : entry.extendedDescription, mitigations });
  }
  return { catalog: out, entries };
}

/**
 * A distiller's guidelines and cause through the screen: a guideline that fails is dropped, a
 * cause that fails is replaced by a plain statement of the weakness. This is what stops an
 * instruction that reached an LLM distiller (or a released record's text) from becoming the
 * node's own advice.
 */
export function screenDistilled(
  node: { id: string; cwe: CweId; language?: Language },
  summary: { guidelines: string[]; cause: string },
  trust: SourceTrust,
  policy: ScreenPolicy = DEFAULT_SCREEN_POLICY,
): { guidelines: string[]; cause: string; entries: QuarantineEntry[] } {
  const entries: QuarantineEntry[] = [];
  const passes = (field: string, text: string): boolean => {
    const findings = proseFindings(policy, text, field);
    if (findings.length === 0) return true;
    const e = entryFor(
      { id: textItemId('guideline', text), kind: 'guideline', source: { file: `KB node ${node.id}`, node: node.id }, trust, cwe: node.cwe, ...(node.language ? { language: node.language } : {}) },
      findings,
      policy,
    );
    entries.push(e);
    return e.released === true;
  };
  const guidelines = summary.guidelines.filter((g) => passes('guideline', g));
  const cause = passes('cause', summary.cause) ? summary.cause : `Code with the weakness ${node.cwe}.`;
  return { guidelines, cause, entries };
}

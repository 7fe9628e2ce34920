import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { type ScreenFinding, type ScreenReason, readJsonIfExists } from '@rescue/datasets';
import { type CweId, type DatasetFormat, InvalidInputError, type Language, NotFoundError, type SourceTrust } from '@rescue/domain';

/*
 * The quarantine of a KB folder: what the last build held back, and what an operator accepted.
 * Nothing quarantined is lost (records stay in the record store, the report names each item's
 * source file and line) and nothing is silently used: a held-back item reaches the KB only once
 * its id is released, and the release is by content id, so an item that changes after review is
 * held back again.
 *
 *   <kb>/quarantine/report.json    the last build's held-back items and the reasons (rewritten by each build)
 *   <kb>/quarantine/released.json  ids an operator released (`rescue kb quarantine release`), read by the next build
 */

/** What kind of item was held back. */
export type QuarantineKind =
  /** A fix pair: not clustered, sliced or shown. */
  | 'fix-record'
  /** A vulnerable-only example (CodeQL, the catalogue): not indexed. */
  | 'vulnerable-example'
  /** A CodeQL help's recommendation: never quoted as a guideline. */
  | 'advice'
  /** A catalogue entry's text (mitigations, description): never quoted. */
  | 'catalog-text'
  /** A guideline or cause a distiller wrote: dropped from its node. */
  | 'guideline';

/** One held-back item. */
export interface QuarantineEntry {
  /** The record's or example's content id, or a hash of the held-back text (32 hex digits). */
  id: string;
  kind: QuarantineKind;
  /** Where it was read: a file and line, a CodeQL help file, a catalogue entry, a KB node. */
  source: { file: string; line?: number; format?: DatasetFormat; node?: string };
  trust: SourceTrust;
  cwe?: CweId;
  language?: Language;
  findings: ScreenFinding[];
  /** Released by an operator: listed for the record, and used by the build. */
  released?: boolean;
}

export interface QuarantineReport {
  buildId: string;
  createdAt: string;
  entries: QuarantineEntry[];
}

/** What a build reports about its quarantine. */
export interface QuarantineSummary {
  /** Items held back (released ones not counted). */
  held: number;
  byKind: Partial<Record<QuarantineKind, number>>;
  byReason: Partial<Record<ScreenReason, number>>;
  /** Items that matched the screen but were released by an operator, so used. */
  released: number;
  /** The report file, for `rescue kb quarantine list`. */
  path?: string;
}

export interface ReleasedItem {
  id: string;
  releasedAt: string;
  kind: QuarantineKind;
  source: QuarantineEntry['source'];
  /** The reasons it was held back when it was released, for the audit trail. */
  reasons: ScreenReason[];
}

/** The id of a held-back text (advice, a catalogue passage, a guideline): its content, so an edited text is screened anew. */
export function textItemId(kind: QuarantineKind, text: string): string {
  return createHash('sha256').update(kind).update('\0').update(text).digest('hex').slice(0, 32);
}

export function summarizeQuarantine(entries: QuarantineEntry[], path?: string): QuarantineSummary {
  const held = entries.filter((e) => !e.released);
  const byKind: QuarantineSummary['byKind'] = {};
  const byReason: QuarantineSummary['byReason'] = {};
  for (const e of held) {
    byKind[e.kind] = (byKind[e.kind] ?? 0) + 1;
    for (const reason of new Set(e.findings.map((f) => f.reason))) byReason[reason] = (byReason[reason] ?? 0) + 1;
  }
  return { held: held.length, byKind, byReason, released: entries.length - held.length, ...(path ? { path } : {}) };
}

const ID = /^[0-9a-f]{32}$/;

/** The quarantine files of one KB folder. */
export class QuarantineStore {
  readonly dir: string;

  constructor(kbDir: string) {
    this.dir = join(kbDir, 'quarantine');
  }

  get reportPath(): string {
    return join(this.dir, 'report.json');
  }

  get releasedPath(): string {
    return join(this.dir, 'released.json');
  }

  /** The last build's report; undefined before any build has screened into this folder. */
  async report(): Promise<QuarantineReport | undefined> {
    return this.readJson<QuarantineReport>(this.reportPath);
  }

  async writeReport(report: QuarantineReport): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(this.reportPath, `${JSON.stringify(report, null, 1)}\n`);
  }

  /** Adds entries to the report of `buildId` (the index stage's distillation findings join the ingest stage's). */
  async addToReport(buildId: string, entries: QuarantineEntry[]): Promise<QuarantineReport> {
    const current = await this.report();
    const base = current?.buildId === buildId ? current : { buildId, createdAt: new Date().toISOString(), entries: [] };
    const known = new Set(base.entries.map((e) => `${e.kind}:${e.id}`));
    const report = { ...base, entries: [...base.entries, ...entries.filter((e) => !known.has(`${e.kind}:${e.id}`))] };
    await this.writeReport(report);
    return report;
  }

  async released(): Promise<ReleasedItem[]> {
    return (await this.readJson<{ released: ReleasedItem[] }>(this.releasedPath))?.released ?? [];
  }

  async releasedIds(): Promise<string[]> {
    return (await this.released()).map((r) => r.id).sort();
  }

  /**
   * Releases held-back items of the last report by id (a unique prefix of at least 8 digits will
   * do). Returns what was released; an id the report does not hold is not found.
   */
  async release(ids: string[]): Promise<ReleasedItem[]> {
    const report = await this.report();
    if (!report) throw new NotFoundError(`no quarantine report in ${this.dir}: build the KB first (rescue kb build)`);
    const done = await this.released();
    const added: ReleasedItem[] = [];
    for (const raw of ids) {
      const id = raw.trim().toLowerCase();
      if (!/^[0-9a-f]{8,32}$/.test(id)) throw new InvalidInputError(`not a quarantine id: ${JSON.stringify(raw.slice(0, 40))} (32 hex digits, or a unique prefix of at least 8)`);
      const matches = [...new Map(report.entries.filter((e) => e.id.startsWith(id)).map((e) => [e.id, e])).values()];
      if (matches.length === 0) throw new NotFoundError(`${id} is not in the quarantine report of build ${report.buildId} (rescue kb quarantine list)`);
      if (matches.length > 1) throw new InvalidInputError(`${id} matches ${matches.length} quarantined items; give more digits`);
      const entry = matches[0];
      if (done.some((r) => r.id === entry.id) || added.some((r) => r.id === entry.id)) continue;
      added.push({ id: entry.id, releasedAt: new Date().toISOString(), kind: entry.kind, source: entry.source, reasons: [...new Set(entry.findings.map((f) => f.reason))] });
    }
    if (added.length > 0) {
      await mkdir(this.dir, { recursive: true });
      await writeFileAtomic(this.releasedPath, `${JSON.stringify({ released: [...done, ...added] }, null, 1)}\n`);
    }
    return added;
  }

  private readJson<T>(path: string): Promise<T | undefined> {
    return readJsonIfExists<T>(path, 'restore it or delete it and rebuild');
  }
}

/** Whether a string is a full quarantine id (for callers validating released ids from a build spec). */
export const isQuarantineId = (id: string): boolean => ID.test(id);

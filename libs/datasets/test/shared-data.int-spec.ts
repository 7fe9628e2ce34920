/**
 * Runs the ingestor and the CWE catalogue reader on the real third-party data in ../shared/data
 * (read in place, never copied). Skips with a one-line reason when that folder is absent.
 */
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { type CatalogProblem, FixPairIngestor, FsRecordStore, type IngestReport, type Reject, readCweCatalog } from '@rescue/datasets';
import { type FixRecord, isLanguage } from '@rescue/domain';
import { TempDirs } from './helpers';

const SHARED = resolve(__dirname, '../../../../shared/data');
const KB = join(SHARED, 'kb-source');
const CWE_CSV = join(SHARED, 'cwe', 'cwe-1000-research-view.csv');

const kbPresent = existsSync(KB);
const cwePresent = existsSync(CWE_CSV);
if (!kbPresent) process.stdout.write(`shared-data tests skipped: ${KB} does not exist (third-party data lives beside the repo, not in it)\n`);
else if (!cwePresent) process.stdout.write(`shared-data CWE catalogue test skipped: ${CWE_CSV} does not exist\n`);

const describeKb = kbPresent ? describe : describe.skip;
const describeCwe = cwePresent ? describe : describe.skip;

describeKb('ingesting ../shared/data/kb-source (format auto)', () => {
  const dirs = new TempDirs();
  let store: FsRecordStore;
  let report: IngestReport;
  const rejects: Reject[] = [];

  beforeAll(async () => {
    store = new FsRecordStore(join(dirs.make('shared-kb'), 'records'));
    report = await new FixPairIngestor(store).ingest([KB], { format: 'auto', maxLineBytes: 1024 * 1024 }, { onReject: (r) => rejects.push(r) });
  });

  afterAll(() => dirs.cleanup());

  it('reads every non-blank line of the 21 dataset files', () => {
    expect(report.files).toBe(21);
    expect(report.linesRead).toBe(1351);
    expect(report.kept + report.duplicates + report.rejected).toBe(report.linesRead);
  });

  it('keeps about 1,265 distinct records over 25 CWEs', () => {
    expect(report.kept).toBeGreaterThanOrEqual(1240);
    expect(report.kept).toBeLessThanOrEqual(1270);
    expect(Object.keys(report.byCwe)).toHaveLength(25);
    expect(Object.values(report.byCwe).reduce((a, b) => a + b, 0)).toBe(report.kept);
    expect(report.newInStore).toBe(report.kept);
    // SafeCoder val/sec-desc repeats SVEN val: duplicates exist and are not stored twice.
    expect(report.duplicates).toBeGreaterThan(0);
  });

  it('gives every record a language', () => {
    expect(Object.values(report.byLanguage).reduce((a, b) => a + b, 0)).toBe(report.kept);
    expect(Object.keys(report.byLanguage).every(isLanguage)).toBe(true);
    expect(Object.keys(report.byLanguage).sort()).toEqual(expect.arrayContaining(['c', 'cpp', 'go', 'java', 'javascript', 'python', 'ruby']));
  });

  it('rejects only the 5 records whose before and after are byte-identical', () => {
    expect(report.rejectedByReason).toEqual({ identical_before_after: 5 });
    expect(rejects.map((r) => `${relative(KB, r.file)}:${r.line}`).sort()).toEqual(
      ['safecoder/train/sec-new-desc.jsonl:281', 'sven/train/cwe-125.jsonl:31', 'sven/train/cwe-416.jsonl:21', 'sven/train/cwe-416.jsonl:23', 'sven/train/cwe-416.jsonl:27'].sort(),
    );
    expect(rejects.every((r) => r.code === 'identical_before_after' && r.field === 'func_src_before,func_src_after')).toBe(true);
  });

  it('stores exactly the kept records, each one well-formed', async () => {
    const records: FixRecord[] = [];
    for await (const id of store.ids()) records.push((await store.get(id)) as FixRecord);
    expect(records).toHaveLength(report.kept);
    const byLanguage: Record<string, number> = {};
    for (const r of records) {
      byLanguage[r.language] = (byLanguage[r.language] ?? 0) + 1;
      expect(r.before).not.toBe(r.after);
      expect(r.before).not.toContain('\r');
      expect(r.changedLines.deleted.length + r.changedLines.added.length).toBeGreaterThan(0);
    }
    expect(byLanguage).toEqual(report.byLanguage);
    // The one SVEN file named *.C is C++ (GCC convention), not C.
    const upperC = records.filter((r) => r.filePath?.endsWith('.C'));
    expect(upperC.length).toBeGreaterThan(0);
    expect(upperC.every((r) => r.language === 'cpp')).toBe(true);
    // Records without dataset line_changes got them from a diff.
    expect(records.filter((r) => r.changedLines.source === 'diff')).toHaveLength(report.changedLinesFromDiff);
    expect(report.changedLinesFromDiff).toBeGreaterThan(0);
  });

  it('a second run over the same store adds nothing', async () => {
    const again = await new FixPairIngestor(store).ingest([KB], { format: 'auto', maxLineBytes: 1024 * 1024 });
    expect(again).toMatchObject({ linesRead: report.linesRead, kept: report.kept, duplicates: report.duplicates, rejected: report.rejected, newInStore: 0 });
    expect(await store.count()).toBe(report.kept);
  });
});

describeCwe('reading ../shared/data/cwe/cwe-1000-research-view.csv', () => {
  it('reads 938 weaknesses without problems; CWE-89 is a child of CWE-943 and has mitigations', async () => {
    const problems: CatalogProblem[] = [];
    const catalog = await readCweCatalog(CWE_CSV, (p) => problems.push(p));
    expect(problems).toEqual([]);
    expect(catalog.size).toBe(938);
    const sqli = catalog.get('CWE-89');
    expect(sqli).toBeDefined();
    expect(sqli!.name).toContain('SQL');
    expect(sqli!.parents).toContain('CWE-943');
    expect(sqli!.mitigations.length).toBeGreaterThan(0);
    expect(sqli!.mitigations.every((m) => m.description.length > 0)).toBe(true);
    expect(sqli!.mitigations.some((m) => m.phase === 'Implementation')).toBe(true);
    // Every parent named in the research view is itself in the catalogue.
    const missing = [...catalog.values()].flatMap((e) => e.parents.filter((p) => !catalog.has(p)).map((p) => `${e.id}→${p}`));
    expect(missing).toEqual([]);
  });
});

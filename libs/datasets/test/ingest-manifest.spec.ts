import { closeSync, openSync, readFileSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FsRecordStore, type IngestReport, type IngestRunResult, runIngest } from '@rescue/datasets';
import type { FixRecord } from '@rescue/domain';
import { TempDirs, segmentEntries } from './helpers';

const dirs = new TempDirs();
afterEach(() => dirs.cleanup());

const pair = (n: number, cwe = 'CWE-787'): string => JSON.stringify({ language: 'c', cwe, before: `buf[${n}] = 0;\n`, after: `if (${n} < len) buf[${n}] = 0;\n` });

/** Two files: `a` with a bad line and a pair repeated; `b` repeating one of `a`'s pairs. */
function setUp(): { dir: string; a: string; b: string; run: (opts?: { maxLineBytes?: number }) => Promise<{ result: IngestRunResult; records: FixRecord[]; rejects: string }> } {
  const dir = dirs.make('ingest-manifest');
  const a = join(dir, 'a.jsonl');
  const b = join(dir, 'b.jsonl');
  writeFileSync(a, `${pair(1)}\n{"language": "c"}\n${pair(2)}\n${pair(1)}\n`);
  writeFileSync(b, `${pair(3, 'CWE-125')}\n${pair(2)}\n`);
  const store = new FsRecordStore(join(dir, 'kb', 'records'));
  const rejectsPath = join(dir, 'kb', 'ingest', 'rejects.jsonl');
  const run = async (opts: { maxLineBytes?: number } = {}) => {
    const records: FixRecord[] = [];
    const result = await runIngest(
      { sources: [a, b], format: 'auto', maxLineBytes: opts.maxLineBytes ?? 1 << 20, store, rejectsPath, manifestPath: join(dir, 'kb', 'ingest', 'sources.json') },
      { onRecord: (r) => records.push(r) },
    );
    return { result, records, rejects: readFileSync(rejectsPath, 'utf8') };
  };
  return { dir, a, b, run };
}

/** The report without what legitimately differs between a read and a skip. */
const counts = ({ durationMs: _d, newInStore: _n, filesSkipped: _s, ...rest }: IngestReport) => rest;

describe('ingest manifest: unchanged source files are not read again', () => {
  it('skips both files the second time with the same records (origin included), counts and rejects', async () => {
    const { run } = setUp();
    const first = await run();
    expect(first.result.report.filesSkipped ?? 0).toBe(0);
    expect(first.result.report).toMatchObject({ kept: 3, duplicates: 2, rejected: 1, linesRead: 6 });
    const second = await run();
    expect(second.result.report.filesSkipped).toBe(2);
    expect(second.result.report.newInStore).toBe(0);
    expect(counts(second.result.report)).toEqual(counts(first.result.report));
    expect(second.records).toEqual(first.records);
    expect(second.rejects).toBe(first.rejects);
  });

  it('takes a skipped file from the manifest, not from the file (proof that it was not read)', async () => {
    const { dir, run } = setUp();
    await run();
    const path = join(dir, 'kb', 'ingest', 'sources.json');
    const manifest = JSON.parse(readFileSync(path, 'utf8')) as { files: Record<string, { records: unknown[] }> };
    // Forget b's first line in the manifest: a run that skips b no longer sees its CWE-125 pair.
    manifest.files[join(dir, 'b.jsonl')].records.shift();
    writeFileSync(path, JSON.stringify(manifest));
    const second = await run();
    expect(second.result.report.filesSkipped).toBe(2);
    expect(second.records.map((r) => r.cwe)).not.toContain('CWE-125');
  });

  it('reads a file again when its content changed, even with the same size and mtime', async () => {
    const { b, run } = setUp();
    await run();
    const { mtime, size } = statSync(b);
    // Same length, other content, mtime put back.
    writeFileSync(b, `${pair(4, 'CWE-125')}\n${pair(2)}\n`);
    utimesSync(b, mtime, mtime);
    expect(statSync(b).size).toBe(size);
    const second = await run();
    expect(second.result.report.filesSkipped).toBe(1);
    expect(second.records.map((r) => r.before)).toContain('buf[4] = 0;\n');
    expect(second.records.map((r) => r.before)).not.toContain('buf[3] = 0;\n');
  });

  it('reads a file again when one of its records is no longer sound in the store, or the read options changed', async () => {
    const { dir, run } = setUp();
    const first = await run();
    const gone = first.records.find((r) => r.cwe === 'CWE-125') as FixRecord;
    // A damaged block in its entry: the store no longer has a sound copy of it.
    const entry = segmentEntries(join(dir, 'kb', 'records')).find((e) => e.id === gone.id);
    if (!entry) throw new Error(`no entry for ${gone.id}`);
    const fd = openSync(entry.path, 'r+');
    writeSync(fd, '!!', entry.payloadOffset);
    closeSync(fd);
    const second = await run();
    // a is skipped (its records are all there); b is read and its record stored again.
    expect(second.result.report.filesSkipped).toBe(1);
    expect(second.records).toEqual(first.records);
    expect(second.result.report.newInStore).toBeGreaterThanOrEqual(1);
    const third = await run({ maxLineBytes: 1 << 19 });
    expect(third.result.report.filesSkipped ?? 0).toBe(0);
    expect(third.records).toEqual(first.records);
  });

  it('a damaged manifest costs a full read, not the run', async () => {
    const { dir, run } = setUp();
    const first = await run();
    writeFileSync(join(dir, 'kb', 'ingest', 'sources.json'), '{"v": 1, "files": ');
    const second = await run();
    expect(second.result.report.filesSkipped ?? 0).toBe(0);
    expect(second.records).toEqual(first.records);
    // …and is written whole again for the next run.
    expect((await run()).result.report.filesSkipped).toBe(2);
  });
});

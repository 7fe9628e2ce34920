import { diffChangedLines, fixRecordId } from '@rescue/datasets';
import type { FixRecord, Language } from '@rescue/domain';
import { type SliceOutcome, Slicer, SlicerPool } from '@rescue/slicing';

// The pool's threads run the build output (dist/libs/slicing/src/slicer.worker.js): `npm run build`
// first, as for the API's retrieval pool.

function record(language: Language, before: string, after: string): FixRecord {
  return {
    id: fixRecordId(language, 'CWE-89', before, after),
    language,
    cwe: 'CWE-89',
    before,
    after,
    changedLines: { ...diffChangedLines(before, after), source: 'diff' },
    origin: { file: 'slicer-pool.int-spec', line: 1, format: 'generic' },
  };
}

const python = (i: number, safe: boolean): string =>
  `def find_${i}(cursor, name):\n    key = name.strip()\n    n = ${i}\n    if not key:\n        return None\n` +
  (safe ? `    return cursor.execute("SELECT * FROM t WHERE n = %s", (key,))\n` : `    return cursor.execute("SELECT * FROM t WHERE n = '" + key + "'")\n`);
const c = (i: number, safe: boolean): string =>
  `int copy_${i}(char *dst, const char *src, size_t n) {\n  size_t len = strlen(src);\n  int k = ${i};\n` +
  (safe ? `  if (len >= n) return -1;\n  memcpy(dst, src, len + 1);\n` : `  memcpy(dst, src, len + 1);\n`) +
  `  return k;\n}\n`;

// Sliced, and failing in each way the slicer classifies: a language without a grammar, code that is
// not code, a function over the size limit.
const RECORDS: FixRecord[] = [
  ...Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? record('python', python(i, false), python(i, true)) : record('c', c(i, false), c(i, true)))),
  record('php', '<?php echo $a;\n', '<?php echo htmlspecialchars($a);\n'),
  record('python', '\u0000\u0001 }{ ]]] ((( \n', '\u0000\u0002 }{ ]]] ((( \n'),
  record('python', `def big():\n${'    x = 1\n'.repeat(30_000)}`, `def big():\n${'    x = 2\n'.repeat(30_000)}`),
];

describe('SlicerPool', () => {
  let pool: SlicerPool;
  let slicer: Slicer;
  let inThread: SliceOutcome[];

  beforeAll(async () => {
    pool = await SlicerPool.create({ threads: 2 });
    slicer = await Slicer.create();
    inThread = [];
    for (const r of RECORDS) inThread.push(await slicer.sliceRecord(r, 2));
  }, 60_000);

  afterAll(async () => {
    await pool.close();
  });

  it('gives each record the outcome a Slicer in this thread gives it, whatever order the threads finish in', async () => {
    // All at once: more records than the pool hands to its threads, so some wait in its queue.
    const outcomes = await Promise.all(RECORDS.map((r) => pool.sliceRecord(r, 2)));
    expect(outcomes).toEqual(inThread);
    expect(outcomes.filter((o) => o.ok)).toHaveLength(12);
    expect(outcomes.map((o) => (o.ok ? 'sliced' : o.failure.failureClass)).slice(12)).toEqual(['unsupported_language', 'parse_error', 'too_large']);
  }, 60_000);

  it('returns a record its thread fails on as worker_failed, that record only, and goes on slicing', async () => {
    // Not a string: the slicer throws a TypeError, no classified failure, inside the thread.
    const broken = { ...RECORDS[0], before: 42 as unknown as string };
    const outcomes = await Promise.all([RECORDS[1], broken, RECORDS[2]].map((r) => pool.sliceRecord(r, 2)));
    expect(outcomes[0]).toEqual(inThread[1]);
    expect(outcomes[2]).toEqual(inThread[2]);
    expect(outcomes[1]).toMatchObject({ ok: false, failure: { recordId: broken.id, failureClass: 'worker_failed', message: expect.stringMatching(/slicing thread failed/) } });
    expect(await pool.sliceRecord(RECORDS[3], 2)).toEqual(inThread[3]);
  }, 60_000);
});

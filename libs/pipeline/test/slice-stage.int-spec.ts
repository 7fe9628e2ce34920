import { MemoryRecordStore, diffChangedLines, fixRecordId } from '@rescue/datasets';
import type { FixRecord } from '@rescue/domain';
import { type SliceDocument, Slicer, SlicerPool, sliceId } from '@rescue/slicing';
import { sliceStage } from '../src/stages/slice.stage';

// The slice stage with the worker-thread pool (the threads run the build output: `npm run build`
// first) against the same stage slicing in this thread.

function record(i: number, safe: boolean): FixRecord {
  const body = (s: boolean): string =>
    `def find_${i}(cursor, name):\n    key = name.strip()\n    if not key:\n        return None\n` +
    (s ? `    return cursor.execute("SELECT * FROM t WHERE n = %s", (key,))\n` : `    return cursor.execute("SELECT * FROM t WHERE n = '" + key + "'")\n`);
  const before = body(false);
  const after = safe ? body(true) : `${before}    # ${i}\n`;
  return {
    id: fixRecordId('python', 'CWE-89', before, after),
    language: 'python',
    cwe: 'CWE-89',
    before,
    after,
    changedLines: { ...diffChangedLines(before, after), source: 'diff' },
    origin: { file: 'slice-stage.int-spec', line: i, format: 'generic' },
  };
}

const RECORDS = [...Array.from({ length: 9 }, (_, i) => record(i, true)), { ...record(9, true), language: 'php' as const }];

async function storeOf(records: FixRecord[]): Promise<MemoryRecordStore> {
  const store = new MemoryRecordStore();
  await store.putMany(records);
  return store;
}

async function documents(slices: MemoryRecordStore<SliceDocument>): Promise<SliceDocument[]> {
  const docs: SliceDocument[] = [];
  for await (const id of slices.ids()) docs.push((await slices.get(id)) as SliceDocument);
  return docs;
}

describe('slice stage with a SlicerPool', () => {
  let pool: SlicerPool;
  let slicer: Slicer;

  beforeAll(async () => {
    pool = await SlicerPool.create({ threads: 2 });
    slicer = await Slicer.create();
  }, 60_000);

  afterAll(async () => {
    await pool.close();
  });

  it('stores the documents the stage stores slicing in this thread, in the batch order, with the same counts', async () => {
    const recordIds = RECORDS.map((r) => r.id);
    const one = new MemoryRecordStore<SliceDocument>();
    const many = new MemoryRecordStore<SliceDocument>();
    const inThread = await sliceStage({ recordIds, hops: 2 }, { slicer, records: await storeOf(RECORDS), slices: one });
    const pooled = await sliceStage({ recordIds, hops: 2 }, { slicer: pool, records: await storeOf(RECORDS), slices: many });
    expect(pooled).toEqual(inThread);
    expect(pooled).toMatchObject({ sliced: 9, failed: 1, failuresByClass: { unsupported_language: 1 } });
    // MemoryRecordStore lists ids in the order they were stored.
    expect(await documents(many)).toEqual(await documents(one));
    expect((await documents(many)).map((d) => d.id)).toEqual(recordIds.map((id) => sliceId(id, 2)));
  }, 60_000);

  it('stores every other record of a batch when one record loses its thread, then fails the batch transiently; the retry slices only that record', async () => {
    const broken = { ...RECORDS[4], before: 42 as unknown as string };
    const records = await storeOf([...RECORDS.slice(0, 4), broken, ...RECORDS.slice(5)]);
    const slices = new MemoryRecordStore<SliceDocument>();
    const recordIds = RECORDS.map((r) => r.id);
    await expect(sliceStage({ recordIds, hops: 2 }, { slicer: pool, records, slices })).rejects.toMatchObject({
      name: 'SliceFailure',
      failureClass: 'worker_failed',
      kind: 'transient',
      message: expect.stringContaining(broken.id),
    });
    expect(await slices.count()).toBe(RECORDS.length - 1);
    expect(await slices.has(sliceId(broken.id, 2))).toBe(false);

    await records.putMany([RECORDS[4]]);
    const retry = await sliceStage({ recordIds, hops: 2 }, { slicer: pool, records, slices });
    expect(retry).toMatchObject({ sliced: 1, failed: 0, alreadyStored: RECORDS.length - 1 });
    expect(await slices.has(sliceId(broken.id, 2))).toBe(true);
  }, 60_000);
});

/**
 * Everything the slicer says about the shared fix pairs, one JSON line per record, so that a change
 * meant only for speed can be checked to change nothing: build before and after, dump both, `cmp`.
 *
 *   node dist/tools/slice-dump.js <out.jsonl> [workBudget]
 *
 * Per record: its outcome (slice or failure, with the work it took) at h = 2 under the default
 * limits, at h = 2 under `workBudget` steps (default 60,000, where many records are `too_complex`,
 * so the step a budget stops at is checked too) and at h = 1; the API references, calls and prose
 * of its versions; the definitions of its vulnerable version. A `timeout` (the wall-clock safety net:
 * a busy machine, not the input) stops the dump instead of writing a line that would differ by load.
 */
import { createWriteStream, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { FixPairIngestor, MemoryRecordStore } from '@rescue/datasets';
import type { FixRecord } from '@rescue/domain';
import { SliceFailure, type SliceOutcome, Slicer } from '@rescue/slicing';

const dataDir = resolve(__dirname, '../../../shared/data/kb-source');

const checked = (outcome: SliceOutcome): SliceOutcome => {
  if (!outcome.ok && outcome.failure.failureClass === 'timeout') throw new Error(`${outcome.failure.recordId}: timeout (${outcome.failure.message}); rerun on a quieter machine`);
  return outcome;
};

async function main(): Promise<void> {
  const [out, budget = '60000'] = process.argv.slice(2);
  if (!out) throw new Error('usage: node dist/tools/slice-dump.js <out.jsonl> [workBudget]');
  if (!existsSync(dataDir)) throw new Error(`${dataDir} is absent (the shared data sits beside the repository)`);
  const store = new MemoryRecordStore();
  await new FixPairIngestor(store).ingest([dataDir], { format: 'auto', maxLineBytes: 8 << 20 });
  const records: FixRecord[] = [];
  for await (const id of store.ids()) records.push((await store.get(id)) as FixRecord);
  const slicer = await Slicer.create();
  const small = await Slicer.create({ workBudget: Number(budget) });
  const stream = createWriteStream(out);
  for (const r of records) {
    let functions: unknown;
    try {
      functions = await slicer.functions(r.language, r.before);
    } catch (err) {
      if (!(err instanceof SliceFailure)) throw err;
      functions = { failureClass: err.failureClass, message: err.message };
    }
    const line = {
      id: r.id,
      sliced: checked(await slicer.sliceRecord(r, 2)),
      smallBudget: checked(await small.sliceRecord(r, 2)),
      oneHop: checked(await slicer.sliceRecord(r, 1)),
      apiReferences: [await slicer.apiReferences(r.language, r.before), await slicer.apiReferences(r.language, r.after)],
      apiCalls: await slicer.apiCalls(r.language, r.before),
      prose: await slicer.prose(r.language, r.before),
      functions,
    };
    if (!stream.write(`${JSON.stringify(line)}\n`)) await new Promise<void>((done) => stream.once('drain', () => done()));
  }
  await new Promise<void>((done, fail) => stream.end((err?: Error | null) => (err ? fail(err) : done())));
  process.stdout.write(`slice-dump: ${records.length} records → ${out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`slice-dump failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});

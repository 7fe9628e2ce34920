import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { FixPairIngestor, MemoryRecordStore } from '@rescue/datasets';
import type { FixRecord } from '@rescue/domain';
import { SLICE_FAILURE_CLASSES, SliceStatsCollector, Slicer } from '@rescue/slicing';

// Slices every record of the third-party fix-pair data in ../shared/data (read in place).
const KB = resolve(__dirname, '../../../../shared/data/kb-source');
const present = existsSync(KB);
if (!present) process.stdout.write(`shared-data slicing test skipped: ${KB} does not exist (third-party data lives beside the repo)\n`);

(present ? describe : describe.skip)('slicing all of ../shared/data/kb-source at h = 2', () => {
  const stats = new SliceStatsCollector();
  const failures: string[] = [];

  beforeAll(async () => {
    const store = new MemoryRecordStore();
    await new FixPairIngestor(store).ingest([KB], { format: 'auto', maxLineBytes: 8 << 20 });
    const slicer = await Slicer.create();
    for await (const id of store.ids()) {
      const outcome = await slicer.sliceRecord((await store.get(id)) as FixRecord, 2);
      stats.add(outcome);
      if (!outcome.ok) failures.push(outcome.failure.failureClass);
    }
  }, 120_000);

  it('slices at least 95% of the records and classifies every failure', () => {
    const all = stats.stats();
    expect(all.sliced / all.functions).toBeGreaterThanOrEqual(0.95);
    for (const f of failures) expect(SLICE_FAILURE_CLASSES).toContain(f);
    expect(all.functions - all.sliced).toBe(failures.length);
  });

  it('keeps every point of interest', () => {
    expect(stats.stats().poiLines).toBeGreaterThan(0);
    expect(stats.stats().poiRetentionPct).toBe(100);
  });

  it('reports a reduction for every language, and the slices are shorter than the functions', () => {
    expect(stats.languages()).toEqual(['c', 'cpp', 'go', 'java', 'javascript', 'python', 'ruby']);
    for (const language of stats.languages()) {
      const s = stats.stats(language);
      expect(s.reductionPct).toBeGreaterThan(20);
      expect(s.meanLines.secure.after).toBeLessThan(s.meanLines.secure.before);
    }
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KbDirectory, localEmbedder } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';
import { SMALL_BUILD } from './small-build';

const examples = resolve(__dirname, '../../../examples/fix-pairs');

// Few records to slice are sliced in this thread, many on worker threads: the same slices, the
// same version, whichever did the work.
describe('buildKnowledgeBase: slicing in this thread or on worker threads', () => {
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'rescue-slicing-threads-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const build = (name: string, sliceThreadsFromRecords?: number) =>
    buildKnowledgeBase({
      sources: [examples],
      kbDir: join(work, name),
      ...SMALL_BUILD,
      embedder: localEmbedder,
      sliceThreads: 2,
      ...(sliceThreadsFromRecords !== undefined ? { sliceThreadsFromRecords } : {}),
    });

  it('starts the threads only from the bound, and both publish the same version and slices', async () => {
    const inThread = await build('in-thread');
    expect(inThread.slicing.threads).toBe(0);
    expect(inThread.slicing.sliced).toBeGreaterThan(0);
    const onThreads = await build('on-threads', 1);
    expect(onThreads.slicing.threads).toBe(2);
    expect(onThreads.slicing.sliced).toBe(inThread.slicing.sliced);
    expect(onThreads.manifest.version).toBe(inThread.manifest.version);
    expect(await new KbDirectory(join(work, 'on-threads')).examples()).toEqual(await new KbDirectory(join(work, 'in-thread')).examples());

    // A rebuild with nothing to slice starts no thread, whatever the bound.
    const again = await build('on-threads', 1);
    expect(again.slicing).toEqual({ sliced: 0, failed: 0, reused: onThreads.slicing.sliced + onThreads.slicing.failed, threads: 0 });
  }, 180_000);
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FsRecordStore } from '@rescue/datasets';
import { type BuildEmbedder, KbDirectory } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';
import type { SliceDocument } from '@rescue/slicing';
import { bagOfWordsEmbedder } from '@rescue/testing';
import { SMALL_BUILD } from './small-build';

// Issue 11, problem 4: a KB must not depend on the load of the machine that built it. A throttled
// machine is simulated by a clock that jumps at every reading (the slicer sees every stretch of
// work between two readings take that long), which is what CPU starvation looks like from inside
// the slicer, without starving the CI machine, and the same on every run.

const examples = resolve(__dirname, '../../../examples/fix-pairs');

const testEmbedder = (): BuildEmbedder => bagOfWordsEmbedder();

async function onSlowClock<T>(msPerRead: number, fn: () => Promise<T>): Promise<T> {
  const real = performance.now.bind(performance);
  let skew = 0;
  const spy = jest.spyOn(performance, 'now').mockImplementation(() => real() + (skew += msPerRead));
  try {
    return await fn();
  } finally {
    spy.mockRestore();
  }
}

/**
 * One fix pair big enough (a few hundred thousand steps) for the slicer to look at the clock while
 * slicing it: the examples are so small that their work ends before the meter's first look.
 */
function bigFixPair(): string {
  const body = Array.from({ length: 120 }, (_, i) => `    v${i + 1} = cursor.fetch(v${i}, name)  # step ${i}`).join('\n');
  const fn = (query: string): string => `def find(cursor, name):\n    v0 = name\n${body}\n    return cursor.execute(${query})\n`;
  return `${JSON.stringify({ language: 'python', cwe: 'CWE-89', before: fn(`"SELECT * FROM t WHERE n = '" + name + "'"`), after: fn('"SELECT * FROM t WHERE n = %s", (name,)') })}\n`;
}

describe('a KB built on a throttled machine', () => {
  const dirs: string[] = [];
  const newDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'rescue-kb-throttled-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  // Every build reads the same two sources at the same paths (they are part of the manifest).
  const sourceDir = newDir();
  const big = join(sourceDir, 'big.jsonl');
  writeFileSync(big, bigFixPair());
  const build = (kbDir: string) =>
    buildKnowledgeBase({
      sources: [examples, big],
      kbDir,
      ...SMALL_BUILD,
      embedder: async () => testEmbedder(),
      // The slow clock is this thread's: the records are sliced here, not on worker threads.
      sliceThreads: 0,
    });

  let idleVersion: string;

  beforeAll(async () => {
    const idle = await build(newDir());
    expect(idle.slicing).toEqual({ sliced: 16, failed: 0, reused: 0, threads: 0 });
    idleVersion = idle.manifest.version;
  }, 60_000);

  it('has the version id of an idle build: every clock reading 200 ms late (the old 2 s deadline passed after 10)', async () => {
    const throttled = await onSlowClock(200, () => build(newDir()));
    expect(throttled.slicing).toEqual({ sliced: 16, failed: 0, reused: 0, threads: 0 });
    expect(throttled.manifest.version).toBe(idleVersion);
  }, 60_000);

  it('when even the safety net fires, publishes nothing, stores no timeout, and the next build there has the idle version', async () => {
    const kbDir = newDir();
    // Every reading a minute late: the 60 s wall-clock safety net fires at its first look.
    await expect(onSlowClock(61_000, () => build(kbDir))).rejects.toMatchObject({
      name: 'SliceFailure',
      failureClass: 'timeout',
      kind: 'transient',
      message: expect.stringMatching(/safety net and were not stored/),
    });
    expect(await new KbDirectory(kbDir).current()).toBeUndefined();
    const slices = new FsRecordStore<SliceDocument>(join(kbDir, 'slices'));
    for await (const id of slices.ids()) expect((await slices.get(id))?.status).toBe('sliced');

    const again = await build(kbDir);
    expect(again.manifest.version).toBe(idleVersion);
    expect(again.slicing.failed).toBe(0);
  }, 60_000);
});

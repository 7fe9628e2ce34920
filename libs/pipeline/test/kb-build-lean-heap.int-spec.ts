import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { localEmbedder } from '@rescue/knowledge';
import { buildKnowledgeBase, growHeapLeanly } from '@rescue/pipeline';
import { SMALL_BUILD } from './small-build';

// V8's flags cannot be read back from JavaScript, so the calls that set them are watched instead;
// the real function still runs, so the flag really is set and undone.
jest.mock('node:v8', () => {
  const actual = jest.requireActual<typeof import('node:v8')>('node:v8');
  return { ...actual, setFlagsFromString: jest.fn((flags: string) => actual.setFlagsFromString(flags)) };
});
// eslint-disable-next-line @typescript-eslint/no-require-imports
const v8 = require('node:v8') as { setFlagsFromString: jest.Mock };
const heapFlags = (): string[] => v8.setFlagsFromString.mock.calls.map(([f]) => f as string).filter((f) => f.startsWith('--heap-growing-percent'));

const examples = resolve(__dirname, '../../../examples/fix-pairs');

describe('buildKnowledgeBase: a lean heap for big builds', () => {
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'rescue-lean-heap-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  beforeEach(() => v8.setFlagsFromString.mockClear());

  const build = (name: string, leanHeapAboveRecords?: number) =>
    buildKnowledgeBase({
      sources: [examples],
      kbDir: join(work, name),
      ...SMALL_BUILD,
      embedder: localEmbedder,
      sliceThreads: 0,
      ...(leanHeapAboveRecords !== undefined ? { leanHeapAboveRecords } : {}),
    });

  it('leaves V8 alone under the threshold, sets the flag past it and undoes it at the end, with the same KB', async () => {
    const small = await build('default');
    expect(small.ingest.kept).toBeGreaterThan(0);
    expect(heapFlags()).toEqual([]);

    const lean = await build('lean', 0);
    expect(heapFlags()).toEqual(['--heap-growing-percent=10', '--heap-growing-percent=0']);
    expect(lean.manifest.version).toBe(small.manifest.version);
  }, 180_000);

  it('undoes the flag when the build fails after setting it', async () => {
    await expect(
      buildKnowledgeBase({
        sources: [examples],
        kbDir: join(work, 'failing'),
        ...SMALL_BUILD,
        embedder: () => Promise.reject(new Error('embedder down')),
        sliceThreads: 0,
        leanHeapAboveRecords: 0,
      }),
    ).rejects.toThrow('embedder down');
    expect(heapFlags()).toEqual(['--heap-growing-percent=10', '--heap-growing-percent=0']);
  }, 180_000);

  it("keeps the operator's own --heap-growing-percent", () => {
    process.execArgv.push('--heap-growing-percent=25');
    try {
      growHeapLeanly()();
      expect(heapFlags()).toEqual([]);
    } finally {
      process.execArgv.pop();
    }
  });
});

import { existsSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KbDirectory, type OpenOptions, fitDefaultGate, gateCachePath } from '@rescue/knowledge';
import type { TermCounts } from '@rescue/retrieval';
import { buildSampleKb, retrieveSampleTasks } from './sample-kb';

// A publish caches the version's default relevance gate beside it, and an open reads it instead of
// fitting it: every task must be answered exactly as with the gate fitted at open, and a damaged
// cache must change nothing but a message.

describe("a KB version's cached relevance gate", () => {
  let work: string;
  let kbDir: string;
  let version: string;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'rescue-kb-gate-cache-'));
    kbDir = join(work, 'kb');
    version = await buildSampleKb(kbDir);
  }, 120_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const retrieveAll = (options: OpenOptions): Promise<unknown[]> => retrieveSampleTasks(kbDir, options);

  it('is written by the publish, outside the checksummed version folder', async () => {
    expect(existsSync(gateCachePath(kbDir, version))).toBe(true);
    expect((await new KbDirectory(kbDir).verify()).ok).toBe(true);
  });

  it('answers every task as the gate fitted at open does, and a damaged one changes nothing but a message', async () => {
    const termCounts = JSON.parse(readFileSync(join(new KbDirectory(kbDir).versionDir(version), 'term-counts.json'), 'utf8')) as TermCounts;
    const notices: string[] = [];
    const onGateCacheProblem = (m: string): void => void notices.push(m);
    const fitted = await retrieveAll({ gate: fitDefaultGate(termCounts), onGateCacheProblem });
    expect(fitted.length).toBeGreaterThan(0);
    expect(await retrieveAll({ onGateCacheProblem })).toEqual(fitted);
    expect(notices).toEqual([]);
    writeFileSync(gateCachePath(kbDir, version), '{"format":"rescue-gate-cache-1"');
    expect(await retrieveAll({ onGateCacheProblem })).toEqual(fitted);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain('is damaged');
    // Replaced: the next open reads it again without a word.
    expect(await retrieveAll({ onGateCacheProblem })).toEqual(fitted);
    expect(notices).toHaveLength(1);
  }, 60_000);
});

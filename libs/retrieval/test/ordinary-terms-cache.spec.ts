import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ordinaryTaskTerms, ordinaryTermsCacheFile, searchTerms } from '@rescue/retrieval';

describe('ordinaryTaskTerms cache', () => {
  let dir: string;
  let file: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-ordinary-'));
    file = join(dir, 'ordinary-tasks.jsonl');
    // A prompt no other run has: its own cache file.
    writeFileSync(file, `${JSON.stringify({ prompt: `Sort the list of names ${randomUUID()}` })}\n${JSON.stringify({ prompt: 'Parse the dates in a CSV file' })}\n`);
  });
  afterAll(() => {
    // The cache's name is read from the file, so it goes before the folder.
    rmSync(ordinaryTermsCacheFile([file]), { force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it('computes the terms once, reads them back, and recomputes a damaged or stale cache', () => {
    const fresh = ordinaryTaskTerms([file]);
    expect(fresh[1]).toEqual(searchTerms('Parse the dates in a CSV file'));
    const cache = ordinaryTermsCacheFile([file]);
    expect(existsSync(cache)).toBe(true);
    expect(ordinaryTaskTerms([file])).toEqual(fresh);
    // A cache that says something else is what is read: so it must be keyed by the inputs.
    writeFileSync(cache, JSON.stringify([['cached']]));
    expect(ordinaryTaskTerms([file])).toEqual([['cached']]);
    writeFileSync(cache, '{not json');
    expect(ordinaryTaskTerms([file])).toEqual(fresh);
    expect(JSON.parse(readFileSync(cache, 'utf8'))).toEqual(fresh);
    // Changed contents: another key, never the old answer.
    writeFileSync(file, `${JSON.stringify({ prompt: 'Merge two sorted arrays' })}\n`);
    expect(ordinaryTermsCacheFile([file])).not.toBe(cache);
    expect(ordinaryTaskTerms([file])).toEqual([searchTerms('Merge two sorted arrays')]);
    rmSync(ordinaryTermsCacheFile([file]), { force: true });
    rmSync(cache, { force: true });
  });
});

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { historyPathFor, resumeOutput } from '@rescue/generation';

const result = (id: string) => JSON.stringify({ id, samples: [], tokens: { prompt: 1, completion: 1 } });
const failure = (id: string, cls = 'LlmUpstreamError') => JSON.stringify({ id, error: { class: cls, message: 'x' } });
const lines = (path: string): Array<{ id: string; error?: { class: string }; retiredAt?: string }> =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l))
    : [];

describe('resumeOutput (what a re-run of a batch skips and attempts again)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-resume-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('moves failures to the history to be attempted again, keeps results, drops a torn last line', () => {
    const out = join(dir, 'out.jsonl');
    writeFileSync(out, [result('a'), failure('b', 'ConfigError'), result('c'), failure('d'), '{"id":"e","samp'].join('\n'));
    const { done, retry } = resumeOutput(out);
    expect([...done].sort()).toEqual(['a', 'c']);
    expect([...retry.keys()].sort()).toEqual(['b', 'd']);
    expect(retry.get('b')?.error.class).toBe('ConfigError');
    expect(lines(out).map((l) => l.id)).toEqual(['a', 'c']);
    const history = lines(historyPathFor(out));
    expect(history.map((h) => [h.id, h.error?.class])).toEqual([
      ['b', 'ConfigError'],
      ['d', 'LlmUpstreamError'],
    ]);
    expect(history.every((h) => typeof h.retiredAt === 'string')).toBe(true);
    // A second look finds nothing more to retire: the history does not grow.
    resumeOutput(out);
    expect(lines(historyPathFor(out))).toHaveLength(2);
  });

  it('keeps failures as done with retryFailed: false, and a result beats a failure of the same task', () => {
    const out = join(dir, 'out.jsonl');
    writeFileSync(out, [failure('a'), result('a'), failure('b'), failure('b'), result('c'), result('c')].join('\n') + '\n');
    const kept = resumeOutput(out, { retryFailed: false });
    expect([...kept.done].sort()).toEqual(['a', 'b', 'c']);
    expect(kept.retry.size).toBe(0);
    expect(lines(out).map((l) => [l.id, l.error ? 'failed' : 'ok'])).toEqual([
      ['a', 'ok'],
      ['c', 'ok'],
      ['b', 'failed'],
    ]);
    expect(existsSync(historyPathFor(out))).toBe(false);
    // Then retried: only b, once.
    const again = resumeOutput(out);
    expect([...again.retry.keys()]).toEqual(['b']);
    expect(lines(out).map((l) => l.id)).toEqual(['a', 'c']);
  });

  it('treats a missing output as an empty one', () => {
    expect(resumeOutput(join(dir, 'none.jsonl'))).toEqual({ done: new Set(), retry: new Map() });
  });
});

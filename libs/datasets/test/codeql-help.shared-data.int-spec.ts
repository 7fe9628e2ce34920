// readCodeqlHelp on the real CodeQL help in ../shared/data/codeql-help (read in place, never copied).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { type CodeqlProblem, type CodeqlQueryHelp, readCodeqlHelp } from '@rescue/datasets';

const REAL = resolve(__dirname, '../../../../shared/data/codeql-help');

async function read(root: string): Promise<{ queries: CodeqlQueryHelp[]; problems: CodeqlProblem[] }> {
  const problems: CodeqlProblem[] = [];
  const queries = await readCodeqlHelp(root, (p) => problems.push(p));
  return { queries, problems };
}

const realPresent = existsSync(REAL);
if (!realPresent) process.stdout.write(`real CodeQL help test skipped: ${REAL} does not exist (third-party data lives beside the repo, not in it)\n`);

(realPresent ? describe : describe.skip)('readCodeqlHelp on ../shared/data/codeql-help', () => {
  it('reads about 820 CWE-tagged queries in seven languages', async () => {
    const started = performance.now();
    const { queries, problems } = await read(REAL);
    const ms = Math.round(performance.now() - started);
    const count = (keys: string[]): Record<string, number> => keys.reduce<Record<string, number>>((acc, k) => ({ ...acc, [k]: (acc[k] ?? 0) + 1 }), {});
    const byLanguage = count(queries.map((q) => q.language));
    const problemKinds = count(problems.map((p) => p.kind));
    const samples = queries.reduce((n, q) => n + q.samples.length, 0);
    const cwes = new Set(queries.flatMap((q) => q.cwes)).size;
    process.stdout.write(
      `codeql-help: ${queries.length} queries with CWEs in ${ms} ms, ${samples} samples, ${cwes} CWEs; by language ${JSON.stringify(byLanguage)}; problems ${JSON.stringify(problemKinds)}\n`,
    );

    expect(queries.length).toBeGreaterThan(780);
    expect(queries.length).toBeLessThan(870);
    for (const [language, atLeast] of Object.entries({ cpp: 140, csharp: 100, java: 220, javascript: 140, python: 70, ruby: 20, go: 50 })) {
      expect(byLanguage[language]).toBeGreaterThanOrEqual(atLeast);
    }
    expect(queries.every((q) => q.cwes.length > 0)).toBe(true);
    // The data set left out a few files that only fragments cite; nothing else is wrong with it.
    expect(Object.keys(problemKinds)).toEqual(['missing-sample']);
    expect(problems.length).toBeLessThan(50);
  });
});

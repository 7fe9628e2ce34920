// codeqlFixPairs on the real CodeQL help in ../shared/data/codeql-help (read in place, never copied).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { readCodeqlHelp } from '@rescue/datasets';
import { Slicer } from '@rescue/slicing';
import { codeqlFixPairs } from '../src/sources/codeql-records';

const REAL = resolve(__dirname, '../../../../shared/data/codeql-help');

const realPresent = existsSync(REAL);
if (!realPresent) process.stdout.write(`real CodeQL fix-pair test skipped: ${REAL} does not exist (third-party data lives beside the repo, not in it)\n`);

(realPresent ? describe : describe.skip)('codeqlFixPairs on ../shared/data/codeql-help', () => {
  it('finds a fix pair for about half of the 820 queries, over some 140 CWEs', async () => {
    const started = performance.now();
    const queries = await readCodeqlHelp(REAL);
    const read = performance.now();
    const out = await codeqlFixPairs(queries, await Slicer.create());
    const done = performance.now();
    const count = (keys: string[]): Record<string, number> => keys.reduce<Record<string, number>>((acc, k) => ({ ...acc, [k]: (acc[k] ?? 0) + 1 }), {});
    const recordSources = out.provenance.filter((p) => p.kind === 'record');
    const paired = new Set(recordSources.flatMap((p) => p.queryIds));
    const languageOf = new Map(queries.map((q) => [q.queryId, q.language]));
    const summary = {
      queries: queries.length,
      queriesWithPair: paired.size,
      queriesWithPairByLanguage: count([...paired].map((id) => languageOf.get(id) ?? '?')),
      records: out.records.length,
      recordsByLanguage: count(out.records.map((r) => r.language)),
      recordsByPairing: count(recordSources.map((p) => p.pairing)),
      cwes: new Set(out.records.map((r) => r.cwe)).size,
      vulnerableOnly: out.vulnerableOnly.length,
      vulnerableOnlyByLanguage: count(out.vulnerableOnly.map((v) => v.language)),
      problems: count(out.problems.map((p) => p.kind)),
      ms: { read: Math.round(read - started), pair: Math.round(done - read) },
    };
    process.stdout.write(`codeql fix pairs: ${JSON.stringify(summary)}\n`);

    // The data README counts about 221 queries with a bad and a good example over ~120 CWEs; this
    // reader also pairs marked regions of one function and functions named bad/good, so finds more.
    expect(summary.queriesWithPair).toBeGreaterThan(380);
    expect(summary.queriesWithPair).toBeLessThan(520);
    expect(summary.records).toBeGreaterThan(450);
    expect(summary.records).toBeLessThan(600);
    expect(summary.cwes).toBeGreaterThan(120);
    expect(summary.vulnerableOnly).toBeGreaterThan(180);
    expect(summary.vulnerableOnly).toBeLessThan(280);
    for (const language of ['c', 'cpp', 'csharp', 'go', 'java', 'javascript', 'python', 'ruby']) expect(summary.recordsByLanguage[language]).toBeGreaterThan(10);
    // Only configuration and markup samples (Web.config, pom.xml, .html) are in no language we know.
    expect(Object.keys(summary.problems)).toEqual(['unknown-language']);
    expect(new Set(out.records.map((r) => r.id)).size).toBe(out.records.length);
  });
});

import { fixRecordId } from '@rescue/datasets';
import type { FixRecord, Language } from '@rescue/domain';
import { SLICER_VERSION, type RecordSlice, SliceStatsCollector, Slicer, sliceId } from '@rescue/slicing';
import { sliceOrFail } from './helpers';

const src = (...lines: string[]): string => `${lines.join('\n')}\n`;

function fixRecord(language: Language, before: string, after: string, deleted: number[], added: number[]): FixRecord {
  return {
    id: fixRecordId(language, 'CWE-120', before, after),
    language,
    cwe: 'CWE-120',
    before,
    after,
    changedLines: { deleted, added, source: 'dataset' },
    origin: { file: 't', line: 1, format: 'generic' },
  };
}

// CWE-120: an unbounded copy into a stack buffer, fixed with a bounded copy and a terminator.
// Two blank lines, so non-blank counts differ from line counts.
const STORE_BEFORE = src(
  'int store(struct db *db, const char *key, const char *value) {', //  1
  '    char buf[64];', //                                                  2
  '    int attempts = 0;', //                                              3
  '', //                                                                   4 blank
  '    attempts++;', //                                                    5
  '    if (db == NULL) {', //                                              6 early-exit guard
  '        return -1;', //                                                 7
  '    }', //                                                              8
  '', //                                                                   9 blank
  '    strcpy(buf, value);', //                                           10 POI (vulnerable)
  '    trace(attempts);', //                                              11
  '    return db_put(db, key, buf);', //                                  12
  '}', //                                                                 13
);
const STORE_AFTER = src(
  'int store(struct db *db, const char *key, const char *value) {', //  1
  '    char buf[64];', //                                                  2
  '    int attempts = 0;', //                                              3
  '', //                                                                   4 blank
  '    attempts++;', //                                                    5
  '    if (db == NULL) {', //                                              6
  '        return -1;', //                                                 7
  '    }', //                                                              8
  '', //                                                                   9 blank
  '    strncpy(buf, value, sizeof(buf) - 1);', //                         10 POI (secure)
  "    buf[sizeof(buf) - 1] = '\\0';", //                                  11 POI (secure): writes through buf
  '    trace(attempts);', //                                              12
  '    return db_put(db, key, buf);', //                                  13 reads buf (forward from 11)
  '}', //                                                                 14
);
const storeRecord = (): FixRecord => fixRecord('c', STORE_BEFORE, STORE_AFTER, [10], [10, 11]);

describe('Slicer: validity, statistics, ids and failures', () => {
  let slicer: Slicer;

  beforeAll(async () => {
    slicer = await Slicer.create();
  });

  const slice = (record: FixRecord, hops: number): Promise<RecordSlice> => sliceOrFail(slicer, record, hops);

  describe('sliced brace-language functions re-parse', () => {
    // The same function in each brace language: a loop, an if inside it and unrelated counting.
    // Line 6 changes. Expected slice (h=2): the signature, `sum`'s declaration (2), the loop (4, 9)
    // and if (5, 7) headers and braces, the POI (6) and the return that reads sum (11), with the
    // closing brace (12); the `skipped` counting (3, 8, 10) is elided.
    const body = (decl: (v: string, init: string) => string, header: string, loop: string, end: string): string =>
      src(
        header, //                                        1
        `    ${decl('sum', '0')}${end}`, //              2
        `    ${decl('skipped', '0')}${end}`, //          3
        `    ${loop} {`, //                               4
        '        if (item > 0) {', //                     5 (Go drops the parentheses below)
        `            sum = sum + item${end}`, //          6 POI
        '        }', //                                   7
        `        skipped = skipped + 1${end}`, //         8
        '    }', //                                       9
        `    report(skipped)${end}`, //                  10
        `    return sum${end}`, //                       11
        '}', //                                          12
      );
    const typed = (v: string, init: string): string => `int ${v} = ${init}`;
    const fixtures: [Language, string][] = [
      ['c', body(typed, 'int total(const int *items, int n) {', 'for (int i = 0; i < n; i++)', ';').replace('if (item > 0)', 'if (items[i] > 0)').replace('sum + item;', 'sum + items[i];')],
      ['cpp', body(typed, 'int total(const std::vector<int> &items) {', 'for (int item : items)', ';')],
      ['java', body(typed, 'public int total(List<Integer> items) {', 'for (int item : items)', ';')],
      ['go', body((v, init) => `${v} := ${init}`, 'func total(items []int) int {', 'for _, item := range items', '').replace('if (item > 0)', 'if item > 0')],
      ['javascript', body((v, init) => `let ${v} = ${init}`, 'function total(items) {', 'for (const item of items)', ';')],
      ['typescript', body((v, init) => `let ${v}: number = ${init}`, 'function total(items: number[]): number {', 'for (const item of items)', ';')],
    ];

    it.each(fixtures)('%s: the slice keeps headers and braces and re-parses', async (language, before) => {
      const lines = before.split('\n');
      const after = [...lines.slice(0, 5), lines[5].replace(/sum \+ (.*?)(;?)$/, 'sum + clamp($1)$2'), ...lines.slice(6)].join('\n');
      expect(after).not.toBe(before);
      const s = await slice(fixRecord(language, before, after, [6], [6]), 2);
      for (const version of [s.vulnerable, s.secure]) {
        expect(version.lines).toEqual([1, 2, 4, 5, 6, 7, 9, 11, 12]);
        expect(version.functionValid).toBe(true);
        expect(version.valid).toBe(true);
        expect(version.code).toContain('// ...');
        expect(version.code).not.toContain('skipped');
      }
    });

    it('the C fixture with a guard and a bounded copy re-parses in both versions', async () => {
      const s = await slice(storeRecord(), 2);
      expect(s.vulnerable.valid).toBe(true);
      expect(s.secure.valid).toBe(true);
      expect(s.vulnerable.functionValid).toBe(true);
      expect(s.secure.functionValid).toBe(true);
    });

    const elseFixtures: [Language, string, string][] = [
      ['c', 'int total(const int *items, int n) {', 'for (int i = 0; i < n; i++)'],
      ['javascript', 'function total(items, n) {', 'for (let i = 0; i < n; i++)'],
    ];
    it.each(elseFixtures)('%s: a kept if whose else branch is dropped still closes its block', async (language, header, loop) => {
      const decl = language === 'c' ? 'int' : 'let';
      const before = src(
        header, //                                  1
        `    ${decl} sum = 0;`, //                  2
        `    ${decl} skipped = 0;`, //              3
        `    ${loop} {`, //                         4
        '        if (items[i] > 0) {', //           5
        '            sum += items[i];', //          6 POI
        '        } else {', //                      7
        '            skipped++;', //                8
        '        }', //                             9
        '    }', //                                10
        '    report(skipped);', //                 11
        '    return sum;', //                      12
        '}', //                                    13
      );
      const after = before.replace('sum += items[i];', 'sum += clamp(items[i]);');
      const s = await slice(fixRecord(language, before, after, [6], [6]), 2);
      expect(s.vulnerable.functionValid).toBe(true);
      expect(s.vulnerable.valid).toBe(true);
      expect(s.secure.valid).toBe(true);
    });
  });

  describe('statistics', () => {
    it('counts the non-blank lines of the function and of the slice', async () => {
      const s = await slice(storeRecord(), 2);
      // Vulnerable: POI 10 reads buf (2) and value (signature) and follows the guard (6, 8).
      // Secure: POIs 10 and 11 (the same, and 11 writes through buf, read by 13). Cross-completion
      // brings the unchanged return (after 13 ↦ before 12) into the vulnerable slice.
      expect(s.vulnerable.lines).toEqual([1, 2, 6, 8, 10, 12, 13]);
      expect(s.secure.lines).toEqual([1, 2, 6, 8, 10, 11, 13, 14]);
      expect(s.vulnerable.functionLines).toBe(11);
      expect(s.vulnerable.sliceLines).toBe(7);
      expect(s.secure.functionLines).toBe(12);
      expect(s.secure.sliceLines).toBe(8);
      expect(s.vulnerable.poi).toEqual([10]);
      expect(s.secure.poi).toEqual([10, 11]);
      // The elision comments are not counted as slice lines.
      expect(s.vulnerable.code.split('\n').length).toBeGreaterThan(s.vulnerable.sliceLines);
    });

    it('at h=0 keeps only the points of interest, their enclosing statements and what cross-completion adds', async () => {
      const s = await slice(storeRecord(), 0);
      expect(s.vulnerable.lines).toEqual([1, 10, 13]);
      expect(s.secure.lines).toEqual([1, 10, 11, 14]);
      expect(s.hops).toBe(0);
    });

    it('aggregates outcomes per language with SliceStatsCollector', async () => {
      const stats = new SliceStatsCollector();
      stats.add(await slicer.sliceRecord(storeRecord(), 2));
      stats.add(await slicer.sliceRecord(fixRecord('php', '<?php\nfunction f($a) { return $a; }\n', '<?php\nfunction f($a) { return (int) $a; }\n', [2], [2]), 2));
      expect(stats.languages()).toEqual(['c', 'php']);
      const all = stats.stats();
      expect(all.functions).toBe(2);
      expect(all.sliced).toBe(1);
      expect(all.failures).toEqual({ unsupported_language: 1 });
      expect(all.meanLines).toEqual({ vulnerable: { before: 11, after: 7 }, secure: { before: 12, after: 8 } });
      // 1 − (7 + 8) / (11 + 12) = 34.8 %
      expect(all.reductionPct).toBe(34.8);
      expect(all.poiLines).toBe(3);
      expect(all.poiRetained).toBe(3);
      expect(all.poiRetentionPct).toBe(100);
      expect(all.validSlicePct).toBe(100);
      expect(all.validFunctionPct).toBe(100);
      expect(stats.stats('php')).toMatchObject({ functions: 1, sliced: 0, failures: { unsupported_language: 1 } });
    });
  });

  describe('slice ids', () => {
    it('are deterministic, derived from the record id and h, and differ by h', async () => {
      const record = storeRecord();
      const a = await slice(record, 2);
      const again = await slice(record, 2);
      const other = await (await Slicer.create()).sliceRecord(record, 2);
      const one = await slice(record, 1);
      expect(a.id).toMatch(/^[0-9a-f]{32}$/);
      expect(a.id).toBe(sliceId(record.id, 2));
      expect(again.id).toBe(a.id);
      expect(other.ok && other.slice.id).toBe(a.id);
      expect(one.id).toBe(sliceId(record.id, 1));
      expect(one.id).not.toBe(a.id);
      expect(sliceId('b'.repeat(32), 2)).not.toBe(sliceId('a'.repeat(32), 2));
      expect(a).toMatchObject({ recordId: record.id, language: 'c', cwe: 'CWE-120', hops: 2, slicerVersion: SLICER_VERSION });
    });
  });

  describe('failures', () => {
    it('a record in a language without a grammar is an unsupported_language failure', async () => {
      const record = fixRecord('php', '<?php\nfunction f($a) {\n  return $a;\n}\n', '<?php\nfunction f($a) {\n  return (int) $a;\n}\n', [3], [3]);
      const outcome = await slicer.sliceRecord(record, 2);
      expect(outcome).toEqual({
        ok: false,
        failure: { recordId: record.id, language: 'php', cwe: 'CWE-120', failureClass: 'unsupported_language', message: expect.stringContaining('php') },
        work: 0,
      });
      expect(slicer.supports('php')).toBe(false);
      for (const language of ['c', 'cpp', 'python', 'javascript', 'typescript', 'java', 'go', 'ruby'] as Language[]) expect(slicer.supports(language)).toBe(true);
    });
  });
});

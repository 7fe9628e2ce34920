// readCweCatalog on MITRE's real XML catalogue in ../shared/data/cwe (read in place, never copied).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type CatalogProblem, CODE_INDENT, readCweCatalog } from '@rescue/datasets';

const indent = (levels: number) => ' '.repeat(CODE_INDENT * levels);

const REAL_ZIP = join(__dirname, '../../../../shared/data/cwe/cwec_v4.14.xml.zip');

describe("MITRE's real catalogue (../shared/data/cwe/cwec_v4.14.xml.zip)", () => {
  it('reads several hundred weaknesses with their demonstrative examples', async () => {
    if (!existsSync(REAL_ZIP)) {
      console.log(`real-catalogue test skipped: ${REAL_ZIP} does not exist (third-party data lives beside the repo, not in it)`);
      return;
    }
    const problems: CatalogProblem[] = [];
    const started = Date.now();
    const m = await readCweCatalog(REAL_ZIP, (p) => problems.push(p));
    const ms = Date.now() - started;
    expect(problems).toEqual([]);
    expect(m.size).toBeGreaterThan(800);
    expect(m.get('CWE-89')?.name).toContain('SQL');
    // 1425 is the 2023 Top 25 view; 1003 the one NVD maps published vulnerabilities to.
    expect(m.get('CWE-89')?.views?.map((v) => v.id)).toEqual(expect.arrayContaining(['1003', '1425']));
    expect(m.get('CWE-89')?.views?.find((v) => v.id === '1425')?.name).toMatch(/2023 CWE Top 25/);
    expect(m.get('CWE-89')?.mappingUsage).toBe('Allowed');
    expect(m.get('CWE-787')?.platforms).toEqual(expect.arrayContaining(['C', 'C++']));

    const ours = new Set(['Java', 'C', 'PHP', 'Python', 'C++', 'JavaScript', 'Go']);
    const byLanguage = new Map<string, number>();
    const byNature = new Map<string, number>();
    const pairLanguages = new Map<string, number>();
    const cwesWithBlocks = new Set<string>();
    const cwesWithPairInOurs = new Set<string>();
    let blocks = 0;
    let examples = 0;
    let pairs = 0;
    const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
    for (const e of m.values()) {
      for (const d of e.demonstrativeExamples ?? []) {
        examples += 1;
        for (const b of d.blocks) {
          blocks += 1;
          cwesWithBlocks.add(e.id);
          bump(byLanguage, b.language ?? '(none)');
          bump(byNature, b.nature);
        }
        const paired = d.blocks.filter((b) => b.nature === 'bad' || b.nature === 'good');
        if (!paired.some((b) => b.nature === 'bad') || !paired.some((b) => b.nature === 'good')) continue;
        pairs += 1;
        const languages = [...new Set(paired.map((b) => b.language ?? '(none)'))].sort();
        bump(pairLanguages, languages.join('+'));
        if (languages.every((l) => ours.has(l))) cwesWithPairInOurs.add(e.id);
      }
    }
    const sorted = (map: Map<string, number>) => Object.fromEntries([...map].sort((a, b) => b[1] - a[1]));
    console.log(
      [
        `read ${REAL_ZIP} in ${ms} ms: ${m.size} weaknesses, ${[...m.values()].filter((e) => e.demonstrativeExamples).length} with demonstrative examples (${examples} examples)`,
        `${blocks} Example_Code blocks over ${cwesWithBlocks.size} CWEs`,
        `by language: ${JSON.stringify(sorted(byLanguage))}`,
        `by nature: ${JSON.stringify(sorted(byNature))}`,
        `${pairs} examples have a bad and a good block; their languages: ${JSON.stringify(sorted(pairLanguages))}`,
        `${cwesWithPairInOurs.size} CWEs have such an example in Java, C, PHP, Python, C++, JavaScript or Go`,
      ].join('\n'),
    );
    // The data README: "1,463 blocks over 524 CWEs: Java 378, C 361, PHP 87, Python 38, C++ 32, JavaScript 30, Go 5".
    expect(Math.abs(blocks - 1463)).toBeLessThanOrEqual(30);
    expect(Math.abs(cwesWithBlocks.size - 524)).toBeLessThanOrEqual(15);
    expect(byLanguage.get('Java')).toBeGreaterThan(350);
    expect(byLanguage.get('C')).toBeGreaterThan(330);
    expect(pairs).toBeGreaterThan(100);

    // CWE-121's first example is the classic strcpy into a fixed stack buffer: check it reads as C.
    const strcpy = m.get('CWE-121')!.demonstrativeExamples![0].blocks[0];
    expect(strcpy).toMatchObject({ nature: 'bad', language: 'C' });
    expect(strcpy.code.split('\n')).toEqual(['#define BUFSIZE 256', 'int main(int argc, char **argv) {', `${indent(1)}char buf[BUFSIZE];`, `${indent(1)}strcpy(buf, argv[1]);`, '}']);
    for (const e of m.values())
      for (const d of e.demonstrativeExamples ?? [])
        for (const b of d.blocks) {
          // No trailing spaces, no tabs, no blank lines around the code.
          expect(b.code).not.toMatch(/[ \t]$|\t/m);
          expect(b.code).not.toMatch(/^\s*\n|\n\s*$/);
        }
  });
});

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CatalogProblem, type CweEntry, parsePackedEntries, readCweCatalog } from '@rescue/datasets';
import type { CweId } from '@rescue/domain';
import { TempDirs } from './helpers';

/** Our own invented catalogue rows in MITRE's CSV layout (23 header columns, rows end with a comma). */
const FIXTURE = join(__dirname, 'fixtures', 'cwe-mini.csv');

/** 1-based physical line of the first line starting with `prefix` in the fixture. */
function lineStarting(prefix: string): number {
  const i = readFileSync(FIXTURE, 'utf8')
    .split('\n')
    .findIndex((l) => l.startsWith(prefix));
  if (i < 0) throw new Error(`fixture has no line starting with ${prefix}`);
  return i + 1;
}

describe('readCweCatalog on a small fixture', () => {
  let entries: Map<CweId, CweEntry>;
  const problems: CatalogProblem[] = [];

  beforeAll(async () => {
    entries = await readCweCatalog(FIXTURE, (p) => problems.push(p));
  });

  it('keeps the good rows and skips the broken ones', () => {
    expect([...entries.keys()].sort()).toEqual(['CWE-4242', 'CWE-4243', 'CWE-4245']);
  });

  it('reports a bad id and a missing name with their lines (counting the multi-line row before them)', () => {
    expect(problems).toEqual([
      { line: lineStarting('not-a-cwe,'), field: 'CWE-ID', message: expect.stringContaining('not-a-cwe') },
      { line: lineStarting('4246,'), field: 'Name', message: expect.stringContaining('CWE-4246') },
    ]);
    // The fixture has a quoted multi-line cell in row 1, so the bad row is on physical line 5.
    expect(problems[0].line).toBe(5);
  });

  it('reads names, abstraction, description and the multi-line extended description', () => {
    const e = entries.get('CWE-4242')!;
    expect(e.id).toBe('CWE-4242');
    expect(e.name).toBe('Unchecked Widget Length');
    expect(e.abstraction).toBe('Base');
    expect(e.description).toBe('The widget copies a caller-supplied length without comparing it to the size of its buffer.');
    expect(e.extendedDescription).toBe('A widget that trusts the length field\ncan be made to write past its buffer.');
    expect(entries.get('CWE-4243')!.extendedDescription).toBeUndefined();
  });

  it('parses mitigations: phase, strategy, description with colons inside, effectiveness; drops entries without a description', () => {
    expect(entries.get('CWE-4242')!.mitigations).toEqual([
      {
        phase: 'Implementation',
        strategy: 'Input Validation',
        description: 'Check the length first: reject anything over the buffer size, note: no exceptions.',
        effectiveness: 'High',
      },
      {
        phase: 'Architecture and Design',
        strategy: undefined,
        description: 'Pick a widget library that tracks lengths for you.',
        effectiveness: 'Moderate',
      },
    ]);
    expect(entries.get('CWE-4245')!.mitigations).toEqual([{ phase: undefined, strategy: undefined, description: 'Guard the counter with a mutex.', effectiveness: undefined }]);
    expect(entries.get('CWE-4243')!.mitigations).toEqual([]);
  });

  it('takes ChildOf parents from view 1000 when present, Primary first, ignoring other relations', () => {
    // 4242: ChildOf 700 (view 699, Primary), 4240 (1000), 4241 (1000, Primary), CanPrecede 4250.
    expect(entries.get('CWE-4242')!.parents).toEqual(['CWE-4241', 'CWE-4240']);
    // Two primary parents keep their order.
    expect(entries.get('CWE-4245')!.parents).toEqual(['CWE-4243', 'CWE-4242']);
  });

  it('falls back to other views when the row has no ChildOf in view 1000', () => {
    // 4243: ChildOf 4299 in view 699 only; PeerOf 4242 is not a parent.
    expect(entries.get('CWE-4243')!.parents).toEqual(['CWE-4299']);
  });
});

describe('readCweCatalog edge cases', () => {
  const dirs = new TempDirs();
  afterAll(() => dirs.cleanup());

  it('strips a BOM, accepts "CWE-" ids and de-duplicates parents', async () => {
    const p = join(dirs.make('cwe'), 'bom.csv');
    writeFileSync(
      p,
      '\uFEFFCWE-ID,Name,Weakness Abstraction,Description,Related Weaknesses\r\n' +
        'CWE-0077,"Command Thing",Class,"d",::NATURE:ChildOf:CWE ID:74:VIEW ID:1000:ORDINAL:Primary::NATURE:ChildOf:CWE ID:74:VIEW ID:1000::\r\n',
    );
    const problems: CatalogProblem[] = [];
    const m = await readCweCatalog(p, (x) => problems.push(x));
    expect(problems).toEqual([]);
    expect(m.get('CWE-77')).toMatchObject({ id: 'CWE-77', name: 'Command Thing', parents: ['CWE-74'], mitigations: [] });
  });

  it('reports a row with more cells than the header (an unquoted comma) instead of dropping cells or rows silently', async () => {
    const p = join(dirs.make('cwe'), 'comma.csv');
    writeFileSync(
      p,
      'CWE-ID,Name,Description,Potential Mitigations,\n' +
        '1,"One",d,::PHASE:Implementation:DESCRIPTION:Quoted, fine::,\n' +
        '2,"Two",d,::PHASE:Implementation:DESCRIPTION:Check a, b and c::\n' +
        '3,"Three",d,"::PHASE:Implementation:DESCRIPTION:Quoted, fine::",\n',
    );
    const problems: CatalogProblem[] = [];
    const m = await readCweCatalog(p, (x) => problems.push(x));
    expect([...m.keys()]).toEqual(['CWE-3']);
    expect(m.get('CWE-3')?.mitigations.map((x) => x.description)).toEqual(['Quoted, fine']);
    expect(problems.map((x) => x.line)).toEqual([2, 3]);
    expect(problems[0].message).toMatch(/header has 4: put cells that contain commas/);
  });

  it('rejects for a missing file instead of hanging', async () => {
    // The file is opened (and checked to be a regular file) before any stream exists, so the
    // open's ENOENT is the answer, within a bound.
    const pending = readCweCatalog(join(dirs.make('cwe'), 'absent.csv'));
    const outcome = await Promise.race([
      pending.then(
        () => 'resolved',
        (err: NodeJS.ErrnoException) => `rejected ${err.code}`,
      ),
      new Promise<string>((resolve) => setTimeout(() => resolve('still pending'), 300)),
    ]);
    expect(outcome).toBe('rejected ENOENT');
  });
});

describe('parsePackedEntries', () => {
  const REL = ['NATURE', 'CWE ID', 'VIEW ID', 'ORDINAL'];

  it('splits ::-delimited entries into key maps, keys may contain spaces', () => {
    expect(parsePackedEntries('::NATURE:ChildOf:CWE ID:74:VIEW ID:1000:ORDINAL:Primary::NATURE:CanAlsoBe:CWE ID:88:VIEW ID:1000::', REL)).toEqual([
      { NATURE: 'ChildOf', 'CWE ID': '74', 'VIEW ID': '1000', ORDINAL: 'Primary' },
      { NATURE: 'CanAlsoBe', 'CWE ID': '88', 'VIEW ID': '1000' },
    ]);
  });

  it('keeps colons inside values when they are not followed by a known key', () => {
    expect(parsePackedEntries('::PHASE:Build:DESCRIPTION:Use flags: -O2 and -D_FORTIFY_SOURCE=2: always.:EFFECTIVENESS:Defense in Depth::', ['PHASE', 'DESCRIPTION', 'EFFECTIVENESS'])).toEqual([
      { PHASE: 'Build', DESCRIPTION: 'Use flags: -O2 and -D_FORTIFY_SOURCE=2: always.', EFFECTIVENESS: 'Defense in Depth' },
    ]);
    // An unknown key is just text of the value before it.
    expect(parsePackedEntries('NATURE:ChildOf:CHAIN ID:9', ['NATURE'])).toEqual([{ NATURE: 'ChildOf:CHAIN ID:9' }]);
  });

  it('prefers the longer key when one key is a prefix of another', () => {
    expect(parsePackedEntries('::EFFECTIVENESS:High:EFFECTIVENESS_NOTES:mostly::', ['EFFECTIVENESS_NOTES', 'EFFECTIVENESS'])).toEqual([{ EFFECTIVENESS: 'High', EFFECTIVENESS_NOTES: 'mostly' }]);
  });

  it('returns nothing for empty cells and trims values', () => {
    expect(parsePackedEntries('', REL)).toEqual([]);
    expect(parsePackedEntries('::::', REL)).toEqual([]);
    expect(parsePackedEntries(':: NATURE:ChildOf :CWE ID: 20 ::', REL)).toEqual([{ NATURE: 'ChildOf', 'CWE ID': '20' }]);
  });

  it('keeps "::" inside a value such as std::unique_ptr', () => {
    expect(parsePackedEntries('::PHASE:Implementation:DESCRIPTION:Use std::unique_ptr for ownership.::', ['PHASE', 'DESCRIPTION'])).toEqual([
      { PHASE: 'Implementation', DESCRIPTION: 'Use std::unique_ptr for ownership.' },
    ]);
  });
});

import { diffChangedLines, fixRecordId } from '@rescue/datasets';
import type { FixRecord, Language } from '@rescue/domain';
import { type RecordSlice, Slicer } from '@rescue/slicing';
import { sliceOrFail } from './helpers';

// One vulnerable/fixed pair per language, each sliced and compared with the exact set of lines the
// algorithm keeps (paper §3.4): the points of interest (deleted lines in the vulnerable version,
// added lines in the fixed one), every statement within h data/control edges of them backward and
// forward, the lines of every enclosing statement (signature, block headers, closing braces), and
// cross-completion through the lines the diff leaves unchanged. Every fixture also holds statements
// with no dependence on the change, which must be dropped.
//
// Where each behaviour is checked:
//   - data dependence through reassignment (the killed definition is dropped) ....... C
//   - reaching definitions through both branches of an if/else ....................... Python, Ruby
//   - control dependence through nested blocks (if inside a loop: headers and braces) . Java
//   - unrelated statements dropped, with an elision comment in the code .............. C (`// ...`),
//                                                                                     Python and Ruby (`# ...`)
//   - cross-completion through unchanged lines, in both directions, with shifted lines Go;
//     and a fix-only patch (no deleted line) whose vulnerable slice comes from it ...... C++
//   - forward slicing (a later statement reading a variable the POI defines) ......... JavaScript,
//                                                                                     TypeScript, Ruby (two hops at h=2)
//   - the function signature is always kept .......................................... every language (line 1 in
//                                                                                     every expected array); JavaScript
//                                                                                     and TypeScript keep it only
//                                                                                     through the enclosing-statement closure
//   - an early-exit guard before a POI is kept ........................................ C, TypeScript
//   - a changed guard does not pull in the statements after it ........................ C++

/** Joins source lines with a final newline (line i of the array is line i + 1 of the code). */
const src = (...lines: string[]): string => `${lines.join('\n')}\n`;

function fixRecord(language: Language, before: string, after: string): FixRecord {
  return {
    id: fixRecordId(language, 'CWE-89', before, after),
    language,
    cwe: 'CWE-89',
    before,
    after,
    // The changed lines are exactly the diff's, so they agree with the alignment that
    // cross-completion uses.
    changedLines: { ...diffChangedLines(before, after), source: 'dataset' },
    origin: { file: 't', line: 1, format: 'generic' },
  };
}

describe('Slicer: exact slices per language', () => {
  let slicer: Slicer;

  beforeAll(async () => {
    slicer = await Slicer.create();
  });

  const slice = (record: FixRecord, hops: number): Promise<RecordSlice> => sliceOrFail(slicer, record, hops);

  describe('c', () => {
    // CWE-125: the index is not checked against the table size.
    const before = src(
      'int read_item(const int *table, int idx, int size) {', //  1 signature
      '    int pos = 0;', //                                          2 killed by line 9
      '    int hits = 0;', //                                         3 unrelated
      '    if (table == NULL) {', //                                  4 early-exit guard
      '        return -1;', //                                        5
      '    }', //                                                     6
      '    hits = hits + 1;', //                                      7 unrelated
      '    pos = size - 1;', //                                       8 killed by line 9
      '    pos = idx;', //                                            9 the definition of pos that reaches line 11
      '    log_hits(hits);', //                                      10 unrelated
      '    return table[pos];', //                                   11 POI
      '}', //                                                        12
    );
    const after = before.replace('return table[pos];', 'return table[pos % size];');

    it('keeps the last definition of a reassigned variable and the guard before the POI; drops the rest (h=2)', async () => {
      const record = fixRecord('c', before, after);
      expect(record.changedLines.deleted).toEqual([11]);
      expect(record.changedLines.added).toEqual([11]);
      const s = await slice(record, 2);
      // Backward from line 11: `pos` is defined by line 9 only (line 9 kills lines 2 and 8), `table`
      // by the parameters, and line 11 follows the guard on line 4 (guard edge). Line 9 reads `idx`
      // (a parameter); the guard reads `table` (a parameter). Nothing depends forward on line 11.
      // The guard statement shows its own lines: header and closing brace (its `return` is a
      // nested statement of its own, not reached).
      expect(s.vulnerable.lines).toEqual([1, 4, 6, 9, 11, 12]);
      expect(s.secure.lines).toEqual([1, 4, 6, 9, 11, 12]);
      expect(s.vulnerable.poi).toEqual([11]);
      expect(s.vulnerable.code).toBe(
        src(
          'int read_item(const int *table, int idx, int size) {',
          '    // ...',
          '    if (table == NULL) {',
          '    // ...',
          '    }',
          '    // ...',
          '    pos = idx;',
          '    // ...',
          '    return table[pos];',
          '}',
        ).trimEnd(),
      );
      expect(s.vulnerable.code).not.toContain('pos = size - 1;');
      expect(s.vulnerable.code).not.toContain('hits');
      expect(s.secure.code).toContain('return table[pos % size];');
    });

    it('keeps a single-line early-exit guard before the POI', async () => {
      const guarded = src(
        'int read_item(const int *table, int idx, int size) {', // 1
        '    int pos = 0;', //                                      2
        '    if (table == NULL) return -1;', //                     3 early-exit guard
        '    pos = idx;', //                                        4
        '    return table[pos];', //                                5 POI
        '}', //                                                     6
      );
      const s = await slice(fixRecord('c', guarded, guarded.replace('table[pos]', 'table[pos % size]')), 2);
      expect(s.vulnerable.lines).toEqual([1, 3, 4, 5, 6]);
      expect(s.secure.lines).toEqual([1, 3, 4, 5, 6]);
    });

    it('a break inside a loop does not make the loop a guard for the statements after it', async () => {
      const summing = src(
        'int sum(const int *a, int n) {', // 1
        '    int total = 0;', //               2
        '    int i;', //                       3
        '    for (i = 0; i < n; i++) {', //    4
        '        if (a[i] < 0) {', //          5
        '            break;', //               6
        '        }', //                        7
        '        total += a[i];', //           8
        '    }', //                            9
        '    int extra = 5;', //              10
        '    return extra * 2;', //           11 POI
        '}', //                               12
      );
      const s = await slice(fixRecord('c', summing, summing.replace('extra * 2', 'extra * 3')), 2);
      expect(s.vulnerable.lines).toEqual([1, 10, 11, 12]);
      expect(s.secure.lines).toEqual([1, 10, 11, 12]);
    });
  });

  describe('compound assignment (c, cpp, java, go)', () => {
    const compound: [Language, string, string, string][] = [
      ['c', 'int f(int base, int extra) {', '    int total = base;', '    int unused = 0;'],
      ['cpp', 'int f(int base, int extra) {', '    int total = base;', '    int unused = 0;'],
      ['java', 'int f(int base, int extra) {', '    int total = base;', '    int unused = 0;'],
      ['go', 'func f(base int, extra int) int {', '    total := base', '    unused := 0'],
    ];
    it.each(compound)('%s: a compound assignment reads the variable it updates', async (language, header, init, unused) => {
      const end = language === 'go' ? '' : ';';
      const b = src(header, init, unused, `    total += extra${end}`, `    return total${end}`, '}');
      const s = await slice(fixRecord(language, b, b.replace('return total', 'return total * 2')), 2);
      expect(s.vulnerable.lines).toEqual([1, 2, 4, 5, 6]);
      expect(s.secure.lines).toEqual([1, 2, 4, 5, 6]);
    });
  });

  describe('cpp', () => {
    // CWE-125, fixed by adding a bounds check: a fix-only patch, so the vulnerable version has no
    // POI and takes its slice from cross-completion alone.
    const before = src(
      'std::string load(const std::vector<std::string> &names, size_t i) {', // 1
      '    std::string prefix = "item:";', //                                   2
      '    int lookups = 0;', //                                                3
      '    lookups++;', //                                                      4
      '    std::string name = names[i];', //                                    5
      '    std::string result = prefix + name;', //                             6
      '    record(lookups);', //                                                7
      '    return result;', //                                                  8
      '}', //                                                                   9
    );
    const after = src(
      'std::string load(const std::vector<std::string> &names, size_t i) {', //  1
      '    std::string prefix = "item:";', //                                     2
      '    int lookups = 0;', //                                                  3
      '    lookups++;', //                                                        4
      '    if (i >= names.size()) {', //                                          5 POI: the new guard
      '        throw std::out_of_range("index");', //                             6 POI
      '    }', //                                                                 7 POI
      '    std::string name = names[i];', //                                      8 runs only past the guard
      '    std::string result = prefix + name;', //                               9
      '    record(lookups);', //                                                 10
      '    return result;', //                                                   11
      '}', //                                                                   12
    );

    it('a changed guard keeps its own body but does not pull in the statements after it (h=1 and h=2)', async () => {
      const record = fixRecord('cpp', before, after);
      expect(record.changedLines).toEqual({ deleted: [], added: [5, 6, 7], source: 'dataset' });
      for (const hops of [1, 2]) {
        const s = await slice(record, hops);
        // The guard reads the parameters (backward to the signature) and controls the throw
        // (forward). Lines 8–11 have a guard edge to line 5, followed backward only, so they stay out.
        expect(s.secure.lines).toEqual([1, 5, 6, 7, 12]);
        // Empty vulnerable POI: the signature and closing brace come over from the secure slice
        // through the unchanged lines (after 1 → before 1, after 12 → before 9).
        expect(s.vulnerable.poi).toEqual([]);
        expect(s.vulnerable.lines).toEqual([1, 9]);
        expect(s.vulnerable.code).toBe(src('std::string load(const std::vector<std::string> &names, size_t i) {', '// ...', '}').trimEnd());
      }
    });
  });

  describe('python', () => {
    // CWE-89: a query built by concatenation, fixed with a bound parameter.
    const before = src(
      'def fetch_user(db, user_id, admin):', //                                            1
      '    audit = []', //                                                                   2 unrelated
      '    if admin:', //                                                                    3
      '        table = "admins"', //                                                         4 reaches line 8
      '    else:', //                                                                        5
      '        table = "users"', //                                                          6 reaches line 8
      '    audit.append(user_id)', //                                                        7 unrelated
      '    query = "SELECT * FROM " + table + " WHERE id = " + user_id', //                  8 POI
      '    print(len(audit))', //                                                            9 unrelated
      '    return db.execute(query)', //                                                    10 POI
    );
    const after = src(
      'def fetch_user(db, user_id, admin):',
      '    audit = []',
      '    if admin:',
      '        table = "admins"',
      '    else:',
      '        table = "users"',
      '    audit.append(user_id)',
      '    query = "SELECT * FROM " + table + " WHERE id = ?"',
      '    print(len(audit))',
      '    return db.execute(query, (user_id,))',
    );

    it('keeps the definitions from both branches of an if/else and elides the unrelated statements (h=1 and h=2)', async () => {
      const record = fixRecord('python', before, after);
      expect(record.changedLines.deleted).toEqual([8, 10]);
      expect(record.changedLines.added).toEqual([8, 10]);
      for (const hops of [1, 2]) {
        const s = await slice(record, hops);
        // Line 8 reads `table`, defined on both branches (lines 4 and 6): both reach it. The
        // branches bring in the `if` (3) and the `else` (5) as enclosing statements. Lines 2, 7
        // and 9 touch only `audit`.
        expect(s.vulnerable.lines).toEqual([1, 3, 4, 5, 6, 8, 10]);
        expect(s.secure.lines).toEqual([1, 3, 4, 5, 6, 8, 10]);
        expect(s.vulnerable.code).toBe(
          src(
            'def fetch_user(db, user_id, admin):',
            '    # ...',
            '    if admin:',
            '        table = "admins"',
            '    else:',
            '        table = "users"',
            '    # ...',
            '    query = "SELECT * FROM " + table + " WHERE id = " + user_id',
            '    # ...',
            '    return db.execute(query)',
          ).trimEnd(),
        );
        expect(s.secure.code).not.toContain('audit');
        expect(s.vulnerable.valid).toBe(true);
        expect(s.secure.valid).toBe(true);
      }
    });

    it('a definition redefined on both branches of an if/else is killed', async () => {
      const b = src(
        'def table_for(db, admin):', //                         1
        '    table = "guests"', //                              2 killed on both paths
        '    if admin:', //                                     3
        '        table = "admins"', //                          4
        '    else:', //                                         5
        '        table = "users"', //                           6
        '    return db.query("SELECT * FROM " + table)', //     7 POI
      );
      const s = await slice(fixRecord('python', b, b.replace('"SELECT * FROM " + table', '"SELECT * FROM %s", table')), 2);
      expect(s.vulnerable.lines).toEqual([1, 3, 4, 5, 6, 7]);
      expect(s.secure.lines).toEqual([1, 3, 4, 5, 6, 7]);
    });

    it('keeps the with header that defines the variable the POI reads', async () => {
      const b = src(
        'def read_file(name):', //               1
        '    path = "/data/" + name', //         2
        '    count = 0', //                      3
        '    with open(path) as fh:', //         4 defines fh
        '        data = fh.read()', //           5 POI
        '    count += 1', //                     6
        '    return data', //                    7
      );
      const s = await slice(fixRecord('python', b, b.replace('fh.read()', 'fh.read(4096)')), 1);
      expect(s.vulnerable.lines).toEqual([1, 4, 5, 7]);
      expect(s.secure.lines).toEqual([1, 4, 5, 7]);
    });
  });

  describe('javascript', () => {
    // CWE-79: unescaped values in generated HTML.
    const before = src(
      'function buildLink(req, res) {', //                                         1
      '  const started = Date.now();', //                                          2 unrelated
      '  const target = req.query.next;', //                                       3
      "  const label = 'Continue';", //                                            4
      "  const html = '<a href=\"' + target + '\">' + label + '</a>';", //         5 POI: defines html
      "  audit('link built');", //                                                 6 unrelated
      "  res.setHeader('Content-Type', 'text/html');", //                          7 unrelated
      '  res.send(html);', //                                                      8 reads html (forward)
      '  metrics.record(Date.now() - started);', //                                9 unrelated
      '}', //                                                                     10
    );
    const after = before.replace("' + target + '", "' + encodeURI(target) + '").replace("' + label + '", "' + escapeHtml(label) + '");

    it('keeps, by forward slicing, a later statement reading the variable the POI defines (h=1 and h=2)', async () => {
      const record = fixRecord('javascript', before, after);
      expect(record.changedLines.deleted).toEqual([5]);
      expect(record.changedLines.added).toEqual([5]);
      for (const hops of [1, 2]) {
        const s = await slice(record, hops);
        // Backward: `target` (3) and `label` (4). Forward: `html` is read on line 8. At h=2, line 3
        // adds the signature (it reads `req`), which the enclosing-statement closure keeps anyway.
        // Line 7 calls a method of `res` but defines nothing, so line 8 does not depend on it.
        expect(s.vulnerable.lines).toEqual([1, 3, 4, 5, 8, 10]);
        expect(s.secure.lines).toEqual([1, 3, 4, 5, 8, 10]);
        expect(s.vulnerable.code).not.toContain('started');
      }
    });

    it('keeps the signature of a class method given without its class', async () => {
      const b = src(
        'render(data) {', //                                  1
        '  const x = 1;', //                                  2
        "  const html = '<p>' + data + '</p>';", //           3 POI
        '  log(x);', //                                       4
        '  this.el.innerHTML = html;', //                     5
        '}', //                                               6
      );
      const s = await slice(fixRecord('javascript', b, b.replace("' + data + '", "' + escape(data) + '")), 1);
      expect(s.vulnerable.lines).toEqual([1, 3, 5, 6]);
      expect(s.vulnerable.valid).toBe(true);
    });
  });

  describe('typescript', () => {
    // CWE-79 again, in a typed function with an early-exit guard before the POI.
    const before = src(
      'function renderComment(comment: Comment, viewer: User): string {', //        1
      '  const started = performance.now();', //                                    2 unrelated
      '  if (!comment.visible) {', //                                               3 early-exit guard
      "    return '';", //                                                            4
      '  }', //                                                                     5
      '  const body = comment.text;', //                                            6
      '  const author = comment.author;', //                                        7
      '  trackRender(viewer.id);', //                                               8 unrelated
      '  const html = `<p>${body}</p><span>${author}</span>`;', //                  9 POI
      '  logTiming(performance.now() - started);', //                              10 unrelated
      '  return html;', //                                                         11 reads html (forward)
      '}', //                                                                      12
    );
    const after = before.replace('<p>${body}</p><span>${author}</span>', '<p>${escapeHtml(body)}</p><span>${escapeHtml(author)}</span>');

    it('keeps the guard before the POI, the definitions it reads and the return that reads it (h=1 and h=2)', async () => {
      const record = fixRecord('typescript', before, after);
      expect(record.changedLines.deleted).toEqual([9]);
      for (const hops of [1, 2]) {
        const s = await slice(record, hops);
        // Backward: 6 and 7 (the template reads body and author), the guard header 3 and its brace
        // 5 (guard edge). Forward: 11 returns html. Lines 2, 8 and 10 are dropped, and so is the
        // guard's nested `return` (line 4), which is not on any dependence path.
        expect(s.vulnerable.lines).toEqual([1, 3, 5, 6, 7, 9, 11, 12]);
        expect(s.secure.lines).toEqual([1, 3, 5, 6, 7, 9, 11, 12]);
        expect(s.secure.code.split('\n')[0]).toBe('function renderComment(comment: Comment, viewer: User): string {');
      }
    });

    const wrapped: [Language, string, string][] = [
      [
        'typescript',
        src('export function f(a: any, b: number) {', '  const x = 1;', '  const y = a + 1;', '  log(x);', '  return y;', '}'),
        src('export function f(a: string, b: number) {', '  const x = 1;', '  const y = a + 1;', '  log(x);', '  return y;', '}'),
      ],
      [
        'javascript',
        src('const f = (a, b) => {', '  const x = 1;', '  const y = a + 1;', '  log(x);', '  return y;', '};'),
        src('const f = (a, c) => {', '  const x = 1;', '  const y = a + 1;', '  log(x);', '  return y;', '};'),
      ],
      [
        'python',
        src("@app.route('/r')", 'def f(a, b):', '    x = 1', '    y = a + 1', '    log(x)', '    return y'),
        src("@app.route('/r')", 'def f(a, c):', '    x = 1', '    y = a + 1', '    log(x)', '    return y'),
      ],
    ];

    it('a changed signature keeps only the statements reading the parameters (unwrapped function, reference)', async () => {
      const plain = src('function f(a: any, b: number) {', '  const x = 1;', '  const y = a + 1;', '  log(x);', '  return y;', '}');
      const s = await slice(fixRecord('typescript', plain, plain.replace('a: any', 'a: string')), 1);
      expect(s.vulnerable.lines).toEqual([1, 3, 6]);
      expect(s.secure.lines).toEqual([1, 3, 6]);
    });

    it.each(wrapped)('%s: a changed signature of a wrapped function keeps only the statements reading the parameters', async (language, b, a) => {
      const s = await slice(fixRecord(language, b, a), 1);
      const text = (n: number): string => b.split('\n')[n - 1].trim();
      const kept = s.vulnerable.lines.map(text);
      expect(kept).toContain(language === 'python' ? 'y = a + 1' : 'const y = a + 1;');
      expect(kept).not.toContain(language === 'python' ? 'log(x)' : 'log(x);');
      expect(kept).not.toContain(language === 'python' ? 'x = 1' : 'const x = 1;');
    });
  });

  describe('java', () => {
    // CWE-22: a file name from the request used as a path below the base directory.
    const before = src(
      'public void deleteFiles(List<String> names, File baseDir) {', // 1
      '    int removed = 0;', //                                         2 unrelated
      '    String prefix = "tmp-";', //                                  3 read by the if on line 6
      '    for (String name : names) {', //                              4 loop header, defines name
      '        removed++;', //                                           5 unrelated
      '        if (name.startsWith(prefix)) {', //                       6 if header
      '            File target = new File(baseDir, name);', //           7 POI
      '            target.delete();', //                                 8 reads target (forward)
      '        }', //                                                    9
      '    }', //                                                       10
      '    System.out.println("removed " + removed);', //               11 unrelated
      '}', //                                                          12
    );
    const after = before.replace('new File(baseDir, name)', 'new File(baseDir, Paths.get(name).getFileName().toString())');

    it('keeps the headers and closing braces of the if and the loop around the POI (h=1)', async () => {
      const record = fixRecord('java', before, after);
      expect(record.changedLines.deleted).toEqual([7]);
      const s = await slice(record, 1);
      // Line 7 is control dependent on the if (6), which is nested in the loop (4); both headers
      // and their closing braces (9, 10) are kept, with the signature and its brace. Line 8 reads
      // target (forward). Line 3 is two hops away (POI ← if ← prefix) and stays out at h=1.
      expect(s.vulnerable.lines).toEqual([1, 4, 6, 7, 8, 9, 10, 12]);
      expect(s.secure.lines).toEqual([1, 4, 6, 7, 8, 9, 10, 12]);
      expect(s.vulnerable.valid).toBe(true);
    });

    it('at h=2 also keeps the definition the if header reads (h=2)', async () => {
      const s = await slice(fixRecord('java', before, after), 2);
      expect(s.vulnerable.lines).toEqual([1, 3, 4, 6, 7, 8, 9, 10, 12]);
      expect(s.secure.lines).toEqual([1, 3, 4, 6, 7, 8, 9, 10, 12]);
      expect(s.vulnerable.code).not.toContain('removed');
    });
  });

  describe('go', () => {
    // CWE-89: a query formatted with the user's input, fixed with placeholders; the fix also adds a
    // guard at the top, so the unchanged lines move down by three in the fixed version.
    const before = src(
      'func findUser(db *sql.DB, name string) (*sql.Rows, error) {', //                        1
      '\tstart := time.Now()', //                                                             2 unrelated
      '\ttable := "users"', //                                                                3 read by line 5 (vulnerable only)
      '\tlimit := 10', //                                                                     4 read by the fixed query only
      '\tquery := fmt.Sprintf("SELECT * FROM %s WHERE name = \'%s\'", table, name)', //       5 POI
      '\tlog.Printf("lookup took %v", time.Since(start))', //                                 6 unrelated
      '\treturn db.Query(query)', //                                                          7 POI
      '}', //                                                                                 8
    );
    const after = src(
      'func findUser(db *sql.DB, name string) (*sql.Rows, error) {', //                        1
      '\tif name == "" {', //                                                                 2 POI
      '\t\treturn nil, errEmptyName', //                                                      3 POI
      '\t}', //                                                                               4 POI
      '\tstart := time.Now()', //                                                             5 unrelated
      '\ttable := "users"', //                                                                6 = before 3
      '\tlimit := 10', //                                                                     7 = before 4
      '\tquery := "SELECT * FROM users WHERE name = ? LIMIT ?"', //                           8 POI
      '\tlog.Printf("lookup took %v", time.Since(start))', //                                 9 unrelated
      '\treturn db.Query(query, name, limit)', //                                            10 POI
      '}', //                                                                                11
    );

    it('cross-completes both slices through the unchanged lines (h=1 and h=2)', async () => {
      const record = fixRecord('go', before, after);
      expect(record.changedLines.deleted).toEqual([5, 7]);
      expect(record.changedLines.added).toEqual([2, 3, 4, 8, 10]);
      for (const hops of [1, 2]) {
        const s = await slice(record, hops);
        // Vulnerable on its own: 5 (reads table from 3, name from the signature), 7 (reads query
        // from 5) → {1, 3, 5, 7, 8}. Secure on its own: the guard 2–4, 8, 10 (reads limit from 7)
        // → {1, 2, 3, 4, 7, 8, 10, 11}. Cross-completion: before 3 (`table`) ↦ after 6, and
        // after 7 (`limit`) ↦ before 4, although neither is a dependence in the other version.
        expect(s.vulnerable.lines).toEqual([1, 3, 4, 5, 7, 8]);
        expect(s.secure.lines).toEqual([1, 2, 3, 4, 6, 7, 8, 10, 11]);
        expect(s.vulnerable.code).not.toContain('start');
        expect(s.secure.code).not.toContain('start');
      }
    });
  });

  describe('ruby', () => {
    // CWE-22: a file name joined to a directory without stripping its path.
    const before = src(
      'def read_report(params, base)', //                 1
      '  started = Time.now', //                          2 unrelated
      '  if params[:kind] == "daily"', //                 3
      '    dir = File.join(base, "daily")', //            4 reaches line 9
      '  else', //                                        5
      '    dir = File.join(base, "monthly")', //          6 reaches line 9
      '  end', //                                         7
      '  logger.info("report")', //                       8 unrelated
      '  path = File.join(dir, params[:name])', //        9 POI
      '  content = File.read(path)', //                  10 reads path: one hop forward
      '  puts(Time.now - started)', //                   11 unrelated
      '  content', //                                    12 reads content: two hops forward
      'end', //                                          13
    );
    const after = before.replace('File.join(dir, params[:name])', 'File.join(dir, File.basename(params[:name]))');

    it('keeps both branch definitions, with if/else/end, and one forward hop at h=1', async () => {
      const s = await slice(fixRecord('ruby', before, after), 1);
      expect(s.vulnerable.lines).toEqual([1, 3, 4, 5, 6, 7, 9, 10, 13]);
      expect(s.secure.lines).toEqual([1, 3, 4, 5, 6, 7, 9, 10, 13]);
      expect(s.vulnerable.code).toContain('  # ...\n  path = File.join(dir, params[:name])');
    });

    it('follows the forward chain a second hop at h=2', async () => {
      const s = await slice(fixRecord('ruby', before, after), 2);
      expect(s.vulnerable.lines).toEqual([1, 3, 4, 5, 6, 7, 9, 10, 12, 13]);
      expect(s.secure.lines).toEqual([1, 3, 4, 5, 6, 7, 9, 10, 12, 13]);
      expect(s.secure.code).not.toContain('started');
      expect(s.secure.code).not.toContain('logger');
    });
  });
});

describe('Slicer.prepare: a batch readies its languages first', () => {
  const records = (): FixRecord[] => [
    fixRecord('c', src('int f(int a) {', '    return g(a);', '}'), src('int f(int a) {', '    return h(a);', '}')),
    fixRecord('cpp', src('int f(int a) {', '    return g(a);', '}'), src('int f(int a) {', '    return h(a);', '}')),
    fixRecord('javascript', src('function f(a) {', '  return eval(a);', '}'), src('function f(a) {', '  return JSON.parse(a);', '}')),
    fixRecord('python', src('def f(a):', '    return eval(a)'), src('def f(a):', '    return int(a)')),
  ];

  it('slices records of several languages alike with or without it; a language it cannot load still fails per record', async () => {
    const unknown = { ...records()[0], language: 'cobol' as Language };
    const prepared = await Slicer.create();
    await prepared.prepare([...records().map((r) => r.language), unknown.language]);
    const plain = await Slicer.create();
    for (const r of records()) expect(await prepared.sliceRecord(r, 2)).toEqual(await plain.sliceRecord(r, 2));
    expect(await prepared.sliceRecord(unknown, 2)).toMatchObject({ ok: false, failure: { failureClass: 'unsupported_language' } });
  });

  it('Slicer.loadGrammars (what the inline build calls when slicing threads start) loads every grammar and its queries, skips an unknown language, and slices as before', async () => {
    const [record] = records();
    const holding = await Slicer.create();
    await holding.loadGrammars();
    await holding.loadGrammars(['cpp', 'cobol' as Language]);
    const plain = await Slicer.create();
    expect(await holding.sliceRecord(record, 2)).toEqual(await plain.sliceRecord(record, 2));
    expect((await holding.sliceRecord(record, 2)).ok).toBe(true);
  });
});

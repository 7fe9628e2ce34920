import type { FixRecord, Language } from '@rescue/domain';
import { type ApiCall, SliceFailure, Slicer, normalizeCallee } from '@rescue/slicing';

const src = (...lines: string[]): string => `${lines.join('\n')}\n`;

describe('normalizeCallee', () => {
  it.each([
    ['Runtime.getRuntime().exec', 'Runtime.getRuntime.exec'],
    ['p->ops->read', 'p.ops.read'],
    ['std::make_unique<T>', 'std.make_unique'],
    ['std::map<int, std::vector<int>>::find', 'std.map.find'],
    [' foo . bar ( x ) ', 'foo.bar'],
    ['foo\n  .bar\n  .baz', 'foo.bar.baz'],
    ['obj[0].run', 'obj.run'],
    ['fetch(url).then', 'fetch.then'],
    ['a?.b', 'a.b'],
    ['&handler', 'handler'],
    ['*fp', 'fp'],
    ['x..y.', 'x.y'],
    ['strcpy', 'strcpy'],
  ])('%j → %j', (text, expected) => {
    expect(normalizeCallee(text)).toBe(expected);
  });

  it('names a call on a string literal by the literal type', () => {
    expect(normalizeCallee('", ".join')).toBe('str.join');
    expect(normalizeCallee("'a,b'.split")).toBe('str.split');
    expect(normalizeCallee('f"{x}".format')).toBe('str.format');
  });

  it('drops a callee that is only a parenthesized expression', () => {
    expect(normalizeCallee('(*fp)')).toBe('');
  });

  it('caps the result at 200 characters', () => {
    expect(normalizeCallee(`a.${'b'.repeat(300)}`)).toHaveLength(200);
  });

  it('an arrow operator inside an index does not close the index', () => {
    expect(normalizeCallee('handlers[dev->type].open')).toBe('handlers.open');
    expect(normalizeCallee('callbacks[p->idx]')).toBe('callbacks');
  });
});

describe('Slicer.apiCalls', () => {
  let slicer: Slicer;

  beforeAll(async () => {
    slicer = await Slicer.create();
  });

  // Every call of each snippet, in source order, de-duplicated by callee.
  const cases: [Language, string, ApiCall[]][] = [
    [
      'python',
      src('def load_config(path):', '    with open(path) as f:', '        data = yaml.load(f.read())', '    os.system("ls " + path)', '    return data.get("x", default=1)'),
      [
        { callee: 'open', name: 'open' },
        { callee: 'yaml.load', name: 'load' },
        { callee: 'f.read', name: 'read' },
        { callee: 'os.system', name: 'system' },
        { callee: 'data.get', name: 'get' },
      ],
    ],
    [
      'c',
      src('int copy(char *a, const char *b, struct file *p) {', '    strcpy(a, b);', '    strcpy(a + 1, b);', '    p->ops->read(p, 1);', '    return printf("%s", a);', '}'),
      [
        { callee: 'strcpy', name: 'strcpy' },
        { callee: 'p.ops.read', name: 'read' },
        { callee: 'printf', name: 'printf' },
      ],
    ],
    [
      'cpp',
      src('void run(const std::string &s) {', '    auto p = std::make_unique<Widget>(s);', '    Foo *q = new Foo(1);', '    p->start(s.c_str());', '    std::system(s.c_str());', '}'),
      [
        { callee: 'std.make_unique', name: 'make_unique' },
        { callee: 'Foo', name: 'Foo' },
        { callee: 'p.start', name: 'start' },
        { callee: 's.c_str', name: 'c_str' },
        { callee: 'std.system', name: 'system' },
      ],
    ],
    [
      'javascript',
      src('function run(cmd) {', '  child_process.exec(cmd);', '  const u = new URL(cmd);', '  obj?.method(1);', '  return fetch(u).then((r) => r.json());', '}'),
      [
        { callee: 'child_process.exec', name: 'exec' },
        { callee: 'URL', name: 'URL' },
        { callee: 'obj.method', name: 'method' },
        { callee: 'fetch.then', name: 'then' },
        { callee: 'fetch', name: 'fetch' },
        { callee: 'r.json', name: 'json' },
      ],
    ],
    [
      'typescript',
      src('function run(cmd: string): void {', '  const seen = new Map<string, number>();', '  child_process.execSync(cmd);', '  parse<Options>(cmd);', '  this.repo.save(seen);', '}'),
      [
        { callee: 'Map', name: 'Map' },
        { callee: 'child_process.execSync', name: 'execSync' },
        { callee: 'parse', name: 'parse' },
        { callee: 'this.repo.save', name: 'save' },
      ],
    ],
    [
      'java',
      src(
        'class Runner {',
        '  void run(String s) throws Exception {',
        '    Runtime.getRuntime().exec(s);',
        '    File f = new File(s);',
        '    stmt.executeQuery("SELECT " + s);',
        '    helper(s);',
        '  }',
        '}',
      ),
      [
        { callee: 'Runtime.getRuntime.exec', name: 'exec' },
        { callee: 'Runtime.getRuntime', name: 'getRuntime' },
        { callee: 'File', name: 'File' },
        { callee: 'stmt.executeQuery', name: 'executeQuery' },
        { callee: 'helper', name: 'helper' },
      ],
    ],
    [
      'go',
      src('func find(db *sql.DB, q string) {', '\trows, _ := db.Query(q)', '\tdefer rows.Close()', '\texec.Command("sh", "-c", q).Run()', '\tfmt.Println(len(q))', '}'),
      [
        { callee: 'db.Query', name: 'Query' },
        { callee: 'rows.Close', name: 'Close' },
        { callee: 'exec.Command.Run', name: 'Run' },
        { callee: 'exec.Command', name: 'Command' },
        { callee: 'fmt.Println', name: 'Println' },
        { callee: 'len', name: 'len' },
      ],
    ],
    [
      'ruby',
      src('def show(p)', '  system("ls")', '  data = File.read(p)', '  puts data', '  Foo::Bar.new(1)', 'end'),
      [
        { callee: 'system', name: 'system' },
        { callee: 'File.read', name: 'read' },
        { callee: 'puts', name: 'puts' },
        { callee: 'Foo.Bar.new', name: 'new' },
      ],
    ],
  ];

  it.each(cases)('%s: extracts every call, in order, once per callee', async (language, code, expected) => {
    expect(await slicer.apiCalls(language, code)).toEqual(expected);
  });

  it.each([
    ['python', 'yaml.load(x)\n', { callee: 'yaml.load', name: 'load' }],
    ['c', 'void f(char *a, char *b) { strcpy(a, b); }\n', { callee: 'strcpy', name: 'strcpy' }],
    ['javascript', 'child_process.exec(cmd);\n', { callee: 'child_process.exec', name: 'exec' }],
    ['javascript', 'const x = new Foo();\n', { callee: 'Foo', name: 'Foo' }],
    ['java', 'class A { void f(String s) { Runtime.getRuntime().exec(s); } }\n', { callee: 'Runtime.getRuntime.exec', name: 'exec' }],
    ['go', 'func f() { db.Query(q) }\n', { callee: 'db.Query', name: 'Query' }],
    ['ruby', 'system("ls")\n', { callee: 'system', name: 'system' }],
    ['ruby', 'File.read(p)\n', { callee: 'File.read', name: 'read' }],
    ['typescript', 'const r: Response = await fetch(url);\n', { callee: 'fetch', name: 'fetch' }],
    ['cpp', 'int main() { std::system(cmd); }\n', { callee: 'std.system', name: 'system' }],
  ] as [Language, string, ApiCall][])('%s: %j contains %j', async (language, code, call) => {
    expect(await slicer.apiCalls(language, code)).toContainEqual(call);
  });

  const calleesOf = async (language: Language, code: string): Promise<string[]> => (await slicer.apiReferences(language, code)).map((c) => c.callee);

  it.each([
    [
      'python',
      src('import os, yaml', 'from flask import Flask, send_file as sf', 'from xml.etree import ElementTree', 'x = 1'),
      ['os', 'yaml', 'flask', 'Flask', 'send_file', 'sf', 'xml.etree', 'ElementTree'],
    ],
    ['javascript', src("const cp = require('child_process');", "import express from 'express';", "import { readFile } from 'node:fs/promises';"), ['child_process', 'express', 'fs.promises']],
    ['typescript', src("import * as crypto from 'crypto';", 'let n: number = 1;'), ['crypto']],
    ['java', src('import javax.xml.parsers.DocumentBuilderFactory;', 'import static java.lang.Math.max;', 'class A {}'), ['javax.xml.parsers.DocumentBuilderFactory', 'java.lang.Math.max']],
    ['go', src('package main', 'import (', '\t"crypto/tls"', '\t"net/http"', ')'), ['crypto.tls', 'net.http']],
    ['c', src('#include <stdio.h>', '#include "libxml/parser.h"', 'int x;'), ['stdio', 'libxml.parser']],
    ['cpp', src('#include <openssl/evp.h>', 'int x;'), ['openssl.evp']],
    ['ruby', src("require 'yaml'", "require_relative 'lib/util'", 'x = 1'), ['yaml', 'lib.util']],
  ] as [Language, string, string[]][])('%s: imported modules are API references too', async (language, code, expected) => {
    const callees = await calleesOf(language, code);
    for (const module of expected) expect(callees).toContain(module);
    // `require` itself is a call, but a module name never is reported twice.
    expect(new Set(callees).size).toBe(callees.length);
  });

  it('reports calls and imports from one parse, calls first', async () => {
    const refs = await slicer.apiReferences('python', src('import subprocess', 'def f(cmd):', '    return subprocess.run(cmd, shell=True)'));
    expect(refs).toEqual([
      { callee: 'subprocess.run', name: 'run' },
      { callee: 'subprocess', name: 'subprocess' },
    ]);
  });

  it.each([
    [
      'python',
      src(
        'import os  # not prose: an import',
        '# read the requested file',
        'def read(name):',
        '    """Return the bytes of a file under /safe."""',
        '    x = "a string, not a docstring"',
        '    return x',
      ),
      ['read the requested file', 'Return the bytes of a file under /safe.'],
      ['a string, not a docstring'],
    ],
    ['c', src('#include <stdio.h>', '/* copy the name', ' * into the buffer */', 'int f(void) { return 0; } // done'), ['copy the name', 'into the buffer', 'done'], ['stdio', 'include']],
    ['javascript', src('// escape quotes in the title', 'const t = s.replace(/"/g, "");'), ['escape quotes in the title'], ['replace']],
    ['ruby', src('# load the remote yaml', 'x = YAML.load(s)'), ['load the remote yaml'], ['YAML']],
    ['go', src('package main', '// convert the string to an integer', 'func f() {}'), ['convert the string to an integer'], ['package']],
  ] as [Language, string, string[], string[]][])('%s: prose is the comments and docstrings, markers stripped', async (language, code, present, absent) => {
    const prose = await slicer.prose(language, code);
    for (const p of present) expect(prose).toContain(p);
    for (const a of absent) expect(prose).not.toContain(a);
    expect(prose).not.toMatch(/^\s*(\/\/|#|\/\*|\*)/m);
  });

  it('finds no prose in code without comments', async () => {
    expect(await slicer.prose('python', 'x = 1\n')).toBe('');
  });

  it('finds nothing in code without calls', async () => {
    expect(await slicer.apiCalls('python', 'x = 1\ny = x + 2\n')).toEqual([]);
  });

  it('rejects a language without a grammar with a classified failure', async () => {
    const attempt = slicer.apiCalls('php', '<?php system($x);');
    await expect(attempt).rejects.toBeInstanceOf(SliceFailure);
    await expect(attempt).rejects.toMatchObject({ failureClass: 'unsupported_language' });
  });

  it('lists the calls of the kept lines only in a slice', async () => {
    const before = src(
      'def fetch(db, user_id):', //                                       1
      '    audit.record("fetch")', //                                     2 dropped
      '    query = "SELECT * FROM users WHERE id = " + user_id', //       3 POI
      '    return db.execute(query)', //                                  4 reads query
    );
    const after = before.replace('" + user_id', '?"').replace('db.execute(query)', 'db.execute(query, (user_id,))');
    const record: FixRecord = {
      id: 'a'.repeat(32),
      language: 'python',
      cwe: 'CWE-89',
      before,
      after,
      changedLines: { deleted: [3, 4], added: [3, 4], source: 'dataset' },
      origin: { file: 't', line: 1, format: 'generic' },
    };
    const outcome = await slicer.sliceRecord(record, 2);
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.slice.vulnerable.lines).toEqual([1, 3, 4]);
    expect(outcome.slice.vulnerable.apiCalls).toEqual([{ callee: 'db.execute', name: 'execute' }]);
    expect(outcome.slice.secure.apiCalls).toEqual([{ callee: 'db.execute', name: 'execute' }]);
  });
});

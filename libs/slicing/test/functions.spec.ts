import { type FunctionUnit, SliceFailure, Slicer } from '@rescue/slicing';

const src = (...lines: string[]): string => `${lines.join('\n')}\n`;

/** Name, lines and leading comment of each unit: what most cases check. */
const outline = (units: FunctionUnit[]): [string | undefined, number, number, string | undefined][] => units.map((u) => [u.name, u.startLine, u.endLine, u.leadingComment]);

describe('Slicer.functions', () => {
  let slicer: Slicer;

  beforeAll(async () => {
    slicer = await Slicer.create();
  });

  it('python: functions, methods, decorated functions with their decorators, nested ones inside their parent', async () => {
    const code = src(
      'import os',
      '',
      '# BAD: runs what the user typed',
      'def run(cmd):',
      '    def inner():',
      '        return cmd',
      '    os.system(inner())',
      '',
      '# a comment with a blank line under it',
      '',
      'class Store:',
      '    # GOOD: fixed argument list',
      '    def run(self, name):',
      '        subprocess.run(["ls", name])',
      '',
      '@app.route("/x")',
      'def handler():',
      '    return "ok"',
    );
    const units = await slicer.functions('python', code);
    expect(outline(units)).toEqual([
      ['run', 4, 7, '# BAD: runs what the user typed'],
      ['run', 13, 14, '# GOOD: fixed argument list'],
      ['handler', 16, 18, undefined],
    ]);
    // A method's code loses the class's indentation; its own is kept.
    expect(units[1].code).toBe('def run(self, name):\n    subprocess.run(["ls", name])');
    expect(units[2].code.startsWith('@app.route("/x")\ndef handler():')).toBe(true);
  });

  it('javascript: declarations, closures held by a const or a route, class methods', async () => {
    const code = src(
      "const express = require('express');",
      'function check(a) { return a > 1; }',
      '// bad: reads the query string',
      'const login = (req, res) => {',
      '  res.send(req.query.user);',
      '};',
      "app.get('/a', function (req, res) {",
      '  res.send(1);',
      '});',
      'class Box {',
      '  /* GOOD */',
      '  open() {',
      '    return 1;',
      '  }',
      '}',
    );
    expect(outline(await slicer.functions('javascript', code))).toEqual([
      ['check', 2, 2, undefined],
      ['login', 4, 6, '// bad: reads the query string'],
      [undefined, 7, 9, undefined],
      ['open', 12, 14, '/* GOOD */'],
    ]);
  });

  it('typescript: the JavaScript rules through the TSX grammar', async () => {
    const code = src('export function parse(s: string): number {', '  return Number(s);', '}', 'export const twice = (n: number): number => n * 2;');
    expect(outline(await slicer.functions('typescript', code))).toEqual([
      ['parse', 1, 3, undefined],
      ['twice', 4, 4, undefined],
    ]);
  });

  it('go: functions and methods', async () => {
    const code = src('package main', '', '// Open opens it.', 'func Open(p string) error {', '\treturn nil', '}', '', 'func (s *Server) Close() {', '}');
    expect(outline(await slicer.functions('go', code))).toEqual([
      ['Open', 4, 6, '// Open opens it.'],
      ['Close', 8, 9, undefined],
    ]);
  });

  it('java: methods of classes (annotations included), and the bare blocks examples are written as', async () => {
    const withClass = src('public class A {', '    @Override', '    public String toString() {', '        return "a";', '    }', '    static void b() {}', '}');
    expect(outline(await slicer.functions('java', withClass))).toEqual([
      ['toString', 2, 5, undefined],
      ['b', 6, 6, undefined],
    ]);
    const blocks = src('{', '    // BAD', '    run(query + input);', '}', '', '{', '    // GOOD', '    run(prepared);', '}');
    expect(outline(await slicer.functions('java', blocks))).toEqual([
      [undefined, 1, 4, undefined],
      [undefined, 6, 9, undefined],
    ]);
  });

  it('c: declarator names, functions under a preprocessor conditional each on their own', async () => {
    const code = src('#include <stdio.h>', 'static char *name_of(int id) {', '  return 0;', '}', '#ifdef DEBUG', 'void dump(void) {}', 'void trace(void) {}', '#endif');
    expect(outline(await slicer.functions('c', code))).toEqual([
      ['name_of', 2, 4, undefined],
      ['dump', 6, 6, undefined],
      ['trace', 7, 7, undefined],
    ]);
  });

  it('cpp: member functions of a class and qualified out-of-class definitions', async () => {
    const code = src('class Buf {', ' public:', '  int size() const { return n; }', '};', 'int Buf::grow(int k) {', '  return k;', '}');
    expect(outline(await slicer.functions('cpp', code))).toEqual([
      ['size', 3, 3, undefined],
      ['Buf::grow', 5, 7, undefined],
    ]);
  });

  it('ruby: methods of a class, the first with the comment above it', async () => {
    const code = src('class UsersController < ApplicationController', '  # BAD', '  def show', '    eval(params[:code])', '  end', '', '  def index', '  end', 'end');
    expect(outline(await slicer.functions('ruby', code))).toEqual([
      ['show', 3, 5, '# BAD'],
      ['index', 7, 8, undefined],
    ]);
  });

  it('a comment ending a line of code is not the next function’s leading comment', async () => {
    const code = src('x = 1  # BAD', 'def f():', '    pass');
    expect(outline(await slicer.functions('python', code))).toEqual([['f', 2, 3, undefined]]);
  });

  it('returns nothing for code without definitions, and for languages without a grammar here', async () => {
    expect(await slicer.functions('python', 'x = 1\nprint(x)\n')).toEqual([]);
    expect(await slicer.functions('csharp', 'class A { void F() {} }')).toEqual([]);
  });

  it('still finds the definitions around a syntax error', async () => {
    const code = src('def ok():', '    return 1', '', 'def broken(:', '    pass', '', 'def fine():', '    return 2');
    const names = (await slicer.functions('python', code)).map((u) => u.name);
    expect(names).toContain('ok');
    expect(names).toContain('fine');
  });

  it('refuses code over the parse limits with a SliceFailure', async () => {
    const small = await Slicer.create({ maxBytes: 100 });
    await expect(small.functions('python', `x = "${'a'.repeat(200)}"\n`)).rejects.toBeInstanceOf(SliceFailure);
  });
});

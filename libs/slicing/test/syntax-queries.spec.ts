import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Language as Grammar, type Tree } from 'web-tree-sitter';
import { NotFoundError, type Language } from '@rescue/domain';
import { DEFAULT_LIMITS, LANGUAGE_SPECS, ParserRegistry, SliceFailure, WorkMeter } from '@rescue/slicing';
import { type QueryKind, compileQueries, matchesInOrder, queriesDir, querySource } from '../src/syntax-queries';

const src = (...lines: string[]): string => `${lines.join('\n')}\n`;
const REPO = resolve(__dirname, '../../..');
const QUERIES = join(REPO, 'libs', 'slicing', 'data', 'queries');

/** What each query file finds in one snippet: per match, its captures as `name=text`. */
interface Expected {
  code: string;
  calls: string[][];
  imports: string[][];
  comments: string[][];
}

// One snippet per language, with what its calls, imports and comments queries must capture, in
// source order. Calls keep the callee as written (normalizing it is api-calls.ts's business).
const CASES: Record<string, Expected> = {
  c: {
    code: src('#include <stdio.h>', '#include "libxml/parser.h"', '/* copy the name */', 'int f(char *a, struct file *p) {', '  strcpy(a, b); // unsafe', '  return p->ops->read(p, g(1));', '}'),
    calls: [
      ['call=strcpy(a, b)', 'call.callee=strcpy'],
      ['call=p->ops->read(p, g(1))', 'call.callee=p->ops->read'],
      ['call=g(1)', 'call.callee=g'],
    ],
    imports: [
      ['import=#include <stdio.h>\n', 'import.module=<stdio.h>'],
      ['import=#include "libxml/parser.h"\n', 'import.module="libxml/parser.h"'],
    ],
    comments: [['comment=/* copy the name */'], ['comment=// unsafe']],
  },
  cpp: {
    code: src(
      '#include <openssl/evp.h>',
      '// run it',
      'void run(const std::string &s) {',
      '  auto w = std::make_unique<Widget>(s);',
      '  Foo *q = new Foo(1); /* owned */',
      '  std::system(s.c_str());',
      '}',
    ),
    calls: [
      ['call=std::make_unique<Widget>(s)', 'call.callee=std::make_unique<Widget>'],
      ['call=new Foo(1)', 'call.callee=Foo'],
      ['call=std::system(s.c_str())', 'call.callee=std::system'],
      ['call=s.c_str()', 'call.callee=s.c_str'],
    ],
    imports: [['import=#include <openssl/evp.h>\n', 'import.module=<openssl/evp.h>']],
    comments: [['comment=// run it'], ['comment=/* owned */']],
  },
  python: {
    code: src('import os, yaml', 'from flask import Flask as F', '# read a file', 'def read(name):', '    """Return the bytes."""', '    x = "not a docstring"', '    return open(name).read()'),
    calls: [
      ['call=open(name).read()', 'call.callee=open(name).read'],
      ['call=open(name)', 'call.callee=open'],
    ],
    imports: [['import=import os, yaml'], ['import=from flask import Flask as F']],
    comments: [['comment=# read a file'], ['docstring="""Return the bytes."""']],
  },
  javascript: {
    code: src("const cp = require('child_process');", "import express from 'express';", '// run a command', 'function run(cmd) {', '  /* block */', '  cp.exec(cmd);', '  return new URL(cmd);', '}'),
    calls: [
      ["call=require('child_process')", 'call.callee=require'],
      ['call=cp.exec(cmd)', 'call.callee=cp.exec'],
      ['call=new URL(cmd)', 'call.callee=URL'],
    ],
    imports: [
      ["import.call=require('child_process')", 'import.function=require', "import.arguments=('child_process')"],
      ["import=import express from 'express';", "import.module='express'"],
    ],
    comments: [['comment=// run a command'], ['comment=/* block */']],
  },
  typescript: {
    code: src("import * as crypto from 'crypto';", "const fs = require('fs');", '// hash it', 'function h(s: string): string {', "  return crypto.createHash('sha256').update(s).digest('hex');", '}'),
    calls: [
      ["call=require('fs')", 'call.callee=require'],
      ["call=crypto.createHash('sha256').update(s).digest('hex')", "call.callee=crypto.createHash('sha256').update(s).digest"],
      ["call=crypto.createHash('sha256').update(s)", "call.callee=crypto.createHash('sha256').update"],
      ["call=crypto.createHash('sha256')", 'call.callee=crypto.createHash'],
    ],
    imports: [
      ["import=import * as crypto from 'crypto';", "import.module='crypto'"],
      ["import.call=require('fs')", 'import.function=require', "import.arguments=('fs')"],
    ],
    comments: [['comment=// hash it']],
  },
  java: {
    code: src(
      'import java.io.File;',
      'import static java.lang.Math.max;',
      '/** Runs a command. */',
      'class Runner {',
      '  void run(String s) throws Exception {',
      '    // exec',
      '    Runtime.getRuntime().exec(s);',
      '    File f = new File(s);',
      '    helper(s);',
      '  }',
      '}',
    ),
    calls: [
      ['call=Runtime.getRuntime().exec(s)', 'call.callee=Runtime.getRuntime()', 'call.callee=exec'],
      ['call=Runtime.getRuntime()', 'call.callee=Runtime', 'call.callee=getRuntime'],
      ['call=new File(s)', 'call.callee=File'],
      ['call=helper(s)', 'call.callee=helper'],
    ],
    imports: [['import=import java.io.File;'], ['import=import static java.lang.Math.max;']],
    comments: [['comment=/** Runs a command. */'], ['comment=// exec']],
  },
  go: {
    code: src('package main', '', 'import (', '\t"crypto/tls"', '\th "net/http"', ')', '', '// serve it', 'func f(q string) {', '\texec.Command("sh", q).Run() /* run */', '\th.Get(q)', '}'),
    calls: [
      ['call=exec.Command("sh", q).Run()', 'call.callee=exec.Command("sh", q).Run'],
      ['call=exec.Command("sh", q)', 'call.callee=exec.Command'],
      ['call=h.Get(q)', 'call.callee=h.Get'],
    ],
    imports: [
      ['import="crypto/tls"', 'import.module="crypto/tls"'],
      ['import=h "net/http"', 'import.module="net/http"'],
    ],
    comments: [['comment=// serve it'], ['comment=/* run */']],
  },
  ruby: {
    code: src(
      "require 'yaml'",
      "require_relative 'lib/util'",
      '# load it',
      'def show(p)',
      '  data = File.read(p)',
      "  Kernel.require 'json'",
      '  handler.(data)',
      '  puts data',
      'end',
      '=begin',
      'block',
      '=end',
    ),
    calls: [
      ["call=require 'yaml'", 'call.callee=require'],
      ["call=require_relative 'lib/util'", 'call.callee=require_relative'],
      ['call=File.read(p)', 'call.callee=File', 'call.callee=read'],
      ["call=Kernel.require 'json'", 'call.callee=Kernel', 'call.callee=require'],
      ['call=handler.(data)', 'call.callee=handler'],
      ['call=puts data', 'call.callee=puts'],
    ],
    // A require with a receiver (`Kernel.require`) is a method of that object, not an import.
    imports: [
      ["import.call=require 'yaml'", 'import.function=require', "import.arguments='yaml'"],
      ["import.call=require_relative 'lib/util'", 'import.function=require_relative', "import.arguments='lib/util'"],
    ],
    comments: [['comment=# load it'], ['comment==begin\nblock\n=end']],
  },
};

const ANCHORS: Record<QueryKind, string[]> = { calls: ['call'], imports: ['import', 'import.call'], comments: ['comment', 'docstring'] };

describe('the calls, imports and comments queries of each language', () => {
  let registry: ParserRegistry;
  const trees: Tree[] = [];

  beforeAll(async () => {
    registry = await ParserRegistry.create();
  });

  afterAll(() => {
    for (const t of trees) t.delete();
  });

  it('cover every language the slicer supports', () => {
    expect(Object.keys(CASES).sort()).toEqual(Object.keys(LANGUAGE_SPECS).sort());
  });

  describe.each(Object.entries(CASES))('%s', (language, expected) => {
    let tree: Tree;

    beforeAll(async () => {
      tree = await registry.parse(language as Language, expected.code, DEFAULT_LIMITS);
      trees.push(tree);
    });

    it.each(['calls', 'imports', 'comments'] as QueryKind[])('%s', async (kind) => {
      const queries = await registry.queries(language as Language);
      const found = matchesInOrder(queries[kind], tree.rootNode, ANCHORS[kind]).map(({ match }) => match.captures.map((c) => `${c.name}=${c.node.text}`));
      expect(found).toEqual(expected[kind]);
    });
  });

  it('are compiled once per language', async () => {
    expect(await registry.queries('go')).toBe(await registry.queries('go'));
  });

  it('order matches as a walk of the tree meets them: an outer call before the calls inside it', async () => {
    const tree = await registry.parse('python', 'f(g(h(x)), k(y))\n', DEFAULT_LIMITS);
    trees.push(tree);
    const queries = await registry.queries('python');
    expect(matchesInOrder(queries.calls, tree.rootNode, ['call']).map(({ node }) => node.text)).toEqual(['f(g(h(x)), k(y))', 'g(h(x))', 'h(x)', 'k(y)']);
  });

  it('fail once the work meter says stop: over its budget, or past its wall-clock safety net', async () => {
    const tree = await registry.parse('c', `int f(void) {\n${'  g(1); // c\n'.repeat(2000)}}\n`, DEFAULT_LIMITS);
    trees.push(tree);
    const queries = await registry.queries('c');
    const overBudget = (): unknown => matchesInOrder(queries.comments, tree.rootNode, ['comment'], new WorkMeter(50, 60_000));
    expect(overBudget).toThrow(SliceFailure);
    expect(overBudget).toThrow(expect.objectContaining({ failureClass: 'too_complex' }));
    const pastDeadline = (): unknown => matchesInOrder(queries.comments, tree.rootNode, ['comment'], new WorkMeter(Number.MAX_SAFE_INTEGER, -1));
    expect(pastDeadline).toThrow(expect.objectContaining({ failureClass: 'timeout' }));
  });

  it('find a Python docstring only where a string is the whole statement', async () => {
    const tree = await registry.parse('python', src('"""module doc"""', 'x = "no"', '"a" "b"', 'f("no")'), DEFAULT_LIMITS);
    trees.push(tree);
    const queries = await registry.queries('python');
    expect(matchesInOrder(queries.comments, tree.rootNode, ['docstring']).map(({ node }) => node.text)).toEqual(['"""module doc"""']);
  });
});

describe('finding and reading the query files', () => {
  let scratch: string;

  beforeAll(async () => {
    await ParserRegistry.create();
    scratch = mkdtempSync(join(tmpdir(), 'rescue-queries-'));
  });

  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  it('finds libs/slicing/data/queries from the sources and from where tsc puts the compiled code', () => {
    expect(queriesDir()).toBe(QUERIES);
    expect(queriesDir(join(REPO, 'libs', 'slicing', 'src'))).toBe(QUERIES);
    // npm run build compiles libs/slicing/src to dist/libs/slicing/src and copies no .scm files.
    expect(queriesDir(join(REPO, 'dist', 'libs', 'slicing', 'src'))).toBe(QUERIES);
  });

  it('says where it looked when no folder above holds them', () => {
    expect(() => queriesDir(join(scratch, 'dist', 'libs', 'slicing', 'src'))).toThrow(NotFoundError);
  });

  it('finds them in an image laid out as the Dockerfile does: dist/ with libs/<lib>/data beside it', () => {
    const app = join(scratch, 'app');
    mkdirSync(join(app, 'dist', 'libs', 'slicing', 'src'), { recursive: true });
    mkdirSync(join(app, 'libs', 'slicing', 'data', 'queries'), { recursive: true });
    expect(queriesDir(join(app, 'dist', 'libs', 'slicing', 'src'))).toBe(join(app, 'libs', 'slicing', 'data', 'queries'));
  });

  it('puts an inherited file first: C++ calls are C calls plus `new`, TypeScript reads as JavaScript', () => {
    const cpp = querySource(QUERIES, 'cpp', 'calls');
    expect(cpp.indexOf('(call_expression')).toBeGreaterThanOrEqual(0);
    expect(cpp.indexOf('(call_expression')).toBeLessThan(cpp.indexOf('(new_expression'));
    for (const kind of ['calls', 'imports', 'comments'] as QueryKind[]) expect(querySource(QUERIES, 'typescript', kind)).toContain(querySource(QUERIES, 'javascript', kind));
  });

  it('refuses an inheritance cycle and names a missing file', () => {
    mkdirSync(join(scratch, 'a'));
    mkdirSync(join(scratch, 'b'));
    writeFileSync(join(scratch, 'a', 'calls.scm'), '; inherits: b\n');
    writeFileSync(join(scratch, 'b', 'calls.scm'), '; inherits: a\n');
    expect(() => querySource(scratch, 'a', 'calls')).toThrow(/a → b → a/);
    expect(() => querySource(scratch, 'a', 'imports')).toThrow(NotFoundError);
    expect(() => querySource(scratch, 'a', 'imports')).toThrow(join(scratch, 'a', 'imports.scm'));
  });

  it('makes a query the grammar cannot compile an unsupported language, naming the file', async () => {
    const grammar = await Grammar.load(new Uint8Array(readFileSync(require.resolve('tree-sitter-c/tree-sitter-c.wasm'))));
    mkdirSync(join(scratch, 'c'));
    writeFileSync(join(scratch, 'c', 'calls.scm'), '(no_such_node) @call\n');
    writeFileSync(join(scratch, 'c', 'imports.scm'), '(preproc_include) @import\n');
    writeFileSync(join(scratch, 'c', 'comments.scm'), '(comment) @comment\n');
    const attempt = (): unknown => compileQueries(grammar, 'c', scratch);
    expect(attempt).toThrow(SliceFailure);
    expect(attempt).toThrow(expect.objectContaining({ failureClass: 'unsupported_language' }));
    expect(attempt).toThrow(join(scratch, 'c', 'calls.scm'));
  });
});

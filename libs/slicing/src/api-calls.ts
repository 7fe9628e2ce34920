import type { Node, Tree } from 'web-tree-sitter';
import type { LanguageSpec } from './language-specs';

const STRING_LITERAL = /^(?:[rbufRBUF]{0,2})(?:"""[\s\S]*?"""|'''[\s\S]*?'''|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)/;

/** One API call: the dotted callee as written (normalized) and its last segment. */
export interface ApiCall {
  callee: string;
  name: string;
}

/**
 * Callee text without argument lists, whitespace or template arguments, with `->` and `::`
 * written as `.`: `Runtime.getRuntime().exec` → `Runtime.getRuntime.exec`, `p->ops->read` →
 * `p.ops.read`, `std::make_unique<T>` → `std.make_unique`.
 */
export function normalizeCallee(text: string): string {
  // A call on a literal (`"...".format`, `'a,b'.split`) is named by the literal's type.
  text = text.replace(STRING_LITERAL, 'str').replace(/->|::/g, '.');
  let out = '';
  let depth = 0;
  for (const ch of text) {
    if (ch === '(' || ch === '[' || ch === '<') depth += 1;
    else if ((ch === ')' || ch === ']' || ch === '>') && depth > 0) {
      depth -= 1;
      continue;
    }
    if (depth === 0 && !/\s/.test(ch)) out += ch;
  }
  return out
    .replace(/->|::/g, '.')
    .replace(/\?\./g, '.')
    .replace(/\.{2,}/g, '.')
    .replace(/^[.&*!]+|\.+$/g, '')
    .slice(0, 200);
}

/**
 * Visits named nodes in source order (iteratively: deep trees must not overflow the stack), at
 * most `maxNodes`; `visit` returning false skips the node's children.
 */
function walkNamed(tree: Tree, maxNodes: number, visit: (node: Node) => boolean | void): void {
  const stack: Node[] = [tree.rootNode];
  let visited = 0;
  while (stack.length > 0 && visited < maxNodes) {
    const node = stack.pop() as Node;
    visited += 1;
    if (visit(node) === false) continue;
    for (let i = node.namedChildCount - 1; i >= 0; i -= 1) {
      const c = node.namedChild(i);
      if (c) stack.push(c);
    }
  }
}

/** Every call in a tree, in source order, de-duplicated by callee. */
export function extractApiCalls(tree: Tree, spec: LanguageSpec, maxNodes = 200_000): ApiCall[] {
  const callTypes = new Map(spec.calls.map((c) => [c.type, c.callee]));
  const seen = new Map<string, ApiCall>();
  walkNamed(tree, maxNodes, (node) => {
    const fields = callTypes.get(node.type);
    if (!fields) return;
    const parts = fields.map((f) => node.childForFieldName(f)?.text).filter((t): t is string => !!t);
    const callee = normalizeCallee(parts.join('.'));
    const name = callee.split('.').pop() ?? '';
    if (name && /^[A-Za-z_$][\w$]*$/.test(name) && !seen.has(callee)) seen.set(callee, { callee, name });
  });
  return [...seen.values()];
}

const IMPORT_KEYWORDS = new Set(['import', 'from', 'as', 'static', 'require', 'require_relative', 'include', 'type', 'typeof']);
const MODULE_NAME = /[A-Za-z_$][\w$-]*(?:[./][A-Za-z_$][\w$-]*)*/g;

/** `"crypto/tls"` → `crypto.tls`, `<libxml/parser.h>` → `libxml.parser`, `./util.js` → `util`. */
function moduleNames(text: string): string[] {
  return [...text.matchAll(MODULE_NAME)]
    .map((m) => m[0].replace(/\.(h|hpp|hh|js|mjs|cjs|ts|rb)$/, '').replace(/\//g, '.').replace(/-/g, '_'))
    .filter((name) => name && !IMPORT_KEYWORDS.has(name));
}

/**
 * The modules (and imported names) a piece of code imports: Python `import`/`from … import`,
 * JS/TS `import … from` and `require(…)`, Java `import`, Go import specs, C/C++ `#include`, Ruby
 * `require`. Each is reported like a call: the dotted module and its last segment.
 */
export function extractImports(tree: Tree, spec: LanguageSpec, maxNodes = 200_000): ApiCall[] {
  const importTypes = new Map(spec.imports.map((i) => [i.type, i.field]));
  const callTypes = new Map(spec.calls.map((c) => [c.type, c.callee]));
  const importCalls = new Set(spec.importCalls ?? []);
  const seen = new Map<string, ApiCall>();
  const add = (names: string[]): void => {
    for (const callee of names) if (!seen.has(callee)) seen.set(callee, { callee, name: callee.split('.').pop() ?? callee });
  };
  walkNamed(tree, maxNodes, (node) => {
    if (importTypes.has(node.type)) {
      const field = importTypes.get(node.type);
      const text = field ? node.childForFieldName(field)?.text : node.text;
      if (text) add(moduleNames(text));
      return false;
    }
    const calleeFields = callTypes.get(node.type);
    if (calleeFields && importCalls.size > 0) {
      const callee = calleeFields.map((f) => node.childForFieldName(f)?.text).filter(Boolean).join('.');
      const argument = /['"]([^'"\n]{1,200})['"]/.exec(node.childForFieldName('arguments')?.text ?? '');
      if (importCalls.has(callee) && argument) add(moduleNames(argument[1]));
    }
  });
  return [...seen.values()];
}

// Comment markers and docstring quotes around prose (line, hash, block and Ruby =begin comments).
const PROSE_MARKUP = /^\s*(?:\/\/+|#+|\/\*+|\*+\/?|=begin|=end|"""|''')|(?:\*+\/|"""|''')\s*$/gm;

/**
 * The natural language in code: its comments and, where the language has them, docstrings (a
 * string literal standing alone as a statement). Offline, this is the closest thing a completion
 * task has to a description of what it wants, so it is what the text facet searches CWE prose with.
 */
export function extractProse(tree: Tree, spec: LanguageSpec, maxNodes = 200_000): string {
  const comments = new Set(spec.commentTypes);
  const parts: string[] = [];
  walkNamed(tree, maxNodes, (node) => {
    if (comments.has(node.type)) {
      // A C preprocessor line is not prose, but some grammars read `#!` or `#include` oddly.
      if (!/^#\s*(?:include|define|if|endif|pragma|!)/.test(node.text)) parts.push(node.text);
      return false;
    }
    if (spec.docstringStatement && node.type === spec.docstringStatement && node.namedChildCount === 1 && node.namedChild(0)?.type === 'string') {
      parts.push(node.text);
      return false;
    }
  });
  return parts
    .map((p) => p.replace(PROSE_MARKUP, '').trim())
    .filter(Boolean)
    .join('\n');
}

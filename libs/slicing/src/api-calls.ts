import type { Tree } from 'web-tree-sitter';
import { type LanguageQueries, captured, matchesInOrder } from './syntax-queries';
import type { WorkMeter } from './work-meter';

const STRING_LITERAL = /^(?:[rbufRBUF]{0,2})(?:"""[\s\S]*?"""|'''[\s\S]*?'''|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)/;

const WHITESPACE = /\s/;

/** Whether the unit at `i` is whitespace as `\s` has it (ASCII answered without the pattern). */
const isWhitespace = (c: number, text: string, i: number): boolean => (c < 128 ? c === 32 || (c >= 9 && c <= 13) : WHITESPACE.test(text[i]));

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
  // What stays are the runs of characters outside brackets and not whitespace, copied run by run.
  // By UTF-16 unit: brackets and whitespace are single units, so a surrogate pair stays whole.
  let out = '';
  let depth = 0;
  let run = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    let keep = false;
    if (c === 40 || c === 91 || c === 60)
      depth += 1; // ( [ <
    else if ((c === 41 || c === 93 || c === 62) && depth > 0)
      depth -= 1; // ) ] >
    else keep = depth === 0 && !isWhitespace(c, text, i);
    if (keep) continue;
    if (run < i) out += text.slice(run, i);
    run = i + 1;
  }
  if (run < text.length) out += text.slice(run);
  return out
    .replace(/->|::/g, '.')
    .replace(/\?\./g, '.')
    .replace(/\.{2,}/g, '.')
    .replace(/^[.&*!]+|\.+$/g, '')
    .slice(0, 200);
}

/**
 * Every call in a tree, in source order, de-duplicated by callee. The language's calls query finds
 * them; the callee is the text of its parts (`object` and `name` in Java) joined with ".".
 */
export function extractApiCalls(tree: Tree, queries: LanguageQueries, meter?: WorkMeter): ApiCall[] {
  const seen = new Map<string, ApiCall>();
  for (const { match } of matchesInOrder(queries.calls, tree.rootNode, ['call'], meter)) {
    const parts = captured(match, 'call.callee')
      .map((n) => n.text)
      .filter(Boolean);
    const callee = normalizeCallee(parts.join('.'));
    const name = callee.split('.').pop() ?? '';
    if (name && /^[A-Za-z_$][\w$]*$/.test(name) && !seen.has(callee)) seen.set(callee, { callee, name });
  }
  return [...seen.values()];
}

const IMPORT_KEYWORDS = new Set(['import', 'from', 'as', 'static', 'require', 'require_relative', 'include', 'type', 'typeof']);
const MODULE_NAME = /[A-Za-z_$][\w$-]*(?:[./][A-Za-z_$][\w$-]*)*/g;

/** `"crypto/tls"` → `crypto.tls`, `<libxml/parser.h>` → `libxml.parser`, `./util.js` → `util`. */
function moduleNames(text: string): string[] {
  return [...text.matchAll(MODULE_NAME)]
    .map((m) =>
      m[0]
        .replace(/\.(h|hpp|hh|js|mjs|cjs|ts|rb)$/, '')
        .replace(/\//g, '.')
        .replace(/-/g, '_'),
    )
    .filter((name) => name && !IMPORT_KEYWORDS.has(name));
}

/**
 * The modules (and imported names) a piece of code imports: Python `import`/`from … import`,
 * JS/TS `import … from` and `require(…)`, Java `import`, Go import specs, C/C++ `#include`, Ruby
 * `require`. Each is reported like a call: the dotted module and its last segment. Offline, a task
 * has no draft, and the libraries its prefix imports are the best hint of the APIs the completion
 * will call.
 */
export function extractImports(tree: Tree, queries: LanguageQueries, meter?: WorkMeter): ApiCall[] {
  const seen = new Map<string, ApiCall>();
  const add = (names: string[]): void => {
    for (const callee of names) if (!seen.has(callee)) seen.set(callee, { callee, name: callee.split('.').pop() ?? callee });
  };
  // An import statement is read as a whole: nothing inside it is a second import.
  let insideImportUntil = -1;
  for (const { match, node } of matchesInOrder(queries.imports, tree.rootNode, ['import', 'import.call'], meter)) {
    if (node.startIndex < insideImportUntil) continue;
    const [argumentsNode] = captured(match, 'import.arguments');
    if (argumentsNode) {
      const argument = /['"]([^'"\n]{1,200})['"]/.exec(argumentsNode.text);
      if (argument) add(moduleNames(argument[1]));
      continue;
    }
    const [module] = captured(match, 'import.module');
    const text = (module ?? node).text;
    if (text) add(moduleNames(text));
    insideImportUntil = Math.max(insideImportUntil, node.endIndex);
  }
  return [...seen.values()];
}

// Comment markers and docstring quotes around prose (line, hash, block and Ruby =begin comments).
const PROSE_MARKUP = /^\s*(?:\/\/+|#+|\/\*+|\*+\/?|=begin|=end|"""|''')|(?:\*+\/|"""|''')\s*$/gm;

/**
 * The natural language in code: its comments and, where the language has them, docstrings (a
 * string literal standing alone as a statement). Offline, this is the closest thing a completion
 * task has to a description of what it wants, so it is what the text facet searches CWE prose with.
 */
export function extractProse(tree: Tree, queries: LanguageQueries, meter?: WorkMeter): string {
  const parts: string[] = [];
  // A docstring is read as a whole: a comment inside its statement is not read again.
  let insideUntil = -1;
  for (const { match, node } of matchesInOrder(queries.comments, tree.rootNode, ['comment', 'docstring'], meter)) {
    if (node.startIndex < insideUntil) continue;
    insideUntil = node.endIndex;
    // A C preprocessor line is not prose, but some grammars read `#!` or `#include` oddly.
    if (captured(match, 'docstring').length > 0 || !/^#\s*(?:include|define|if|endif|pragma|!)/.test(node.text)) parts.push(node.text);
  }
  return parts
    .map((p) => p.replace(PROSE_MARKUP, '').trim())
    .filter(Boolean)
    .join('\n');
}

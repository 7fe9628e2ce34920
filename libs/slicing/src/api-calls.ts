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

/** Every call in a tree, in source order, de-duplicated by callee. */
export function extractApiCalls(tree: Tree, spec: LanguageSpec, maxNodes = 200_000): ApiCall[] {
  const callTypes = new Map(spec.calls.map((c) => [c.type, c.callee]));
  const seen = new Map<string, ApiCall>();
  const stack: Node[] = [tree.rootNode];
  let visited = 0;
  while (stack.length > 0 && visited < maxNodes) {
    const node = stack.pop() as Node;
    visited += 1;
    const fields = callTypes.get(node.type);
    if (fields) {
      const parts = fields.map((f) => node.childForFieldName(f)?.text).filter((t): t is string => !!t);
      const callee = normalizeCallee(parts.join('.'));
      const name = callee.split('.').pop() ?? '';
      if (name && /^[A-Za-z_$][\w$]*$/.test(name) && !seen.has(callee)) seen.set(callee, { callee, name });
    }
    for (let i = node.namedChildCount - 1; i >= 0; i -= 1) {
      const c = node.namedChild(i);
      if (c) stack.push(c);
    }
  }
  return [...seen.values()];
}

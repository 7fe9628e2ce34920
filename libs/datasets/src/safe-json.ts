/** Keys that can poison prototypes when a parsed object is later spread or merged. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export type SafeJsonResult = { ok: true; value: unknown } | { ok: false; code: 'invalid_json' | 'forbidden_key' | 'too_deep'; field?: string; message: string };

/**
 * JSON.parse, then a walk that rejects prototype-poisoning keys (`__proto__`, `constructor`,
 * `prototype`) anywhere in the value and nesting deeper than `maxDepth`, naming the field path.
 * JSON.parse keeps `__proto__` as an own key, so Object.keys sees it.
 */
export function parseJsonSafely(text: string, maxDepth = 32): SafeJsonResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, code: 'invalid_json', message: (err as Error).message };
  }
  type Frame = { node: unknown; path: string; depth: number };
  const stack: Frame[] = [{ node: value, path: '', depth: 0 }];
  while (stack.length > 0) {
    const { node, path, depth } = stack.pop() as Frame;
    if (node === null || typeof node !== 'object') continue;
    if (depth > maxDepth) return { ok: false, code: 'too_deep', field: path || '(root)', message: `nesting deeper than ${maxDepth} levels` };
    if (Array.isArray(node)) {
      node.forEach((child, i) => stack.push({ node: child, path: `${path}[${i}]`, depth: depth + 1 }));
      continue;
    }
    for (const key of Object.keys(node)) {
      const childPath = path ? `${path}.${key}` : key;
      if (FORBIDDEN_KEYS.has(key)) {
        return { ok: false, code: 'forbidden_key', field: childPath, message: `key "${key}" is not allowed (prototype poisoning)` };
      }
      stack.push({ node: (node as Record<string, unknown>)[key], path: childPath, depth: depth + 1 });
    }
  }
  return { ok: true, value };
}

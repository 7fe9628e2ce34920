/** Keys that can poison prototypes when a parsed object is later spread or merged. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export type SafeJsonResult = { ok: true; value: unknown } | { ok: false; code: 'invalid_json' | 'forbidden_key' | 'too_deep'; field?: string; message: string };

type Problem = Extract<SafeJsonResult, { ok: false }>;

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
  // Nearly every value is clean: a walk that builds no field paths says so. Only a value with a
  // problem is walked again, by the walk that names where the first one is.
  if (isClean(value, maxDepth)) return { ok: true, value };
  return firstProblem(value, maxDepth) ?? { ok: true, value };
}

/** Whether no object or array nests deeper than `maxDepth` and no key is forbidden. */
function isClean(value: unknown, maxDepth: number): boolean {
  const nodes: object[] = [];
  const depths: number[] = [];
  if (value !== null && typeof value === 'object') {
    nodes.push(value);
    depths.push(0);
  }
  while (nodes.length > 0) {
    const node = nodes.pop() as object;
    const depth = depths.pop() as number;
    if (depth > maxDepth) return false;
    if (Array.isArray(node)) {
      for (const child of node as unknown[])
        if (child !== null && typeof child === 'object') {
          nodes.push(child);
          depths.push(depth + 1);
        }
      continue;
    }
    for (const key of Object.keys(node)) {
      if (FORBIDDEN_KEYS.has(key)) return false;
      const child = (node as Record<string, unknown>)[key];
      if (child !== null && typeof child === 'object') {
        nodes.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return true;
}

/** The first problem in walk order, with its field path. */
function firstProblem(value: unknown, maxDepth: number): Problem | undefined {
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
  return undefined;
}

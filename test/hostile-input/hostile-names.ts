import fc from 'fast-check';

/**
 * Every name an object inherits from Object.prototype, and the three keys that reach a prototype
 * when an object is merged: a lookup keyed by user data that forgets `Object.hasOwn` (or a
 * null-prototype map) finds these instead of "not found".
 */
export const HOSTILE_NAMES: readonly string[] = [...new Set([...Object.getOwnPropertyNames(Object.prototype), '__proto__', 'constructor', 'prototype'])].sort();

/**
 * A hostile name as a user may write it: as is, in capitals (normalizers lower-case names, so
 * `CONSTRUCTOR` becomes `constructor` after the check a careless one made), padded, inside a CWE
 * id, as a file extension and as a folder.
 */
export const hostileName: fc.Arbitrary<string> = fc.constantFrom(...HOSTILE_NAMES).chain((n) => fc.constantFrom(n, n.toUpperCase(), ` ${n} `, `CWE-${n}`, `x.${n}`, `${n}/ql/src/x.qhelp`));

/** Where a hostile name goes: as a field's value, as an extra key beside the fields, or as a key inside a field. */
export type Placement = 'value' | 'key' | 'nested-key';
export const PLACEMENTS: readonly Placement[] = ['value', 'key', 'nested-key'];

/** What an attacker hangs under a hostile key: if it ever reaches Object.prototype, `({}).polluted` says so. */
const BAIT = { polluted: true };

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** An own, enumerable property, even for `__proto__` (a plain assignment would set the prototype). */
function defineOwn(obj: object, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The paths of every property of a JSON value (objects and array items included), each as keys. */
export function fieldPaths(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [];
  const entries: [string | number, Json][] = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  return entries.flatMap(([k, v]) => [[...prefix, k], ...fieldPaths(v, [...prefix, k])]);
}

/**
 * A deep copy of `base` with `name` placed at `path`, then written and read back as JSON, the way
 * a request body, a job's data or a JSONL line reaches the code: JSON.parse keeps `__proto__` as an
 * own key, which is exactly what a careless merge later follows.
 */
export function poison(base: Json, path: (string | number)[], name: string, placement: Placement): unknown {
  const copy = JSON.parse(JSON.stringify(base)) as Json;
  const parentPath = path.slice(0, -1);
  const last = path[path.length - 1];
  const parent = parentPath.reduce<Json>((node, k) => (node as Record<string | number, Json>)[k], copy) as Record<string | number, Json>;
  if (placement === 'value') parent[last] = name;
  else if (placement === 'nested-key') {
    const holder = {};
    defineOwn(holder, name, BAIT);
    parent[last] = holder as Json;
  } else {
    // Beside the field's own keys when it is an object, else beside the field, else at the top.
    const at = parent[last];
    const isObject = (v: unknown): v is object => v !== null && typeof v === 'object' && !Array.isArray(v);
    defineOwn(isObject(at) ? at : isObject(parent) ? parent : (copy as object), name, BAIT);
  }
  return JSON.parse(JSON.stringify(copy));
}

/** The JSON text of `poison(…)`: a line of a JSONL file. */
export const poisonedLine = (base: Json, path: (string | number)[], name: string, placement: Placement): string => JSON.stringify(poison(base, path, name, placement));

const snapshot = (): [string, PropertyDescriptor | undefined][] =>
  Object.getOwnPropertyNames(Object.prototype)
    .sort()
    .map((n) => [n, Object.getOwnPropertyDescriptor(Object.prototype, n)]);
const PRISTINE = snapshot();

const sameDescriptor = (a: PropertyDescriptor | undefined, b: PropertyDescriptor | undefined): boolean =>
  a !== undefined && b !== undefined && a.value === b.value && a.get === b.get && a.set === b.set && a.writable === b.writable && a.enumerable === b.enumerable;

/** Object.prototype has the same properties, with the same values, as when this module loaded. */
export function expectUnpolluted(): void {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  // Compared by hand (identity of each value and accessor), then by jest only to show a difference.
  const now = snapshot();
  if (now.length !== PRISTINE.length || now.some(([n, d], i) => n !== PRISTINE[i][0] || !sameDescriptor(d, PRISTINE[i][1]))) expect(now).toEqual(PRISTINE);
}

/**
 * A value our code returned is clean: plain objects and arrays only (no object whose prototype was
 * swapped), no function where data belongs, and no own key named after a prototype property.
 */
export function expectClean(value: unknown, where = '(root)'): void {
  if (typeof value === 'function') throw new Error(`${where} is a function: an inherited property was read as data`);
  if (value === null || typeof value !== 'object') return;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) throw new Error(`${where} has a foreign prototype`);
  for (const key of Object.keys(value)) {
    if (!Array.isArray(value) && HOSTILE_NAMES.includes(key)) throw new Error(`${where} has an own key ${JSON.stringify(key)}`);
    expectClean((value as Record<string, unknown>)[key], `${where}.${key}`);
  }
}

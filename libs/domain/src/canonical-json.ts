import { InvalidInputError } from './errors';

/** A JSON value: what a cache entry, an embedder description or a stored model may hold. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * JSON with object keys sorted at every depth (by UTF-16 code unit, as `Array.prototype.sort`
 * orders strings) and undefined members dropped, so equal values give equal text whatever order
 * their keys were set in. Undefined array items and a top-level undefined are `null`, and numbers
 * and strings are written as `JSON.stringify` writes them.
 *
 * Content-derived ids hash this text: LLM cache keys, job ids, and the local embedder's
 * fingerprint (hence KB version ids). Changing its output for any value changes those ids, so
 * caches stop hitting and queued jobs stop matching; `canonical-json.spec.ts` pins it.
 *
 * Takes `unknown` because job payloads are typed objects rather than `JsonValue`; anything that is
 * not JSON data (a function, a Date, a Map, a bigint) is refused rather than hashed as `{}`, which
 * would give different values one id.
 */
export function canonicalJson(value: unknown): string {
  return write(value, '$');
}

function write(value: unknown, path: string): string {
  if (value === undefined || value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new InvalidInputError(`canonicalJson: ${path} is a ${typeof value}, not JSON data`);
  }
  if (Array.isArray(value)) return `[${value.map((item, i) => write(item, `${path}[${i}]`)).join(',')}]`;
  if (!isPlainRecord(value)) throw new InvalidInputError(`canonicalJson: ${path} is a ${Object.prototype.toString.call(value).slice(8, -1)}, not a plain object`);
  const members = Object.keys(value)
    .filter((key) => value[key] !== undefined)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${write(value[key], `${path}.${key}`)}`);
  return `{${members.join(',')}}`;
}

/** By tag rather than prototype, so objects made in another realm (jest's vm, worker threads) pass. */
function isPlainRecord(value: object): value is Record<string, unknown> {
  return Object.prototype.toString.call(value) === '[object Object]' && typeof (value as { toJSON?: unknown }).toJSON !== 'function';
}

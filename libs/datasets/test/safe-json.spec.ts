import { parseJsonSafely } from '@rescue/datasets';

/** `{"a":{"a":…{"a":1}…}}` with `levels` objects. */
const nestedObjects = (levels: number): string => `${'{"a":'.repeat(levels - 1)}{"a":1}${'}'.repeat(levels - 1)}`;
const nestedArrays = (levels: number): string => `${'['.repeat(levels)}${']'.repeat(levels)}`;

describe('parseJsonSafely', () => {
  it('returns the parsed value for ordinary JSON', () => {
    const input = '{"before":"a","after":"b","n":[1,{"x":null}],"s":"__proto__ constructor prototype"}';
    expect(parseJsonSafely(input)).toEqual({ ok: true, value: JSON.parse(input) });
    expect(parseJsonSafely('42')).toEqual({ ok: true, value: 42 });
    expect(parseJsonSafely('null')).toEqual({ ok: true, value: null });
  });

  it('rejects __proto__ at the top level', () => {
    const r = parseJsonSafely('{"cwe":"CWE-89","__proto__":{"polluted":true}}');
    expect(r).toMatchObject({ ok: false, code: 'forbidden_key', field: '__proto__' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('rejects __proto__ nested in objects and arrays, naming the field path', () => {
    expect(parseJsonSafely('{"a":{"b":{"__proto__":1}}}')).toMatchObject({ ok: false, code: 'forbidden_key', field: 'a.b.__proto__' });
    expect(parseJsonSafely('{"line_changes":{"deleted":[{"line_no":1},{"__proto__":{}}]}}')).toMatchObject({
      ok: false,
      code: 'forbidden_key',
      field: 'line_changes.deleted[1].__proto__',
    });
    expect(parseJsonSafely('[{"ok":1},{"__proto__":1}]')).toMatchObject({ ok: false, code: 'forbidden_key', field: '[1].__proto__' });
  });

  it('rejects constructor and prototype keys', () => {
    expect(parseJsonSafely('{"constructor":{"prototype":{"x":1}}}')).toMatchObject({ ok: false, code: 'forbidden_key', field: 'constructor' });
    expect(parseJsonSafely('{"a":{"prototype":1}}')).toMatchObject({ ok: false, code: 'forbidden_key', field: 'a.prototype' });
    const r = parseJsonSafely('{"x":{"constructor":1}}');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.field).toBe('x.constructor');
      expect(r.message).toContain('constructor');
    }
  });

  it('does not confuse forbidden words used as values or as parts of longer keys', () => {
    const input = '{"__proto__x":1,"my_constructor":2,"prototypes":[3],"v":"__proto__"}';
    expect(parseJsonSafely(input)).toEqual({ ok: true, value: JSON.parse(input) });
  });

  it('rejects nesting deeper than maxDepth and names where it happened', () => {
    // The root is depth 0: with maxDepth 2, objects at depth 0..2 are fine, depth 3 is not.
    expect(parseJsonSafely(nestedObjects(3), 2).ok).toBe(true);
    expect(parseJsonSafely(nestedObjects(4), 2)).toMatchObject({ ok: false, code: 'too_deep', field: 'a.a.a' });
    expect(parseJsonSafely(nestedArrays(4), 2)).toMatchObject({ ok: false, code: 'too_deep', field: '[0][0][0]' });
    expect(parseJsonSafely('{"x":[{"y":[1]}]}', 2)).toMatchObject({ ok: false, code: 'too_deep', field: 'x[0].y' });
  });

  it('uses a default depth limit that passes ordinary records and stops pathological ones', () => {
    expect(parseJsonSafely(nestedArrays(20)).ok).toBe(true);
    const deep = parseJsonSafely(nestedArrays(100));
    expect(deep).toMatchObject({ ok: false, code: 'too_deep' });
    expect(parseJsonSafely(nestedArrays(10_000))).toMatchObject({ ok: false, code: 'too_deep' });
  });

  it('passes scalars at any depth limit, since only containers count', () => {
    expect(parseJsonSafely('"deep"', 0)).toEqual({ ok: true, value: 'deep' });
    expect(parseJsonSafely('{}', 0)).toEqual({ ok: true, value: {} });
    expect(parseJsonSafely('{"a":{}}', 0)).toMatchObject({ ok: false, code: 'too_deep', field: 'a' });
  });

  it('reports invalid JSON with the parser message', () => {
    for (const input of ['{"before": ', '{before:1}', '', "{'a':1}", '{"a":1}}', '{"a":1} trailing']) {
      let expected = '';
      try {
        JSON.parse(input);
      } catch (err) {
        expected = (err as Error).message;
      }
      expect(expected).not.toBe('');
      expect(parseJsonSafely(input)).toEqual({ ok: false, code: 'invalid_json', message: expected });
    }
  });
});

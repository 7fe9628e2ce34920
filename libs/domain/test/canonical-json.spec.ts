import { InvalidInputError, canonicalJson } from '@rescue/domain';

// canonicalJson is hashed into LLM cache keys, job ids and the LSA embedder's fingerprint (hence
// KB version ids); the ids it produced before it was shared are pinned in cache.spec.ts,
// payloads.spec.ts and lsa-embedder.spec.ts. This pins the text itself.

describe('canonicalJson', () => {
  it('sorts keys at every depth by code unit and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 1, e: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"e":2,"f":1}]},"b":1}');
    expect(canonicalJson({ z: [1, 'é', { y: null, x: -0, w: 1e21 }], $s: 'a', A: true })).toBe('{"$s":"a","A":true,"z":[1,"é",{"w":1e+21,"x":0,"y":null}]}');
  });

  it('drops undefined members and writes undefined items as null, as JSON.stringify does', () => {
    expect(canonicalJson({ a: undefined, b: [undefined, 1] })).toBe('{"b":[null,1]}');
    expect(canonicalJson(undefined)).toBe('null');
    expect(canonicalJson(Number.NaN)).toBe('null');
  });

  it('refuses what is not JSON data rather than hashing it as {}', () => {
    expect(() => canonicalJson({ at: new Date(0) })).toThrow(InvalidInputError);
    expect(() => canonicalJson({ at: new Date(0) })).toThrow('$.at is a Date');
    expect(() => canonicalJson([new Map()])).toThrow('$[0] is a Map');
    expect(() => canonicalJson({ f: () => 1 })).toThrow('$.f is a function');
    expect(() => canonicalJson(1n)).toThrow('$ is a bigint');
  });

  it('accepts records without a prototype (JSON.parse reviver output, Object.create(null))', () => {
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { b: 2, a: 1 });
    expect(canonicalJson(bare)).toBe('{"a":1,"b":2}');
  });
});

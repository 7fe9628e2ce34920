import fc from 'fast-check';
import { decodeStoredHead, decodeStoredPayload, encodeStoredPayload } from '@rescue/datasets';

const code = (n: number): string => Array.from({ length: n }, (_, i) => `\tline ${i} "quoted" \\ back\\slash é 🔒\r\n`).join('');

describe('stored payloads', () => {
  it('keeps a document without long strings as plain JSON', () => {
    const doc = { id: 'a'.repeat(32), language: 'c', n: [1, 2] };
    expect(encodeStoredPayload(doc).toString('utf8')).toBe(JSON.stringify(doc));
  });

  it('writes long strings as raw UTF-8 after the JSON line, and reads back the same object in the same key order', () => {
    const doc = { id: 'b'.repeat(32), before: code(40), cwe: 'CWE-89', after: code(41), changedLines: { deleted: [3], added: [3, 4] } };
    const payload = encodeStoredPayload(doc);
    const text = payload.toString('utf8');
    expect(text.startsWith(`#split before:${Buffer.byteLength(doc.before)} after:${Buffer.byteLength(doc.after)}\n{"id":"${doc.id}","before":0,"cwe":"CWE-89","after":0,`)).toBe(true);
    // The code is there as itself, not escaped.
    expect(text).toContain(doc.before);
    const back = decodeStoredPayload(payload);
    expect(back).toEqual(doc);
    expect(Object.keys(back as object)).toEqual(Object.keys(doc));
    expect(JSON.stringify(back)).toBe(JSON.stringify(doc));
  });

  it("reads a document's head, its long strings left 0, and checks the payload as a whole read does", () => {
    const doc = { id: 'd'.repeat(32), before: code(40), cwe: 'CWE-79', origin: { file: 'a.jsonl', line: 3 }, after: code(2) };
    const payload = encodeStoredPayload(doc);
    const head = decodeStoredHead(payload);
    // `after` is too short to be moved: it stays in the JSON, and in the head.
    expect(head).toEqual({ ...doc, before: 0 });
    expect(Object.keys(head as object)).toEqual(Object.keys(doc));
    expect(decodeStoredHead(encodeStoredPayload({ id: 'e', n: 1 }))).toEqual({ id: 'e', n: 1 });
    // Cut short, or a byte past the end: refused, as decodeStoredPayload refuses it.
    expect(() => decodeStoredHead(payload.subarray(0, payload.length - 5))).toThrow(/does not end where its header says/);
    expect(() => decodeStoredHead(Buffer.concat([payload, Buffer.from('x')]))).toThrow(/past its last string/);
  });

  it('leaves a string with a lone surrogate in the JSON, where it survives', () => {
    const doc = { id: 'c'.repeat(32), before: `${'x'.repeat(300)}\ud800`, after: 'y'.repeat(300) };
    const back = decodeStoredPayload(encodeStoredPayload(doc));
    expect(back).toEqual(doc);
    expect(encodeStoredPayload(doc).toString('utf8')).toMatch(/^#split after:300\n/);
  });

  it('reads back any object as JSON.parse of JSON.stringify would', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), fc.oneof(fc.string({ maxLength: 600, unit: 'binary' }), fc.integer(), fc.constant(null), fc.array(fc.integer()))),
        (doc) => {
          expect(decodeStoredPayload(encodeStoredPayload(doc))).toEqual(JSON.parse(JSON.stringify(doc)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each([
    ['cut short', (p: Buffer) => p.subarray(0, p.length - 10), /does not end where its header says/],
    ['with bytes past its last string', (p: Buffer) => Buffer.concat([p, Buffer.from('x\n')]), /bytes past its last string/],
    ['whose header names a key its JSON does not move', (p: Buffer) => Buffer.from(p.toString('utf8').replace('"before":0', '"before":"x"')), /does not hold as a moved string/],
    ['whose header is no list of key:length', (p: Buffer) => Buffer.from(p.toString('utf8').replace('before:', 'before=')), /not a list of key:length/],
    ['whose header names __proto__', (p: Buffer) => Buffer.from(p.toString('utf8').replace('before:', '__proto__:').replace('"before":0', '"__proto__":0')), /__proto__/],
    ['whose JSON line is not an object', (p: Buffer) => Buffer.from(p.toString('utf8').replace(/\n\{.*?\}\n/, '\n[0]\n')), /not an object/],
  ])('names what is wrong with a split payload %s', (_name, damage, problem) => {
    const payload = encodeStoredPayload({ id: 'd'.repeat(32), before: code(20) });
    expect(() => decodeStoredPayload(damage(payload))).toThrow(problem);
  });

  it('reads plain JSON, as every payload was before the split form', () => {
    expect(decodeStoredPayload(Buffer.from('{"id":"x","before":"a\\nb"}'))).toEqual({ id: 'x', before: 'a\nb' });
    expect(() => decodeStoredPayload(Buffer.from('{"id":'))).toThrow(SyntaxError);
  });
});

import { HashingEmbedder, cosine } from '@rescue/retrieval';

describe('HashingEmbedder', () => {
  const embedder = new HashingEmbedder({ dimensions: 512 });

  it('returns unit vectors of the configured size, deterministically', async () => {
    const [a, b] = await embedder.embed(['yaml.safe_load(stream)', 'yaml.safe_load(stream)']);
    expect(a).toHaveLength(512);
    expect(Math.sqrt(a.reduce((s, x) => s + x * x, 0))).toBeCloseTo(1, 6);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    expect(Buffer.from(new HashingEmbedder({ dimensions: 512 }).embedOne('yaml.safe_load').buffer).equals(Buffer.from(embedder.embedOne('yaml.safe_load').buffer))).toBe(true);
  });

  it('scores by token overlap, across naming conventions', () => {
    const q = embedder.embedOne('getHTTPResponse');
    expect(cosine(q, embedder.embedOne('get_http_response'))).toBeCloseTo(1, 6);
    expect(cosine(embedder.embedOne('sql injection query'), embedder.embedOne('sql query'))).toBeGreaterThan(0.5);
    expect(Math.abs(cosine(embedder.embedOne('sql injection query'), embedder.embedOne('html escape script')))).toBeLessThan(0.2);
  });

  it('uses sublinear term frequency', () => {
    const once = embedder.embedOne('path file');
    const often = embedder.embedOne('path path path path path path path path file');
    // Linear TF would give 8:1 (cosine 0.78 with "path file"); 1 + ln 8 ≈ 3.1 : 1 keeps it closer.
    expect(cosine(once, often)).toBeGreaterThan(0.85);
  });

  it('embeds a text without tokens as zeros', () => {
    expect(embedder.embedOne('').every((x) => x === 0)).toBe(true);
    expect(embedder.embedOne('( ) ; a').every((x) => x === 0)).toBe(true);
  });

  it('describes its parameters, and different seeds are different embedders', () => {
    const d = embedder.describe();
    expect(d).toMatchObject({ id: 'local-hashing', dimensions: 512, params: { seed: 0 } });
    expect(JSON.parse(JSON.stringify(d))).toEqual(d);
    expect(new HashingEmbedder({ dimensions: 512, seed: 1 }).describe()).not.toEqual(d);
    expect(() => new HashingEmbedder({ dimensions: 0 })).toThrow(RangeError);
  });
});

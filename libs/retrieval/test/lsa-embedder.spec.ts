import { InvalidInputError } from '@rescue/domain';
import { HashingEmbedder, LsaEmbedder, SeededRandom, cosine, lsaModelSchemaVerdict, readLsaModel, sameEmbedder, tokenize } from '@rescue/retrieval';

/** The raw bits of a vector, so "identical" means bit-identical (not merely toBeCloseTo). */
const bits = (v: Float32Array): string => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
const norm = (v: Float32Array): number => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

// A small corpus of three weaknesses, generated from word pools with a seeded generator. Path
// traversal comes in two dialects that never share a document: one says "path", the other
// "directory"; they share only "traversal", "file", "folder" and "root" ("../" is punctuation to
// the tokenizer and adds nothing). So exact overlap sees no relation between "path" and
// "directory", and LSA has to infer it from the words each co-occurs with. SQL injection and
// XSS are split the same way ("cursor" vs "concatenation", "escape" vs "sanitize").
const TOPICS: Record<string, string[]> = {
  pathDialect: ['path', 'traversal', 'file', 'filename', '../', 'folder', 'resolve', 'root'],
  directoryDialect: ['directory', 'traversal', 'folder', 'file', 'parent', 'listing', 'root', 'upload'],
  sqlBuilt: ['sql', 'query', 'parameter', 'injection', 'concatenation', 'database', 'statement'],
  sqlCursor: ['sql', 'cursor', 'execute', 'injection', 'query', 'parameterized', 'database', 'placeholder'],
  xssEscape: ['html', 'escape', 'script', 'injection', 'template', 'render', 'page', 'encode'],
  xssSanitize: ['html', 'sanitize', 'script', 'tag', 'attribute', 'browser', 'page', 'markup'],
};
const FILLER = ['user', 'attacker', 'input', 'request', 'data', 'server', 'application', 'value'];

function syntheticCorpus(docsPerTopic: number, seed: number): string[] {
  const rng = new SeededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.nextFloat() * xs.length)];
  const docs: string[] = [];
  for (const pool of Object.values(TOPICS)) {
    for (let d = 0; d < docsPerTopic; d += 1) {
      const words: string[] = [];
      const topical = 3 + Math.floor(rng.nextFloat() * 5);
      for (let w = 0; w < topical; w += 1) words.push(pick(pool));
      const filler = 1 + Math.floor(rng.nextFloat() * 4);
      for (let w = 0; w < filler; w += 1) words.push(pick(FILLER));
      docs.push(words.join(' '));
    }
  }
  return docs;
}

describe('LsaEmbedder', () => {
  const corpus = syntheticCorpus(40, 7);
  // As many latent dimensions as weaknesses. The number of dimensions is LSA's granularity knob:
  // with 6 (one per dialect) the dialects get axes of their own and "path" and "directory" part
  // again; with as many as terms the SVD is a mere rotation of TF-IDF space and reproduces exact
  // overlap. The semantics come from the truncation.
  const model = LsaEmbedder.fit(corpus, { dimensions: 3, seed: 1 });
  const one = (text: string): Float32Array => model.embedOne(text);

  describe('semantics beyond exact word overlap', () => {
    it('never puts "path" and "directory" in the same document (so exact overlap scores them 0)', () => {
      const both = corpus.filter((d) => {
        const t = new Set(tokenize(d));
        return t.has('path') && t.has('directory');
      });
      expect(both).toHaveLength(0);
      const hashing = new HashingEmbedder();
      expect(cosine(hashing.embedOne('path'), hashing.embedOne('directory'))).toBe(0);
    });

    it('relates words of one weakness and separates words of different weaknesses', () => {
      const pathDirectory = cosine(one('path'), one('directory'));
      const directoryTraversal = cosine(one('directory'), one('traversal'));
      const pathSql = cosine(one('path'), one('sql'));
      expect(pathDirectory).toBeGreaterThan(0.8);
      expect(directoryTraversal).toBeGreaterThan(0.8);
      expect(pathSql).toBeLessThan(0.2);
      expect(pathDirectory - pathSql).toBeGreaterThan(0.6);
      expect(directoryTraversal - pathSql).toBeGreaterThan(0.6);
      // The same for the dialects of the other two weaknesses.
      expect(cosine(one('cursor'), one('concatenation'))).toBeGreaterThan(cosine(one('cursor'), one('sanitize')) + 0.6);
      expect(cosine(one('sanitize'), one('escape'))).toBeGreaterThan(cosine(one('sanitize'), one('folder')) + 0.6);
    });

    it('matches sentences that share no topical word with each other', () => {
      const query = one('read a file from a user supplied path');
      const sameWeakness = one('a directory traversal reaches a folder outside the upload root');
      const otherWeakness = one('a sql injection through a query parameter');
      expect(cosine(query, sameWeakness)).toBeGreaterThan(cosine(query, otherWeakness) + 0.6);
    });
  });

  describe('vectors', () => {
    it('are unit length with the model dimensions', async () => {
      const vs = await model.embed(['path traversal', 'sql cursor', 'escape html script']);
      expect(vs).toHaveLength(3);
      for (const v of vs) {
        expect(v).toBeInstanceOf(Float32Array);
        expect(v).toHaveLength(model.dimensions);
        expect(norm(v)).toBeCloseTo(1, 5);
      }
    });

    it('embed a text with no known term (empty, whitespace, unseen words) as zeros, whose cosine is 0', async () => {
      const [empty, blank, unknown] = await model.embed(['', ' \n', 'zebra quantum banana']);
      for (const v of [empty, blank, unknown]) {
        expect(v.every((x) => x === 0)).toBe(true);
        expect(cosine(v, one('path'))).toBe(0);
      }
    });

    it('ignore unknown words and word order', () => {
      expect(bits(one('path traversal zebra'))).toBe(bits(one('path traversal')));
      expect(bits(one('traversal path'))).toBe(bits(one('path traversal')));
    });

    it('never have more dimensions than the corpus supports', () => {
      const small = LsaEmbedder.fit(['sql query injection', 'sql cursor query', 'html script escape', 'html escape page'], { dimensions: 256 });
      expect(small.dimensions).toBeGreaterThan(0);
      expect(small.dimensions).toBeLessThanOrEqual(4);
      expect(small.describe().dimensions).toBe(small.dimensions);
    });
  });

  describe('determinism and persistence', () => {
    it('gives bit-identical vectors for two fits on the same corpus and seed', () => {
      const a = LsaEmbedder.fit(corpus, { dimensions: 3, seed: 1 });
      const b = LsaEmbedder.fit([...corpus], { dimensions: 3, seed: 1 });
      for (const text of ['path', 'directory traversal', 'sql cursor injection', corpus[17]]) {
        expect(bits(a.embedOne(text))).toBe(bits(b.embedOne(text)));
      }
      expect(a.describe()).toEqual(b.describe());
    });

    it('round-trips through JSON text to bit-identical vectors and the same description', () => {
      const text = JSON.stringify(model.toJSON());
      const reloaded = LsaEmbedder.fromJSON(text);
      expect(reloaded.dimensions).toBe(model.dimensions);
      for (const t of ['path', 'directory traversal', 'escape html', corpus[3], corpus[200]]) {
        expect(bits(reloaded.embedOne(t))).toBe(bits(model.embedOne(t)));
      }
      expect(sameEmbedder(reloaded.describe(), model.describe())).toBe(true);
      expect(JSON.stringify(reloaded.toJSON())).toBe(text);
      // Given the fingerprint the caller holds for these bytes, the same description without hashing the model.
      const known = LsaEmbedder.fromJSON(text, model.describe().params.sha256 as string);
      expect(known.describe()).toEqual(model.describe());
    });

    it('describes itself as JSON that tells models apart', () => {
      const d = model.describe();
      expect(JSON.parse(JSON.stringify(d))).toEqual(d);
      expect(d).toMatchObject({ id: 'local-lsa', dimensions: model.dimensions, params: { seed: 1, minDf: 2, corpusSize: corpus.length } });
      const other = LsaEmbedder.fit(syntheticCorpus(40, 8), { dimensions: 3, seed: 1 });
      expect(sameEmbedder(other.describe(), d)).toBe(false);
    });

    it('keeps the fingerprint it had before canonicalJson moved to libs/domain (KB version ids hash it)', () => {
      const stored = {
        format: 'rescue-lsa',
        version: 1,
        tokenizerVersion: 1,
        tokenizer: {
          keepJoined: true,
          stopWords: [
            'a',
            'an',
            'and',
            'are',
            'as',
            'at',
            'be',
            'been',
            'being',
            'but',
            'by',
            'can',
            'could',
            'did',
            'do',
            'does',
            'for',
            'from',
            'had',
            'has',
            'have',
            'he',
            'her',
            'his',
            'how',
            'if',
            'in',
            'into',
            'is',
            'it',
            'its',
            'may',
            'might',
            'of',
            'on',
            'or',
            'our',
            'she',
            'should',
            'so',
            'such',
            'than',
            'that',
            'the',
            'their',
            'them',
            'then',
            'there',
            'these',
            'they',
            'this',
            'those',
            'to',
            'was',
            'we',
            'were',
            'what',
            'when',
            'where',
            'which',
            'while',
            'who',
            'will',
            'with',
            'would',
            'you',
            'your',
          ],
          minLength: 2,
          maxLength: 48,
        },
        params: { requestedDimensions: 2, seed: 1, minDf: 2, maxVocab: 30000, oversampling: 10, powerIterations: 2, sigmaExponent: -0.5 },
        corpusSize: 4,
        dimensions: 2,
        vocabulary: ['input', 'users', 'id', 'path'],
        singularValues: [1.5807249531378516, 1.1406362232220104],
        idf: '+I+cP/iPnD+8YsE/vGLBPw==',
        projection: 'TVffPgIkoT5NV98+AiShvkTDtT5FHhW/RMO1PkUeFT8=',
      };
      expect(LsaEmbedder.fromJSON({ ...stored, format: 'rescue-lsa', version: 1 }).describe().params.sha256).toBe('5ac6c60dab8ef1d1e4c484c9db73a04f6adfed16d5dccb609bfa8f5a1a88903f');
    });

    it('rejects a damaged or incompatible model', () => {
      const json = model.toJSON();
      expect(() => LsaEmbedder.fromJSON({ ...json, projection: json.projection.slice(0, 16) })).toThrow(InvalidInputError);
      expect(() => LsaEmbedder.fromJSON({ ...json, projection: json.projection.slice(0, 16) })).toThrow(/LSA model projection: .* values, expected/);
      expect(() => LsaEmbedder.fromJSON({ ...json, idf: `!${json.idf.slice(1)}` })).toThrow(/LSA model idf: not base64/);
      expect(() => LsaEmbedder.fromJSON({ ...json, tokenizerVersion: 999 })).toThrow(/tokenizer v999/);
      expect(() => LsaEmbedder.fromJSON({ ...json, vocabulary: 'x' } as unknown as typeof json)).toThrow(/not a valid LSA model/);
    });

    it("reads a stored model exactly as its schema does: what the schema refuses is refused with the schema's message", () => {
      const json = JSON.parse(JSON.stringify(model.toJSON())) as Record<string, unknown>;
      const tokenizer = json.tokenizer as Record<string, unknown>;
      const params = json.params as Record<string, unknown>;
      // The stored model, and variants the schema accepts or refuses, field by field.
      const variants: unknown[] = [
        json,
        { ...json, extra: 'left out' },
        { ...json, tokenizer: { ...tokenizer, extra: 1 } },
        null,
        [],
        'rescue-lsa',
        { ...json, format: 'other' },
        { ...json, version: 2 },
        { ...json, tokenizerVersion: 1.5 },
        { ...json, tokenizer: { ...tokenizer, keepJoined: 'yes' } },
        { ...json, tokenizer: { ...tokenizer, stopWords: ['a', 1] } },
        { ...json, tokenizer: { ...tokenizer, minLength: -1 } },
        { ...json, tokenizer: { ...tokenizer, maxLength: 0 } },
        { ...json, tokenizer: [] },
        { ...json, params: { ...params, requestedDimensions: 0 } },
        { ...json, params: { ...params, seed: 0.5 } },
        { ...json, params: { ...params, minDf: 0 } },
        { ...json, params: { ...params, maxVocab: '10' } },
        { ...json, params: { ...params, oversampling: -1 } },
        { ...json, params: { ...params, powerIterations: -2 } },
        { ...json, params: { ...params, sigmaExponent: Infinity } },
        { ...json, params: { ...params, seed: 2 ** 60 } },
        { ...json, corpusSize: -1 },
        { ...json, dimensions: 0 },
        { ...json, vocabulary: ['ok', ''] },
        { ...json, vocabulary: 'x' },
        { ...json, singularValues: [1, Number.NaN] },
        { ...json, idf: 1 },
        { ...json, projection: undefined },
      ];
      let refused = 0;
      for (const v of variants) {
        const verdict = lsaModelSchemaVerdict(v);
        if (verdict.success) {
          expect(readLsaModel(v)).toEqual(verdict.data);
        } else {
          refused += 1;
          expect(() => readLsaModel(v)).toThrow(InvalidInputError);
          expect(() => readLsaModel(v)).toThrow(/^not a valid LSA model: ✖/);
        }
      }
      expect(refused).toBeGreaterThan(20);
      // What is read is the model's own fields in new objects: unknown fields left out, as the schema does.
      expect(readLsaModel({ ...json, extra: 'left out' })).toEqual(json);
      expect(readLsaModel(json).vocabulary).not.toBe(json.vocabulary);
    });
  });

  describe('fit errors', () => {
    it('refuses an empty corpus, a corpus without a shared term, and bad options', () => {
      expect(() => LsaEmbedder.fit([])).toThrow(/empty corpus/);
      expect(() => LsaEmbedder.fit(['alpha beta', 'gamma delta'])).toThrow(/minDf=2/);
      expect(() => LsaEmbedder.fit(corpus, { dimensions: 0 })).toThrow(/dimensions/);
      expect(() => LsaEmbedder.fit(corpus, { minDf: 1.5 })).toThrow(/minDf/);
    });

    it('keeps at most maxVocab terms, those in the most documents', () => {
      const df = new Map<string, number>();
      for (const doc of corpus) for (const t of new Set(tokenize(doc, { keepJoined: true }))) df.set(t, (df.get(t) ?? 0) + 1);
      const top = [...df.entries()]
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, 10)
        .map(([t]) => t);
      const capped = LsaEmbedder.fit(corpus, { dimensions: 3, maxVocab: 10 });
      expect(capped.vocabularySize).toBe(10);
      expect(capped.toJSON().vocabulary).toEqual(top);
    });
  });
});

describe('cosine', () => {
  it('is the cosine, 0 for a zero vector, and refuses mismatched lengths', () => {
    expect(cosine([1, 0], [1, 1])).toBeCloseTo(Math.SQRT1_2, 12);
    expect(cosine([0, 0], [1, 1])).toBe(0);
    expect(() => cosine([1], [1, 2])).toThrow(RangeError);
  });
});

import { createHash } from 'node:crypto';
import { fitSampleIndices, fitSampleKey, fitSampleOfKeys } from '@rescue/retrieval';

const docs = Array.from({ length: 200 }, (_, i) => `document ${i} about ${i % 7 === 0 ? 'paths' : 'queries'}`);
const sha = (t: string): string => createHash('sha256').update(t).digest('hex');

describe('fitSampleIndices', () => {
  it('takes every document, in order, when there are no more than the cap (a small corpus fits as before)', () => {
    const asked: number[] = [];
    expect(
      fitSampleIndices(3, 3, (i) => {
        asked.push(i);
        return docs[i];
      }),
    ).toEqual([0, 1, 2]);
    // Nothing is hashed under the cap: the texts are not even built.
    expect(asked).toEqual([]);
  });

  it('above the cap, takes the documents with the smallest SHA-256 of their text, in their original order', () => {
    const picked = fitSampleIndices(docs.length, 10, (i) => docs[i]);
    const expected = docs
      .map((d, i) => ({ key: sha(d), i }))
      .sort((a, b) => (a.key < b.key ? -1 : 1))
      .slice(0, 10)
      .map((k) => k.i)
      .sort((a, b) => a - b);
    expect(picked).toEqual(expected);
    expect(picked).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('chooses by content: the same texts in another order give the same documents', () => {
    const reversed = [...docs].reverse();
    const picked = fitSampleIndices(docs.length, 25, (i) => docs[i]).map((i) => docs[i]);
    const pickedReversed = fitSampleIndices(reversed.length, 25, (i) => reversed[i]).map((i) => reversed[i]);
    expect([...pickedReversed].sort()).toEqual([...picked].sort());
  });

  it('breaks ties between equal texts by position, so duplicates are chosen deterministically', () => {
    const same = Array.from({ length: 5 }, () => 'same text');
    expect(fitSampleIndices(same.length, 2, (i) => same[i])).toEqual([0, 1]);
  });

  it('refuses a cap below 1', () => {
    expect(() => fitSampleIndices(5, 0, (i) => docs[i])).toThrow(RangeError);
  });
});

describe('fitSampleOfKeys', () => {
  it('chooses what fitSampleIndices chooses, from keys hashed as the documents went by', () => {
    const keys = docs.map(fitSampleKey);
    expect(keys[0]).toBe(sha(docs[0]));
    for (const max of [1, 10, 199, 200, 500]) expect(fitSampleOfKeys(keys, max)).toEqual(fitSampleIndices(docs.length, max, (i) => docs[i]));
    expect(fitSampleOfKeys(['b', 'a', 'a'], 2)).toEqual([1, 2]);
    expect(() => fitSampleOfKeys(keys, 0)).toThrow(RangeError);
  });
});

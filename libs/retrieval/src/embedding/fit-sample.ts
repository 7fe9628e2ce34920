import { sha256Hex } from '@rescue/domain';

/**
 * Which of `count` documents an embedder is fitted on, at most `max` of them: all of them, in
 * order, when there are no more than `max` (so a corpus under the cap fits exactly as it always
 * did); otherwise the `max` whose text has the smallest SHA-256, in their original order.
 *
 * Chosen by content, not by position, so the sample does not depend on the order the documents
 * come in, and a document keeps its place in the sample when others are added: a KB that grows
 * by a few records refits on nearly the same sample. A hash is an unbiased pick across CWEs and
 * languages, which the first `max` (sorted by node and id) would not be.
 *
 * Only the chosen texts are ever asked for twice: `textOf` is called once per document to hash
 * it, and the caller builds the sample's texts from the indices, so no corpus-sized array of
 * strings is held at once.
 */
export function fitSampleIndices(count: number, max: number, textOf: (index: number) => string): number[] {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`the fit sample's size must be an integer ≥ 1, got ${max}`);
  if (count <= max) return Array.from({ length: count }, (_, i) => i);
  return fitSampleOfKeys(
    Array.from({ length: count }, (_, index) => fitSampleKey(textOf(index))),
    max,
  );
}

/** A document's key in the fit sample's choice: its text's SHA-256 (hex). */
export const fitSampleKey = (text: string): string => sha256Hex(text);

/**
 * {@link fitSampleIndices} given every document's {@link fitSampleKey}, in order: for a caller
 * that reads its documents as a stream, hashing each once as it passes and reading the chosen
 * ones again afterwards.
 */
export function fitSampleOfKeys(keys: readonly string[], max: number): number[] {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`the fit sample's size must be an integer ≥ 1, got ${max}`);
  if (keys.length <= max) return Array.from({ length: keys.length }, (_, i) => i);
  const keyed = keys.map((key, index) => ({ key, index }));
  // Equal texts have equal keys: the earlier one first, so the choice is still a function of the input.
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.index - b.index));
  return keyed
    .slice(0, max)
    .map((k) => k.index)
    .sort((a, b) => a - b);
}

import type { CodeExample } from './kb-model';

/**
 * A version's examples in their final order, read a batch at a time, as many times over as the
 * publish needs. A build's examples grow with its records (at 100× the shared data, over a hundred
 * thousand, each with its slices, description and search terms): the index stage reads them from
 * the build's staging pass after pass (facts, fit sample, vectors, version id, `examples.jsonl`)
 * and never holds them all; a small build, or a caller with a list, hands them as one array.
 */
export interface ExampleSource {
  /** How many examples every pass yields. */
  readonly count: number;
  /** The examples, in order, a batch at a time; each call starts a new pass from the first. */
  batches(): AsyncIterable<CodeExample[]>;
}

/** Examples per batch of an in-memory list: the same order, only cut into pieces. */
const LIST_BATCH = 1000;

/** The examples of a list, as a source (the list is read, never copied whole). */
export function exampleList(examples: readonly CodeExample[]): ExampleSource {
  return {
    count: examples.length,
    async *batches() {
      for (let i = 0; i < examples.length; i += LIST_BATCH) yield examples.slice(i, i + LIST_BATCH);
    },
  };
}

/** One source after another. */
export function concatExamples(...sources: ExampleSource[]): ExampleSource {
  return {
    count: sources.reduce((n, s) => n + s.count, 0),
    async *batches() {
      for (const s of sources) yield* s.batches();
    },
  };
}

/** Every example of a source, in order, as one array: for callers that want a list (tests, small KBs). */
export async function collectExamples(source: ExampleSource): Promise<CodeExample[]> {
  const out: CodeExample[] = [];
  for await (const batch of source.batches()) for (const e of batch) out.push(e);
  return out;
}

/** A list, or a source, as a source. */
export const asExampleSource = (examples: readonly CodeExample[] | ExampleSource): ExampleSource => (isExampleList(examples) ? exampleList(examples) : examples);

const isExampleList = (examples: readonly CodeExample[] | ExampleSource): examples is readonly CodeExample[] => Array.isArray(examples);

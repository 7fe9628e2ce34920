/**
 * The local embedder with its fits counted, for the pipeline specs (not a test file itself: jest
 * only runs *.spec.ts and *.int-spec.ts). A model read back from an earlier version is not a fit.
 */
import { type EmbedderFactory, localEmbedder } from '@rescue/knowledge';

export interface CountingEmbedder {
  embedder: EmbedderFactory;
  /** Fits since the last {@link CountingEmbedder.reset} (or since it was made). */
  fits(): number;
  reset(): void;
}

export function countingEmbedder(): CountingEmbedder {
  let fits = 0;
  const embedder: EmbedderFactory = Object.assign(
    async (corpus: string[]) => {
      fits += 1;
      return localEmbedder(corpus);
    },
    { refit: localEmbedder.refit },
  );
  return {
    embedder,
    fits: () => fits,
    reset: () => {
      fits = 0;
    },
  };
}

/**
 * The local embedder with its fits and embedded texts counted, for the pipeline specs (not a test
 * file itself: jest only runs *.spec.ts and *.int-spec.ts). A model read back from an earlier
 * version is not a fit.
 */
import { type BuildEmbedder, type EmbedderFactory, localEmbedder } from '@rescue/knowledge';

export interface CountingEmbedder {
  embedder: EmbedderFactory;
  /** Fits since the last {@link CountingEmbedder.reset} (or since it was made). */
  fits(): number;
  /** Texts embedded since the last reset, by a fitted model or one read back. */
  embedded(): number;
  reset(): void;
}

export function countingEmbedder(): CountingEmbedder {
  let fits = 0;
  let embedded = 0;
  const counted = (model: BuildEmbedder): BuildEmbedder => {
    const embed = model.embed.bind(model);
    return Object.assign(model, {
      embed: (texts: string[]) => {
        embedded += texts.length;
        return embed(texts);
      },
    });
  };
  const refit = localEmbedder.refit;
  const embedder: EmbedderFactory = Object.assign(
    async (corpus: string[]) => {
      fits += 1;
      return counted(await localEmbedder(corpus));
    },
    { refit: refit && { identity: refit.identity, fromJSON: (json: string, fingerprint?: string) => counted(refit.fromJSON(json, fingerprint)) } },
  );
  return {
    embedder,
    fits: () => fits,
    embedded: () => embedded,
    reset: () => {
      fits = 0;
      embedded = 0;
    },
  };
}

import type { Llm } from '@rescue/llm';
import type { Embedder, EmbedderDescription } from './embedder';
import { l2NormalizeToFloat32 } from './vectors';

/**
 * The embedder port over any OpenAI-compatible embeddings endpoint (OpenAI, vLLM, TEI, Ollama).
 * Dimensions are whatever the model returns; they are learned from the first call, so `describe()`
 * is meaningful only after one (the KB build embeds before it records the embedder).
 */
export class LlmEmbedder implements Embedder {
  readonly id = 'openai-compatible';
  private dims = 0;

  constructor(
    private readonly llm: Llm,
    private readonly model: string,
  ) {}

  get dimensions(): number {
    return this.dims;
  }

  describe(): EmbedderDescription {
    return { id: this.id, dimensions: this.dims, params: { model: this.model } };
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    // Empty inputs are refused by some servers; they embed to the zero vector here (cosine 0).
    const nonEmpty = texts.map((t, i) => [t, i] as const).filter(([t]) => t.trim() !== '');
    const { vectors } = await this.llm.embed(nonEmpty.map(([t]) => t));
    if (vectors.length > 0) this.dims = vectors[0].length;
    const out: Float32Array[] = texts.map(() => new Float32Array(this.dims));
    nonEmpty.forEach(([, i], k) => {
      out[i] = l2NormalizeToFloat32(vectors[k]);
    });
    return out;
  }
}

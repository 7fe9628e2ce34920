import { z } from 'zod';
import { InvalidInputError, type JsonValue, float32FromBase64, float32ToBase64 } from '@rescue/domain';
import { type LlmCache, llmCacheKey } from './cache';
import { LLM_ROLES, type LlmRole, type TextRole } from './config';
import { type LlmCallSite, LlmInvalidOutputError } from './errors';
import {
  type EmbedOptions,
  emptyLlmStats,
  type Llm,
  type LlmCallOptions,
  type LlmDescription,
  type LlmEmbeddingResult,
  type LlmStats,
  type LlmStructuredResult,
  type LlmTextResult,
  type LlmUsage,
  type StructuredCallOptions,
} from './llm';
import { type ChatMessage, type PromptTemplate, templateRef } from './prompts/template';
import { parseStructured, runTemplate, structuredMessages, toJsonSchema } from './structured';

// The keys below must stay what LlmClient derived when it held the cache itself (before
// CachedLlm existed): cache directories written then are still read. A change to any key input
// is a change to KEY_FORMAT in cache.ts.

/** A cached text answer: everything of an {@link LlmTextResult} but `cached`. */
const cachedTextEntry = z.object({
  text: z.string(),
  finishReason: z.string(),
  model: z.string(),
  usage: z.object({ promptTokens: z.number(), completionTokens: z.number() }),
});
type CachedTextEntry = z.output<typeof cachedTextEntry>;

/** A cached embedding: the vector as base64 of little-endian float32. */
const cachedVectorEntry = z.object({ vector: z.string() });

/** The counters this decorator adds to the wrapped client's. */
type OwnStats = Pick<LlmStats, 'cacheHits' | 'failures' | 'cacheWriteErrors'> & { byRole: Record<LlmRole, { cacheHits: number; failures: number }> };

/**
 * An {@link Llm} that answers repeated calls from a response cache (style.md C18: results cached
 * by a hash of template version, model and input) and passes the rest to the client it wraps.
 *
 * - Text calls (chat, complete, structured, run) are keyed by the model, the template (or
 *   `adhoc:<endpoint>`) and everything sent that shapes the answer: the messages or prompt, the
 *   sampling settings, and for structured calls the mode, schema name and JSON schema. `maxTokens`
 *   is left out: it does not change a complete answer, and truncated answers are never cached.
 * - Only answers the client accepted are cached, and a cached text that no longer passes the
 *   call's check (the schema changed) is a miss, so a bad answer is never served twice.
 * - Embeddings are cached per text; only the texts not in the cache are sent, in batches of the
 *   client's `embeddingBatchSize`, each batch cached as soon as it arrives.
 * - The cache is best effort: a read that fails is a miss (it only costs a request); a write that
 *   fails is counted in `stats().cacheWriteErrors`, not thrown, since the answer is paid for and valid.
 * - `cache: false` in a call's options bypasses the cache (neither read nor written).
 *
 * `stats()` is the wrapped client's, plus the cache hits and write errors counted here.
 */
export class CachedLlm implements Llm {
  readonly #own: OwnStats = emptyOwnStats();

  constructor(
    private readonly client: Llm,
    private readonly cache: LlmCache,
  ) {}

  describe(): LlmDescription {
    return this.client.describe();
  }

  modelFor(role: LlmRole): string {
    return this.client.modelFor(role);
  }

  stats(): LlmStats {
    const inner = this.client.stats();
    const own = this.#own;
    const byRole = { ...inner.byRole };
    for (const role of LLM_ROLES) {
      byRole[role] = { ...inner.byRole[role], cacheHits: inner.byRole[role].cacheHits + own.byRole[role].cacheHits, failures: inner.byRole[role].failures + own.byRole[role].failures };
    }
    return {
      ...inner,
      cacheHits: inner.cacheHits + own.cacheHits,
      failures: inner.failures + own.failures,
      cacheWriteErrors: inner.cacheWriteErrors + own.cacheWriteErrors,
      byRole,
    };
  }

  chat(role: TextRole, messages: readonly ChatMessage[], options: LlmCallOptions = {}): Promise<LlmTextResult> {
    const keyInput = { endpoint: 'chat', messages: messagesJson(messages), ...samplingJson(options) };
    return this.textCall(
      role,
      'chat',
      options,
      keyInput,
      (hit) => hit,
      () => this.client.chat(role, messages, options),
    );
  }

  complete(role: TextRole, prompt: string, options: LlmCallOptions = {}): Promise<LlmTextResult> {
    const keyInput = { endpoint: 'completions', prompt, ...samplingJson(options) };
    return this.textCall(
      role,
      'completions',
      options,
      keyInput,
      (hit) => hit,
      () => this.client.complete(role, prompt, options),
    );
  }

  structured<T>(role: TextRole, messages: readonly ChatMessage[], schema: z.ZodType<T>, options: StructuredCallOptions = {}): Promise<LlmStructuredResult<T>> {
    // What the client sends, derived the same way (structured.ts), so the key names the request.
    const mode = options.mode ?? this.client.describe().structuredMode ?? 'json_schema';
    const schemaName = options.schemaName ?? 'output';
    const jsonSchema = toJsonSchema(schema);
    const keyInput = { endpoint: 'chat', mode, schemaName, schema: jsonSchema, messages: messagesJson(structuredMessages(messages, jsonSchema, mode)), ...samplingJson(options) };
    const site: LlmCallSite = { role, model: this.client.modelFor(role), endpoint: 'chat' };
    const revive = (hit: LlmTextResult): LlmStructuredResult<T> | undefined => {
      try {
        // Nothing to redact: a failed check on a cached text is a miss, its message never shown.
        return { ...hit, value: parseStructured(hit.text, schema, site, (text) => text) };
      } catch (err) {
        // A cached answer that no longer validates is a miss (the schema changed); anything else is a real failure.
        if (err instanceof LlmInvalidOutputError) return undefined;
        throw err;
      }
    };
    return this.textCall(role, 'chat', options, keyInput, revive, () => this.client.structured(role, messages, schema, options));
  }

  run<I, O>(template: PromptTemplate<I, O>, input: I, options: Omit<StructuredCallOptions, 'template' | 'schemaName'> = {}): Promise<LlmStructuredResult<O>> {
    // Through this.structured, so template runs are cached too (the client's own run would bypass the cache).
    return runTemplate(this, template, input, options);
  }

  async embed(texts: readonly string[], options: EmbedOptions = {}): Promise<LlmEmbeddingResult> {
    if (options.cache === false) return this.client.embed(texts, options);
    const { models, embeddingDimensions: dims, embeddingBatchSize } = this.client.describe();
    const site: LlmCallSite = { role: 'embedder', model: models.embedder, endpoint: 'embeddings' };
    const keys = texts.map((text) => llmCacheKey({ model: site.model, template: 'adhoc:embedding', input: { text, dimensions: dims ?? null } }));
    const vectors = new Array<Float32Array | undefined>(texts.length).fill(undefined);

    const hits = await Promise.all(keys.map((key) => this.read(key)));
    let cachedCount = 0;
    hits.forEach((hit, i) => {
      const entry = cachedVectorEntry.safeParse(hit);
      if (!entry.success) return;
      const vector = cachedVector(entry.data.vector);
      // A vector of another length (the dimensions setting changed under the same key) is a miss.
      if (vector === undefined || vector.length === 0 || (dims !== undefined && vector.length !== dims)) return;
      vectors[i] = vector;
      cachedCount += 1;
    });
    this.countHits('embedder', cachedCount);

    const usage: LlmUsage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
    let model = site.model;
    const missing = vectors.flatMap((v, i) => (v === undefined ? [i] : []));
    const batchSize = embeddingBatchSize ?? 256;
    for (let start = 0; start < missing.length; start += batchSize) {
      const indexes = missing.slice(start, start + batchSize);
      const answer = await this.client.embed(
        indexes.map((i) => texts[i]),
        options,
      );
      model = answer.model;
      usage.promptTokens += answer.usage.promptTokens;
      usage.totalTokens += answer.usage.promptTokens;
      answer.vectors.forEach((v, j) => (vectors[indexes[j]] = v));
      // Each batch as it arrives: a failure in a later batch keeps what was already paid for.
      await Promise.all(answer.vectors.map((v, j) => this.write(keys[indexes[j]], { vector: float32ToBase64(v) })));
    }

    const out = vectors.filter((v): v is Float32Array => v !== undefined);
    const width = out[0]?.length;
    if (out.some((v) => v.length !== width)) {
      this.countFailure('embedder');
      throw new LlmInvalidOutputError(`embeddings from ${site.model} have mixed lengths (cache and server disagree?)`, site, 'shape');
    }
    return { vectors: out, usage, model, cachedCount };
  }

  /**
   * Serves a text call from the cache when it holds an entry that `revive` accepts, otherwise makes
   * the call and caches its answer. The client throws on an answer it does not accept, so nothing
   * unvalidated is written.
   */
  private async textCall<R extends LlmTextResult>(
    role: TextRole,
    endpoint: LlmCallSite['endpoint'],
    options: LlmCallOptions,
    keyInput: { [key: string]: JsonValue },
    revive: (hit: LlmTextResult) => R | undefined,
    call: () => Promise<R>,
  ): Promise<R> {
    if (options.cache === false) return call();
    const key = llmCacheKey({ model: this.client.modelFor(role), template: options.template ? templateRef(options.template) : `adhoc:${endpoint}`, input: keyInput });
    const hit = cachedTextEntry.safeParse(await this.read(key));
    if (hit.success) {
      const result = revive({ ...fromCached(hit.data), cached: true });
      if (result !== undefined) {
        this.countHits(role, 1);
        return result;
      }
    }
    const result = await call();
    const { promptTokens, completionTokens } = result.usage;
    await this.write(key, { text: result.text, finishReason: result.finishReason, model: result.model, usage: { promptTokens, completionTokens } } satisfies CachedTextEntry);
    return result;
  }

  private async read(key: string): Promise<JsonValue | undefined> {
    try {
      return await this.cache.get(key);
    } catch (_unreadable) {
      // Swallowed on purpose: a broken cache (unreadable dir) must not stop the pipeline, it only costs a request.
      return undefined;
    }
  }

  private async write(key: string, value: JsonValue): Promise<void> {
    try {
      await this.cache.set(key, value);
    } catch (_unwritable) {
      // Counted, not thrown: the answer is paid for and valid; failing the call would pay for it again on retry.
      this.#own.cacheWriteErrors += 1;
    }
  }

  private countHits(role: LlmRole, n: number): void {
    this.#own.cacheHits += n;
    this.#own.byRole[role].cacheHits += n;
  }

  private countFailure(role: LlmRole): void {
    this.#own.failures += 1;
    this.#own.byRole[role].failures += 1;
  }
}

/**
 * `client` with the response cache in front of it (see {@link CachedLlm}), or `client` itself when
 * there is no cache (`LLM_CACHE=none`).
 */
export function withResponseCache(client: Llm, cache: LlmCache | undefined): Llm {
  return cache === undefined ? client : new CachedLlm(client, cache);
}

function emptyOwnStats(): OwnStats {
  const { cacheHits, failures, cacheWriteErrors, byRole } = emptyLlmStats();
  return { cacheHits, failures, cacheWriteErrors, byRole };
}

function fromCached(entry: CachedTextEntry): Omit<LlmTextResult, 'cached'> {
  const { promptTokens, completionTokens } = entry.usage;
  return { text: entry.text, finishReason: entry.finishReason, model: entry.model, usage: { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens } };
}

/** A cached vector, or undefined for a damaged entry: like any unreadable entry, a miss that the call rewrites. */
function cachedVector(base64: string): Float32Array | undefined {
  try {
    return float32FromBase64(base64, 'cached embedding');
  } catch (err) {
    if (err instanceof InvalidInputError) return undefined;
    throw err;
  }
}

function messagesJson(messages: readonly ChatMessage[]): JsonValue {
  return messages.map((m) => ({ role: m.role, content: m.content }));
}

/**
 * The sampling settings of a call's key. maxTokens is left out on purpose: it does not change a
 * complete answer, and truncated answers are never cached, so raising the budget after a
 * truncation still hits the cache for everything that already fit.
 */
function samplingJson(options: LlmCallOptions): { [key: string]: JsonValue } {
  return { temperature: options.temperature ?? null, seed: options.seed ?? null };
}

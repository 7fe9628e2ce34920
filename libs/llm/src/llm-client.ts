import { performance } from 'node:perf_hooks';
import OpenAI from 'openai';
import { z } from 'zod';
import type { LlmEnv } from '@rescue/config';
import { ConfigError, InvalidInputError } from '@rescue/domain';
import { createLlmCache, type JsonValue, type LlmCache, llmCacheKey } from './cache';
import { classifyLlmError } from './classify-error';
import { describeLlmConfig, LLM_ROLES, redactSecret, type LlmConfig, llmCacheSettingsFromEnv, llmConfigFromEnv, type LlmRole, type TextRole } from './config';
import { type LlmCallSite, LlmInvalidOutputError, LlmRefusalError, LlmTruncatedError } from './errors';
import { type ChatMessage, type PromptTemplate, templateRef } from './prompts/template';

/** Per-call settings. Every field is optional; the client's configuration supplies the defaults. */
export interface LlmCallOptions {
  /** Output budget for this call (defaults to the configured `maxTokens`). */
  maxTokens?: number;
  temperature?: number;
  /** Sampling seed, for servers that honour it (reliability.md §3.4: "mostly" reproducible). */
  seed?: number;
  /** Overrides the configured request timeout. */
  timeoutMs?: number;
  /** Cancels the request (e.g. on worker shutdown); surfaces as a transient error. */
  signal?: AbortSignal;
  /** Set false to bypass the cache for this call (neither read nor written). */
  cache?: boolean;
  /** The template that produced the messages; names the call in its cache key. */
  template?: { id: string; version: number };
}

/** Settings of {@link LlmClient.structured} on top of {@link LlmCallOptions}. */
export interface StructuredCallOptions extends LlmCallOptions {
  /** Name of the JSON schema sent with `json_schema` mode (`[A-Za-z0-9_-]`, at most 64). Default `output`. */
  schemaName?: string;
  /** Overrides the configured structured mode for this call. */
  mode?: 'json_schema' | 'json_object';
}

/** Settings of {@link LlmClient.embed}. */
export interface EmbedOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  cache?: boolean;
}

/** Tokens one call used, as the server reported them (zeros when it reported nothing). */
export interface LlmUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** The answer of a chat or completion call. */
export interface LlmTextResult {
  text: string;
  /** The server's finish reason (normally `stop`; anything that makes the text unusable throws instead). */
  finishReason: string;
  /** Usage of the call that produced the text (for a cache hit, the original call's usage; no tokens were spent). */
  usage: LlmUsage;
  /** The model the server says answered. */
  model: string;
  /** True when served from the cache without an HTTP request. */
  cached: boolean;
}

/** The answer of a structured call: the text and the value parsed from it. */
export interface LlmStructuredResult<T> extends LlmTextResult {
  value: T;
}

/** The answer of an embedding call. */
export interface LlmEmbeddingResult {
  /** One vector per input text, in input order. */
  vectors: Float32Array[];
  /** Tokens of the texts actually sent (cached texts cost nothing). */
  usage: LlmUsage;
  model: string;
  /** How many of the texts came from the cache. */
  cachedCount: number;
}

/** Running counters of one role. */
export interface LlmRoleStats {
  /** HTTP requests sent. */
  requests: number;
  /** Calls (for embeddings: texts) answered from the cache without a request. */
  cacheHits: number;
  /** Calls that threw, for any reason (upstream, truncation, refusal, invalid output). */
  failures: number;
  promptTokens: number;
  completionTokens: number;
}

/** Running counters of a client: totals and per role. */
export interface LlmStats extends LlmRoleStats {
  /** Answers that could not be written to the cache (the call itself still succeeded). */
  cacheWriteErrors: number;
  byRole: Record<LlmRole, LlmRoleStats>;
}

/**
 * What the pipeline stages depend on. {@link LlmClient} implements it against a real server;
 * tests run the same client against `FakeOpenAiServer` from @rescue/testing.
 */
export interface Llm {
  /** A chat completion; returns the assistant's text. */
  chat(role: TextRole, messages: readonly ChatMessage[], options?: LlmCallOptions): Promise<LlmTextResult>;
  /** A legacy `/completions` call (for completion-style models that take a raw prompt, paper App. D.2.1). */
  complete(role: TextRole, prompt: string, options?: LlmCallOptions): Promise<LlmTextResult>;
  /** A chat completion whose answer must be JSON that satisfies `schema`. */
  structured<T>(role: TextRole, messages: readonly ChatMessage[], schema: z.ZodType<T>, options?: StructuredCallOptions): Promise<LlmStructuredResult<T>>;
  /** Renders a prompt template and runs it as a structured call with the template's role and output schema. */
  run<I, O>(template: PromptTemplate<I, O>, input: I, options?: Omit<StructuredCallOptions, 'template' | 'schemaName'>): Promise<LlmStructuredResult<O>>;
  /** Embeds texts with the embedder model. */
  embed(texts: readonly string[], options?: EmbedOptions): Promise<LlmEmbeddingResult>;
  /** A snapshot of the running counters. */
  stats(): LlmStats;
}

/** Extra collaborators of {@link LlmClient}. */
export interface LlmClientDeps {
  /** Where answers are cached; no caching when absent. */
  cache?: LlmCache;
}

const cachedTextEntry = z.object({
  text: z.string(),
  finishReason: z.string(),
  model: z.string(),
  usage: z.object({ promptTokens: z.number(), completionTokens: z.number() }),
});
type CachedTextEntry = z.output<typeof cachedTextEntry>;

const cachedVectorEntry = z.object({ vector: z.string() });

const SCHEMA_NAME = /^[A-Za-z0-9_-]{1,64}$/;

type Endpoint = LlmCallSite['endpoint'];

/** What one text request produced, before the caller-specific validation. */
interface TextAnswer {
  text: string;
  finishReason: string;
  model: string;
  usage: LlmUsage;
}

/**
 * The LLM client, through the official `openai` SDK (reliability.md §3). The SDK's own retries
 * are off (`maxRetries: 0`) because the queue owns retries: SDK retries inside queue attempts
 * multiply the calls (and the bill) and hide rate limits from the queue's limiter. Every request
 * has an explicit timeout. Failures come out as the shared error classes (see classifyLlmError),
 * answers are checked for truncation and refusal before anyone reads them, and the API key lives
 * only in private fields, never in messages.
 */
export class LlmClient implements Llm {
  readonly #sdk: OpenAI;
  readonly #config: LlmConfig;
  readonly #cache: LlmCache | undefined;
  readonly #stats: LlmStats;

  constructor(config: LlmConfig, deps: LlmClientDeps = {}) {
    validateConfig(config);
    this.#config = { ...config, models: { ...config.models } };
    this.#cache = deps.cache;
    this.#stats = emptyStats();
    this.#sdk = new OpenAI({
      baseURL: config.baseUrl,
      // The SDK refuses to start without a key; local servers (llama-server, vLLM) ignore this one.
      apiKey: config.apiKey ?? 'no-key',
      // Explicit nulls stop the SDK from picking these up from OPENAI_* variables behind our config.
      organization: null,
      project: null,
      webhookSecret: null,
      maxRetries: 0,
      timeout: config.timeoutMs,
      // Debug logging would print whole request bodies (reliability.md §3.1); we report through errors and stats.
      logLevel: 'off',
    });
  }

  /**
   * A client from the validated environment, or undefined when no LLM is configured
   * (LLM_BASE_URL unset). The cache follows LLM_CACHE / LLM_CACHE_DIR.
   */
  static fromEnv(env: LlmEnv, options: { dataDir?: string } = {}): LlmClient | undefined {
    const config = llmConfigFromEnv(env);
    if (!config) return undefined;
    return new LlmClient(config, { cache: createLlmCache(llmCacheSettingsFromEnv(env, options.dataDir)) });
  }

  /** The configuration with the API key masked: safe to log. */
  describe(): ReturnType<typeof describeLlmConfig> {
    return describeLlmConfig(this.#config);
  }

  /** The model that serves a role. */
  modelFor(role: LlmRole): string {
    return this.#config.models[role];
  }

  stats(): LlmStats {
    const byRole = {} as Record<LlmRole, LlmRoleStats>;
    for (const role of LLM_ROLES) byRole[role] = { ...this.#stats.byRole[role] };
    return { ...this.#stats, byRole };
  }

  async chat(role: TextRole, messages: readonly ChatMessage[], options: LlmCallOptions = {}): Promise<LlmTextResult> {
    const site = this.site(role, 'chat');
    const sent = toSdkMessages(messages);
    const keyInput = { endpoint: 'chat', messages: messagesJson(messages), ...this.samplingJson(options) };
    const { value: _text, ...result } = await this.textCall(site, options, keyInput, () => this.sendChat(site, sent, options, undefined), (text) => text);
    return result;
  }

  async complete(role: TextRole, prompt: string, options: LlmCallOptions = {}): Promise<LlmTextResult> {
    const site = this.site(role, 'completions');
    const keyInput = { endpoint: 'completions', prompt, ...this.samplingJson(options) };
    const { value: _text, ...result } = await this.textCall(site, options, keyInput, () => this.sendCompletion(site, prompt, options), (text) => text);
    return result;
  }

  async structured<T>(
    role: TextRole,
    messages: readonly ChatMessage[],
    schema: z.ZodType<T>,
    options: StructuredCallOptions = {},
  ): Promise<LlmStructuredResult<T>> {
    const site = this.site(role, 'chat');
    const mode = options.mode ?? this.#config.structuredMode ?? 'json_schema';
    const name = options.schemaName ?? 'output';
    if (!SCHEMA_NAME.test(name)) throw new InvalidInputError(`schema name ${JSON.stringify(name)} must match ${SCHEMA_NAME}`);
    const jsonSchema = toJsonSchema(schema);
    // json_object mode carries no schema on the wire, so the model reads it from the prompt (OpenAI
    // also insists that the word "JSON" appears in the messages in this mode).
    const all: ChatMessage[] =
      mode === 'json_object'
        ? [{ role: 'system', content: `Reply with one JSON object that conforms to this JSON Schema:\n${JSON.stringify(jsonSchema)}` }, ...messages]
        : [...messages];
    // strict:false because strict mode rejects common zod output (optional fields, minLength);
    // the zod check below is the real gate either way (reliability.md §3.2).
    const responseFormat: OpenAI.Chat.ChatCompletionCreateParams['response_format'] =
      mode === 'json_schema' ? { type: 'json_schema', json_schema: { name, schema: jsonSchema, strict: false } } : { type: 'json_object' };
    const keyInput = { endpoint: 'chat', mode, schemaName: name, schema: jsonSchema, messages: messagesJson(all), ...this.samplingJson(options) };
    return this.textCall(
      site,
      options,
      keyInput,
      () => this.sendChat(site, toSdkMessages(all), options, responseFormat),
      (text) => parseStructured(text, schema, site, (t) => redactSecret(t, this.#config.apiKey)),
    );
  }

  async run<I, O>(template: PromptTemplate<I, O>, input: I, options: Omit<StructuredCallOptions, 'template' | 'schemaName'> = {}): Promise<LlmStructuredResult<O>> {
    const parsed = template.input.safeParse(input);
    if (!parsed.success) {
      throw new InvalidInputError(`input of prompt template ${templateRef(template)} is invalid: ${formatIssues(parsed.error).join('; ')}`);
    }
    const messages = template.render(parsed.data);
    return this.structured(template.role, messages, template.output, {
      ...options,
      template: { id: template.id, version: template.version },
      schemaName: template.id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64),
    });
  }

  async embed(texts: readonly string[], options: EmbedOptions = {}): Promise<LlmEmbeddingResult> {
    const site = this.site('embedder', 'embeddings');
    const usage: LlmUsage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
    const vectors = new Array<Float32Array | undefined>(texts.length).fill(undefined);
    const dims = this.#config.embeddingDimensions;
    const useCache = this.#cache !== undefined && options.cache !== false;
    const keys = useCache ? texts.map((text) => llmCacheKey({ model: site.model, template: 'adhoc:embedding', input: { text, dimensions: dims ?? null } })) : [];
    let cachedCount = 0;
    let model = site.model;

    try {
      if (useCache) {
        const hits = await Promise.all(keys.map((k) => this.readCache(k)));
        hits.forEach((hit, i) => {
          const entry = cachedVectorEntry.safeParse(hit);
          if (!entry.success) return;
          const vector = float32FromBase64(entry.data.vector);
          if (vector.length === 0 || (dims !== undefined && vector.length !== dims)) return;
          vectors[i] = vector;
          cachedCount += 1;
        });
        this.#stats.cacheHits += cachedCount;
        this.#stats.byRole.embedder.cacheHits += cachedCount;
      }
      const missing = vectors.flatMap((v, i) => (v === undefined ? [i] : []));
      const batchSize = this.#config.embeddingBatchSize ?? 256;
      for (let start = 0; start < missing.length; start += batchSize) {
        const indexes = missing.slice(start, start + batchSize);
        const answer = await this.sendEmbeddings(site, indexes.map((i) => texts[i]), options);
        model = answer.model;
        usage.promptTokens += answer.promptTokens;
        usage.totalTokens += answer.promptTokens;
        answer.vectors.forEach((v, j) => (vectors[indexes[j]] = v));
        if (useCache) await Promise.all(answer.vectors.map((v, j) => this.writeCache(keys[indexes[j]], { vector: float32ToBase64(v) })));
      }
    } catch (err) {
      this.countFailure('embedder');
      throw this.scrub(err);
    }
    const out = vectors.filter((v): v is Float32Array => v !== undefined);
    const width = out[0]?.length;
    if (out.some((v) => v.length !== width)) {
      this.countFailure('embedder');
      throw new LlmInvalidOutputError(`embeddings from ${site.model} have mixed lengths (cache and server disagree?)`, site, 'shape');
    }
    return { vectors: out, usage, model, cachedCount };
  }

  // ---- shared plumbing --------------------------------------------------------------------------

  /**
   * Serves a text call from the cache when it has a valid entry, otherwise sends the request,
   * validates the answer, and caches it. Only validated answers are cached, and a cached entry
   * that no longer validates counts as a miss, so a bad answer is never served twice.
   */
  private async textCall<V>(
    site: LlmCallSite & { role: TextRole },
    options: LlmCallOptions,
    keyInput: { [key: string]: JsonValue },
    send: () => Promise<TextAnswer>,
    accept: (text: string) => V,
  ): Promise<LlmTextResult & { value: V }> {
    const key =
      this.#cache !== undefined && options.cache !== false
        ? llmCacheKey({ model: site.model, template: options.template ? templateRef(options.template) : `adhoc:${site.endpoint}`, input: keyInput })
        : undefined;
    try {
      if (key !== undefined) {
        const hit = cachedTextEntry.safeParse(await this.readCache(key));
        if (hit.success) {
          const value = tryAccept(accept, hit.data.text);
          if (value.ok) {
            this.#stats.cacheHits += 1;
            this.#stats.byRole[site.role].cacheHits += 1;
            return { ...fromCached(hit.data), cached: true, value: value.value };
          }
        }
      }
      const answer = await send();
      const value = accept(answer.text);
      if (key !== undefined) {
        const entry: CachedTextEntry = {
          text: answer.text,
          finishReason: answer.finishReason,
          model: answer.model,
          usage: { promptTokens: answer.usage.promptTokens, completionTokens: answer.usage.completionTokens },
        };
        await this.writeCache(key, entry);
      }
      return { ...answer, cached: false, value };
    } catch (err) {
      this.countFailure(site.role);
      throw this.scrub(err);
    }
  }

  private async sendChat(
    site: LlmCallSite & { role: TextRole },
    messages: OpenAI.Chat.ChatCompletionMessageParam[],
    options: LlmCallOptions,
    responseFormat: OpenAI.Chat.ChatCompletionCreateParams['response_format'] | undefined,
  ): Promise<TextAnswer> {
    const maxTokens = options.maxTokens ?? this.#config.maxTokens;
    const body: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming = {
      model: site.model,
      messages,
      ...((this.#config.maxTokensParam ?? 'max_completion_tokens') === 'max_tokens' ? { max_tokens: maxTokens } : { max_completion_tokens: maxTokens }),
      ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(responseFormat !== undefined ? { response_format: responseFormat } : {}),
    };
    const completion = await this.request(site, options, (o) => this.#sdk.chat.completions.create(body, o));
    const usage = this.countUsage(site.role, completion.usage);
    const choice = completion.choices[0];
    if (choice === undefined) throw new LlmInvalidOutputError(`chat answer from ${site.model} has no choices`, site, 'shape');
    const refusal = choice.message.refusal;
    if (typeof refusal === 'string' && refusal !== '') {
      // Model text goes into the error, so it is scrubbed like any upstream text.
      const shown = redactSecret(refusal, this.#config.apiKey);
      throw new LlmRefusalError(`model ${site.model} refused the ${site.role} request: ${shown.slice(0, 300)}`, site, shown);
    }
    checkFinish(site, choice.finish_reason, maxTokens, choice.message.content ?? '');
    if (choice.message.content === null) throw new LlmInvalidOutputError(`chat answer from ${site.model} has no content`, site, 'empty');
    return { text: choice.message.content, finishReason: choice.finish_reason, model: completion.model || site.model, usage };
  }

  private async sendCompletion(site: LlmCallSite & { role: TextRole }, prompt: string, options: LlmCallOptions): Promise<TextAnswer> {
    const maxTokens = options.maxTokens ?? this.#config.maxTokens;
    const body: OpenAI.CompletionCreateParamsNonStreaming = {
      model: site.model,
      prompt,
      max_tokens: maxTokens,
      ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
    };
    const completion = await this.request(site, options, (o) => this.#sdk.completions.create(body, o));
    const usage = this.countUsage(site.role, completion.usage);
    const choice = completion.choices[0];
    if (choice === undefined) throw new LlmInvalidOutputError(`completion answer from ${site.model} has no choices`, site, 'shape');
    checkFinish(site, choice.finish_reason, maxTokens, choice.text);
    return { text: choice.text, finishReason: choice.finish_reason, model: completion.model || site.model, usage };
  }

  private async sendEmbeddings(
    site: LlmCallSite,
    input: string[],
    options: EmbedOptions,
  ): Promise<{ vectors: Float32Array[]; promptTokens: number; model: string }> {
    const dims = this.#config.embeddingDimensions;
    const body: OpenAI.EmbeddingCreateParams = {
      model: site.model,
      input,
      ...(dims !== undefined ? { dimensions: dims } : {}),
      // Leaving encoding_format out makes the SDK ask for base64 and decode it (dependencies.md §7).
      ...(this.#config.embeddingEncoding === 'float' ? { encoding_format: 'float' as const } : {}),
    };
    const response = await this.request(site, options, (o) => this.#sdk.embeddings.create(body, o));
    const promptTokens = response.usage?.prompt_tokens ?? 0;
    this.#stats.promptTokens += promptTokens;
    this.#stats.byRole.embedder.promptTokens += promptTokens;
    if (response.data.length !== input.length) {
      throw new LlmInvalidOutputError(`embeddings from ${site.model}: sent ${input.length} texts, got ${response.data.length} vectors`, site, 'shape');
    }
    const vectors = new Array<Float32Array>(input.length);
    for (const item of response.data) {
      const raw: unknown = item.embedding;
      // The SDK decodes base64 only when it chose the format itself; a string here means a server
      // sent base64 anyway, which we decode rather than reject.
      const vector = typeof raw === 'string' ? float32FromBase64(raw) : isNumberArray(raw) ? Float32Array.from(raw) : undefined;
      if (vector === undefined || !Number.isInteger(item.index) || item.index < 0 || item.index >= input.length) {
        throw new LlmInvalidOutputError(`embeddings from ${site.model}: malformed item at index ${String(item.index)}`, site, 'shape');
      }
      if (vector.length === 0 || (dims !== undefined && vector.length !== dims) || vector.some((x) => !Number.isFinite(x))) {
        throw new LlmInvalidOutputError(`embeddings from ${site.model}: vector ${item.index} has length ${vector.length} or non-finite values`, site, 'shape');
      }
      vectors[item.index] = vector;
    }
    if (vectors.some((v) => v === undefined)) throw new LlmInvalidOutputError(`embeddings from ${site.model}: duplicate indexes`, site, 'shape');
    return { vectors, promptTokens, model: response.model || site.model };
  }

  /** One SDK call with our timeout and no SDK retries; failures come back classified. */
  private async request<R>(site: LlmCallSite, options: { timeoutMs?: number; signal?: AbortSignal }, call: (o: OpenAI.RequestOptions) => PromiseLike<R>): Promise<R> {
    const timeoutMs = options.timeoutMs ?? this.#config.timeoutMs;
    this.#stats.requests += 1;
    this.#stats.byRole[site.role].requests += 1;
    const started = performance.now();
    try {
      return await call({ timeout: timeoutMs, maxRetries: 0, ...(options.signal ? { signal: options.signal } : {}) });
    } catch (err) {
      throw classifyLlmError(err, { ...site, timeoutMs, elapsedMs: performance.now() - started, secret: this.#config.apiKey });
    }
  }

  private countUsage(role: TextRole, usage: OpenAI.CompletionUsage | undefined): LlmUsage {
    const promptTokens = usage?.prompt_tokens ?? 0;
    const completionTokens = usage?.completion_tokens ?? 0;
    this.#stats.promptTokens += promptTokens;
    this.#stats.completionTokens += completionTokens;
    this.#stats.byRole[role].promptTokens += promptTokens;
    this.#stats.byRole[role].completionTokens += completionTokens;
    return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
  }

  /**
   * Last line of defence for the key: errors are built from scrubbed text already, but a message
   * assembled anywhere else (a cause's text, a future code path) is scrubbed here too.
   */
  private scrub(err: unknown): unknown {
    const secret = this.#config.apiKey;
    if (secret === undefined || !(err instanceof Error)) return err;
    if (err.message.includes(secret)) err.message = redactSecret(err.message, secret);
    if (err.stack?.includes(secret)) err.stack = redactSecret(err.stack, secret);
    return err;
  }

  private countFailure(role: LlmRole): void {
    this.#stats.failures += 1;
    this.#stats.byRole[role].failures += 1;
  }

  private async readCache(key: string): Promise<JsonValue | undefined> {
    try {
      return await this.#cache?.get(key);
    } catch (_unreadable) {
      // Swallowed on purpose: a broken cache (unreadable dir) must not stop the pipeline, it only costs a request.
      return undefined;
    }
  }

  private async writeCache(key: string, value: JsonValue): Promise<void> {
    try {
      await this.#cache?.set(key, value);
    } catch (_unwritable) {
      // Counted, not thrown: the answer is paid for and valid; failing the call would pay for it again on retry.
      this.#stats.cacheWriteErrors += 1;
    }
  }

  private site<R extends LlmRole>(role: R, endpoint: Endpoint): LlmCallSite & { role: R } {
    if (!(LLM_ROLES as readonly string[]).includes(role)) throw new InvalidInputError(`unknown LLM role ${JSON.stringify(role)}`);
    return { role, model: this.#config.models[role], endpoint };
  }

  private samplingJson(options: LlmCallOptions): { [key: string]: JsonValue } {
    // maxTokens is left out on purpose: it does not change a complete answer, and truncated
    // answers are never cached, so raising the budget after a truncation still hits the cache
    // for everything that already fit.
    return { temperature: options.temperature ?? null, seed: options.seed ?? null };
  }
}

function validateConfig(config: LlmConfig): void {
  const problems: string[] = [];
  const url = URL.canParse(config.baseUrl) ? new URL(config.baseUrl) : undefined;
  if (!url) problems.push('baseUrl: not a URL');
  if (url && url.protocol !== 'http:' && url.protocol !== 'https:') problems.push('baseUrl: must be http(s)');
  if (!Number.isInteger(config.timeoutMs) || config.timeoutMs <= 0) problems.push('timeoutMs: must be a positive integer');
  if (!Number.isInteger(config.maxTokens) || config.maxTokens <= 0) problems.push('maxTokens: must be a positive integer');
  for (const role of LLM_ROLES) if (!config.models[role]) problems.push(`models.${role}: missing`);
  const batch = config.embeddingBatchSize;
  if (batch !== undefined && (!Number.isInteger(batch) || batch <= 0)) problems.push('embeddingBatchSize: must be a positive integer');
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `LLM ${p}`));
}

function emptyRoleStats(): LlmRoleStats {
  return { requests: 0, cacheHits: 0, failures: 0, promptTokens: 0, completionTokens: 0 };
}

function emptyStats(): LlmStats {
  const byRole = {} as Record<LlmRole, LlmRoleStats>;
  for (const role of LLM_ROLES) byRole[role] = emptyRoleStats();
  return { ...emptyRoleStats(), cacheWriteErrors: 0, byRole };
}

function checkFinish(site: LlmCallSite, finishReason: string, maxTokens: number, text: string): void {
  if (finishReason === 'length') {
    throw new LlmTruncatedError(
      `answer of ${site.model} (${site.role}) was cut off at the output budget of ${maxTokens} tokens; raise maxTokens or send less input`,
      site,
      maxTokens,
      text.length,
    );
  }
  if (finishReason === 'content_filter') {
    throw new LlmRefusalError(`answer of ${site.model} (${site.role}) was stopped by the provider's content filter`, site, 'content_filter');
  }
}

function parseStructured<T>(text: string, schema: z.ZodType<T>, site: LlmCallSite, redact: (text: string) => string): T {
  let json: unknown;
  try {
    json = JSON.parse(stripJsonFence(text));
  } catch (err) {
    // V8's message quotes the start of the text, which is model output.
    const why = redact(err instanceof Error ? err.message : String(err));
    throw new LlmInvalidOutputError(`answer of ${site.model} (${site.role}) is not JSON: ${why}`, site, 'json');
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issues = formatIssues(result.error).map(redact);
    throw new LlmInvalidOutputError(`answer of ${site.model} (${site.role}) does not match the schema: ${issues.slice(0, 5).join('; ')}`, site, 'schema', issues);
  }
  return result.data;
}

/** Some servers wrap JSON in a markdown fence even in JSON mode; accept exactly that and nothing looser. */
function stripJsonFence(text: string): string {
  const m = /^\s*```(?:json)?\s*\n([\s\S]*?)\n\s*```\s*$/i.exec(text);
  return m ? m[1] : text;
}

function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`);
}

function tryAccept<V>(accept: (text: string) => V, text: string): { ok: true; value: V } | { ok: false } {
  try {
    return { ok: true, value: accept(text) };
  } catch (err) {
    // A cached answer that no longer validates is a miss (the schema changed); anything else is a real failure.
    if (err instanceof LlmInvalidOutputError) return { ok: false };
    throw err;
  }
}

function fromCached(entry: CachedTextEntry): Omit<LlmTextResult, 'cached'> {
  const { promptTokens, completionTokens } = entry.usage;
  return { text: entry.text, finishReason: entry.finishReason, model: entry.model, usage: { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens } };
}

/**
 * The JSON Schema the model must produce: zod's *input* side, since that is what `safeParse`
 * accepts. `$schema` is dropped because some servers reject unknown top-level keywords.
 */
function toJsonSchema(schema: z.ZodType): { [key: string]: JsonValue } {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { [key: string]: JsonValue };
  return rest;
}

function toSdkMessages(messages: readonly ChatMessage[]): OpenAI.Chat.ChatCompletionMessageParam[] {
  return messages.map((m): OpenAI.Chat.ChatCompletionMessageParam => {
    switch (m.role) {
      case 'system':
        return { role: 'system', content: m.content };
      case 'user':
        return { role: 'user', content: m.content };
      case 'assistant':
        return { role: 'assistant', content: m.content };
      default:
        throw new InvalidInputError(`unknown chat message role ${JSON.stringify((m as { role: unknown }).role)}`);
    }
  });
}

function isNumberArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((x) => typeof x === 'number');
}

function messagesJson(messages: readonly ChatMessage[]): JsonValue {
  return messages.map((m) => ({ role: m.role, content: m.content }));
}

/** Little-endian float32 → base64, the wire format of OpenAI embeddings (used for cache entries). */
function float32ToBase64(values: Float32Array): string {
  const buf = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => buf.writeFloatLE(v, i * 4));
  return buf.toString('base64');
}

/** base64 of little-endian float32 → Float32Array (empty when the byte length is not a multiple of 4). */
function float32FromBase64(text: string): Float32Array {
  const buf = Buffer.from(text, 'base64');
  if (buf.length % 4 !== 0) return new Float32Array(0);
  const out = new Float32Array(buf.length / 4);
  for (let i = 0; i < out.length; i += 1) out[i] = buf.readFloatLE(i * 4);
  return out;
}

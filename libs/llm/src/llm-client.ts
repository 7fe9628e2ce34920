import { performance } from 'node:perf_hooks';
import type OpenAI from 'openai';
import type { z } from 'zod';
import { ConfigError, InvalidInputError, float32FromBase64 } from '@rescue/domain';
import { notifyLlmCall } from './call-observers';
import { classifyLlmError, openaiSdk } from './classify-error';
import { describeLlmConfig, LLM_ROLES, redactSecret, type LlmConfig, type LlmRole, type TextRole } from './config';
import { type LlmCallSite, LlmInvalidOutputError, LlmRefusalError, LlmTruncatedError } from './errors';
import {
  emptyLlmStats,
  type EmbedOptions,
  type Llm,
  type LlmCallOptions,
  type LlmDescription,
  type LlmEmbeddingResult,
  type LlmRoleStats,
  type LlmStats,
  type LlmStructuredResult,
  type LlmTextResult,
  type LlmUsage,
  type StructuredCallOptions,
} from './llm';
import type { ChatMessage, PromptTemplate } from './prompts/template';
import { parseStructured, runTemplate, SCHEMA_NAME, structuredMessages, toJsonSchema } from './structured';

type Endpoint = LlmCallSite['endpoint'];

/** Errors request() reported to the call observers already (so textCall does not report them again). */
const requestFailures = new WeakSet<Error>();

/** What one text request produced, before the caller-specific validation. */
type TextAnswer = Omit<LlmTextResult, 'cached'>;

/**
 * The LLM client, through the official `openai` SDK (reliability.md §3). The SDK's own retries
 * are off (`maxRetries: 0`) because the queue owns retries: SDK retries inside queue attempts
 * multiply the calls (and the bill) and hide rate limits from the queue's limiter. Every request
 * has an explicit timeout. Failures come out as the shared error classes (see classifyLlmError),
 * answers are checked for truncation and refusal before anyone reads them, and the API key lives
 * only in private fields, never in messages. It caches nothing: {@link withResponseCache} adds the
 * response cache around it, and {@link llmFromEnv} builds both from the environment.
 */
export class LlmClient implements Llm {
  readonly #sdk: OpenAI;
  readonly #config: LlmConfig;
  readonly #stats: LlmStats;

  /** @throws ConfigError listing every invalid setting. */
  constructor(config: LlmConfig) {
    validateConfig(config);
    this.#config = { ...config, models: { ...config.models } };
    this.#stats = emptyLlmStats();
    this.#sdk = new (openaiSdk().default)({
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

  /** The configuration with the API key masked: safe to log. */
  describe(): LlmDescription {
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
    const { value: _text, ...result } = await this.textCall(
      site,
      () => this.sendChat(site, sent, options, undefined),
      (text) => text,
    );
    return result;
  }

  async complete(role: TextRole, prompt: string, options: LlmCallOptions = {}): Promise<LlmTextResult> {
    const site = this.site(role, 'completions');
    const { value: _text, ...result } = await this.textCall(
      site,
      () => this.sendCompletion(site, prompt, options),
      (text) => text,
    );
    return result;
  }

  async structured<T>(role: TextRole, messages: readonly ChatMessage[], schema: z.ZodType<T>, options: StructuredCallOptions = {}): Promise<LlmStructuredResult<T>> {
    const site = this.site(role, 'chat');
    const mode = options.mode ?? this.#config.structuredMode ?? 'json_schema';
    const name = options.schemaName ?? 'output';
    if (!SCHEMA_NAME.test(name)) throw new InvalidInputError(`schema name ${JSON.stringify(name)} must match ${SCHEMA_NAME}`);
    const jsonSchema = toJsonSchema(schema);
    const all = structuredMessages(messages, jsonSchema, mode);
    // strict:false because strict mode rejects common zod output (optional fields, minLength);
    // the zod check below is the real gate either way (reliability.md §3.2).
    const responseFormat: OpenAI.Chat.ChatCompletionCreateParams['response_format'] =
      mode === 'json_schema' ? { type: 'json_schema', json_schema: { name, schema: jsonSchema, strict: false } } : { type: 'json_object' };
    return this.textCall(
      site,
      () => this.sendChat(site, toSdkMessages(all), options, responseFormat),
      (text) => parseStructured(text, schema, site, (t) => redactSecret(t, this.#config.apiKey)),
    );
  }

  run<I, O>(template: PromptTemplate<I, O>, input: I, options: Omit<StructuredCallOptions, 'template' | 'schemaName'> = {}): Promise<LlmStructuredResult<O>> {
    return runTemplate(this, template, input, options);
  }

  async embed(texts: readonly string[], options: EmbedOptions = {}): Promise<LlmEmbeddingResult> {
    const site = this.site('embedder', 'embeddings');
    const usage: LlmUsage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
    const vectors: Float32Array[] = [];
    let model = site.model;
    try {
      const batchSize = this.#config.embeddingBatchSize ?? 256;
      for (let start = 0; start < texts.length; start += batchSize) {
        const answer = await this.sendEmbeddings(site, texts.slice(start, start + batchSize), options);
        model = answer.model;
        usage.promptTokens += answer.promptTokens;
        usage.totalTokens += answer.promptTokens;
        vectors.push(...answer.vectors);
      }
    } catch (err) {
      this.countFailure('embedder');
      throw this.scrub(err);
    }
    const width = vectors[0]?.length;
    if (vectors.some((v) => v.length !== width)) {
      this.countFailure('embedder');
      throw new LlmInvalidOutputError(`embeddings from ${site.model} have mixed lengths`, site, 'shape');
    }
    return { vectors, usage, model, cachedCount: 0 };
  }

  // ---- shared plumbing --------------------------------------------------------------------------

  /** Sends a text request and validates the answer; a failure of either is counted and scrubbed. */
  private async textCall<V>(site: LlmCallSite & { role: TextRole }, send: () => Promise<TextAnswer>, accept: (text: string) => V): Promise<LlmTextResult & { value: V }> {
    try {
      const answer = await send();
      return { ...answer, cached: false, value: accept(answer.text) };
    } catch (err) {
      this.countFailure(site.role);
      // An answer refused after its request succeeded: reported once more, as an output failure.
      if (!(err instanceof Error && requestFailures.has(err)))
        notifyLlmCall({ kind: 'output', role: site.role, endpoint: site.endpoint, model: site.model, outcome: err instanceof Error ? err.name : 'Error', seconds: 0 });
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

  private async sendEmbeddings(site: LlmCallSite, input: string[], options: EmbedOptions): Promise<{ vectors: Float32Array[]; promptTokens: number; model: string }> {
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
      const vector = typeof raw === 'string' ? decodeVector(raw, site, item.index) : isNumberArray(raw) ? Float32Array.from(raw) : undefined;
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
    const observe = { kind: 'request' as const, role: site.role, endpoint: site.endpoint, model: site.model };
    try {
      const result = await call({ timeout: timeoutMs, maxRetries: 0, ...(options.signal ? { signal: options.signal } : {}) });
      const usage = (result as { usage?: { prompt_tokens?: number; completion_tokens?: number } } | undefined)?.usage;
      notifyLlmCall({ ...observe, outcome: 'ok', seconds: (performance.now() - started) / 1000, promptTokens: usage?.prompt_tokens, completionTokens: usage?.completion_tokens });
      return result;
    } catch (err) {
      const classified = classifyLlmError(err, { ...site, timeoutMs, elapsedMs: performance.now() - started, secret: this.#config.apiKey });
      notifyLlmCall({ ...observe, outcome: classified instanceof Error ? classified.name : 'Error', seconds: (performance.now() - started) / 1000 });
      if (classified instanceof Error) requestFailures.add(classified);
      throw classified;
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

  private site<R extends LlmRole>(role: R, endpoint: Endpoint): LlmCallSite & { role: R } {
    if (!(LLM_ROLES as readonly string[]).includes(role)) throw new InvalidInputError(`unknown LLM role ${JSON.stringify(role)}`);
    return { role, model: this.#config.models[role], endpoint };
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

function checkFinish(site: LlmCallSite, finishReason: string, maxTokens: number, text: string): void {
  if (finishReason === 'length') {
    throw new LlmTruncatedError(`answer of ${site.model} (${site.role}) was cut off at the output budget of ${maxTokens} tokens; raise maxTokens or send less input`, site, maxTokens, text.length);
  }
  if (finishReason === 'content_filter') {
    throw new LlmRefusalError(`answer of ${site.model} (${site.role}) was stopped by the provider's content filter`, site, 'content_filter');
  }
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

/** A base64 vector from the server; one that does not decode is the server's malformed output, not our input. */
function decodeVector(base64: string, site: LlmCallSite, index: number): Float32Array {
  try {
    return float32FromBase64(base64, `embedding ${index} from ${site.model}`);
  } catch (err) {
    if (err instanceof InvalidInputError) throw new LlmInvalidOutputError(`embeddings from ${site.model}: ${err.message}`, site, 'shape');
    throw err;
  }
}

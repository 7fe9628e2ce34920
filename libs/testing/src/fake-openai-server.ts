import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * A scripted, OpenAI-compatible HTTP server for tests (docs: dependencies.md §7, reliability.md
 * §3.4 "contract" tier). It speaks just enough of the API for the real `openai` SDK to talk to it:
 * chat completions (plain and SSE), legacy completions and embeddings. It binds 127.0.0.1 only, so
 * a test can never expose it beyond the machine.
 */

/** Which API a request hit. */
export type FakeEndpoint = 'chat' | 'completions' | 'embeddings' | 'other';

/** What the fake did with a request (filled in when it answers, or when the client goes away). */
export type FakeOutcome = 'pending' | 'ok' | 'truncated' | 'refusal' | 'error-status' | 'hang' | 'reset' | 'aborted';

/** One request the fake received, recorded for assertions. */
export interface FakeOpenAiRequest {
  /** 1-based arrival order. */
  readonly seq: number;
  readonly method: string;
  /** Path without the query string, e.g. `/v1/chat/completions`. */
  readonly path: string;
  readonly endpoint: FakeEndpoint;
  readonly headers: IncomingHttpHeaders;
  /** The parsed JSON body (`{}` when the body was empty or not JSON). */
  readonly body: Readonly<Record<string, unknown>>;
  /** The text rules match against: chat message contents joined by newlines, the completion prompt, or the embedding inputs. */
  readonly prompt: string;
  /** The model the request named, when it named one. */
  readonly model: string | undefined;
  /** Epoch milliseconds (sub-millisecond precision) when the request arrived. */
  readonly startedAt: number;
  /** Epoch milliseconds when the response finished or the connection closed; undefined while in flight. */
  endedAt: number | undefined;
  /** The HTTP status sent, once sent. */
  status: number | undefined;
  outcome: FakeOutcome;
}

/**
 * A fault to inject. `rate-limit` answers 429 with `retry-after` (seconds) and/or `retry-after-ms`;
 * `status` answers any status with an OpenAI-shaped error body; `hang` never answers (the client's
 * timeout must fire); `reset` destroys the socket; `truncate` cuts the reply in half with
 * finish_reason "length"; `refusal` answers with a refusal message and no content.
 */
export type FakeFault =
  | { kind: 'rate-limit'; retryAfterSeconds?: number; retryAfterMs?: number }
  | { kind: 'status'; status: number; message?: string; code?: string }
  | { kind: 'hang' }
  | { kind: 'reset' }
  | { kind: 'truncate' }
  | { kind: 'refusal'; message?: string };

/** Token counts to report instead of the fake's estimate (about one token per four characters). */
export interface FakeUsage {
  promptTokens: number;
  completionTokens: number;
}

/** A scripted response. Rules are checked in order; the first that matches (and has uses left) answers. */
export interface FakeRule {
  /** Tested against {@link FakeOpenAiRequest.prompt}, or a predicate over the whole request. */
  match: RegExp | ((req: FakeOpenAiRequest) => boolean);
  /** Assistant text for chat and completions (ignored by embeddings). Defaults to the server's default reply. */
  reply?: string | ((req: FakeOpenAiRequest) => string);
  /** Defaults to "stop". "length" reports truncation without cutting the reply. */
  finishReason?: 'stop' | 'length' | 'content_filter';
  /** Answer with this refusal (chat only) instead of content. */
  refusal?: string;
  fault?: FakeFault;
  /** Delay before answering, in ms. */
  latencyMs?: number;
  usage?: FakeUsage;
  /** Embedding length for this rule, ignoring the request's `dimensions` (as some servers do). */
  embeddingDimensions?: number;
  /** How many requests this rule may answer; unlimited when absent. */
  times?: number;
}

/** Options of {@link FakeOpenAiServer.start}. */
export interface FakeOpenAiServerOptions {
  /** Port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
  rules?: FakeRule[];
  /** Reply when no rule matches. Default "OK". */
  defaultReply?: string | ((req: FakeOpenAiRequest) => string);
  /** Vector length when the request gives no `dimensions`. Default 64. */
  embeddingDimensions?: number;
  /** When set, requests without `Authorization: Bearer <apiKey>` get 401. */
  apiKey?: string;
  /** Latency added to every request that its rule does not override. */
  latencyMs?: number;
  /** A fault for every request whose rule sets no fault of its own (see {@link FakeOpenAiServer.setFault}). */
  fault?: FakeFault;
  /** Largest accepted request body. Default 10 MiB. */
  maxBodyBytes?: number;
}

interface RuleState {
  rule: FakeRule;
  used: number;
}

const HOST = '127.0.0.1';

/** The fake server. Start it with {@link FakeOpenAiServer.start}; always `close()` it in `afterAll`/`afterEach`. */
export class FakeOpenAiServer {
  /** Every request received so far, in arrival order. */
  readonly requests: FakeOpenAiRequest[] = [];
  private rules: RuleState[] = [];
  private globalFault: { fault: FakeFault; remaining: number } | undefined;
  private globalLatencyMs: number;
  private inFlight = 0;
  private peakInFlight = 0;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private barrier: { count: number; held: Array<() => void>; timer: NodeJS.Timeout } | undefined;
  private closed = false;

  private constructor(
    private readonly server: Server,
    /** Base URL including `/v1`, ready for `new OpenAI({ baseURL })`. */
    readonly baseUrl: string,
    private readonly options: FakeOpenAiServerOptions,
  ) {
    this.globalLatencyMs = options.latencyMs ?? 0;
    if (options.fault) this.globalFault = { fault: options.fault, remaining: Number.POSITIVE_INFINITY };
    this.script(options.rules ?? []);
  }

  /** Starts a server on 127.0.0.1 and resolves once it listens. */
  static async start(options: FakeOpenAiServerOptions = {}): Promise<FakeOpenAiServer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const fake = new FakeOpenAiServer(server, `http://${HOST}:${port}/v1`, options);
    server.on('connection', (socket) => {
      fake.sockets.add(socket);
      socket.on('close', () => fake.sockets.delete(socket));
    });
    server.on('request', (req, res) => fake.handle(req, res));
    return fake;
  }

  /** Replaces the rules (and resets their `times` counters). */
  script(rules: FakeRule[]): void {
    this.rules = rules.map((rule) => ({ rule, used: 0 }));
  }

  /**
   * Injects a fault (an outage) into the next `times` requests (default: until cleared), whatever
   * rule matches them; only a rule's own `fault` takes precedence.
   */
  setFault(fault: FakeFault | undefined, times = Number.POSITIVE_INFINITY): void {
    this.globalFault = fault ? { fault, remaining: times } : undefined;
  }

  /** Sets the latency added to requests whose rule does not set its own. */
  setLatency(ms: number): void {
    this.globalLatencyMs = ms;
  }

  /**
   * Holds every answer until `count` requests are in flight at once, then lets them all go (once;
   * later requests are answered as usual). A test of a client's concurrency cap thereby sees the cap
   * reached however slowly a loaded machine dispatches, instead of racing the first answers. When
   * the client never gets that many in flight, the held requests go after `timeoutMs`, and the
   * peak it did reach is what {@link maxConcurrency} reports.
   */
  holdUntilInFlight(count: number, timeoutMs = 10_000): void {
    this.releaseBarrier();
    const timer = setTimeout(() => this.releaseBarrier(), timeoutMs);
    this.barrier = { count, held: [], timer };
    this.timers.add(timer);
  }

  private releaseBarrier(): void {
    const barrier = this.barrier;
    if (!barrier) return;
    this.barrier = undefined;
    clearTimeout(barrier.timer);
    this.timers.delete(barrier.timer);
    for (const go of barrier.held) go();
  }

  /** Forgets the recorded requests and the peak concurrency. */
  clearRequests(): void {
    this.requests.length = 0;
    this.peakInFlight = this.inFlight;
  }

  /** The most requests that were in flight at the same time since start (or the last clearRequests). */
  get maxConcurrency(): number {
    return this.peakInFlight;
  }

  /** Recorded requests to one endpoint. */
  requestsTo(endpoint: FakeEndpoint): FakeOpenAiRequest[] {
    return this.requests.filter((r) => r.endpoint === endpoint);
  }

  /** Stops listening and drops every connection, including hanging requests. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.server.closeAllConnections();
    await done;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const startedAt = now();
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    const maxBody = this.options.maxBodyBytes ?? 10 * 1024 * 1024;
    // A client that gives up mid-upload makes the request emit 'error'; unhandled, it would crash the test run.
    req.on('error', () => undefined);
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBody) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0];
      const { body, parseError } = parseBody(Buffer.concat(chunks).toString('utf8'));
      const record: FakeOpenAiRequest = {
        seq: this.requests.length + 1,
        method: req.method ?? 'GET',
        path,
        endpoint: endpointOf(req.method, path),
        headers: req.headers,
        body,
        prompt: promptOf(body),
        model: typeof body.model === 'string' ? body.model : undefined,
        startedAt,
        endedAt: undefined,
        status: undefined,
        outcome: 'pending',
      };
      this.requests.push(record);
      this.inFlight += 1;
      this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
      // 'close' fires both after a full response and when the client gives up (timeout, abort).
      res.on('close', () => {
        this.inFlight -= 1;
        record.endedAt = now();
        if (record.outcome === 'pending') record.outcome = 'aborted';
      });
      if (tooLarge) return this.sendError(res, record, 413, 'request body too large');
      if (parseError) return this.sendError(res, record, 400, 'request body is not valid JSON');
      if (this.barrier) {
        this.barrier.held.push(() => this.respond(res, record));
        if (this.inFlight >= this.barrier.count) this.releaseBarrier();
        return;
      }
      this.respond(res, record);
    });
  }

  private respond(res: ServerResponse, record: FakeOpenAiRequest): void {
    if (this.options.apiKey !== undefined && record.headers.authorization !== `Bearer ${this.options.apiKey}`) {
      return this.sendError(res, record, 401, 'Incorrect API key provided.', 'invalid_api_key');
    }
    if (record.endpoint === 'other') return this.sendError(res, record, 404, `no fake for ${record.method} ${record.path}`);
    const rule = this.pickRule(record);
    const fault = rule?.fault ?? this.takeGlobalFault();
    const latency = rule?.latencyMs ?? this.globalLatencyMs;
    const go = () => {
      if (res.destroyed) return;
      this.answer(res, record, rule, fault);
    };
    if (fault?.kind === 'hang') {
      record.outcome = 'hang';
      return;
    }
    if (latency > 0) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        go();
      }, latency);
      this.timers.add(timer);
    } else {
      go();
    }
  }

  private pickRule(record: FakeOpenAiRequest): FakeRule | undefined {
    for (const state of this.rules) {
      if (state.rule.times !== undefined && state.used >= state.rule.times) continue;
      if (matches(state.rule.match, record)) {
        state.used += 1;
        return state.rule;
      }
    }
    return undefined;
  }

  private takeGlobalFault(): FakeFault | undefined {
    if (!this.globalFault || this.globalFault.remaining <= 0) return undefined;
    this.globalFault.remaining -= 1;
    return this.globalFault.fault;
  }

  private answer(res: ServerResponse, record: FakeOpenAiRequest, rule: FakeRule | undefined, fault: FakeFault | undefined): void {
    if (fault?.kind === 'reset') {
      record.outcome = 'reset';
      res.socket?.destroy();
      return;
    }
    if (fault?.kind === 'rate-limit') {
      const headers: Record<string, string> = {};
      if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
      if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = String(fault.retryAfterMs);
      return this.sendError(res, record, 429, 'Rate limit reached (fake).', 'rate_limit_exceeded', headers);
    }
    if (fault?.kind === 'status') return this.sendError(res, record, fault.status, fault.message ?? `fake status ${fault.status}`, fault.code ?? null);

    if (record.endpoint === 'embeddings') return this.sendEmbeddings(res, record, rule);

    let text = pick(rule?.reply ?? this.options.defaultReply ?? 'OK', record);
    let finishReason: string = rule?.finishReason ?? 'stop';
    let refusal = rule?.refusal;
    if (fault?.kind === 'truncate') {
      text = text.slice(0, Math.floor(text.length / 2));
      finishReason = 'length';
    }
    if (fault?.kind === 'refusal') refusal = fault.message ?? "I'm sorry, I can't help with that.";
    record.outcome = refusal !== undefined ? 'refusal' : finishReason === 'length' ? 'truncated' : 'ok';
    const usage = usageOf(record.prompt, refusal ?? text, rule?.usage);
    const model = record.model ?? 'fake-model';
    const id = `fake-${record.seq}`;
    const created = Math.floor(Date.now() / 1000);

    if (record.endpoint === 'completions') {
      return this.sendJson(res, record, 200, {
        id: `cmpl-${id}`,
        object: 'text_completion',
        created,
        model,
        choices: [{ index: 0, text, finish_reason: finishReason, logprobs: null }],
        usage,
      });
    }
    const message = { role: 'assistant', content: refusal !== undefined ? null : text, refusal: refusal ?? null };
    if (record.body.stream === true) return this.sendChatStream(res, record, { id, created, model, message, finishReason, usage });
    this.sendJson(res, record, 200, {
      id: `chatcmpl-${id}`,
      object: 'chat.completion',
      created,
      model,
      system_fingerprint: 'fp_fake',
      choices: [{ index: 0, message, finish_reason: finishReason, logprobs: null }],
      usage,
    });
  }

  private sendEmbeddings(res: ServerResponse, record: FakeOpenAiRequest, rule: FakeRule | undefined): void {
    const inputs = embeddingInputs(record.body.input);
    if (inputs.length === 0) return this.sendError(res, record, 400, "'input' must be a non-empty string or array");
    const requested = record.body.dimensions;
    const dims = rule?.embeddingDimensions ?? (typeof requested === 'number' && Number.isInteger(requested) && requested > 0 ? requested : (this.options.embeddingDimensions ?? 64));
    // The SDK asks for base64 unless told otherwise (dependencies.md §7); "float" gets plain arrays.
    const asBase64 = record.body.encoding_format === undefined || record.body.encoding_format === 'base64';
    const data = inputs.map((text, index) => {
      const vector = fakeEmbedding(text, dims);
      return { object: 'embedding', index, embedding: asBase64 ? Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64') : Array.from(vector) };
    });
    const promptTokens = rule?.usage?.promptTokens ?? inputs.reduce((n, t) => n + estimateTokens(t), 0);
    record.outcome = 'ok';
    this.sendJson(res, record, 200, {
      object: 'list',
      data,
      model: record.model ?? 'fake-embedding',
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    });
  }

  private sendChatStream(
    res: ServerResponse,
    record: FakeOpenAiRequest,
    c: { id: string; created: number; model: string; message: { content: string | null; refusal: string | null }; finishReason: string; usage: Record<string, number> },
  ): void {
    record.status = 200;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const chunk = (delta: Record<string, unknown>, finish: string | null, usage?: Record<string, number>) =>
      `data: ${JSON.stringify({ id: `chatcmpl-${c.id}`, object: 'chat.completion.chunk', created: c.created, model: c.model, choices: [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}) })}\n\n`;
    res.write(chunk({ role: 'assistant', content: c.message.content ?? '', ...(c.message.refusal !== null ? { refusal: c.message.refusal } : {}) }, null));
    res.write(chunk({}, c.finishReason, c.usage));
    res.end('data: [DONE]\n\n');
  }

  private sendError(res: ServerResponse, record: FakeOpenAiRequest, status: number, message: string, code: string | null = null, headers: Record<string, string> = {}): void {
    record.outcome = 'error-status';
    const type = status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
    this.sendJson(res, record, status, { error: { message, type, param: null, code } }, headers);
  }

  private sendJson(res: ServerResponse, record: FakeOpenAiRequest, status: number, payload: unknown, headers: Record<string, string> = {}): void {
    record.status = status;
    const body = JSON.stringify(payload);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  }
}

/**
 * The fake's embedding: a hashed bag of words (each lower-cased word adds ±1 to one coordinate),
 * L2-normalized. Deterministic, and texts that share words get a positive cosine, so retrieval
 * tests can rank by it. Text without words hashes as a whole, so no vector is all zeros.
 */
export function fakeEmbedding(text: string, dimensions: number): Float32Array {
  const v = new Float32Array(dimensions);
  const words = text.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [text];
  for (const word of words) {
    const h = createHash('sha256').update(word).digest();
    const index = h.readUInt32LE(0) % dimensions;
    v[index] += h[4] & 1 ? 1 : -1;
  }
  let norm = 0;
  for (const x of v) norm += x * x;
  if (norm === 0) {
    // The ±1 contributions cancelled out; fall back to the whole-text hash.
    v[createHash('sha256').update(text).digest().readUInt32LE(0) % dimensions] = 1;
    norm = 1;
  }
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < v.length; i += 1) v[i] *= scale;
  return v;
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

function endpointOf(method: string | undefined, path: string): FakeEndpoint {
  if (method !== 'POST') return 'other';
  const p = path.replace(/\/+$/, '');
  if (p === '/v1/chat/completions') return 'chat';
  if (p === '/v1/completions') return 'completions';
  if (p === '/v1/embeddings') return 'embeddings';
  return 'other';
}

function parseBody(text: string): { body: Record<string, unknown>; parseError: boolean } {
  if (text.trim() === '') return { body: {}, parseError: false };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    // Not JSON: the fake answers 400, as the real API does.
    if (err instanceof SyntaxError) return { body: {}, parseError: true };
    throw err;
  }
  if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return { body: parsed as Record<string, unknown>, parseError: false };
  return { body: {}, parseError: true };
}

/** The text a rule sees: what the model would read. */
function promptOf(body: Record<string, unknown>): string {
  if (Array.isArray(body.messages)) {
    return body.messages.map((m: unknown) => (m !== null && typeof m === 'object' ? contentText((m as Record<string, unknown>).content) : '')).join('\n');
  }
  if (body.prompt !== undefined) return Array.isArray(body.prompt) ? body.prompt.map(String).join('\n') : String(body.prompt);
  if (body.input !== undefined) return embeddingInputs(body.input).join('\n');
  return '';
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part: unknown) => (part !== null && typeof part === 'object' && typeof (part as Record<string, unknown>).text === 'string' ? (part as Record<string, string>).text : ''))
      .join('');
  }
  return '';
}

function embeddingInputs(input: unknown): string[] {
  if (typeof input === 'string') return [input];
  if (Array.isArray(input)) {
    // Token-id arrays are legal input; their JSON is as good a "text" as any for a fake vector.
    if (input.length === 0) return [];
    return input.every((x) => typeof x === 'number') ? [JSON.stringify(input)] : input.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
  }
  return [];
}

function matches(match: FakeRule['match'], record: FakeOpenAiRequest): boolean {
  if (typeof match === 'function') return match(record);
  // A /g or /y regex keeps lastIndex between calls, which would make matching depend on history.
  match.lastIndex = 0;
  return match.test(record.prompt);
}

function pick(reply: string | ((req: FakeOpenAiRequest) => string), record: FakeOpenAiRequest): string {
  return typeof reply === 'function' ? reply(record) : reply;
}

function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

function usageOf(prompt: string, completion: string, override: FakeUsage | undefined): Record<string, number> {
  const promptTokens = override?.promptTokens ?? estimateTokens(prompt);
  const completionTokens = override?.completionTokens ?? estimateTokens(completion);
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** BullMQ's job states an operator watches per queue (backlog = waiting + prioritized). */
export const QUEUE_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed', 'waiting-children'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

/** Per-queue counts, read when Prometheus scrapes (undefined: Redis unreachable, series omitted). */
export type QueueCountsReader = () => Promise<Record<string, Partial<Record<QueueState, number>>> | undefined>;

/**
 * One registry per process, so tests can hold several apps and a scrape shows only this process's
 * series (prom-client's global registry would mix them). Names follow Prometheus conventions:
 * `_seconds`, `_total`, base units.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly retrievalDuration: Histogram<'level'>;
  readonly kbInfo: Gauge<'version'>;
  readonly queueJobs: Gauge<'queue' | 'state'>;
  readonly queueScrapeErrors: Counter;
  readonly llmCalls: Counter<'role' | 'outcome'>;
  readonly llmTokens: Counter<'role' | 'kind'>;
  readonly llmDuration: Histogram<'role' | 'outcome'>;
  readonly llmOutputErrors: Counter<'role' | 'outcome'>;
  private queueCounts?: QueueCountsReader;
  private kbVersion?: string;

  constructor(opts: { app: string; defaultMetrics?: boolean }) {
    this.registry.setDefaultLabels({ app: opts.app });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.httpDuration = new Histogram({
      name: 'rescue_http_request_duration_seconds',
      help: 'HTTP request duration by route pattern (not the raw path, so ids do not explode the series) and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.retrievalDuration = new Histogram({
      name: 'rescue_retrieval_duration_seconds',
      help: 'Retrieval time per level: cwe (facets, ranker, gate), code (the example), total (the whole request in the worker pool), queued (waiting for a pool thread)',
      labelNames: ['level'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.kbInfo = new Gauge({ name: 'rescue_kb_info', help: 'The KB version last served (value 1 on its version label)', labelNames: ['version'], registers });
    this.queueJobs = new Gauge({
      name: 'rescue_queue_jobs',
      help: 'Jobs per BullMQ queue and state, read from Redis at scrape time',
      labelNames: ['queue', 'state'],
      registers,
      // An arrow function: `this` stays the Metrics; the gauge exists by the time a scrape runs.
      collect: () => this.collectQueues(this.queueJobs),
    });
    this.queueScrapeErrors = new Counter({ name: 'rescue_queue_scrape_errors_total', help: 'Scrapes that could not read queue counts (Redis unreachable or slow)', registers });
    this.llmCalls = new Counter({ name: 'rescue_llm_calls_total', help: 'LLM calls by role and outcome (ok or the error class)', labelNames: ['role', 'outcome'], registers });
    this.llmTokens = new Counter({ name: 'rescue_llm_tokens_total', help: 'LLM tokens by role and kind (prompt, completion)', labelNames: ['role', 'kind'], registers });
    this.llmOutputErrors = new Counter({
      name: 'rescue_llm_output_errors_total',
      help: 'LLM answers refused after a successful request, by role and class (truncated, refusal, invalid output)',
      labelNames: ['role', 'outcome'],
      registers,
    });
    this.llmDuration = new Histogram({
      name: 'rescue_llm_call_duration_seconds',
      help: 'LLM call latency by role and outcome',
      labelNames: ['role', 'outcome'],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
  }

  /** Queue counts for the scrape; the reader should give up quickly when Redis is away. */
  watchQueues(reader: QueueCountsReader): void {
    this.queueCounts = reader;
  }

  /** Records the KB version served; a republish moves the gauge to the new label. */
  setKbVersion(version: string): void {
    if (version === this.kbVersion) return;
    this.kbInfo.reset();
    this.kbInfo.set({ version }, 1);
    this.kbVersion = version;
  }

  /** A hook for the LLM client (see libs/llm `onLlmCall`): one finished call. */
  recordLlmCall(call: { kind?: 'request' | 'output'; role: string; outcome: string; seconds: number; promptTokens?: number; completionTokens?: number }): void {
    if (call.kind === 'output') {
      this.llmOutputErrors.inc({ role: call.role, outcome: call.outcome });
      return;
    }
    this.llmCalls.inc({ role: call.role, outcome: call.outcome });
    this.llmDuration.observe({ role: call.role, outcome: call.outcome }, call.seconds);
    if (call.promptTokens) this.llmTokens.inc({ role: call.role, kind: 'prompt' }, call.promptTokens);
    if (call.completionTokens) this.llmTokens.inc({ role: call.role, kind: 'completion' }, call.completionTokens);
  }

  private async collectQueues(gauge: Gauge<'queue' | 'state'>): Promise<void> {
    gauge.reset();
    if (!this.queueCounts) return;
    let counts: Awaited<ReturnType<QueueCountsReader>>;
    try {
      counts = await this.queueCounts();
    } catch (_unreadable) {
      // A scrape must still answer (HTTP and retrieval series matter most when Redis is down);
      // the failure is counted, and the queue series are absent rather than stale.
      this.queueScrapeErrors.inc();
      return;
    }
    if (!counts) return;
    for (const [queue, states] of Object.entries(counts)) {
      for (const state of QUEUE_STATES) gauge.set({ queue, state }, states[state] ?? 0);
    }
  }

  contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

import { Metrics } from '../src/metrics';

describe('Metrics', () => {
  it('exposes queue counts read at scrape time, and omits them (counting the failure) when the reader fails', async () => {
    const m = new Metrics({ app: 'test', defaultMetrics: false });
    let fail = false;
    m.watchQueues(async () => {
      if (fail) throw new Error('Redis away');
      return { slice: { waiting: 4, active: 2, failed: 1 } };
    });
    const text = await m.text();
    expect(text).toContain('rescue_queue_jobs{queue="slice",state="waiting",app="test"} 4');
    expect(text).toContain('rescue_queue_jobs{queue="slice",state="delayed",app="test"} 0');
    fail = true;
    const after = await m.text();
    expect(after).not.toContain('rescue_queue_jobs{');
    expect(after).toContain('rescue_queue_scrape_errors_total{app="test"} 1');
  });

  it('keeps one KB version label, moving it on a republish', async () => {
    const m = new Metrics({ app: 'test', defaultMetrics: false });
    m.setKbVersion('kb-1');
    m.setKbVersion('kb-2');
    const text = await m.text();
    expect(text).toContain('rescue_kb_info{version="kb-2",app="test"} 1');
    expect(text).not.toContain('version="kb-1"');
  });

  it('records LLM calls by role and outcome, with tokens', async () => {
    const m = new Metrics({ app: 'test', defaultMetrics: false });
    m.recordLlmCall({ role: 'generator', outcome: 'ok', seconds: 0.3, promptTokens: 100, completionTokens: 20 });
    m.recordLlmCall({ role: 'generator', outcome: 'rate-limited', seconds: 0.1 });
    m.recordLlmCall({ kind: 'output', role: 'generator', outcome: 'LlmTruncatedError', seconds: 0 });
    const text = await m.text();
    expect(text).toContain('rescue_llm_calls_total{role="generator",outcome="ok",app="test"} 1');
    expect(text).toContain('rescue_llm_calls_total{role="generator",outcome="rate-limited",app="test"} 1');
    expect(text).toContain('rescue_llm_tokens_total{role="generator",kind="prompt",app="test"} 100');
    // An output failure is not a second call.
    expect(text).toContain('rescue_llm_output_errors_total{role="generator",outcome="LlmTruncatedError",app="test"} 1');
    expect(text).not.toContain('outcome="LlmTruncatedError",app="test"} 2');
    expect(text).toMatch(/^rescue_llm_call_duration_seconds_count\{[^}]*outcome="ok"[^}]*\} 1$/m);
    expect(text).not.toMatch(/^rescue_llm_call_duration_seconds_count\{[^}]*LlmTruncatedError/m);
  });
});

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { llmEnv, loadConfig } from '@rescue/config';
import { type CodingTask, readCweCatalog } from '@rescue/datasets';
import { generateForTask, historyPathFor, runGenerationBatch } from '@rescue/generation';
import { type OpenedKb, localEmbedder, openKnowledgeBase } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';
import { type Llm, llmFromEnv } from '@rescue/llm';
import { Slicer } from '@rescue/slicing';
import { FakeOpenAiServer } from '@rescue/testing';

const examples = resolve(__dirname, '../../../examples/fix-pairs');
const catalogue = resolve(__dirname, '../../../examples/cwe-catalog-sample.csv');
const TASK: CodingTask = { id: 't1', language: 'python', prompt: 'def get_user(db, name):\n    cur = db.cursor()\n    # look the user up by name\n', kind: 'completion' };

describe('generation with the fake LLM (real openai client)', () => {
  let dir: string;
  let kb: OpenedKb;
  let slicer: Slicer;
  let fake: FakeOpenAiServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-gen-'));
    await buildKnowledgeBase({
      sources: [examples],
      kbDir: join(dir, 'kb'),
      catalog: await readCweCatalog(catalogue),
      clusterBy: 'language-cwe',
      catalogOnlyNodes: false,
      hops: 2,
      maxLineBytes: 1 << 20,
      embedder: localEmbedder,
    });
    kb = await openKnowledgeBase(join(dir, 'kb'));
    slicer = await Slicer.create();
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => fake?.close());

  const start = async (latencyMs = 0): Promise<Llm> => {
    fake = await FakeOpenAiServer.start({
      latencyMs,
      defaultReply: '```python\ndef get_user(db, name):\n    cur = db.cursor()\n    cur.execute("SELECT * FROM users WHERE name = %s", (name,))\n    return cur.fetchone()\n```',
    });
    fake.script([{ match: /explain why code is vulnerable/, reply: JSON.stringify({ cause: 'User input may reach an SQL query built by string formatting.' }) }]);
    return llmFromEnv(loadConfig(llmEnv, { LLM_BASE_URL: fake.baseUrl, LLM_API_KEY: 'sk-test', LLM_MODEL: 'fake', LLM_CACHE: 'none', LLM_TIMEOUT_MS: '5000' })) as Llm;
  };
  const opts = { samples: 2, temperature: 0.2, style: 'chat' as const, apiCalls: (l: string, c: string) => slicer.apiCalls(l as CodingTask['language'], c) };

  it('issues the draft and the cause analysis concurrently, then generates with the retrieved context', async () => {
    const llm = await start(250);
    const result = await generateForTask(TASK, kb, llm, opts);
    const [a, b] = fake.requests.slice(0, 2);
    // Both analysis calls were in flight at the same time.
    expect(a.startedAt).toBeLessThan(b.endedAt as number);
    expect(b.startedAt).toBeLessThan(a.endedAt as number);
    expect(fake.requests).toHaveLength(2 + 2);
    expect(result.samples).toHaveLength(2);
    expect(result.samples[0].code).toContain('%s", (name,)');
    expect(result.retrieval.cause).toContain('SQL');
    expect(result.abstained).toBe(false);
    expect(result.retrieval.cwes[0].cwe).toBe('CWE-89');
    const prompt = fake.requests[2].prompt;
    expect(prompt).toMatch(/Reference security knowledge[\s\S]*## Secure code example[\s\S]*Complete the following python code\.[\s\S]*## Code snippet[\s\S]*Start your answer with ```python/);
    expect(prompt).toContain('cur.execute("SELECT id, email FROM users WHERE name = %s", (name,))');
  });

  it('gates on the task itself: an ordinary task still abstains when the analysis (which names weaknesses for any task) speaks of SQL', async () => {
    const llm = await start();
    const ordinary: CodingTask = { id: 'plain', language: 'python', prompt: 'def average(numbers):\n    """Return the mean of a list of numbers, 0.0 for an empty list."""\n', kind: 'completion' };
    const result = await generateForTask(ordinary, kb, llm, { ...opts, samples: 1 });
    expect(result.retrieval.cause).toContain('SQL');
    expect(result.abstained).toBe(true);
  });

  it("with --guidance-cwes, adds further retrieved CWEs' guidelines to the prompt within the budget and records them", async () => {
    const llm = await start();
    const paper = await generateForTask(TASK, kb, llm, { ...opts, samples: 1 });
    expect(paper.retrieval.guidanceCwes).toEqual(['CWE-89']);
    const before = fake.requests.length;
    const multi = await generateForTask(TASK, kb, llm, { ...opts, samples: 1, guidance: { cwes: 3, tokens: 4000 } });
    expect(multi.retrieval.guidanceCwes[0]).toBe('CWE-89');
    expect(multi.retrieval.guidanceCwes.length).toBeGreaterThan(1);
    expect(multi.retrieval.guidanceCwes.length).toBeLessThanOrEqual(3);
    const prompt = fake.requests.slice(before).find((r) => r.prompt.includes('Complete the following'))?.prompt ?? '';
    for (const cwe of multi.retrieval.guidanceCwes.slice(1)) expect(prompt).toContain(`### ${cwe}`);
    expect(prompt).toContain('## Other weaknesses this task may invite');
  });

  it('retries 429 and 500 in a batch, classifies truncation, and goes on', async () => {
    const llm = await start();
    fake.script([
      { match: /explain why code is vulnerable/, reply: JSON.stringify({ cause: 'c' }) },
      { match: /RATE/, fault: { kind: 'rate-limit', retryAfterMs: 10 }, times: 1 },
      { match: /BOOM/, fault: { kind: 'status', status: 500 }, times: 1 },
      { match: /LONG/, finishReason: 'length', reply: '```python\ndef f(' },
    ]);
    const out = join(dir, 'faults.jsonl');
    const tasks: CodingTask[] = ['RATE', 'BOOM', 'LONG', 'OK'].map((k) => ({ ...TASK, id: k, prompt: `${TASK.prompt}# ${k}\n` }));
    const summary = await runGenerationBatch(tasks, out, (t) => generateForTask(t, kb, llm, { ...opts, samples: 1 }), { concurrency: 1, attempts: 3 });
    expect(summary).toMatchObject({ tasks: 4, done: 3, failed: 1, failuresByClass: { LlmTruncatedError: 1 } });
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id).sort()).toEqual(['BOOM', 'LONG', 'OK', 'RATE']);
  });

  it('accounts for every one of 1,000 tasks with 20% failing', async () => {
    const llm = await start();
    fake.script([
      { match: /explain why code is vulnerable/, reply: JSON.stringify({ cause: 'c' }) },
      { match: /INVALID/, fault: { kind: 'status', status: 400 } },
    ]);
    const tasks: CodingTask[] = Array.from({ length: 1000 }, (_, i) => ({ ...TASK, id: `task-${i}`, prompt: `${TASK.prompt}# ${i % 5 === 0 ? 'INVALID' : 'ok'} ${i}\n` }));
    const out = join(dir, 'batch.jsonl');
    const summary = await runGenerationBatch(tasks, out, (t) => generateForTask(t, kb, llm, { ...opts, samples: 1 }), { concurrency: 16, attempts: 2 });
    expect(summary.done).toBe(800);
    expect(summary.failed).toBe(200);
    const ids = new Set(
      readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { id: string }).id),
    );
    expect(ids.size).toBe(1000);
    // A re-run told to keep failures finds every task in the output and does nothing.
    const before = fake.requests.length;
    const kept = await runGenerationBatch(tasks, out, (t) => generateForTask(t, kb, llm, { ...opts, samples: 1 }), { concurrency: 16, attempts: 2, retryFailed: false });
    expect(kept).toMatchObject({ resumed: 1000, done: 0, failed: 0, retried: { tasks: 0 } });
    expect(fake.requests.length).toBe(before);
    // After fixing the cause, a plain re-run attempts the 200 failures again, and only them.
    fake.script([{ match: /explain why code is vulnerable/, reply: JSON.stringify({ cause: 'c' }) }]);
    const fixed = await runGenerationBatch(tasks, out, (t) => generateForTask(t, kb, llm, { ...opts, samples: 1 }), { concurrency: 16, attempts: 2 });
    expect(fixed).toMatchObject({ resumed: 800, done: 200, failed: 0, retried: { tasks: 200, byClass: { LlmRequestRejectedError: 200 } } });
    const final = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; error?: unknown });
    expect(final).toHaveLength(1000);
    expect(new Set(final.map((l) => l.id)).size).toBe(1000);
    expect(final.filter((l) => l.error)).toHaveLength(0);
    // The earlier failures are kept, once each, in the history beside the output.
    const history = readFileSync(historyPathFor(out), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; error: { class: string }; retiredAt: string });
    expect(history).toHaveLength(200);
    expect(new Set(history.map((h) => h.id)).size).toBe(200);
    expect(history.every((h) => h.error.class === 'LlmRequestRejectedError' && h.retiredAt)).toBe(true);
  }, 120_000);
});

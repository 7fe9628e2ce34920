import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { llmEnv, loadConfig } from '@rescue/config';
import { type BuildEmbedder, DEFAULT_LLM_DISTILLER, KbDirectory, llmDistiller } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';
import { type Llm, llmFromEnv } from '@rescue/llm';
import { FakeOpenAiServer } from '@rescue/testing';
import { SMALL_BUILD } from './small-build';

// Structural, not timed: the fake server counts the requests in flight, so the test sees whether
// a build's clusters were distilled at once, under the cap and up to it, without reading a clock.

const embedder = (): BuildEmbedder => ({ describe: () => ({ id: 'test-const', dimensions: 4 }), embed: async (texts) => texts.map(() => Float32Array.from([1, 0, 0, 0])) });

/** 12 python clusters of 5 fix pairs each (cluster = language + CWE). */
function writeRecords(file: string): void {
  const lines: string[] = [];
  for (let c = 0; c < 12; c += 1) {
    const cwe = `CWE-${100 + c}`;
    for (let i = 0; i < 5; i += 1) {
      const before = `def handler_${c}_${i}(db, value):\n    db.execute("SELECT * FROM t${c} WHERE k = %s" % value)\n    return ${i}\n`;
      const after = `def handler_${c}_${i}(db, value):\n    db.execute("SELECT * FROM t${c} WHERE k = ?", (value,))\n    return ${i}\n`;
      lines.push(JSON.stringify({ language: 'python', cwe, before, after }));
    }
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
}

/**
 * Answers that are a hash of the whole prompt: a merge whose inputs came in another order would
 * get another answer, so equal KBs mean the merge tree and its order did not depend on timing.
 */
function script(fake: FakeOpenAiServer): void {
  const h = (prompt: string): string => createHash('sha256').update(prompt).digest('hex').slice(0, 12);
  fake.script([
    { match: /## Case 1|## Guideline list 1/, reply: (req) => JSON.stringify({ guidelines: [`Rule ${h(req.prompt)}.`] }) },
    { match: () => true, reply: (req) => JSON.stringify({ cause: `Cause ${h(req.prompt)}.` }) },
  ]);
}

describe('KB build: clusters distilled concurrently under one LLM in-flight cap', () => {
  let fake: FakeOpenAiServer;
  let work: string;

  beforeEach(async () => {
    // Latency long enough that calls overlap when the build lets them, short enough for a test.
    fake = await FakeOpenAiServer.start({ latencyMs: 25 });
    script(fake);
    work = mkdtempSync(join(tmpdir(), 'rescue-kb-conc-'));
    writeRecords(join(work, 'pairs.jsonl'));
  });
  afterEach(async () => {
    await fake.close();
    rmSync(work, { recursive: true, force: true });
  });

  const build = (kbDir: string, concurrency: number) => {
    // No response cache: both builds must really call the LLM.
    const llm = llmFromEnv(loadConfig(llmEnv, { LLM_BASE_URL: fake.baseUrl, LLM_API_KEY: 'sk-test-not-a-secret', LLM_MODEL: 'fake-model', LLM_CACHE: 'none' })) as Llm;
    return buildKnowledgeBase({
      sources: [join(work, 'pairs.jsonl')],
      kbDir,
      ...SMALL_BUILD,
      embedder: async () => embedder(),
      distiller: llmDistiller(llm, { ...DEFAULT_LLM_DISTILLER, batchSize: 2, concurrency, model: 'fake-model' }),
    });
  };

  it('keeps exactly the cap in flight when there is enough independent work, never more, and counts every call once', async () => {
    // The first answers wait until 8 calls are in flight: on a loaded machine the 25 ms answers
    // could otherwise come back before the client has dispatched the eighth call.
    fake.holdUntilInFlight(8);
    const report = await build(join(work, 'kb'), 8);
    // 12 clusters × (3 guideline leaves + 2 merges, 5 cause analyses + 4 merges) = 168 calls.
    expect(fake.requests).toHaveLength(168);
    expect(report.llm).toEqual({ calls: 168, cached: 0 });
    expect(fake.maxConcurrency).toBe(8);
  });

  it("a merge waits for its own children only: another cluster's calls run while it waits", async () => {
    fake.holdUntilInFlight(4);
    await build(join(work, 'kb'), 4);
    // With clusters one after another, every call of cluster k would end before the first of k+1 starts.
    // Code prompts name the cluster's table (t<c>); merge prompts its CWE (CWE-<100 + c>).
    const clusterOf = (prompt: string): number => Number(/t(\d+) WHERE/.exec(prompt)?.[1] ?? Number(/CWE-(\d+)/.exec(prompt)?.[1]) - 100);
    const spans = new Map<number, { start: number; end: number }>();
    for (const r of fake.requests) {
      const k = clusterOf(r.prompt);
      const s = spans.get(k) ?? { start: Infinity, end: -Infinity };
      spans.set(k, { start: Math.min(s.start, r.startedAt), end: Math.max(s.end, r.endedAt ?? Infinity) });
    }
    const sorted = [...spans.values()].sort((a, b) => a.start - b.start);
    const overlapping = sorted.slice(1).filter((s, i) => s.start < sorted[i].end).length;
    expect(overlapping).toBeGreaterThan(0);
    expect(fake.maxConcurrency).toBe(4);
  });

  it('the same KB version and content with 1 call in flight as with 8', async () => {
    const one = await build(join(work, 'kb-1'), 1);
    expect(fake.maxConcurrency).toBe(1);
    fake.clearRequests();
    fake.holdUntilInFlight(8);
    const eight = await build(join(work, 'kb-8'), 8);
    expect(fake.maxConcurrency).toBe(8);
    expect(eight.manifest.version).toBe(one.manifest.version);
    expect(await new KbDirectory(join(work, 'kb-8')).nodes()).toEqual(await new KbDirectory(join(work, 'kb-1')).nodes());
    expect(eight.llm).toEqual(one.llm);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { llmEnv, loadConfig } from '@rescue/config';
import { type BuildEmbedder, DEFAULT_LLM_DISTILLER, KbDirectory, llmDistiller } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';
import { type Llm, llmFromEnv } from '@rescue/llm';
import { FakeOpenAiServer } from '@rescue/testing';
import { SMALL_BUILD } from './small-build';

const examples = resolve(__dirname, '../../../examples/fix-pairs');

const embedder = (): BuildEmbedder => ({ describe: () => ({ id: 'test-const', dimensions: 4 }), embed: async (texts) => texts.map(() => Float32Array.from([1, 0, 0, 0])) });

/** Replies that name what they answered, so the KB shows which prompt produced which text. */
function script(fake: FakeOpenAiServer): void {
  const cweOf = (prompt: string): string => /CWE-\d+/.exec(prompt)?.[0] ?? 'unknown';
  fake.script([
    { match: /## Case 1/, reply: (req) => JSON.stringify({ guidelines: [`Leaf rule for ${cweOf(req.prompt)}.`] }) },
    { match: /## Guideline list 1/, reply: (req) => JSON.stringify({ guidelines: [`Merged rule for ${cweOf(req.prompt)}.`] }) },
    { match: /description\(s\) of why code had/, reply: (req) => JSON.stringify({ cause: `Merged cause for ${cweOf(req.prompt)}.` }) },
  ]);
}

describe('KB build with an LLM (real openai client against the fake server)', () => {
  let fake: FakeOpenAiServer;
  let kbDir: string;

  beforeEach(async () => {
    fake = await FakeOpenAiServer.start({ defaultReply: JSON.stringify({ cause: 'Input reaches a sensitive call unchecked.' }) });
    script(fake);
    kbDir = mkdtempSync(join(tmpdir(), 'rescue-kb-llm-'));
  });
  afterEach(async () => {
    await fake.close();
    rmSync(kbDir, { recursive: true, force: true });
  });

  const client = () =>
    llmFromEnv(loadConfig(llmEnv, { LLM_BASE_URL: fake.baseUrl, LLM_API_KEY: 'sk-test-not-a-secret', LLM_MODEL: 'fake-model', LLM_CACHE: 'fs', LLM_CACHE_DIR: join(kbDir, 'cache', 'llm') })) as Llm;
  const build = (llm: Llm, sources: string[]) =>
    buildKnowledgeBase({
      sources,
      kbDir,
      ...SMALL_BUILD,
      embedder: async () => embedder(),
      distiller: llmDistiller(llm, { ...DEFAULT_LLM_DISTILLER, batchSize: 2, model: 'fake-model' }),
      llmStats: () => llm.stats(),
    });

  it('distils every cluster through validated LLM answers, and an identical rebuild makes no call', async () => {
    const first = await build(client(), [examples]);
    expect(first.llm.calls).toBeGreaterThan(0);
    expect(first.llm.calls).toBe(fake.requests.length);
    const nodes = await new KbDirectory(kbDir).nodes();
    const path = nodes.find((n) => n.id === 'python:CWE-22');
    // Two python CWE-22 records with b = 2: one leaf guideline call, no merge; two causes merged once.
    expect(path?.guidelines).toEqual(['Leaf rule for CWE-22.']);
    expect(path?.cause).toBe('Merged cause for CWE-22.');
    expect(path?.provenance).toMatchObject({ mode: 'llm', model: 'fake-model' });
    // One record: its cause analysis is the cluster's cause.
    const sql = nodes.find((n) => n.id === 'python:CWE-89');
    expect(sql?.cause).toBe('Input reaches a sensitive call unchecked.');
    expect(sql?.guidelines).toEqual(['Leaf rule for CWE-89.']);

    fake.clearRequests();
    const second = await build(client(), [examples]);
    expect(fake.requests).toHaveLength(0);
    // Every cluster's summary comes from the KB folder's cache: not even the response cache is asked.
    expect(second.llm).toEqual({ calls: 0, cached: 0 });
    expect(second.reused.clusters).toBe(second.reused.of);
    expect(second.manifest.version).toBe(first.manifest.version);

    // Without the summaries, the response cache answers every call: the same KB again.
    rmSync(join(kbDir, 'cache', 'clusters'), { recursive: true });
    const third = await build(client(), [examples]);
    expect(fake.requests).toHaveLength(0);
    expect(third.llm).toEqual({ calls: 0, cached: first.llm.calls });
    expect(third.manifest.version).toBe(first.manifest.version);
  });

  it('a new record re-summarizes only the cluster it joins', async () => {
    await build(client(), [examples]);
    fake.clearRequests();
    const extra = join(kbDir, 'extra.jsonl');
    writeFileSync(
      extra,
      `${JSON.stringify({ language: 'go', cwe: 'CWE-89', before: 'func q(db *sql.DB, n string) {\n\tdb.Query("SELECT * FROM t WHERE n = \'" + n + "\'")\n}\n', after: 'func q(db *sql.DB, n string) {\n\tdb.Query("SELECT * FROM t WHERE n = $1", n)\n}\n' })}\n`,
    );
    const third = await build(client(), [examples, extra]);
    expect(third.llm.calls).toBe(fake.requests.length);
    expect(third.llm.calls).toBeGreaterThan(0);
    // Only go:CWE-89 changed: its guideline calls name CWE-89 and the only new cause analysis is the new function.
    const guidelinePrompts = fake.requests.filter((r) => /## Case 1|## Guideline list 1|description\(s\) of why/.test(r.prompt));
    expect(guidelinePrompts.every((r) => r.prompt.includes('CWE-89') && /go code/.test(r.prompt))).toBe(true);
    const analyses = fake.requests.filter((r) => !/## Case 1|## Guideline list 1|description\(s\) of why/.test(r.prompt));
    expect(analyses).toHaveLength(1);
    expect(analyses[0].prompt).toContain('WHERE n = \'" + n');
  });

  it('an answer that fails its schema fails the build and the previous version keeps serving', async () => {
    const first = await build(client(), [examples]);
    const extra = join(kbDir, 'extra.jsonl');
    writeFileSync(extra, `${JSON.stringify({ language: 'ruby', cwe: 'CWE-22', before: 'def r(p)\n  File.read(p)\nend\n', after: 'def r(p)\n  File.read(File.basename(p))\nend\n' })}\n`);
    fake.script([{ match: /## Case 1/, reply: '{"guidelines": []}' }]);
    await expect(build(client(), [examples, extra])).rejects.toThrow();
    expect(await new KbDirectory(kbDir).current()).toBe(first.manifest.version);
  });
});

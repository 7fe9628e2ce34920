import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FsGenerationStore } from '@rescue/generation';
import { localEmbedder } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';
import { FakeOpenAiServer } from '@rescue/testing';
import { loadGeneratorWorkerConfig } from '../src/generator-worker.config';
import { GeneratorService } from '../src/generator.service';

const examples = resolve(__dirname, '../../../examples/fix-pairs');

describe('GeneratorService: the KB version a batch was planned on', () => {
  let dir: string;
  let fake: FakeOpenAiServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-generator-'));
    fake = await FakeOpenAiServer.start({ defaultReply: '```python\ndef find(db, name):\n    return db.execute("SELECT 1 WHERE n = %s", (name,))\n```' });
    fake.script([{ match: /explain why code is vulnerable/, reply: JSON.stringify({ cause: 'The name may reach the SQL query unescaped.' }) }]);
  });
  afterAll(async () => {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a job planned on version X with X after a newer version went live, and fails it clearly once X is pruned', async () => {
    const kbDir = join(dir, 'kb');
    const build = (sources: string[], keepVersions = 3) =>
      buildKnowledgeBase({ sources, kbDir, catalog: new Map(), clusterBy: 'language-cwe', catalogOnlyNodes: false, hops: 2, maxLineBytes: 1 << 20, embedder: localEmbedder, keepVersions });
    const v1 = (await build([examples])).manifest.version;
    const config = loadGeneratorWorkerConfig({ RESCUE_DATA_DIR: join(dir, 'data'), RECORD_STORE: 'fs', LLM_BASE_URL: fake.baseUrl, LLM_MODEL: 'fake', LLM_CACHE: 'none' });
    const store = new FsGenerationStore(config.RESCUE_DATA_DIR);
    await store.putTasks('b1', [{ id: 't1', language: 'python', prompt: 'def find(db, name):\n    # look the user up by name with an SQL query\n' }]);
    const service = new GeneratorService(config);
    const job = { v: 1 as const, batchId: 'b1', taskId: 't1', kbVersion: v1, kbDir, samples: 1, style: 'chat' as const, temperature: 0, guidanceCwes: 1, guidanceTokens: 1500 };
    try {
      // A newer version goes live before the worker takes the job.
      const extra = join(dir, 'extra.jsonl');
      writeFileSync(
        extra,
        `${JSON.stringify({ language: 'python', cwe: 'CWE-79', before: 'def page(n):\n    return "<b>" + n + "</b>"\n', after: 'def page(n):\n    return "<b>" + html.escape(n) + "</b>"\n' })}\n`,
      );
      const v2 = (await build([examples, extra])).manifest.version;
      expect(v2).not.toBe(v1);
      await service.generate(job);
      expect((await store.result('b1', 't1'))?.kbVersion).toBe(v1);

      // Once v1 is pruned, a job planned on it fails for good, naming the version.
      const extra2 = join(dir, 'extra2.jsonl');
      writeFileSync(
        extra2,
        `${JSON.stringify({ language: 'python', cwe: 'CWE-22', before: 'def read(p):\n    return open(p).read()\n', after: 'def read(p):\n    return open(safe(p)).read()\n' })}\n`,
      );
      await build([examples, extra, extra2], 1);
      const fresh = new GeneratorService(config);
      await expect(fresh.generate(job)).rejects.toThrow(new RegExp(`KB version ${v1} is not in`));
      await fresh.onModuleDestroy();
    } finally {
      await service.onModuleDestroy();
    }
  }, 60_000);
});

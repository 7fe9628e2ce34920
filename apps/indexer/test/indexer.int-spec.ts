import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStores } from '@rescue/pipeline';
import { loadIndexerWorkerConfig } from '../src/indexer-worker.config';
import { IndexerService } from '../src/indexer.service';

describe('IndexerService', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-indexer-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("labels the version with how its nodes were written, not with the indexer's own environment", async () => {
    // This indexer has no LLM; the clusters were distilled by one on the summarize workers.
    const config = loadIndexerWorkerConfig({ RESCUE_DATA_DIR: join(dir, 'data'), RECORD_STORE: 'fs' });
    const stores = openStores(config);
    const node = {
      id: 'python:CWE-89',
      cwe: 'CWE-89' as const,
      language: 'python' as const,
      parents: [],
      guidelines: ['Use query parameters.'],
      cause: 'Input reaches SQL.',
      apiNames: ['execute'],
      exampleIds: ['e1'],
      provenance: { mode: 'llm' as const, model: 'summarizer-7b', templates: ['guidelines@1'] },
    };
    const example = {
      id: 'e1',
      recordId: 'r1',
      cweNodeId: 'python:CWE-89',
      cwe: 'CWE-89' as const,
      language: 'python' as const,
      slicedSecure: 'cur.execute(q, (x,))',
      slicedVulnerable: 'cur.execute(q % x)',
      apiNames: ['execute'],
      searchText: 'cur execut',
      kind: 'fix' as const,
      source: 'generic' as const,
    };
    await stores.staging.put('b1', { node, examples: [example] });
    const service = new IndexerService(config);
    const build = {
      buildId: 'b1',
      hops: 2,
      clusterBy: 'language-cwe' as const,
      kbDir: join(dir, 'kb'),
      catalogOnlyNodes: false,
      codeqlRoots: [],
      distillation: 'llm' as const,
      batchSize: 10,
      embedder: 'local' as const,
    };
    const manifest = await service.index({ v: 1, buildId: 'b1', build }, [{ clusterKey: 'python:CWE-89', examples: 1, llmCalls: 3, llmCached: 0 }]);
    expect(manifest.distillation).toMatchObject({ mode: 'llm', model: 'summarizer-7b', llmCalls: 3 });
    await service.onModuleDestroy();
    await stores.close();
  }, 60_000);
});

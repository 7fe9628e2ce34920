import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { llmEnv, loadConfig } from '@rescue/config';
import { DEFAULT_LLM_DISTILLER, llmDistiller, localEmbedder } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';
import { type Llm, llmFromEnv } from '@rescue/llm';
import { FakeOpenAiServer } from '@rescue/testing';
import { EMBEDDED_BUILD, sharedCatalog } from './bench-figures';

// 1. The embedded build (no LLM) of all the shared fix pairs plus the CWE catalogue: time per stage.
// 2. LLM-bound efficiency: the same distillation against a local fake OpenAI server answering
//    after 0 ms and after 200 ms. Efficiency = (calls × latency / concurrency) / measured time:
//    1.0 means the build kept `concurrency` calls in flight all the time.

const shared = resolve(__dirname, '../../../../shared/data');
const LLM_RECORDS = 120;

async function main(): Promise<void> {
  const kbSource = join(shared, 'kb-source');
  if (!existsSync(kbSource)) {
    process.stdout.write(`bench:kb skipped: ${kbSource} is absent (the shared data sits beside the repository)\n`);
    return;
  }
  const { catalog } = await sharedCatalog(shared);
  const work = mkdtempSync(join(tmpdir(), 'rescue-bench-kb-'));
  try {
    const embedded = await buildKnowledgeBase({
      sources: [kbSource],
      kbDir: join(work, 'kb'),
      catalog,
      ...EMBEDDED_BUILD,
    });
    const total = Object.values(embedded.stageMs).reduce((a, b) => a + b, 0);
    process.stdout.write(`bench:kb embedded build (extractive) of ${embedded.manifest.counts.records} records + ${catalog.size} catalogue entries: ${embedded.manifest.counts.nodes} nodes\n`);
    for (const [stage, ms] of Object.entries(embedded.stageMs))
      process.stdout.write(`  ${stage.padEnd(10)} ${(ms / 1000).toFixed(2).padStart(7)} s  ${((100 * ms) / total).toFixed(0).padStart(3)}%\n`);

    // A sample of Python SVEN records: enough clusters and calls to see the fan-out.
    const sample = readFileSync(join(kbSource, 'sven', 'train', 'cwe-089.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .slice(0, LLM_RECORDS / 2)
      .concat(
        readFileSync(join(kbSource, 'sven', 'train', 'cwe-078.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .slice(0, LLM_RECORDS / 2),
      );
    const sampleFile = join(work, 'sample.jsonl');
    writeFileSync(sampleFile, `${sample.join('\n')}\n`);
    for (const latencyMs of [0, 200]) {
      const fake = await FakeOpenAiServer.start({ latencyMs, defaultReply: JSON.stringify({ cause: 'Input reaches a sensitive call unchecked.' }) });
      fake.script([
        { match: /## Case 1/, reply: JSON.stringify({ guidelines: ['Keep data out of code paths.'] }) },
        { match: /## Guideline list 1/, reply: JSON.stringify({ guidelines: ['Keep data out of code paths.'] }) },
        { match: /description\(s\) of why code had/, reply: JSON.stringify({ cause: 'Merged cause.' }) },
      ]);
      try {
        const llm = llmFromEnv(loadConfig(llmEnv, { LLM_BASE_URL: fake.baseUrl, LLM_API_KEY: 'bench', LLM_MODEL: 'fake', LLM_CACHE: 'none' })) as Llm;
        const kbDir = join(work, `kb-llm-${latencyMs}`);
        const report = await buildKnowledgeBase({
          sources: [sampleFile],
          kbDir,
          catalog,
          clusterBy: 'language-cwe',
          catalogOnlyNodes: false,
          hops: 2,
          maxLineBytes: 8 << 20,
          embedder: localEmbedder,
          distiller: llmDistiller(llm, { ...DEFAULT_LLM_DISTILLER, model: 'fake' }),
          llmStats: () => llm.stats(),
        });
        const measured = report.stageMs.summarize;
        const ideal = (report.llm.calls * latencyMs) / DEFAULT_LLM_DISTILLER.concurrency;
        const eff = latencyMs === 0 ? '(no latency: overhead only)' : `efficiency ${(ideal / measured).toFixed(2)} (ideal ${(ideal / 1000).toFixed(1)} s)`;
        process.stdout.write(
          `  LLM at ${String(latencyMs).padStart(3)} ms: ${report.llm.calls} calls for ${report.manifest.counts.records} records in ${report.manifest.counts.nodes} clusters, summarize ${(measured / 1000).toFixed(2)} s, concurrency ${DEFAULT_LLM_DISTILLER.concurrency}; ${eff}\n`,
        );
      } finally {
        await fake.close();
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

void main();

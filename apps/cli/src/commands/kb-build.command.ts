import { MultiBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { ingestEnv, llmEnv, loadConfig, redisEnv } from '@rescue/config';
import { type CweEntry, readCweCatalog } from '@rescue/datasets';
import { ConfigError, type CweId, InvalidInputError } from '@rescue/domain';
import { DEFAULT_LLM_DISTILLER, type QuarantineSummary, elasticsearchPublisher, llmDistiller, localEmbedder } from '@rescue/knowledge';
import { llmFromEnv } from '@rescue/llm';
import { type KbBuildStage, buildKnowledgeBase, runDistributedBuild } from '@rescue/pipeline';
import { LlmEmbedder } from '@rescue/retrieval';
import { intOption } from '../options';

interface BuildOptions {
  source: string[];
  cweCatalog?: string;
  kb: string;
  hops: string;
  clusterBy: string;
  catalogNodes: boolean;
  extractive?: boolean;
  distributed?: boolean;
  es?: string;
  embedder: string;
  esPrefix: string;
  batchSize: string;
  trustedSource: string[];
  untrustedSource: string[];
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/**
 * `--trusted-source` / `--untrusted-source` as the build spec's trust settings (absolute paths, as
 * the workers see them). A path that does not exist is refused (a typo would silently leave the
 * default in place); one that covers none of the sources is allowed, with a warning.
 */
function trustSettings(opts: BuildOptions, warn: (line: string) => void): { trusted: string[]; untrusted: string[] } | undefined {
  if (opts.trustedSource.length === 0 && opts.untrustedSource.length === 0) return undefined;
  const sources = [...opts.source, ...(opts.cweCatalog ? [opts.cweCatalog] : [])].map((p) => resolve(p));
  const within = (inner: string, outer: string): boolean => inner === outer || inner.startsWith(outer.endsWith(sep) ? outer : `${outer}${sep}`);
  const check = (option: string, paths: string[]): string[] =>
    paths.map((p) => {
      if (!existsSync(p)) throw new InvalidInputError(`${option} ${JSON.stringify(p)}: no such file or folder (name a source file or a folder holding sources)`);
      const abs = resolve(p);
      if (!sources.some((s) => within(s, abs) || within(abs, s))) warn(`rescue: ${option} ${p} covers none of the sources of this build`);
      return abs;
    });
  return { trusted: check('--trusted-source', opts.trustedSource), untrusted: check('--untrusted-source', opts.untrustedSource) };
}

/** The build summary's quarantine line: what the screen held back and where to look. */
function quarantineLine(q: QuarantineSummary, kb: string): string {
  const reasons = Object.entries(q.byReason)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  if (q.held === 0) return `  quarantine   nothing held back${q.released ? ` (${q.released} released item(s) used)` : ''}`;
  return `  quarantine   ${q.held} held back (${reasons})${q.released ? `, ${q.released} released item(s) used` : ''}: rescue kb quarantine list --kb ${kb}`;
}

export function registerKbBuild(kb: Command): void {
  kb.command('build')
    .description('Build and publish a KB version: ingest → slice → summarize (extractive without an LLM) → index')
    .requiredOption('-s, --source <paths...>', 'fix-pair JSONL files or directories')
    .option('--cwe-catalog <csv>', 'MITRE CWE catalogue CSV (a view export such as 1000) to enrich CWE nodes')
    .option('--kb <dir>', 'KB directory (versions, records, slices)', 'rescue-kb')
    .option('--hops <h>', 'slicing hops', '2')
    .option('--cluster-by <key>', 'language-cwe | cwe', 'language-cwe')
    .option('--no-catalog-nodes', 'do not add catalogue-only nodes for CWEs without fix data')
    .option('--extractive', 'distil without the LLM even when LLM_BASE_URL is set')
    .option('--embedder <kind>', 'local (LSA, weights-free) | llm (the LLM_MODEL_EMBEDDER endpoint)', 'local')
    .option('--es <url>', 'also publish the version to Elasticsearch (one index per version behind an alias)')
    .option('--es-prefix <prefix>', 'Elasticsearch index and alias prefix', 'rescue')
    .option('--distributed', 'run the stages as queue jobs on the worker apps (REDIS_URL, QUEUE_PREFIX; paths must be on a volume the workers share)')
    .option('--batch-size <b>', "summarization batch size (the paper's b)", '10')
    .option(
      '--trusted-source <path>',
      'vouch for this source (file or folder; repeatable): its free text may be quoted into guidelines. Fix-pair datasets are untrusted by default (docs/kb-poisoning.md)',
      collect,
      [],
    )
    .option('--untrusted-source <path>', 'distrust this source (file or folder; repeatable), e.g. a CodeQL fork or an unofficial catalogue copy, trusted by default', collect, [])
    .option('--json', 'print the build report as JSON')
    .action(async (opts: BuildOptions) => {
      const hops = intOption('--hops', opts.hops, 0, 10);
      const batchSize = intOption('--batch-size', opts.batchSize, 2, 50);
      if (opts.clusterBy !== 'language-cwe' && opts.clusterBy !== 'cwe') throw new InvalidInputError(`--cluster-by must be language-cwe or cwe, not ${JSON.stringify(opts.clusterBy)}`);
      if (opts.embedder !== 'local' && opts.embedder !== 'llm') throw new InvalidInputError(`--embedder must be local or llm, not ${JSON.stringify(opts.embedder)}`);
      const trust = trustSettings(opts, (line) => process.stderr.write(`${line}\n`));
      if (opts.distributed) {
        // Every option of the inline build travels in the build spec; the LLM is used, as inline,
        // when this command's environment configures one and --extractive is not given (the
        // summarize workers then need theirs). An Elasticsearch URL carries credentials, which job
        // data never holds: the indexer publishes to its own ELASTICSEARCH_URL under --es-prefix.
        const distillation = !opts.extractive && llmFromEnv(loadConfig(llmEnv)) ? 'llm' : 'extractive';
        if (opts.es) process.stderr.write(`rescue: the indexer publishes to its own ELASTICSEARCH_URL (prefix ${opts.esPrefix}); the URL given here is not sent to the workers\n`);
        const result = await runDistributedBuild(loadConfig(redisEnv), {
          sources: opts.source,
          kbDir: opts.kb,
          catalogPath: opts.cweCatalog,
          hops,
          clusterBy: opts.clusterBy,
          catalogOnlyNodes: opts.catalogNodes,
          distillation,
          batchSize,
          embedder: opts.embedder,
          elasticsearchPrefix: opts.es ? opts.esPrefix : undefined,
          trust,
          onEvent: opts.json ? undefined : (m) => process.stderr.write(`${m}\n`),
          onWarning: (m) => process.stderr.write(`rescue: ${m}\n`),
        });
        if (opts.json) return void process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        const m = result.manifest;
        process.stdout.write(
          `Published KB ${m.version} in ${opts.kb} (distributed build ${result.buildId})\n  records ${m.counts.records} in ${result.clusters} clusters; CWE nodes ${m.counts.nodes} (${m.counts.catalogOnlyNodes} catalogue-only); examples ${m.counts.examples}\n  distillation ${m.distillation.mode}; LLM calls made ${m.distillation.llmCalls}, from cache ${m.distillation.llmCallsCached}\n${quarantineLine(result.quarantine, opts.kb)}\n`,
        );
        return;
      }
      const env = loadConfig(ingestEnv);
      // The LLM writes guidelines and causes when one is configured; answers are cached in the KB folder.
      const llmClient = llmFromEnv(loadConfig(llmEnv), { dataDir: join(opts.kb, 'cache') });
      if (opts.embedder === 'llm' && !llmClient) throw new ConfigError(['--embedder llm needs an LLM endpoint: set LLM_BASE_URL (and LLM_MODEL_EMBEDDER)']);
      const llm = opts.extractive ? undefined : llmClient;
      if (llm && !opts.json) process.stderr.write(`distilling with the LLM (summarizer ${llm.modelFor('summarizer')}, analyzer ${llm.modelFor('analyzer')})\n`);
      const catalog = new Map<CweId, CweEntry>();
      if (opts.cweCatalog) {
        for (const [id, entry] of await readCweCatalog(opts.cweCatalog, (p) => process.stderr.write(`${opts.cweCatalog}:${p.line}: ${p.field}: ${p.message}\n`))) catalog.set(id, entry);
      }
      let problems = 0;
      const bars =
        !opts.json && process.stderr.isTTY
          ? new MultiBar({ format: '{stage} [{bar}] {value}/{total}', stream: process.stderr, clearOnComplete: false, hideCursor: true }, Presets.shades_classic)
          : undefined;
      const stageBars = new Map<KbBuildStage, ReturnType<MultiBar['create']>>();
      const report = await buildKnowledgeBase({
        sources: opts.source,
        kbDir: opts.kb,
        catalog,
        catalogPath: opts.cweCatalog,
        onProblem: (p) => {
          problems += 1;
          if (problems <= 20) process.stderr.write(`rescue: skipped ${p.file}${p.line ? `:${p.line}` : ''}: ${p.message}\n`);
        },
        clusterBy: opts.clusterBy,
        catalogOnlyNodes: opts.catalogNodes && catalog.size > 0,
        hops,
        maxLineBytes: env.INGEST_MAX_LINE_BYTES,
        embedder: opts.embedder === 'llm' && llmClient ? async () => new LlmEmbedder(llmClient, llmClient.modelFor('embedder')) : localEmbedder,
        distiller: llm ? llmDistiller(llm, { ...DEFAULT_LLM_DISTILLER, batchSize, model: llm.modelFor('summarizer') }) : undefined,
        llmStats: llm ? () => llm.stats() : undefined,
        alsoPublish: opts.es ? elasticsearchPublisher(opts.es, opts.esPrefix, opts.kb) : undefined,
        trust,
        onStage: (stage, event, done, total) => {
          if (!bars) return;
          let bar = stageBars.get(stage);
          if (!bar) stageBars.set(stage, (bar = bars.create(1, 0, { stage: stage.padEnd(9) })));
          if (event === 'progress' && total !== undefined) {
            bar.setTotal(total);
            bar.update(done ?? 0);
          }
          if (event === 'done') bar.update(bar.getTotal());
        },
      });
      bars?.stop();
      if (problems > 20) process.stderr.write(`rescue: … and ${problems - 20} more source problems (each skipped; the rest was kept)\n`);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        return;
      }
      const m = report.manifest;
      const bySource = Object.entries(m.sources?.examples ?? {}).map(
        ([source, langs]) =>
          `${source} ${Object.values(langs).reduce((a, b) => a + b, 0)} (${Object.entries(langs)
            .sort((a, b) => b[1] - a[1])
            .map(([l, n]) => `${l} ${n}`)
            .join(', ')})`,
      );
      const lines = [
        `Published KB ${m.version} in ${opts.kb}`,
        `  records      ${m.counts.records} (read ${report.ingest.linesRead} lines, ${report.ingest.duplicates} duplicates, ${report.ingest.rejected} rejected)`,
        `  slices       ${report.slicing.sliced} new, ${report.slicing.reused} reused, ${report.slicing.failed} failed (${report.slicing.threads > 0 ? `${report.slicing.threads} slicing threads` : 'sliced in this thread'})`,
        `  CWE nodes    ${m.counts.nodes} (${m.counts.catalogOnlyNodes} from the catalogue only)`,
        `  examples     ${m.counts.examples}: ${bySource.join('; ')}`,
        `  documents    ${m.counts.documents ?? 0} (${Object.entries(m.sources?.documents ?? {})
          .map(([k, n]) => `${k} ${n}`)
          .join(', ')})`,
        `  distillation ${m.distillation.mode}; LLM calls made ${report.llm.calls}, from cache ${report.llm.cached}`,
        `  embedder     ${String(m.embedder.id ?? 'unknown')} (${String(m.embedder.dimensions ?? '?')} dimensions)`,
        quarantineLine(report.quarantine, opts.kb),
        `  time         ${Object.entries(report.stageMs)
          .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
          .join(', ')}`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}

import { createWriteStream } from 'node:fs';
import type { Command } from 'commander';
import type { CodingTask } from '@rescue/datasets';
import { normalizeLanguageName } from '@rescue/domain';
import { TaskInput } from '../task-input';
import { type RetrievalOutcome, retrievalReport } from '@rescue/evaluation';
import { FsRecordStore } from '@rescue/datasets';
import type { FixRecord } from '@rescue/domain';
import { NaiveRecordSearch, OFFLINE_CWE_FACETS, type OpenedKb, mapLimited, offlineQuery } from '@rescue/knowledge';
import { DEFAULT_RETRIEVAL, type RetrievalConfig, type RetrievalQuery, thresholdFromGoldScores } from '@rescue/retrieval';
import { join } from 'node:path';
import { Slicer } from '@rescue/slicing';
import { analyzeTask, errorClass, retrieveOffline } from '@rescue/generation';
import { llmEnv, loadConfig } from '@rescue/config';
import { LlmClient } from '@rescue/llm';
import { intOption } from '../options';
import { type KbOptions, addKbOptions, isUrl, openKb } from '../elasticsearch-option';

export function registerRetrieve(program: Command): void {
  addKbOptions(program
    .command('retrieve'))
    .description('Security context for coding tasks: the likely CWEs, their guidelines and a sliced secure example (offline mode: no LLM)')
    .argument('[task]', 'one task, as text or code')
    .option('--language <language>', 'the task\'s language (with a single task)')
    .option('--tasks <jsonl>', 'tasks, one {"id","language","prompt","kind"?} per line')
    .option('--out <jsonl>', 'write one result per task here (default: stdout)')
    .option('--guidance-cwes <n>', 'also give the guidelines of further retrieved CWEs, up to n CWEs in all', '1')
    .option('--guidance-tokens <t>', 'token budget for the guidelines and example when --guidance-cwes > 1', '1500')
    .action(async (taskText: string | undefined, opts: { language?: string; tasks?: string; out?: string; kb: string; guidanceCwes: string; guidanceTokens: string } & KbOptions) => {
      const guidance = { cwes: intOption('--guidance-cwes', opts.guidanceCwes, 1, 10), tokens: intOption('--guidance-tokens', opts.guidanceTokens, 100, 32_000) };
      const kb = await openKb(opts, { cweFacets: OFFLINE_CWE_FACETS });
      const slicer = await Slicer.create();
      const out = opts.out ? createWriteStream(opts.out) : process.stdout;
      const input = new TaskInput();
      if (opts.tasks) {
        for await (const task of input.read(opts.tasks)) out.write(`${JSON.stringify(await retrieveOffline(kb, slicer, task, guidance))}\n`);
      } else {
        if (!taskText) throw new Error('give a task (text or code) or --tasks <jsonl>');
        const language = opts.language ? normalizeLanguageName(opts.language) : undefined;
        if (!language) throw new Error(`--language is required with a single task (e.g. python), got ${JSON.stringify(opts.language)}`);
        out.write(`${JSON.stringify(await retrieveOffline(kb, slicer, { id: 'task', language, prompt: taskText }, guidance), null, 2)}\n`);
      }
      if (opts.out) await new Promise<void>((r) => (out as ReturnType<typeof createWriteStream>).end(r));
      input.finish();
    });
}

export function registerEval(program: Command): void {
  const evalCmd = program.command('eval').description('evaluate the system');
  addKbOptions(evalCmd
    .command('retrieval'))
    .description('Coverage, abstention, hit@1/4/10 and MRR of CWE retrieval against gold CWEs, split by seen/unseen')
    .option('--tasks <jsonl>', 'tasks with "gold_cwes"')
    .option('--dev <dir>', 'a SafeCoder-style evaluation folder (info.json per scenario), e.g. ../shared/data/dev-eval/safecoder-sec-eval')
    .option('--mode <mode>', 'offline (the task stands in for the analysis) or llm (the draft and cause analysis from the configured LLM, as generation does)', 'offline')
    .option('--concurrency <c>', 'tasks analysed at once in llm mode', '8')
    .option('--facets <list>', `CWE-level facets of the full system, comma-separated (cause,api,text,examples; default offline ${OFFLINE_CWE_FACETS.join(',')}, llm all four)`)
    .option('--compare', 'also run the naive baseline (BM25 over raw fix records) and the paper\'s facets only (cause + API)')
    .option('--json', 'print JSON')
    .action(async (opts: { tasks?: string; dev?: string; mode: string; concurrency: string; facets?: string; compare?: boolean; json?: boolean } & KbOptions) => {
      if (opts.mode !== 'offline' && opts.mode !== 'llm') throw new Error(`--mode must be offline or llm, not ${JSON.stringify(opts.mode)}`);
      const llm = opts.mode === 'llm' ? LlmClient.fromEnv(loadConfig(llmEnv)) : undefined;
      if (opts.mode === 'llm' && !llm) throw new Error('--mode llm needs an LLM: set LLM_BASE_URL and a model (or use --mode offline)');
      const concurrency = intOption('--concurrency', opts.concurrency, 1, 256);
      const input = new TaskInput();
      const tasks = await input.withGold(opts);
      if (opts.compare && isUrl(opts.kb)) throw new Error('--compare needs a KB folder: the naive baseline searches the records the KB was built from (--kb <dir>, with --es to search Elasticsearch)');
      const slicer = await Slicer.create();

      // One query per task, shared by every system: offline from the task, or the LLM's analysis.
      const failures: Record<string, number> = {};
      const queries = await mapLimited(tasks, llm ? concurrency : 1, async (task): Promise<RetrievalQuery | undefined> => {
        if (!llm) return offlineQuery(task, slicer);
        try {
          return (await analyzeTask(task, llm, { temperature: 0, style: 'chat', apiCalls: (language, code) => slicer.apiReferences(language as CodingTask['language'], code) })).query;
        } catch (err) {
          const cls = errorClass(err);
          failures[cls] = (failures[cls] ?? 0) + 1;
          process.stderr.write(`rescue: analysis of ${task.id} failed (${cls}): ${(err as Error).message}\n`);
          return undefined;
        }
      });
      const analysed = tasks.map((task, i) => ({ task, query: queries[i] })).filter((x): x is { task: CodingTask; query: RetrievalQuery } => x.query !== undefined);

      const facets = opts.facets ? (opts.facets.split(',').map((f) => f.trim()) as RetrievalConfig['cweFacets']) : undefined;
      const fullFacets = facets ?? (llm ? DEFAULT_RETRIEVAL.cweFacets : OFFLINE_CWE_FACETS);
      const systems: { name: string; overrides: Partial<RetrievalConfig> }[] = [{ name: 'full', overrides: { topK: 10, cweFacets: fullFacets } }];
      if (opts.compare) {
        systems.unshift({ name: 'paper', overrides: { topK: 10, cweFacets: ['cause', 'api'] } });
        // Offline, every CWE facet at once shows what leaving the cause facet out is worth.
        if (!llm) systems.push({ name: 'all-facets', overrides: { topK: 10, cweFacets: ['cause', 'api', 'text', 'examples'] } });
      }
      const reports: Record<string, ReturnType<typeof retrievalReport>> = {};
      let version = '';
      for (const system of systems) {
        const kb = await openKb(opts, system.overrides);
        version = kb.manifest.version;
        const withData = new Set([...kb.nodes.values()].filter((n) => n.exampleIds.length > 0).map((n) => n.cwe as string));
        const seen = (gold: string[]): boolean => gold.some((g) => withData.has(g));
        const outcomes: RetrievalOutcome[] = [];
        for (const { task, query } of analysed) {
          const r = await kb.retriever.retrieve(query);
          const gold = task.goldCwes ?? [];
          outcomes.push({ gold, ranked: [...new Set(r.cwes.map((c) => kb.nodes.get(c.id)?.cwe ?? c.id))], abstained: r.abstained, seen: seen(gold) });
        }
        reports[system.name] = retrievalReport(outcomes);
        if (opts.compare && system.name === 'paper') {
          // The naive baseline over the same records the KB was built from, queried with the task.
          const naive = await NaiveRecordSearch.build(await recordsOf(opts.kb, kb));
          try {
            const naiveOutcomes: RetrievalOutcome[] = [];
            for (const { task } of analysed) {
              const ranked = (await naive.rankCwes(task.prompt, task.language)).slice(0, 10);
              const gold = task.goldCwes ?? [];
              naiveOutcomes.push({ gold, ranked, abstained: ranked.length === 0, seen: seen(gold) });
            }
            reports.naive = retrievalReport(naiveOutcomes);
          } finally {
            naive.close();
          }
        }
      }
      const failed = Object.values(failures).reduce((a, b) => a + b, 0);
      input.finish();
      if (failed > 0) process.exitCode = 1;
      if (opts.json) return void process.stdout.write(`${JSON.stringify({ kb: version, mode: opts.mode, tasks: tasks.length, analysisFailures: failures, systems: reports }, null, 2)}\n`);
      const row = (name: string, m: ReturnType<typeof retrievalReport>['all']): string =>
        `${name.padEnd(18)} ${String(m.tasks).padStart(5)}  coverage ${m.coverage.toFixed(3)}  abstain ${m.abstention.toFixed(3)}  hit@1 ${m.hitAt1.toFixed(3)}  hit@4 ${m.hitAt4.toFixed(3)}  hit@10 ${m.hitAt10.toFixed(3)}  MRR ${m.mrr.toFixed(3)}`;
      process.stdout.write(`Retrieval on ${analysed.length} tasks against KB ${version} (${opts.mode} mode${failed > 0 ? `; ${failed} task(s) left out, analysis failed: ${Object.entries(failures).map(([k, v]) => `${k} ${v}`).join(', ')}` : ''})\n`);
      for (const name of ['naive', 'paper', 'full', 'all-facets'].filter((n) => reports[n])) {
        for (const split of ['all', 'seen', 'unseen'] as const) process.stdout.write(`${row(`${name} ${split}`, reports[name][split])}\n`);
      }
    });
}

/** The fix records behind a KB's examples, from the KB folder's record store. */
async function recordsOf(kbDir: string, kb: OpenedKb): Promise<FixRecord[]> {
  const store = new FsRecordStore(join(kbDir, 'records'));
  const out: FixRecord[] = [];
  for (const e of kb.examples.values()) {
    const r = await store.get(e.recordId);
    if (r) out.push(r);
  }
  return out;
}

export function registerKbCalibrate(kb: Command): void {
  addKbOptions(kb.command('calibrate'))
    .description('Fit per-facet retrieval thresholds on a development set with gold CWEs and store them with the serving KB version')
    .option('--dev <dir>', 'a SafeCoder-style evaluation folder')
    .option('--tasks <jsonl>', 'tasks with "gold_cwes"')
    .option('--quantile <q>', 'keep this share of gold matches above each threshold (1 - q)', '0.05')
    .option('--json', 'print JSON')
    .action(async (opts: { dev?: string; tasks?: string; quantile: string; kb: string; json?: boolean } & KbOptions) => {
      const quantile = Number(opts.quantile);
      if (!(quantile >= 0 && quantile < 1)) throw new Error(`--quantile must be in [0, 1), not ${JSON.stringify(opts.quantile)}`);
      const input = new TaskInput();
      const tasks = await input.withGold(opts);
      const slicer = await Slicer.create();
      // Offline runs fit the facets that run offline. The cause facet's scores depend on what an
      // LLM's analysis looks like, which an offline run cannot show, so its threshold is kept.
      const zero = { cause: 0, api: 0, text: 0, code: 0, examples: 0 };
      const evaluate = async (thresholds: RetrievalConfig['thresholds']) => {
        const kb = await openKb(opts, { topK: 10, thresholds, cweFacets: OFFLINE_CWE_FACETS });
        const withData = new Set([...kb.nodes.values()].filter((n) => n.exampleIds.length > 0).map((n) => n.cwe as string));
        const goldScores: Record<string, number[]> = {};
        const outcomes: RetrievalOutcome[] = [];
        for (const task of tasks) {
          const query = await offlineQuery(task, slicer);
          const result = await kb.retriever.retrieve(query);
          const gold = task.goldCwes ?? [];
          const isGoldNode = (id: string): boolean => gold.includes(kb.nodes.get(id)?.cwe ?? '');
          const isGoldExample = (id: string): boolean => gold.includes(kb.examples.get(id)?.cwe ?? '');
          for (const r of result.rankings.cwe) {
            const i = r.hits.slice(0, 10).findIndex((h) => isGoldNode(h.id));
            if (i >= 0) (goldScores[r.name] ??= []).push(r.hits[i].score);
          }
          for (const r of result.rankings.code) {
            const i = r.hits.slice(0, 10).findIndex((h) => isGoldExample(h.id));
            if (i >= 0) (goldScores[r.name === 'api' ? 'code-api' : r.name] ??= []).push(r.hits[i].score);
          }
          outcomes.push({ gold, ranked: [...new Set(result.cwes.map((c) => kb.nodes.get(c.id)?.cwe ?? c.id))], abstained: result.abstained, seen: gold.some((g) => withData.has(g)) });
        }
        return { kb, report: retrievalReport(outcomes), goldScores };
      };
      const before = await evaluate(zero);
      const s = before.goldScores;
      const fitted: Partial<RetrievalConfig['thresholds']> = {
        api: Math.min(thresholdFromGoldScores(s.api ?? [], quantile), thresholdFromGoldScores(s['code-api'] ?? [], quantile)),
        text: thresholdFromGoldScores(s.text ?? [], quantile),
        code: thresholdFromGoldScores(s.code ?? [], quantile),
        examples: thresholdFromGoldScores(s.examples ?? [], quantile),
      };
      const after = await evaluate({ ...zero, ...fitted });
      input.finish();
      await before.kb.saveThresholds({ thresholds: fitted, fittedOn: `${tasks.length} tasks${opts.dev ? ` from ${opts.dev}` : ''}`, quantile, createdAt: new Date().toISOString() });
      if (opts.json) return void process.stdout.write(`${JSON.stringify({ version: before.kb.manifest.version, thresholds: fitted, before: before.report, after: after.report }, null, 2)}\n`);
      const line = (name: string, m: ReturnType<typeof retrievalReport>['all']): string => `${name.padEnd(8)} coverage ${m.coverage.toFixed(3)}  hit@1 ${m.hitAt1.toFixed(3)}  hit@4 ${m.hitAt4.toFixed(3)}  hit@10 ${m.hitAt10.toFixed(3)}  MRR ${m.mrr.toFixed(3)}`;
      process.stdout.write(
        [
          `Calibrated KB ${before.kb.manifest.version} on ${tasks.length} tasks (quantile ${quantile}):`,
          `  thresholds ${Object.entries(fitted).map(([k, v]) => `${k} ${(v as number).toFixed(3)}`).join(', ')} (cause: not fitted offline)`,
          `  ${line('before', before.report.all)}`,
          `  ${line('after', after.report.all)}`,
        ].join('\n') + '\n',
      );
    });
}

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import pMap from 'p-map';
import { llmEnv, loadConfig } from '@rescue/config';
import { type CodingTask, type CweEntry, readCweCatalog } from '@rescue/datasets';
import { ConfigError, type CweId, InvalidInputError } from '@rescue/domain';
import {
  type EvaluatedSystem,
  type EvaluationReport,
  type EvaluationSet,
  type FitInput,
  type HeldOutResult,
  NAIVE_BASELINES,
  NaiveBaselines,
  analyseTasks,
  baselineCorpus,
  bestBaseline,
  evaluateRetrieval,
  fitModels,
  leaveOneSetOut,
  measure,
  readEvaluationSets,
  seenCwes,
} from '@rescue/evaluation';
import { analyzeTask, errorClass } from '@rescue/generation';
import { type OpenedKb, offlineQuery } from '@rescue/knowledge';
import { llmFromEnv } from '@rescue/llm';
import { DEFAULT_GATE_FIT, type RetrievalQuery, ordinaryTaskFiles, ordinaryTaskTerms, parseFacetNames } from '@rescue/retrieval';
import { Slicer } from '@rescue/slicing';
import { type KbOptions, addKbOptions, isUrl, openKb } from '../kb-location';
import { intOption } from '../options';

interface SetOptions {
  tasks?: string[];
  dev?: string[];
}

const describeProblem = (p: { file: string; line: number; field?: string; message: string }): string => `${p.file}${p.line ? `:${p.line}` : ''}: ${p.field ? `${p.field}: ` : ''}${p.message}`;

/** The evaluation sets of a command, bad lines reported on stderr (and the exit code set) but never fatal. */
async function setsOf(opts: SetOptions): Promise<EvaluationSet[]> {
  let problems = 0;
  const sets = await readEvaluationSets(opts, (p) => {
    problems += 1;
    process.stderr.write(`rescue: skipped ${describeProblem(p)}\n`);
  });
  if (problems > 0) process.exitCode = 1;
  return sets;
}

/** One retrieval query per task, offline from the task or from the LLM's analysis; a failed analysis is left out with its class. */
function queryMaker(mode: string, concurrency: number): { queries: (tasks: CodingTask[]) => Promise<Map<string, RetrievalQuery>>; failures: Record<string, number> } {
  if (mode !== 'offline' && mode !== 'llm') throw new InvalidInputError(`--mode must be offline or llm, not ${JSON.stringify(mode)}`);
  const llm = mode === 'llm' ? llmFromEnv(loadConfig(llmEnv)) : undefined;
  if (mode === 'llm' && !llm) throw new ConfigError(['--mode llm needs an LLM: set LLM_BASE_URL and a model (or use --mode offline)']);
  const failures: Record<string, number> = {};
  const slicer = Slicer.create();
  return {
    failures,
    queries: async (tasks) => {
      const s = await slicer;
      const made = await pMap(
        tasks,
        async (task): Promise<RetrievalQuery | undefined> => {
          if (!llm) return offlineQuery(task, s);
          try {
            return (await analyzeTask(task, llm, { temperature: 0, style: 'chat', apiCalls: (language, code) => s.apiReferences(language as CodingTask['language'], code) })).query;
          } catch (err) {
            const cls = errorClass(err);
            failures[cls] = (failures[cls] ?? 0) + 1;
            process.stderr.write(`rescue: analysis of ${task.id} failed (${cls}): ${(err as Error).message}\n`);
            return undefined;
          }
        },
        { concurrency: llm ? concurrency : 1 },
      );
      return new Map(tasks.map((t, i) => [t.id, made[i]]).filter((e): e is [string, RetrievalQuery] => e[1] !== undefined));
    },
  };
}

const pct = (x: number): string => x.toFixed(3);

/** The evaluation as a table: per set, each system's metrics, then the bar (best naive baseline) and Rescue's margin over it. */
function formatReport(report: EvaluationReport, header: string): string {
  const lines = [header, ''];
  const row = (name: string, m: EvaluationReport['sets'][number]['systems'][string], negative: boolean): string =>
    negative
      ? `  ${name.padEnd(19)} fired ${pct(m.fired)}`
      : `  ${name.padEnd(19)} hit@1 ${pct(m.all.hitAt1)}  hit@4 ${pct(m.all.hitAt4)}  hit@10 ${pct(m.all.hitAt10)}  MRR ${pct(m.all.mrr)}  seen hit@4 ${pct(m.seen.hitAt4)} (${m.seen.tasks})  unseen hit@4 ${pct(m.unseen.hitAt4)} (${m.unseen.tasks})  fired ${pct(m.fired)}${m.all.exampleHit !== undefined ? `  example of a gold CWE ${pct(m.all.exampleHit)}` : ''}${m.skipped ? `  skipped ${m.skipped}` : ''}`;
  for (const set of report.sets) {
    lines.push(`${set.set} (${set.tasks} tasks${set.negative ? ', ordinary: retrieval should abstain' : ''})`);
    for (const [name, m] of Object.entries(set.systems)) lines.push(row(name, m, set.negative));
    if (!set.negative && set.systems.rescue && set.systems['naive-records']) {
      const r = set.systems.rescue;
      const h4 = bestBaseline(set, (m) => m.all.hitAt4, NAIVE_BASELINES);
      const mrr = bestBaseline(set, (m) => m.all.mrr, NAIVE_BASELINES);
      const unseen = bestBaseline(set, (m) => m.unseen.hitAt4, ['naive-catalog']);
      lines.push(
        `  margin over the best naive: hit@4 ${(r.all.hitAt4 - h4.value).toFixed(3)} (vs ${h4.name}), MRR ${(r.all.mrr - mrr.value).toFixed(3)} (vs ${mrr.name}), unseen hit@4 vs catalogue BM25 ${(r.unseen.hitAt4 - unseen.value).toFixed(3)}`,
      );
    }
    lines.push('');
  }
  lines.push('macro average over the sets with gold CWEs (fired: over the ordinary sets)');
  for (const [name, m] of Object.entries(report.macro))
    lines.push(
      `  ${name.padEnd(19)} hit@1 ${pct(m.hitAt1)}  hit@4 ${pct(m.hitAt4)}  hit@10 ${pct(m.hitAt10)}  MRR ${pct(m.mrr)}  unseen hit@4 ${pct(m.unseenHitAt4)}${m.exampleHit !== undefined ? `  example of a gold CWE ${pct(m.exampleHit)}` : ''}${m.firedOnNegatives !== undefined ? `  fired ${pct(m.firedOnNegatives)}` : ''}`,
    );
  return `${lines.join('\n')}\n`;
}

async function catalogFor(opts: { cweCatalog?: string }, kb: OpenedKb): Promise<Map<CweId, CweEntry>> {
  const path = opts.cweCatalog ?? kb.manifest.inputs?.catalog;
  if (!path) return new Map();
  return readCweCatalog(path, (p) => process.stderr.write(`${path}:${p.line}: ${p.field}: ${p.message}\n`));
}

/** Fitting inputs for a KB: the facets and depth of its ranker, our ordinary-task fixtures, the gate's score against it. */
async function fitInputFor(kb: OpenedKb, ordinaryFiles: string[], ordinaryFired: number): Promise<FitInput> {
  const ranker = kb.retriever.config.ranker;
  // The ordinary tasks are retrieved for too: the facets' agreement they reach is the gate's
  // agreement centre.
  const ordinarySets = await setsOf({ tasks: ordinaryFiles });
  const slicer = await Slicer.create();
  const ordinaryAnalyses = await analyseTasks(kb, ordinarySets, (t) => offlineQuery(t, slicer));
  return {
    facets: ranker.facets,
    depth: ranker.depth,
    ordinary: ordinaryTaskTerms(ordinaryFiles),
    ordinaryAnalyses,
    kb: kb.facts.termCounts,
    relevance: (terms, gate) => kb.retriever.relevance(terms, gate),
    gate: { ...DEFAULT_GATE_FIT, ordinaryFired },
  };
}

function formatHeldOut(results: HeldOutResult[]): string {
  const lines = ['leave-one-set-out (ranker and gate fitted on the other sets, measured on this one):'];
  for (const r of results) {
    lines.push(
      r.negative
        ? `  ${r.held.padEnd(20)} fired ${pct(r.fired)} (${r.all.tasks} tasks)`
        : `  ${r.held.padEnd(20)} hit@1 ${pct(r.all.hitAt1)}  hit@4 ${pct(r.all.hitAt4)}  hit@10 ${pct(r.all.hitAt10)}  MRR ${pct(r.all.mrr)}  unseen hit@4 ${pct(r.unseen.hitAt4)} (${r.unseen.tasks})  fired ${pct(r.fired)} (${r.all.tasks} tasks)${r.ungated ? `  [ungated: hit@4 ${pct(r.ungated.hitAt4)} MRR ${pct(r.ungated.mrr)}]` : ''}`,
    );
  }
  return lines.join('\n');
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function shareOption(name: string, value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidInputError(`${name} must be a share from 0 to 1, not ${JSON.stringify(value)}`);
  return n;
}

export function registerEval(program: Command): void {
  const evalCmd = program.command('eval').description('evaluate retrieval, and fit its ranker and relevance gate');
  addKbOptions(evalCmd.command('retrieval'))
    .description('hit@1/4/10, MRR (seen/unseen) and how often retrieval fires, per set and macro-averaged, always beside the naive baselines over the same sources')
    .option('--tasks <jsonl>', 'a task file with "gold_cwes" (repeatable; [] for ordinary tasks)', collect)
    .option('--dev <dir>', 'a SafeCoder-style scenario folder (repeatable)', collect)
    .option('--cwe-catalog <file>', 'the catalogue for the catalogue baseline (default: the one the KB was built with)')
    .option('--facets <list>', 'only these CWE-level facets of the ranker (an ablation), comma-separated')
    .option('--mode <mode>', 'offline (the task stands in for the analysis) or llm (the draft and cause analysis from the configured LLM)', 'offline')
    .option('--concurrency <c>', 'tasks analysed at once in llm mode', '8')
    .option('--json', 'print JSON')
    .action(async (opts: SetOptions & { cweCatalog?: string; facets?: string; mode: string; concurrency: string; json?: boolean } & KbOptions) => {
      const facets = opts.facets ? parseFacetNames(opts.facets) : undefined;
      const maker = queryMaker(opts.mode, intOption('--concurrency', opts.concurrency, 1, 256));
      const sets = await setsOf(opts);
      const kb = await openKb(opts);
      const queries = await maker.queries(sets.flatMap((s) => s.tasks));
      const systems: EvaluatedSystem[] = [
        {
          name: 'rescue',
          rank: async (task) => {
            const q = queries.get(task.id);
            if (!q) return undefined;
            const r = await kb.retriever.retrieve(q, { facets, topK: 10 });
            return { ranked: r.cwes.map((c) => c.cwe), abstained: r.abstained, exampleCwe: r.example ? (kb.examples.get(r.example.id)?.cwe ?? null) : null };
          },
        },
      ];
      let baselines: NaiveBaselines | undefined;
      if (isUrl(opts.kb)) {
        process.stderr.write('rescue: the naive baselines need the KB folder (they search the raw records it was built from); run with --kb <dir> to see them\n');
      } else {
        const corpus = await baselineCorpus(kb, opts.kb, await catalogFor(opts, kb));
        baselines = await NaiveBaselines.build(corpus.records, corpus.entries);
        for (const name of NAIVE_BASELINES) systems.push({ name, rank: async (task) => ({ ranked: await (baselines as NaiveBaselines).rank(name, task), abstained: false }) });
      }
      try {
        const seen = seenCwes(kb);
        const report = await evaluateRetrieval(sets, systems, (c) => seen.has(c));
        const failed = Object.values(maker.failures).reduce((a, b) => a + b, 0);
        if (failed > 0) process.exitCode = 1;
        if (opts.json)
          return void process.stdout.write(
            `${JSON.stringify({ kb: kb.manifest.version, mode: opts.mode, facets: facets ?? kb.retriever.config.ranker.facets, analysisFailures: maker.failures, ...report }, null, 2)}\n`,
          );
        process.stdout.write(
          formatReport(
            report,
            `Retrieval against KB ${kb.manifest.version} (${opts.mode} mode; ranker: ${kb.retriever.config.ranker.fittedOn}; gate: ${kb.retriever.config.gate?.fittedOn ?? 'none'})`,
          ),
        );
      } finally {
        baselines?.close();
      }
    });

  addKbOptions(evalCmd.command('fit'))
    .description('fit the ranker and the relevance gate on development sets, report leave-one-set-out, optionally write them as the defaults')
    .option('--tasks <jsonl>', 'a task file with "gold_cwes" (repeatable)', collect)
    .option('--dev <dir>', 'a SafeCoder-style scenario folder (repeatable)', collect)
    .option('--ordinary <jsonl>', 'ordinary programming tasks the gate learns "not about security" from (repeatable; default: our fixtures in libs/evaluation/data)', collect)
    .option('--ordinary-fired <share>', 'share of the ordinary tasks (out of fold) the gate may let through', String(DEFAULT_GATE_FIT.ordinaryFired))
    .option(
      '--write-defaults <dir>',
      "write the ranker and the gate's shape fitted on all sets as default-ranker.json and default-gate-shape.json in this folder (each KB fits its own gate threshold when opened)",
    )
    .option('--json', 'print JSON')
    .action(async (opts: SetOptions & { ordinary?: string[]; ordinaryFired: string; writeDefaults?: string; json?: boolean } & KbOptions) => {
      const keep = shareOption('--ordinary-fired', opts.ordinaryFired);
      const sets = await setsOf(opts);
      const kb = await openKb(opts, { gate: false });
      const input = await fitInputFor(kb, opts.ordinary ?? ordinaryTaskFiles(), keep);
      const maker = queryMaker('offline', 1);
      const queries = await maker.queries(sets.flatMap((s) => s.tasks));
      const analyses = await analyseTasks(kb, sets, async (t) => queries.get(t.id));
      const held = leaveOneSetOut(analyses, input);
      const fittedOn = `${sets.map((s) => `${s.name} (${s.tasks.length})`).join(', ')}; ordinary tasks: ${(opts.ordinary ?? ordinaryTaskFiles()).map((f) => f.split('/').pop()).join(', ')}; KB ${kb.manifest.version}`;
      const models = fitModels(analyses, input, fittedOn);
      const inSample = sets.map((s) => ({
        set: s.name,
        ...measure(
          analyses.filter((a) => a.set === s.name),
          models.ranker,
          models.gate,
          input.relevance,
        ),
      }));
      if (opts.writeDefaults) {
        await writeFile(join(opts.writeDefaults, 'default-ranker.json'), `${JSON.stringify(models.ranker, null, 2)}\n`);
        await writeFile(join(opts.writeDefaults, 'default-gate-shape.json'), `${JSON.stringify({ shape: models.gate.shape, fittedOn: models.gate.fittedOn }, null, 2)}\n`);
      }
      if (opts.json)
        return void process.stdout.write(
          `${JSON.stringify({ kb: kb.manifest.version, leaveOneSetOut: held, inSample, ranker: models.ranker, gate: { ...models.gate, ordinary: { total: models.gate.ordinary.total } } }, null, 2)}\n`,
        );
      process.stdout.write(
        `${formatHeldOut(held)}\n\nfitted on all sets: gate threshold ${models.gate.threshold.toFixed(3)} on this KB, gate shape: length weight ${models.gate.shape.lengthWeight}, agreement weight ${models.gate.shape.agreementWeight} about ${models.gate.shape.agreementCenter}; ranker: rank exponent ${models.ranker.rankExponent ?? 1}, top k diversified by lineage: ${models.ranker.diversifyLineage ? 'yes' : 'no'}, weights ${models.ranker.features.map((f, i) => `${f} ${models.ranker.weights[i].toFixed(2)}`).join(', ')}\n${opts.writeDefaults ? `written to ${opts.writeDefaults}\n` : ''}`,
      );
    });
}

export function registerKbCalibrate(kb: Command): void {
  addKbOptions(kb.command('calibrate'))
    .description("Fit this KB version's ranker and relevance gate on development tasks with gold CWEs, and store them beside the version")
    .option('--tasks <jsonl>', 'a task file with "gold_cwes" (repeatable)', collect)
    .option('--dev <dir>', 'a SafeCoder-style scenario folder (repeatable)', collect)
    .option('--ordinary <jsonl>', 'ordinary programming tasks for the gate (repeatable; default: our fixtures)', collect)
    .option('--ordinary-fired <share>', 'share of the ordinary tasks (out of fold) the gate may let through', String(DEFAULT_GATE_FIT.ordinaryFired))
    .option('--json', 'print JSON')
    .action(async (opts: SetOptions & { ordinary?: string[]; ordinaryFired: string; json?: boolean } & KbOptions) => {
      const keep = shareOption('--ordinary-fired', opts.ordinaryFired);
      const sets = await setsOf(opts);
      const opened = await openKb(opts, { gate: false });
      const input = await fitInputFor(opened, opts.ordinary ?? ordinaryTaskFiles(), keep);
      const maker = queryMaker('offline', 1);
      const queries = await maker.queries(sets.flatMap((s) => s.tasks));
      const analyses = await analyseTasks(opened, sets, async (t) => queries.get(t.id));
      const before = measure(analyses, opened.retriever.config.ranker, undefined, input.relevance);
      const models = fitModels(analyses, input, `${sets.map((s) => s.name).join(', ')} (kb calibrate)`);
      const after = measure(analyses, models.ranker, models.gate, input.relevance);
      await opened.saveCalibration({ ranker: models.ranker, gate: models.gate, fittedOn: models.ranker.fittedOn, createdAt: new Date().toISOString() });
      if (opts.json) return void process.stdout.write(`${JSON.stringify({ version: opened.manifest.version, before, after, gateThreshold: models.gate.threshold }, null, 2)}\n`);
      const line = (name: string, m: typeof before): string =>
        `  ${name.padEnd(7)} hit@1 ${pct(m.all.hitAt1)}  hit@4 ${pct(m.all.hitAt4)}  hit@10 ${pct(m.all.hitAt10)}  MRR ${pct(m.all.mrr)}  fired ${pct(m.fired)}`;
      process.stdout.write(
        `Calibrated KB ${opened.manifest.version} on ${analyses.length} tasks (in-sample numbers; see \`rescue eval fit\` for held-out ones):\n${line('before', before)}\n${line('after', after)}\n  gate threshold ${models.gate.threshold.toFixed(3)}\n`,
      );
    });
}

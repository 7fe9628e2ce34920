import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { llmEnv, loadConfig } from '@rescue/config';
import { type ClusterDistiller, DEFAULT_LLM_DISTILLER, KbDirectory, llmDistiller } from '@rescue/knowledge';
import { type Llm, llmFromEnv } from '@rescue/llm';
import { type KbBuildReport, buildKnowledgeBase } from '@rescue/pipeline';
import { LanceKnowledgeIndex, type SearchCollection } from '@rescue/retrieval';
import { FakeOpenAiServer } from '@rescue/testing';
import { type Figure, jsonlFiles, EMBEDDED_BUILD, sharedCatalog } from './bench-figures';

// `npm run bench:rebuild`: what an incremental rebuild costs. A full embedded build (extractive
// distiller, so no LLM) of the shared fix pairs plus the CWE catalogue into a fresh KB folder; then
// 1% new records in a new file, rebuilt into the same folder; then the same sources again with
// nothing changed. Each rebuild's wall time is reported against the full build's, stage by stage,
// with the LLM calls (0 with the extractive distiller: what an LLM build would pay is the
// summarize stage's clusters that changed, see the response cache).
//
// The new records are existing ones made new: a comment line naming the copy is appended to the
// vulnerable and the fixed function (a different content id, the same shape and size).
//
// Then the LLM calls: the same full build and +1% rebuild with the LLM distiller against the
// repo's fake OpenAI-compatible server (no latency; the records and slices of the extractive
// build copied in, so only distillation differs), with the LLM response cache in the KB folder as
// a real build has it. `BENCH_REBUILD_LLM=0` leaves this part out.

const shared = resolve(__dirname, '../../../../shared/data');
const GOAL = 0.15;

/**
 * Every 100th record of the shared data, made new: a comment line naming the copy appended to
 * the vulnerable and the fixed function (after the last line, so the dataset's changed-line
 * numbers still hold), in the record's own format.
 */
function onePercentNew(kbSource: string, out: string): number {
  const lines: string[] = [];
  let seen = 0;
  for (const file of jsonlFiles(kbSource)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      seen += 1;
      if (seen % 100 !== 0) continue;
      const r = JSON.parse(line) as Record<string, unknown>;
      const [beforeKey, afterKey] = 'func_src_before' in r ? ['func_src_before', 'func_src_after'] : ['before', 'after'];
      const name = String(r.file_name ?? '');
      const hash = /\.(py|rb)$/.test(name) || r.language === 'python' || r.language === 'ruby';
      const mark = `${hash ? '#' : '//'} rebuild bench copy ${seen}`;
      const append = (code: unknown): string => `${String(code).replace(/\n?$/, '')}\n${mark}\n`;
      lines.push(JSON.stringify({ ...r, [beforeKey]: append(r[beforeKey]), [afterKey]: append(r[afterKey]) }));
    }
  }
  writeFileSync(out, `${lines.join('\n')}\n`);
  return lines.length;
}

async function main(): Promise<void> {
  const kbSource = join(shared, 'kb-source');
  if (!existsSync(kbSource)) {
    process.stdout.write(`bench:rebuild skipped: ${kbSource} is absent (the shared data sits beside the repository)\n`);
    return;
  }
  const { catalog, catalogPath } = await sharedCatalog(shared);
  const work = mkdtempSync(join(tmpdir(), 'rescue-bench-rebuild-'));
  const build = async (sources: string[], kbDir = join(work, 'kb'), distiller?: ClusterDistiller): Promise<{ ms: number; cpuMs: number; report: KbBuildReport }> => {
    const t = performance.now();
    const cpu = process.cpuUsage();
    const report = await buildKnowledgeBase({
      sources,
      kbDir,
      catalog,
      catalogPath,
      ...EMBEDDED_BUILD,
      ...(distiller ? { distiller } : {}),
    });
    const used = process.cpuUsage(cpu);
    // CPU time of the process (this thread, LanceDB's and the pool's threads): on a loaded
    // machine wall time follows the load more than the work, CPU time much less.
    return { ms: performance.now() - t, cpuMs: (used.user + used.system) / 1000, report };
  };
  const load = (): string =>
    loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
  const figures: Figure[] = [];
  try {
    const loadBefore = load();
    const full = await build([kbSource]);
    const extra = join(work, 'new-records.jsonl');
    const added = onePercentNew(kbSource, extra);
    const plus = await build([kbSource, extra]);
    const same = await build([kbSource, extra]);
    // The incremental result must be the KB a fresh build of the same sources makes.
    const fresh = await build([kbSource, extra], join(work, 'kb-fresh'));
    const loadAfter = load();
    const line = (name: string, r: { ms: number; cpuMs: number; report: KbBuildReport }): string => {
      const stages = Object.entries(r.report.stageMs)
        .map(([s, ms]) => `${s} ${(ms / 1000).toFixed(2)}`)
        .join(', ');
      const ratio =
        r === full ? `, CPU ${(r.cpuMs / 1000).toFixed(2)} s` : ` = ${(r.ms / full.ms).toFixed(2)} of the full build, CPU ${(r.cpuMs / 1000).toFixed(2)} s = ${(r.cpuMs / full.cpuMs).toFixed(2)}`;
      return `  ${name.padEnd(34)} ${(r.ms / 1000).toFixed(2).padStart(6)} s${ratio} (${stages}; of ingest, reading the sources ${(r.report.ingest.durationMs / 1000).toFixed(2)}; records ${r.report.manifest.counts.records}, read ${r.report.ingest.linesRead} lines, skipped ${r.report.ingest.filesSkipped ?? 0} unchanged files, sliced ${r.report.slicing.sliced} / reused ${r.report.slicing.reused}, clusters reused ${r.report.reused.clusters} / ${r.report.reused.of}, screen verdicts reused ${r.report.reused.screenVerdicts} / ${r.report.reused.screenVerdictsOf}, LLM calls ${r.report.llm.calls}), version ${r.report.manifest.version}\n`;
    };
    process.stdout.write(
      `bench:rebuild: embedded builds (extractive) of ${kbSource} + the CWE catalogue, then +${added} new records (1%) in a new file, then again unchanged; goal: +1% ≤ ${GOAL} of the full build; load average ${loadBefore} before, ${loadAfter} after\n`,
    );
    process.stdout.write(line('full build', full));
    process.stdout.write(line(`+${added} records (1%) rebuilt`, plus));
    process.stdout.write(line('nothing changed, rebuilt', same));
    process.stdout.write(line('fresh build of the same sources', fresh));
    const sameVersion = fresh.report.manifest.version === plus.report.manifest.version && same.report.manifest.version === plus.report.manifest.version;
    process.stdout.write(
      sameVersion ? '  the rebuilds published the version a fresh build of the same sources publishes\n' : '  !! the rebuilds and a fresh build of the same sources published different versions\n',
    );
    if (!sameVersion) process.exitCode = 1;
    const differ = await publishedDifferences(join(work, 'kb'), join(work, 'kb-fresh'));
    process.stdout.write(
      differ.length === 0
        ? "  and the same files: every published file byte for byte (the LanceDB tables' rows, their files carry random ids), as the manifests' checksums say\n"
        : `  !! the rebuilt and the fresh version differ: ${differ.join(', ')}\n`,
    );
    if (differ.length > 0) process.exitCode = 1;
    const llm = process.env.BENCH_REBUILD_LLM === '0' ? undefined : await llmCalls(build, work, kbSource, extra);
    if (llm) {
      process.stdout.write(
        `  LLM distiller against the fake server: full build ${llm.full.calls} calls; +1% rebuilt ${llm.plus.calls} calls = ${(llm.plus.calls / llm.full.calls).toFixed(3)} of the full build's ` +
          `(${llm.plus.cached} answers from the response cache, clusters reused ${llm.plus.reused.clusters} / ${llm.plus.reused.of}); nothing changed, rebuilt: ${llm.same.calls} calls\n`,
      );
    }
    figures.push(
      { name: 'rebuild with +1% records / full build', value: Math.round((plus.ms / full.ms) * 1000) / 1000, unit: 'of full', goal: `≤ ${GOAL}` },
      { name: 'rebuild +1% records: wall time', value: Math.round(plus.ms), unit: 'ms', baseline: { name: 'full build', value: Math.round(full.ms) } },
      { name: 'rebuild with +1% records / full build, CPU time', value: Math.round((plus.cpuMs / full.cpuMs) * 1000) / 1000, unit: 'of full', goal: `≤ ${GOAL}` },
      { name: 'rebuild +1% records: LLM calls (extractive)', value: plus.report.llm.calls, unit: 'calls', goal: '0' },
      { name: 'rebuild, nothing changed / full build', value: Math.round((same.ms / full.ms) * 1000) / 1000, unit: 'of full' },
      ...(llm
        ? [
            { name: 'rebuild +1% records: LLM calls / full build (fake LLM)', value: Math.round((llm.plus.calls / llm.full.calls) * 1000) / 1000, unit: 'of full', goal: `≤ ${GOAL}` },
            { name: 'rebuild +1% records: LLM calls (fake LLM)', value: llm.plus.calls, unit: 'calls', baseline: { name: 'full build', value: llm.full.calls } },
          ]
        : []),
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify({ figures }, null, 2));
}

const TABLE_COLUMNS: Record<SearchCollection, string[]> = {
  nodes: ['id', 'cwe', 'language', 'text', 'api_text', 'doc_terms', 'catalog_terms', 'vector'],
  examples: ['id', 'node_id', 'cwe', 'language', 'kind', 'api_text', 'code_text', 'vector'],
  documents: ['id', 'kind', 'cwes', 'language', 'terms'],
};

/**
 * What differs between the versions two KB folders serve: files (by the sha256 their manifests
 * record, but the LanceDB tables' files, which carry random ids and times) and the tables' rows.
 */
async function publishedDifferences(a: string, b: string): Promise<string[]> {
  const versionDirs = await Promise.all([a, b].map(async (root) => new KbDirectory(root).versionDir((await new KbDirectory(root).manifest()).version)));
  const [fa, fb] = await Promise.all([a, b].map(async (root) => (await new KbDirectory(root).manifest()).checksums?.files ?? {}));
  const differ: string[] = [];
  for (const file of new Set([...Object.keys(fa), ...Object.keys(fb)])) if (!file.startsWith('lance/') && fa[file] !== fb[file]) differ.push(file);
  const [ia, ib] = await Promise.all(versionDirs.map((dir) => LanceKnowledgeIndex.open(dir)));
  const rows = async (index: LanceKnowledgeIndex, collection: SearchCollection): Promise<string> =>
    JSON.stringify((await index.scan(collection, TABLE_COLUMNS[collection])).map((r) => (r.vector ? { ...r, vector: Array.from(r.vector as ArrayLike<number>) } : r)));
  for (const collection of Object.keys(TABLE_COLUMNS) as SearchCollection[]) if ((await rows(ia, collection)) !== (await rows(ib, collection))) differ.push(`the ${collection} table's rows`);
  return differ;
}

/**
 * The LLM calls of a full build, a +1% rebuild and an unchanged one with the LLM distiller,
 * against the fake server. The extractive build's records and slices are copied into the LLM
 * build's folder first: slicing is the same either way and is measured above.
 */
async function llmCalls(
  build: (sources: string[], kbDir: string, distiller: ClusterDistiller) => Promise<{ report: KbBuildReport }>,
  work: string,
  kbSource: string,
  extra: string,
): Promise<{ full: KbBuildReport['llm'] & { reused: KbBuildReport['reused'] }; plus: KbBuildReport['llm'] & { reused: KbBuildReport['reused'] }; same: KbBuildReport['llm'] }> {
  const fake = await FakeOpenAiServer.start({ defaultReply: JSON.stringify({ cause: 'Input reaches a sensitive call unchecked.' }) });
  fake.script([
    { match: /## Case 1/, reply: JSON.stringify({ guidelines: ['Validate the input before it reaches the call.'] }) },
    { match: /## Guideline list 1/, reply: JSON.stringify({ guidelines: ['Validate the input before it reaches the call.'] }) },
    { match: /description\(s\) of why code had/, reply: JSON.stringify({ cause: 'Input reaches a sensitive call unchecked.' }) },
  ]);
  try {
    const kbDir = join(work, 'kb-llm');
    for (const store of ['records', 'slices']) cpSync(join(work, 'kb', store), join(kbDir, store), { recursive: true });
    const distiller = (): ClusterDistiller => {
      const llm = llmFromEnv(loadConfig(llmEnv, { LLM_BASE_URL: fake.baseUrl, LLM_API_KEY: 'bench', LLM_MODEL: 'fake', LLM_CACHE: 'fs', LLM_CACHE_DIR: join(kbDir, 'cache', 'llm') })) as Llm;
      return llmDistiller(llm, { ...DEFAULT_LLM_DISTILLER, model: 'fake' });
    };
    const full = (await build([kbSource], kbDir, distiller())).report;
    const plus = (await build([kbSource, extra], kbDir, distiller())).report;
    const same = (await build([kbSource, extra], kbDir, distiller())).report;
    return { full: { ...full.llm, reused: full.reused }, plus: { ...plus.llm, reused: plus.reused }, same: same.llm };
  } finally {
    await fake.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:rebuild failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

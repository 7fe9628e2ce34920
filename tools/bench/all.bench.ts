import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Figure } from './bench-figures';

// `npm run bench`: every benchmark, one after another (they would skew each other in parallel on
// two cores), each in its own process. Writes bench-results/latest.json and bench-results/latest.md
// (the table printed at the end): each figure beside its baseline measured in the same run, and
// the machine's load before and after each benchmark, since a loaded machine moves every figure.
// A benchmark writes its figures as JSON to BENCH_JSON when it can; one that prints text only is
// kept as its text.
//
// BENCH_CWE_SCALES=1,10,100,1000 also runs bench:retrieve for the CWE level alone at those scales
// (issue 13's 1,000× curve; BENCH_LEVEL=cwe, one round, see retrieve.bench.ts): off by default,
// since 1,000× takes tens of minutes and ~5 GB. bench:scale runs its default scales (1×, 10×).

// These in this order (a missing one is reported as skipped), then any other *.bench.js found here.
const KNOWN = ['ingest', 'slice', 'kb', 'retrieve', 'startup', 'api'];
const BENCHES = [
  ...KNOWN,
  ...readdirSync(__dirname)
    .filter((f) => f.endsWith('.bench.js'))
    .map((f) => f.slice(0, -'.bench.js'.length))
    .filter((name) => name !== 'all' && !KNOWN.includes(name))
    .sort(),
];
const root = resolve(__dirname, '../../..');
const outDir = join(root, 'bench-results');

interface BenchRun {
  status: 'ok' | 'failed' | 'skipped';
  reason?: string;
  seconds?: number;
  loadBefore?: number[];
  loadAfter?: number[];
  figures: Figure[];
  output?: string;
}

const load = (): number[] => loadavg().map((l) => Math.round(l * 100) / 100);

function run(name: string, env: Record<string, string> = {}): Promise<BenchRun> {
  const entry = join(__dirname, `${name}.bench.js`);
  if (!existsSync(entry)) {
    process.stdout.write(`bench:${name} skipped: there is no ${name} benchmark (${entry})\n`);
    return Promise.resolve({ status: 'skipped', reason: `no ${name}.bench`, figures: [] });
  }
  const json = join(tmpdir(), `rescue-bench-${name}-${process.pid}.json`);
  rmSync(json, { force: true });
  const loadBefore = load();
  const t = performance.now();
  return new Promise((done) => {
    const child = spawn(process.execPath, [entry], { env: { ...process.env, ...env, BENCH_JSON: json }, stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      process.stdout.write(chunk);
    });
    child.on('close', (code) => {
      const seconds = Math.round((performance.now() - t) / 100) / 10;
      let figures: Figure[] = [];
      if (existsSync(json)) {
        figures = (JSON.parse(readFileSync(json, 'utf8')) as { figures?: Figure[] }).figures ?? [];
        rmSync(json, { force: true });
      }
      const base = { seconds, loadBefore, loadAfter: load(), figures, output };
      done(code === 0 ? { status: 'ok', ...base } : { status: 'failed', reason: `exited ${code}`, ...base });
    });
  });
}

function table(runs: Record<string, BenchRun>): string {
  const lines = ['| benchmark | figure | value | baseline (same run) | goal |', '|---|---|---|---|---|'];
  for (const [name, r] of Object.entries(runs)) {
    const where = `${name} (${r.status}${r.seconds !== undefined ? `, ${r.seconds} s, load ${r.loadBefore?.[0]} → ${r.loadAfter?.[0]}` : ''})`;
    if (r.figures.length === 0) {
      const text = r.status === 'skipped' ? (r.reason ?? '') : 'figures in its text output (latest.json)';
      lines.push(`| ${where} | ${text} | | | |`);
      continue;
    }
    r.figures.forEach((f, i) => {
      const base = f.baseline ? `${f.baseline.value} ${f.unit} (${f.baseline.name}; ×${(f.value / f.baseline.value).toFixed(2)})` : '';
      lines.push(`| ${i === 0 ? where : ''} | ${f.name} | ${f.value} ${f.unit} | ${base} | ${f.goal ?? ''} |`);
    });
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY?.split(',');
  const started = new Date().toISOString();
  const loadAtStart = load();
  const runs: Record<string, BenchRun> = {};
  for (const name of BENCHES) if (!only || only.includes(name)) runs[name] = await run(name);
  const cweScales = process.env.BENCH_CWE_SCALES;
  if (cweScales && (!only || only.includes('retrieve-cwe')))
    // 1,000× holds ~5 GB, past Node's default heap limit (~4 GB here).
    runs['retrieve-cwe'] = await run('retrieve', {
      BENCH_LEVEL: 'cwe',
      BENCH_SCALES: cweScales,
      BENCH_ROUNDS: '1',
      BENCH_FACETS: '0',
      NODE_OPTIONS: [process.env.NODE_OPTIONS, '--max-old-space-size=12288'].filter(Boolean).join(' '),
    });
  mkdirSync(outDir, { recursive: true });
  const machine = { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, loadAtStart, loadAtEnd: load() };
  writeFileSync(join(outDir, 'latest.json'), JSON.stringify({ started, machine, runs }, null, 1));
  const busy = loadAtStart[0] > machine.cpus / 2 ? ` — NOT idle: load ${loadAtStart.join(' ')} on ${machine.cpus} cores, figures are slower than on an idle machine` : ' (idle)';
  const md = `# npm run bench, ${started}\n\n${machine.cpus} × ${machine.model}, Node ${machine.node}, load at start ${loadAtStart.join(' ')}, at end ${machine.loadAtEnd.join(' ')}${busy}\n\n${table(runs)}\n`;
  writeFileSync(join(outDir, 'latest.md'), md);
  process.stdout.write(`\n${md}\nwritten: ${join(outDir, 'latest.json')}, ${join(outDir, 'latest.md')}\n`);
  if (Object.values(runs).some((r) => r.status === 'failed')) process.exitCode = 1;
}

void main();

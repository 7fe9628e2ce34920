import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// CLI start-up: `rescue --help` and one `rescue retrieve "…"` on a KB of our example fix pairs,
// each against a baseline measured in the same run: a bare `node -e 0` (what any Node command
// costs). The first run of each is reported apart (cold: nothing of Rescue's code read yet by this
// process tree), then the median of the following runs (warm: the OS has the files cached).

const RUNS = 7;
const root = resolve(__dirname, '../../..');
const cli = join(root, 'bin', 'rescue.js');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function time(args: string[]): number {
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr.slice(0, 500)}`);
  return ms;
}

function measure(args: string[]): { coldMs: number; warmMs: number } {
  const cold = time(args);
  const warm = Array.from({ length: RUNS }, () => time(args));
  return { coldMs: Math.round(cold), warmMs: Math.round(median(warm)) };
}

function main(): void {
  const work = mkdtempSync(join(tmpdir(), 'rescue-bench-startup-'));
  try {
    const kb = join(work, 'kb');
    execFileSync(process.execPath, [cli, 'kb', 'build', '--source', join(root, 'examples/fix-pairs'), '--cwe-catalog', join(root, 'examples/cwe-catalog-sample.csv'), '--kb', kb], { stdio: 'ignore' });
    const baseline = measure(['-e', '0']);
    const help = measure([cli, '--help']);
    const retrieve = measure([cli, 'retrieve', '--kb', kb, '--language', 'python', 'def find_user(db, name):  # look up the user by name with an SQL query']);
    const row = (name: string, m: { coldMs: number; warmMs: number }, goalMs: number): string =>
      `  ${name.padEnd(22)} cold ${String(m.coldMs).padStart(5)} ms  warm ${String(m.warmMs).padStart(5)} ms  (goal < ${goalMs} ms; bare node ${baseline.warmMs} ms)\n`;
    process.stdout.write(
      `bench:startup: median of ${RUNS} warm runs after one cold run, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n`,
    );
    process.stdout.write(`  ${'node -e 0'.padEnd(22)} cold ${String(baseline.coldMs).padStart(5)} ms  warm ${String(baseline.warmMs).padStart(5)} ms  (the baseline)\n`);
    process.stdout.write(row('rescue --help', help, 200));
    process.stdout.write(row('rescue retrieve "…"', retrieve, 500));
    if (process.env.BENCH_JSON) {
      writeFileSync(
        process.env.BENCH_JSON,
        JSON.stringify({
          load: loadavg(),
          figures: [
            { name: 'rescue --help (warm)', value: help.warmMs, unit: 'ms', baseline: { name: 'node -e 0', value: baseline.warmMs }, goal: '< 200' },
            { name: 'rescue --help (cold)', value: help.coldMs, unit: 'ms', baseline: { name: 'node -e 0 (cold)', value: baseline.coldMs }, goal: '< 200' },
            { name: 'rescue retrieve (warm)', value: retrieve.warmMs, unit: 'ms', baseline: { name: 'node -e 0', value: baseline.warmMs }, goal: '< 500' },
            { name: 'rescue retrieve (cold)', value: retrieve.coldMs, unit: 'ms', baseline: { name: 'node -e 0 (cold)', value: baseline.coldMs }, goal: '< 500' },
          ],
        }),
      );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();

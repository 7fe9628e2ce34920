import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { QueueName } from '@rescue/contracts';
import { connectionOptions } from '@rescue/queue';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@rescue/testing';

const run = promisify(execFile);
const root = resolve(__dirname, '../..');
const bin = join(root, 'bin/rescue.js');
const examples = join(root, 'examples/fix-pairs/generic-sample.jsonl');
const COMMENT: Record<string, string> = { python: '#', ruby: '#' };

/** Our examples, each repeated with a distinct trailing comment: a few hundred distinct records. */
function generate(path: string, copies: number): void {
  const lines: string[] = [];
  for (const line of readFileSync(examples, 'utf8').trim().split('\n')) {
    const r = JSON.parse(line) as { language: string; before: string; after: string };
    const c = COMMENT[r.language] ?? '//';
    for (let i = 0; i < copies; i += 1) lines.push(JSON.stringify({ ...r, before: `${r.before}${c} variant ${i}\n`, after: `${r.after}${c} variant ${i}\n` }));
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
}

describe('distributed KB build: one process per worker app, real Redis', () => {
  let dir: string;
  let prefix: string;
  let env: NodeJS.ProcessEnv;
  const workers = new Map<string, ChildProcess>();

  function start(app: string): Promise<ChildProcess> {
    const child = spawn('node', [join(root, `dist/apps/${app}/src/main.js`)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    workers.set(app, child);
    return new Promise((resolveStart, reject) => {
      let out = '';
      const onData = (b: Buffer): void => {
        out += b.toString();
        if (out.includes('started')) resolveStart(child);
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => reject(new Error(`${app} exited (${code}) before starting:\n${out}`)));
    });
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-dist-'));
    prefix = uniquePrefix('dist');
    env = {
      ...process.env,
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: prefix,
      RECORD_STORE: 'fs',
      RESCUE_DATA_DIR: join(dir, 'data'),
      SLICER_CONCURRENCY: '1',
      SLICER_LOCK_DURATION_MS: '2000',
      SLICER_STALLED_INTERVAL_MS: '1000',
    };
    delete env.LLM_BASE_URL;
    await Promise.all(['ingest', 'slicer', 'cluster-summarize', 'indexer'].map(start));
  }, 60_000);

  afterAll(async () => {
    for (const child of workers.values()) child.kill('SIGKILL');
    await deletePrefix(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it('publishes the same KB version as the inline build', async () => {
    const distributed = JSON.parse((await run('node', [bin, 'kb', 'build', '--distributed', '--source', join(root, 'examples/fix-pairs'), '--kb', join(dir, 'kb-d1'), '--json'], { env })).stdout);
    const inline = JSON.parse((await run('node', [bin, 'kb', 'build', '--source', join(root, 'examples/fix-pairs'), '--kb', join(dir, 'kb-i1'), '--json'], { env })).stdout);
    expect(distributed.manifest.counts).toEqual(inline.manifest.counts);
    expect(distributed.manifest.version).toBe(inline.manifest.version);
    expect(readFileSync(join(dir, 'kb-d1', 'versions', distributed.manifest.version, 'nodes.jsonl'), 'utf8')).toBe(
      readFileSync(join(dir, 'kb-i1', 'versions', inline.manifest.version, 'nodes.jsonl'), 'utf8'),
    );
  }, 120_000);

  it('screens as the inline build does: the same quarantine report, the same version, and a release honoured by the workers', async () => {
    // The red-team fixtures (libs/pipeline/test/kb-poisoning.int-spec.ts), with the CodeQL checkout distrusted by flag.
    const fixtures = join(root, 'libs/pipeline/test/fixtures/kb-poisoning');
    const args = (kb: string, distributed: boolean) => [
      bin,
      'kb',
      'build',
      ...(distributed ? ['--distributed'] : []),
      '--source',
      join(fixtures, 'fix-pairs'),
      join(fixtures, 'codeql'),
      '--cwe-catalog',
      join(fixtures, 'cwe-catalog.csv'),
      '--untrusted-source',
      join(fixtures, 'codeql'),
      '--kb',
      kb,
      '--json',
    ];
    const reportOf = (kb: string) => {
      const r = JSON.parse(readFileSync(join(kb, 'quarantine', 'report.json'), 'utf8')) as {
        entries: { id: string; kind: string; trust: string; source: unknown; findings: { reason: string; field: string; rule: string }[]; released?: boolean }[];
      };
      return r.entries.map((e) => ({ ...e, findings: e.findings.map((f) => `${f.reason}@${f.field}:${f.rule}`) })).sort((a, b) => (a.id < b.id ? -1 : 1));
    };
    const distributed = JSON.parse((await run('node', args(join(dir, 'kb-q-d'), true), { env })).stdout);
    const inline = JSON.parse((await run('node', args(join(dir, 'kb-q-i'), false), { env })).stdout);
    expect(distributed.quarantine).toMatchObject({ held: 20, released: 0 });
    expect(distributed.quarantine.byReason).toEqual(inline.quarantine.byReason);
    expect(reportOf(join(dir, 'kb-q-d'))).toEqual(reportOf(join(dir, 'kb-q-i')));
    expect(distributed.manifest.version).toBe(inline.manifest.version);

    // A release in the KB folder is read when the next distributed build starts, and reaches every worker.
    const held = reportOf(join(dir, 'kb-q-d')).find((e) => e.kind === 'fix-record' && e.findings.every((f) => f.startsWith('added_network_call'))) as { id: string };
    await run('node', [bin, 'kb', 'quarantine', 'release', held.id, '--kb', join(dir, 'kb-q-d')], { env });
    const again = JSON.parse((await run('node', args(join(dir, 'kb-q-d'), true), { env })).stdout);
    expect(again.quarantine).toMatchObject({ held: 19, released: 1 });
    const examples = readFileSync(join(dir, 'kb-q-d', 'versions', again.manifest.version, 'examples.jsonl'), 'utf8');
    expect(examples).toContain(held.id);
  }, 180_000);

  it('survives a SIGKILL of the slicer mid-build: after a restart the build completes with the same KB', async () => {
    const data = join(dir, 'many.jsonl');
    generate(data, 60);
    const slices = new Queue(QueueName.Slice, { connection: connectionOptions('worker', testRedisUrl()) as never, prefix });
    try {
      const build = run('node', [bin, 'kb', 'build', '--distributed', '--source', data, '--kb', join(dir, 'kb-d2'), '--json'], { env, maxBuffer: 1 << 24 });
      // Kill the slicer while it holds a batch, then bring it back.
      let killed = false;
      for (let i = 0; i < 600 && !killed; i += 1) {
        if ((await slices.getActiveCount()) > 0) {
          workers.get('slicer')?.kill('SIGKILL');
          killed = true;
        } else await new Promise((r) => setTimeout(r, 25));
      }
      expect(killed).toBe(true);
      await new Promise((r) => setTimeout(r, 500));
      await start('slicer');
      const distributed = JSON.parse((await build).stdout);
      const inline = JSON.parse((await run('node', [bin, 'kb', 'build', '--source', data, '--kb', join(dir, 'kb-i2'), '--json'], { env, maxBuffer: 1 << 24 })).stdout);
      expect(distributed.manifest.counts.records).toBe(12 * 60);
      expect(distributed.manifest.version).toBe(inline.manifest.version);
    } finally {
      await slices.close();
    }
  }, 180_000);

  it('honours the build options it cannot carry out, by failing with what to set instead of dropping them', async () => {
    // --es: the indexer publishes to its own ELASTICSEARCH_URL, and this one has none.
    const es = await run('node', [bin, 'kb', 'build', '--distributed', '--source', join(root, 'examples/fix-pairs'), '--kb', join(dir, 'kb-d3'), '--es', 'http://127.0.0.1:9', '--json'], { env }).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(es?.code).toBe(1);
    expect(es?.stderr).toMatch(/asks to publish to Elasticsearch, but this indexer has no ELASTICSEARCH_URL/);
    // LLM distillation: the command has an LLM configured, the summarize worker has none.
    const llm = await run('node', [bin, 'kb', 'build', '--distributed', '--source', join(root, 'examples/fix-pairs'), '--kb', join(dir, 'kb-d4'), '--json'], {
      env: { ...env, LLM_BASE_URL: 'http://127.0.0.1:9/v1', LLM_MODEL: 'm' },
    }).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(llm?.code).toBe(1);
    expect(llm?.stderr).toMatch(/asks for LLM distillation, but this cluster-summarize worker has no LLM/);
    // --extractive with the same LLM configured: honoured, and labelled as such.
    const extractive = JSON.parse(
      (
        await run('node', [bin, 'kb', 'build', '--distributed', '--extractive', '--batch-size', '4', '--source', join(root, 'examples/fix-pairs'), '--kb', join(dir, 'kb-d5'), '--json'], {
          env: { ...env, LLM_BASE_URL: 'http://127.0.0.1:9/v1', LLM_MODEL: 'm' },
        })
      ).stdout,
    );
    expect(extractive.manifest.distillation.mode).toBe('extractive');
  }, 120_000);
});

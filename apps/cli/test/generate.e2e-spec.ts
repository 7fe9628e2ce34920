import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { FakeOpenAiServer, deletePrefix, prebuiltKb, testRedisUrl, uniquePrefix } from '@rescue/testing';

const run = promisify(execFile);
const root = resolve(__dirname, '../../..');
const bin = join(root, 'bin/rescue.js');

const lines = (path: string): string[] =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l.trim())
    : [];

describe('rescue generate (the built command, fake LLM)', () => {
  let dir: string;
  let fake: FakeOpenAiServer;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-gen-cli-'));
    await prebuiltKb(dir);
    fake = await FakeOpenAiServer.start({ latencyMs: 5, defaultReply: '```python\nreturn 1\n```' });
    fake.script([{ match: /explain why code is vulnerable/, reply: JSON.stringify({ cause: 'c' }) }]);
    env = { ...process.env, LLM_BASE_URL: fake.baseUrl, LLM_API_KEY: 'sk-test', LLM_MODEL: 'fake', LLM_CACHE: 'none' };
  }, 60_000);
  afterAll(async () => {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stops at once without an LLM, pointing to rescue retrieve', async () => {
    const noLlm = { ...process.env };
    delete noLlm.LLM_BASE_URL;
    await expect(run('node', [bin, 'generate', '--tasks', join(dir, 'none.jsonl'), '--out', join(dir, 'none-out.jsonl'), '--kb', join(dir, 'kb')], { env: noLlm })).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('rescue retrieve'),
    });
  });

  it('after a SIGKILL mid-batch, a re-run completes only the missing tasks', async () => {
    const tasksFile = join(dir, 'tasks.jsonl');
    const out = join(dir, 'out.jsonl');
    const N = 400;
    writeFileSync(tasksFile, Array.from({ length: N }, (_, i) => JSON.stringify({ id: `t${i}`, language: 'python', prompt: `def f${i}(db, name):\n    cur = db.cursor()\n` })).join('\n') + '\n');
    const child = spawn('node', [bin, 'generate', '--tasks', tasksFile, '--out', out, '--kb', join(dir, 'kb'), '--concurrency', '4'], { env, stdio: 'ignore' });
    for (let i = 0; i < 2000 && lines(out).length < N / 4; i += 1) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const firstRun = lines(out).length;
    expect(firstRun).toBeGreaterThan(0);
    expect(firstRun).toBeLessThan(N);

    const { stdout } = await run('node', [bin, 'generate', '--tasks', tasksFile, '--out', out, '--kb', join(dir, 'kb'), '--json'], { env });
    const summary = JSON.parse(stdout);
    // A torn last line (killed mid-write) is dropped and that task runs again.
    expect(summary.resumed).toBeGreaterThanOrEqual(firstRun - 1);
    expect(summary.resumed + summary.done + summary.failed).toBe(N);
    expect(summary.failed).toBe(0);
    const ids = lines(out).map((l) => (JSON.parse(l) as { id: string }).id);
    expect(new Set(ids).size).toBe(N);
    expect(ids).toHaveLength(N);
  }, 180_000);

  it('--distributed: one job per task on a generator worker process; every task accounted for, and a re-run redoes only the failures', async () => {
    const prefix = uniquePrefix('gen');
    const workerEnv = { ...env, REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix, RECORD_STORE: 'fs', RESCUE_DATA_DIR: join(dir, 'data') };
    fake.script([
      { match: /explain why code is vulnerable/, reply: JSON.stringify({ cause: 'c' }) },
      { match: /INVALID/, fault: { kind: 'status', status: 400 } },
    ]);
    const worker = spawn('node', [join(root, 'dist/apps/generator/src/main.js')], { env: workerEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((ok, fail) => {
        let text = '';
        const onData = (b: Buffer): void => {
          text += b.toString();
          if (text.includes('started')) ok();
        };
        worker.stdout?.on('data', onData);
        worker.stderr?.on('data', onData);
        worker.once('exit', (code) => fail(new Error(`generator exited (${code}): ${text}`)));
      });
      const tasksFile = join(dir, 'dist-tasks.jsonl');
      const out = join(dir, 'dist-out.jsonl');
      writeFileSync(
        tasksFile,
        Array.from({ length: 40 }, (_, i) => JSON.stringify({ id: `d${i}`, language: 'python', prompt: `def g${i}(db):\n    # ${i % 5 === 0 ? 'INVALID' : 'fine'}\n` })).join('\n') + '\n',
      );
      const args = [bin, 'generate', '--distributed', '--tasks', tasksFile, '--out', out, '--kb', join(dir, 'kb'), '--json'];
      const first = JSON.parse((await run('node', args, { env: workerEnv })).stdout);
      expect(first).toMatchObject({ tasks: 40, resumed: 0, done: 32, failed: 8, failuresByClass: { LlmRequestRejectedError: 8 } });
      const results = lines(out).map((l) => JSON.parse(l) as { id: string; samples?: unknown[]; error?: { class: string } });
      expect(new Set(results.map((r) => r.id)).size).toBe(40);
      expect(results.filter((r) => r.error).every((r) => r.error?.class === 'LlmRequestRejectedError')).toBe(true);
      const kept = JSON.parse((await run('node', [...args, '--no-retry-failed'], { env: workerEnv })).stdout);
      expect(kept).toMatchObject({ resumed: 40, done: 0, failed: 0, newAttempts: 0 });
      // By default the 8 failures are attempted again under new job ids (the 400 still answers).
      const second = JSON.parse((await run('node', args, { env: workerEnv })).stdout);
      expect(second).toMatchObject({ resumed: 32, done: 0, failed: 8, newAttempts: 8, retried: { tasks: 8, byClass: { LlmRequestRejectedError: 8 } } });
      expect(new Set(lines(out).map((l) => (JSON.parse(l) as { id: string }).id)).size).toBe(40);
      expect(lines(out)).toHaveLength(40);
      expect(lines(`${out}.history.jsonl`)).toHaveLength(8);
    } finally {
      worker.kill('SIGKILL');
      await deletePrefix(prefix);
    }
  }, 120_000);
});

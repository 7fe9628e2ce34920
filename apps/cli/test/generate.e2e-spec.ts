import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { FakeOpenAiServer } from '@rescue/testing';

const run = promisify(execFile);
const root = resolve(__dirname, '../../..');
const bin = join(root, 'bin/rescue.js');

const lines = (path: string): string[] => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()) : []);

describe('rescue generate (the built command, fake LLM)', () => {
  let dir: string;
  let fake: FakeOpenAiServer;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-gen-cli-'));
    await run('node', [bin, 'kb', 'build', '--source', join(root, 'examples/fix-pairs'), '--kb', join(dir, 'kb'), '--json'], { maxBuffer: 1 << 24 });
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
});

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { FakeOpenAiServer } from '@rescue/testing';

const run = promisify(execFile);
const root = resolve(__dirname, '../../..');
const bin = join(root, 'bin/rescue.js');

describe('rescue kb build / list / stats / show (embedded, no LLM)', () => {
  let kb: string;
  beforeAll(() => {
    kb = mkdtempSync(join(tmpdir(), 'rescue-kbcli-'));
  });
  afterAll(() => rmSync(kb, { recursive: true, force: true }));

  it('builds a version from the examples and shows a CWE node with guidelines, cause and a sliced secure example', async () => {
    const { stdout } = await run('node', [bin, 'kb', 'build', '--source', join(root, 'examples/fix-pairs'), '--kb', kb, '--json'], { maxBuffer: 1 << 24 });
    const report = JSON.parse(stdout);
    expect(report.manifest.counts.records).toBe(15);
    expect(report.manifest.counts.examples).toBe(15);
    expect(report.slicing).toEqual({ sliced: 15, failed: 0, reused: 0, threads: 0 });
    expect(report.manifest.embedder.id).toBe('local-lsa');

    const list = await run('node', [bin, 'kb', 'list', '--kb', kb]);
    expect(list.stdout).toContain(`* ${report.manifest.version}`);

    const show = await run('node', [bin, 'kb', 'show', 'cwe-089', '--language', 'python', '--kb', kb]);
    expect(show.stdout).toContain('CWE-89');
    expect(show.stdout).toContain('Vulnerability cause:');
    expect(show.stdout).toContain('Secure example (sliced, python');
    expect(show.stdout).toContain('cur.execute("SELECT id, email FROM users WHERE name = %s", (name,))');

    const stats = JSON.parse((await run('node', [bin, 'kb', 'stats', '--kb', kb, '--json'])).stdout);
    expect(stats.version).toBe(report.manifest.version);
    expect(stats.cwes).toBe(10);
  });

  it('says what is missing for an unknown CWE', async () => {
    await expect(run('node', [bin, 'kb', 'show', 'CWE-1', '--kb', kb])).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('CWE-1 is not in the KB') });
  });
});

describe('rescue retrieve (offline, on the examples KB)', () => {
  let kb: string;
  beforeAll(async () => {
    kb = mkdtempSync(join(tmpdir(), 'rescue-retrieve-'));
    await run('node', [bin, 'kb', 'build', '--source', join(root, 'examples/fix-pairs'), '--cwe-catalog', join(root, 'examples/cwe-catalog-sample.csv'), '--kb', kb, '--json'], { maxBuffer: 1 << 24 });
  }, 60_000);
  afterAll(() => rmSync(kb, { recursive: true, force: true }));

  it('ranks SQL injection first for a query-building task and returns its guidelines and a secure example', async () => {
    const task = 'def get_order(db, order_id):\n    cur = db.cursor()\n    cur.execute("SELECT * FROM orders WHERE id = \'%s\'" % order_id)\n';
    const out = JSON.parse((await run('node', [bin, 'retrieve', task, '--language', 'python', '--kb', kb])).stdout);
    expect(out.mode).toBe('offline');
    expect(out.abstained).toBe(false);
    expect(out.cwes[0].cwe).toBe('CWE-89');
    expect(out.guidelines.join(' ')).toMatch(/bound parameters/);
    expect(out.example.code).toContain('%s", (name,)');
  });
});

describe('rescue kb build --embedder llm: a KB embedded by an embeddings endpoint can be queried', () => {
  let kb: string;
  let fake: FakeOpenAiServer;
  beforeAll(async () => {
    kb = mkdtempSync(join(tmpdir(), 'rescue-llm-embedded-'));
    fake = await FakeOpenAiServer.start({ embeddingDimensions: 32 });
  });
  afterAll(async () => {
    await fake.close();
    rmSync(kb, { recursive: true, force: true });
  });

  it('is queried through the same endpoint, and without one says what to set', async () => {
    const env = { ...process.env, LLM_BASE_URL: fake.baseUrl, LLM_API_KEY: 'sk-test-never-shown', LLM_MODEL: 'fake', LLM_MODEL_EMBEDDER: 'fake-embed', LLM_CACHE: 'none' };
    await run('node', [bin, 'kb', 'build', '--source', join(root, 'examples/fix-pairs'), '--kb', kb, '--embedder', 'llm', '--extractive', '--json'], { env, maxBuffer: 1 << 24 });
    const task = 'def get_order(db, order_id):\n    cur = db.cursor()\n    cur.execute("SELECT * FROM orders WHERE id = \'%s\'" % order_id)\n';
    const out = JSON.parse((await run('node', [bin, 'retrieve', task, '--language', 'python', '--kb', kb], { env })).stdout);
    expect(out.cwes[0].cwe).toBe('CWE-89');
    expect(out.example.code.length).toBeGreaterThan(0);
    expect(fake.requests.some((r) => r.endpoint === 'embeddings' && r.model === 'fake-embed')).toBe(true);
    const bare = { ...process.env, LLM_BASE_URL: '', LLM_MODEL: '' };
    const failed = await run('node', [bin, 'retrieve', task, '--language', 'python', '--kb', kb], { env: bare }).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).not.toBe(0);
    expect(failed?.stderr).toMatch(/was embedded with openai-compatible \(fake-embed\): set LLM_BASE_URL and LLM_MODEL_EMBEDDER=fake-embed/);
  }, 60_000);
});

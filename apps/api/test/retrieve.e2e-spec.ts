import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readCweCatalog } from '@rescue/datasets';
import { localEmbedder } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';
import { deletePrefix, prebuiltKb, uniquePrefix } from '@rescue/testing';
import { loadApiConfig } from '../src/api.config';
import { type RunningApi, startApi } from './api-harness';

const examples = resolve(__dirname, '../../../examples');
const KEY = 'k-0123456789abcdef-test';

interface RetrieveBody {
  id: string;
  mode: string;
  abstained: boolean;
  kbVersion: string;
  cwes: { cwe: string }[];
  guidelines: string[];
  example: { code: string };
  moreGuidance: unknown[];
}
interface ProblemBody {
  message: string;
  problems: { field: string; message: string }[];
}

describe('POST /v1/retrieve', () => {
  let dir: string;
  let prefix: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-api-'));
    await prebuiltKb(dir);
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    prefix = uniquePrefix('api');
  });
  afterEach(async () => deletePrefix(prefix));

  const start = async (env: Record<string, string>): Promise<{ app: RunningApi; url: string }> => {
    const app = await startApi({ QUEUE_PREFIX: prefix, ...env });
    return { app, url: app.url };
  };
  const post = (url: string, body: unknown, key?: string): Promise<Response> =>
    fetch(`${url}/v1/retrieve`, { method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) }, body: JSON.stringify(body) });

  it('answers with the CWEs, guidelines and secure example, as rescue retrieve does', async () => {
    const { app, url } = await start({ RESCUE_KB_DIR: join(dir, 'kb') });
    try {
      const res = await post(url, { id: 'q1', language: 'py', prompt: 'def find_user(db, name):\n    # look the user up by name\n    cur = db.cursor()\n', guidanceCwes: 2 });
      expect(res.status).toBe(200);
      const body = (await res.json()) as RetrieveBody;
      expect(body).toMatchObject({ id: 'q1', mode: 'offline', abstained: false, kbVersion: expect.stringMatching(/^kb-/) });
      expect(body.cwes[0].cwe).toBe('CWE-89');
      expect(body.guidelines.join(' ')).toMatch(/bound parameters/);
      expect(body.example.code).toContain('%s", (name,)');
      expect(body.moreGuidance.length).toBe(1);
    } finally {
      await app.close();
    }
  });

  it('answers from a newly published KB version without a restart', async () => {
    const kbDir = join(dir, 'kb-republished');
    const catalog = await readCweCatalog(join(examples, 'cwe-catalog-sample.csv'));
    const build = (sources: string[]) => buildKnowledgeBase({ sources, kbDir, catalog, clusterBy: 'language-cwe', catalogOnlyNodes: true, hops: 2, maxLineBytes: 1 << 20, embedder: localEmbedder });
    const v1 = (await build([join(examples, 'fix-pairs')])).manifest.version;
    const { app, url } = await start({ RESCUE_KB_DIR: kbDir });
    try {
      const task = { language: 'python', prompt: 'def render(name):\n    # return the greeting page with the name in it\n    return "<h1>Hello " + name + "</h1>"\n' };
      expect(((await (await post(url, task)).json()) as RetrieveBody).kbVersion).toBe(v1);
      const extra = join(dir, 'xss.jsonl');
      writeFileSync(
        extra,
        `${JSON.stringify({ language: 'python', cwe: 'CWE-79', before: 'def page(n):\n    return "<b>" + n + "</b>"\n', after: 'def page(n):\n    return "<b>" + html.escape(n) + "</b>"\n' })}\n`,
      );
      const v2 = (await build([join(examples, 'fix-pairs'), extra])).manifest.version;
      // The API looks for a new version at most once a second.
      await new Promise((r) => setTimeout(r, 1100));
      expect(((await (await post(url, task)).json()) as RetrieveBody).kbVersion).toBe(v2);
    } finally {
      await app.close();
    }
  });

  it('names every bad field in one 400', async () => {
    const { app, url } = await start({ RESCUE_KB_DIR: join(dir, 'kb') });
    try {
      const res = await post(url, { language: '{cobol}', prompt: '', kind: 'chat', guidanceCwes: 50 });
      expect(res.status).toBe(400);
      const body = (await res.json()) as ProblemBody;
      expect(body.problems.map((p) => p.field).sort()).toEqual(['guidanceCwes', 'kind', 'language', 'prompt']);
      expect(body.problems.find((p) => p.field === 'language')?.message).toContain('"{cobol}"');
    } finally {
      await app.close();
    }
  });

  it('answers a task in a language without a grammar, and abstains on an ordinary one', async () => {
    const { app, url } = await start({ RESCUE_KB_DIR: join(dir, 'kb') });
    try {
      const cs = (await (await post(url, { language: 'csharp', prompt: 'public User FindUser(SqlConnection conn, string name) {\n    // look the user up by name with an SQL query\n' })).json()) as {
        cwes: { cwe: string }[];
      };
      expect(cs.cwes[0].cwe).toBe('CWE-89');
      const plain = (await (await post(url, { language: 'rust', prompt: '/// Adds two numbers.\nfn add(a: i32, b: i32) -> i32 {\n' })).json()) as { abstained: boolean; cwes: unknown[] };
      expect(plain).toMatchObject({ abstained: true, cwes: [] });
      // A prototype name is a language Rescue has no name for, not a crash.
      expect((await post(url, { language: 'constructor', prompt: 'x = 1' })).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('requires a listed key when API_KEYS is set, and never echoes what was sent', async () => {
    const { app, url } = await start({ RESCUE_KB_DIR: join(dir, 'kb'), API_KEYS: `other-key-000000000000,${KEY}@retrieve` });
    try {
      const task = { language: 'python', prompt: 'import yaml\n' };
      expect((await post(url, task)).status).toBe(401);
      const wrong = await post(url, task, 'guess-guess-guess-guess');
      expect(wrong.status).toBe(401);
      expect(await wrong.text()).not.toContain('guess-guess');
      expect((await post(url, task, KEY)).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('answers 503 with what to set when no KB is configured, or it cannot be opened', async () => {
    for (const env of [{}, { RESCUE_KB_DIR: join(dir, 'no-such-kb') }] as Record<string, string>[]) {
      const { app, url } = await start(env);
      try {
        const res = await post(url, { language: 'python', prompt: 'x = 1' });
        expect(res.status).toBe(503);
        expect(((await res.json()) as ProblemBody).message).toMatch(/RESCUE_KB_DIR|cannot be opened/);
      } finally {
        await app.close();
      }
    }
  });

  it('refuses short API keys at startup, naming the variable but not the value', () => {
    expect(() => loadApiConfig({ API_KEYS: 'short-secret' })).toThrow(/API_KEYS=\(hidden\)/);
    expect(() => loadApiConfig({ API_KEYS: 'short-secret' })).not.toThrow(/short-secret/);
  });
});

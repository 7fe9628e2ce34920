import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { FakeOpenAiServer, prebuiltKb } from '@rescue/testing';

const run = promisify(execFile);
const root = resolve(__dirname, '../../..');
const bin = join(root, 'bin/rescue.js');

// Our own small tasks over the examples KB: five whose gold CWE has fix data, one (CWE-117) whose
// CWE is only in the catalogue sample.
const tasks = [
  { id: 'sql', language: 'python', prompt: 'def find_user(db, name):\n    # look the user up by name\n    cur = db.cursor()\n', gold_cwes: ['CWE-89'] },
  { id: 'cmd', language: 'python', prompt: 'import subprocess\n\ndef ping(host):\n    # run ping on the host\n', gold_cwes: ['CWE-78'] },
  { id: 'yaml', language: 'python', prompt: 'import yaml\n\ndef load_config(text):\n    # parse the YAML configuration\n', gold_cwes: ['CWE-502'] },
  { id: 'path', language: 'python', prompt: 'import os\n\ndef save_avatar(user, data):\n    # write the avatar file under the upload folder\n', gold_cwes: ['CWE-22'] },
  { id: 'xml', language: 'java', prompt: 'import javax.xml.parsers.DocumentBuilderFactory;\n\nclass Config {\n  // parse the XML document from the request\n', gold_cwes: ['CWE-611'] },
  { id: 'log', language: 'python', prompt: 'import logging\n\ndef login(name):\n    # write the user name into the log entries\n', gold_cwes: ['CWE-117'] },
];

describe('rescue eval retrieval / eval fit / kb calibrate / retrieve --tasks (offline, examples KB)', () => {
  let dir: string;
  let kb: string;
  let tasksFile: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-eval-'));
    tasksFile = join(dir, 'sec-tasks.jsonl');
    writeFileSync(tasksFile, tasks.map((t) => JSON.stringify(t)).join('\n') + '\n');
    kb = await prebuiltKb(dir);
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("answers a retrieve on a folder KB without loading the settings' zod schemas, LanceDB or the LLM client (a cold start)", async () => {
    // A module preloaded into the CLI's process lists, as it exits, the packages it loaded.
    const hook = join(dir, 'loaded-packages.js');
    writeFileSync(
      hook,
      "process.on('exit', () => { const names = new Set(Object.keys(require.cache).map((f) => (f.match(/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//) || [])[1]).filter(Boolean)); process.stderr.write('LOADED ' + JSON.stringify([...names]) + '\\n'); });\n",
    );
    const { stdout, stderr } = await run('node', ['--require', hook, bin, 'retrieve', '--kb', kb, '--language', 'python', 'def find_user(db, name):  # look up the user by name with an SQL query']);
    expect(JSON.parse(stdout).cwes[0].cwe).toBe('CWE-89');
    const loaded = JSON.parse(/LOADED (.*)/.exec(stderr)?.[1] ?? 'null') as string[];
    expect(loaded).toEqual(expect.arrayContaining(['commander']));
    for (const heavy of ['zod', '@lancedb/lancedb', 'apache-arrow', 'openai']) expect(loaded).not.toContain(heavy);
  });

  it('reports Rescue beside the naive baselines, per set and macro-averaged, split by seen and unseen', async () => {
    const ordinary = join(dir, 'ordinary.jsonl');
    writeFileSync(
      ordinary,
      [
        { id: 'o1', language: 'python', prompt: 'def sum_of_squares(numbers):\n    """Return the sum of the squares of the numbers."""\n', gold_cwes: [] },
        { id: 'o2', language: 'go', prompt: 'Write a Go function that reverses a slice of integers in place.', gold_cwes: [] },
      ]
        .map((t) => JSON.stringify(t))
        .join('\n') + '\n',
    );
    const out = JSON.parse((await run('node', [bin, 'eval', 'retrieval', '--tasks', tasksFile, '--tasks', ordinary, '--kb', kb, '--json'], { maxBuffer: 1 << 24 })).stdout);
    expect(out.mode).toBe('offline');
    expect(out.sets.map((s: { set: string; negative: boolean }) => [s.set, s.negative])).toEqual([
      ['sec-tasks', false],
      ['ordinary', true],
    ]);
    const set = out.sets[0];
    expect(Object.keys(set.systems)).toEqual(['rescue', 'naive-records', 'naive-records-any', 'naive-catalog', 'naive-rrf', 'naive-rrf-any']);
    for (const report of Object.values(set.systems) as { seen: { tasks: number }; unseen: { tasks: number } }[]) {
      expect(report.seen.tasks).toBe(5);
      expect(report.unseen.tasks).toBe(1);
    }
    // The record baselines can only name CWEs that have records; a catalogue-only CWE is out of their reach.
    expect(set.systems['naive-records'].unseen.hitAt10).toBe(0);
    // Rescue finds the seen CWEs of these plainly worded tasks, and the catalogue-only one through its text.
    expect(set.systems.rescue.seen.hitAt4).toBeGreaterThanOrEqual(0.8);
    expect(set.systems.rescue.unseen.hitAt10).toBe(1);
    expect(out.macro.rescue.hitAt4).toBe(set.systems.rescue.all.hitAt4);
    expect(out.macro.rescue.firedOnNegatives).toBe(out.sets[1].systems.rescue.fired);
    // The ordinary tasks get no security context from Rescue; a naive baseline answers whatever matches a word.
    expect(out.sets[1].systems.rescue.fired).toBe(0);
    expect(out.sets[1].systems['naive-records'].fired).toBeGreaterThan(0);
  });

  it('refuses an unknown facet instead of searching something else', async () => {
    const failed = await run('node', [bin, 'eval', 'retrieval', '--tasks', tasksFile, '--kb', kb, '--facets', 'examples,bogus']).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).not.toBe(0);
    expect(failed?.stderr).toMatch(/unknown facet "bogus": the facets are examples, examples-language, codeql/);
    // A valid subset is an ablation: it runs.
    const only = JSON.parse((await run('node', [bin, 'eval', 'retrieval', '--tasks', tasksFile, '--kb', kb, '--facets', 'catalog', '--json'], { maxBuffer: 1 << 24 })).stdout);
    expect(only.facets).toEqual(['catalog']);
  });

  it('fits the ranker and the gate leaving one set out, and calibrate stores them beside the version, which retrieve then uses', async () => {
    const second = join(dir, 'second.jsonl');
    writeFileSync(
      second,
      tasks
        .slice(0, 3)
        .map((t) => JSON.stringify({ ...t, id: `${t.id}-2` }))
        .join('\n') + '\n',
    );
    const fit = JSON.parse((await run('node', [bin, 'eval', 'fit', '--tasks', tasksFile, '--tasks', second, '--kb', kb, '--json'], { maxBuffer: 1 << 24 })).stdout);
    expect(fit.leaveOneSetOut.map((r: { held: string }) => r.held)).toEqual(['sec-tasks', 'second']);
    expect(fit.ranker.format).toBe('rescue-ranker-1');
    expect(fit.gate.format).toBe('rescue-gate-2');
    expect(fit.gate.shape).toEqual({ lengthWeight: expect.any(Number), agreementWeight: expect.any(Number), agreementCenter: expect.any(Number) });

    const { stdout } = await run('node', [bin, 'kb', 'calibrate', '--tasks', tasksFile, '--kb', kb, '--json'], { maxBuffer: 1 << 24 });
    const cal = JSON.parse(stdout);
    const versionDir = join(kb, 'versions', cal.version);
    // A published version is immutable: the calibration lives beside it.
    expect(readdirSync(versionDir)).not.toContain('calibration.json');
    const stored = JSON.parse(readFileSync(join(kb, 'calibration', `${cal.version}.json`), 'utf8'));
    expect(stored.ranker.format).toBe('rescue-ranker-1');
    expect(stored.gate.threshold).toBe(cal.gateThreshold);
    expect(stored.gate.shape).toEqual(fit.gate.shape);

    const outFile = join(dir, 'retrieval.jsonl');
    await run('node', [bin, 'retrieve', '--tasks', tasksFile, '--kb', kb, '--out', outFile]);
    const lines = readFileSync(outFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id)).toEqual(tasks.map((t) => t.id));
    const sql = lines.find((l) => l.id === 'sql');
    expect(sql).toMatchObject({ mode: 'offline', abstained: false });
    expect(sql.relevance.threshold).toBeCloseTo(cal.gateThreshold, 2);
    expect(sql.relevance).toEqual({ score: expect.any(Number), threshold: expect.any(Number), lexical: expect.any(Number), terms: expect.any(Number), agreement: expect.any(Number) });
    expect(sql.relevance.score).toBeGreaterThanOrEqual(sql.relevance.threshold);
    expect(sql.cwes[0].cwe).toBe('CWE-89');
    expect(Object.keys(sql.cwes[0].facets)).toEqual(expect.arrayContaining(['examples', 'cwe']));
    expect(existsSync(versionDir)).toBe(true);
  });

  it("with --guidance-cwes, adds further retrieved CWEs' guidelines under the token budget", async () => {
    const args = [bin, 'retrieve', tasks[0].prompt, '--language', 'python', '--kb', kb];
    const plain = JSON.parse((await run('node', args)).stdout);
    expect(plain.moreGuidance).toBeUndefined();
    const more = JSON.parse((await run('node', [...args, '--guidance-cwes', '3', '--guidance-tokens', '4000'])).stdout);
    expect(more.guidelines).toEqual(plain.guidelines);
    expect(more.moreGuidance.length).toBeGreaterThanOrEqual(1);
    expect(more.moreGuidance.length).toBeLessThanOrEqual(2);
    const listed = more.cwes.map((c: { cwe: string }) => c.cwe);
    for (const m of more.moreGuidance) {
      expect(m.cwe).not.toBe(more.example.cwe);
      expect(listed).toContain(m.cwe);
      expect(m.guidelines.length).toBeGreaterThan(0);
    }
    const tight = JSON.parse((await run('node', [...args, '--guidance-cwes', '3', '--guidance-tokens', '100'])).stdout);
    expect(tight.moreGuidance).toEqual([]);
    await expect(run('node', [...args, '--guidance-cwes', 'many'])).rejects.toMatchObject({ stderr: expect.stringContaining('--guidance-cwes') });
  });

  it('--mode llm: analyses each task once with the LLM (draft and cause), and the cause reaches a catalogue-only CWE', async () => {
    const cause = (text: string): string => JSON.stringify({ cause: text });
    const fake = await FakeOpenAiServer.start({ defaultReply: '```python\npass\n```' });
    const isCause = (req: { prompt: string }, words: RegExp): boolean => /explain why code is vulnerable/.test(req.prompt) && words.test(req.prompt);
    fake.script([
      { match: (req) => isCause(req, /log entries/), reply: cause('A user name from the request is written into the log as it is, so line breaks in it let an attacker forge log entries.') },
      { match: (req) => isCause(req, /look the user up/), reply: cause('The name may be pasted into an SQL query string, letting input change the query.') },
      { match: /explain why code is vulnerable/, reply: cause('Input may reach a dangerous call unchecked.') },
    ]);
    try {
      const env = { ...process.env, LLM_BASE_URL: fake.baseUrl, LLM_API_KEY: 'sk-test-never-shown', LLM_MODEL: 'fake', LLM_CACHE: 'none' };
      const { stdout } = await run('node', [bin, 'eval', 'retrieval', '--tasks', tasksFile, '--kb', kb, '--mode', 'llm', '--json'], { env, maxBuffer: 1 << 24 });
      const out = JSON.parse(stdout);
      expect(out.mode).toBe('llm');
      const set = out.sets[0].systems;
      // Two calls per task (draft, cause), whatever the number of systems compared.
      expect(fake.requests).toHaveLength(2 * tasks.length);
      expect(set.rescue.unseen.hitAt4).toBe(1);
      expect(set['naive-records'].unseen.hitAt10).toBe(0);
      expect(set.rescue.seen.hitAt4).toBeGreaterThanOrEqual(0.8);
    } finally {
      await fake.close();
    }
  });

  it('--mode llm: a task whose analysis fails is left out with its error class, the others are scored, exit code 1', async () => {
    const fake = await FakeOpenAiServer.start({ defaultReply: JSON.stringify({ cause: 'Input may reach a dangerous call.' }) });
    fake.script([{ match: (req) => /explain why code is vulnerable/.test(req.prompt) && /parse the YAML/.test(req.prompt), fault: { kind: 'status', status: 400, message: 'context too long' } }]);
    try {
      const env = { ...process.env, LLM_BASE_URL: fake.baseUrl, LLM_API_KEY: 'sk-test-never-shown', LLM_MODEL: 'fake', LLM_CACHE: 'none' };
      const failed = await run('node', [bin, 'eval', 'retrieval', '--tasks', tasksFile, '--kb', kb, '--mode', 'llm'], { env }).then(
        () => undefined,
        (err: { code: number; stdout: string; stderr: string }) => err,
      );
      expect(failed?.code).toBe(1);
      expect(failed?.stderr).toMatch(/analysis of yaml failed \(\w+\)/);
      expect(failed?.stderr).not.toContain('sk-test-never-shown');
      expect(failed?.stdout).toMatch(/llm mode/);
      expect(failed?.stdout).toMatch(/rescue .* skipped 1/);
    } finally {
      await fake.close();
    }
  });

  it('answers tasks in languages without a grammar (C#, PHP, Rust) from their text, or abstains honestly', async () => {
    const others = join(dir, 'others.jsonl');
    const outFile = join(dir, 'others-out.jsonl');
    writeFileSync(
      others,
      [
        { id: 'cs', language: 'C#', prompt: 'public User FindUser(SqlConnection conn, string name) {\n    // look the user up by name with an SQL query\n' },
        { id: 'php', language: 'php', prompt: '<?php\n// run the ping command on the host given in the request\nfunction ping_host($host) {\n' },
        { id: 'rs', language: 'rust', prompt: '/// Adds two numbers.\nfn add(a: i32, b: i32) -> i32 {\n' },
        { id: 'zig', language: 'Zig', prompt: '// parse the uploaded YAML configuration into a struct\n' },
      ]
        .map((t) => JSON.stringify(t))
        .join('\n') + '\n',
    );
    await run('node', [bin, 'retrieve', '--tasks', others, '--kb', kb, '--out', outFile]);
    const byId = Object.fromEntries(
      readFileSync(outFile, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .map((r) => [r.id, r]),
    );
    expect(Object.keys(byId).sort()).toEqual(['cs', 'php', 'rs', 'zig']);
    expect(byId.cs.cwes[0].cwe).toBe('CWE-89');
    expect(byId.php.cwes.map((c: { cwe: string }) => c.cwe)).toContain('CWE-78');
    // An ordinary task gets no security context.
    expect(byId.rs).toMatchObject({ abstained: true, cwes: [], guidelines: [] });
    for (const r of Object.values(byId) as { abstained: boolean; cwes: unknown[] }[]) expect(r.abstained || r.cwes.length > 0).toBe(true);
  });

  it('skips a bad task line with its place, keeps the valid ones, and exits non-zero', async () => {
    const bad = join(dir, 'bad.jsonl');
    const outFile = join(dir, 'partial.jsonl');
    writeFileSync(bad, `${JSON.stringify(tasks[0])}\n{"id": "x", "language": "<cobol>", "prompt": "p"}\n${JSON.stringify(tasks[1])}\n`);
    const failed = await run('node', [bin, 'retrieve', '--tasks', bad, '--kb', kb, '--out', outFile]).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain(`${bad}:2: language:`);
    expect(failed?.stderr).toContain('"<cobol>"');
    expect(
      readFileSync(outFile, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).id),
    ).toEqual(['sql', 'cmd']);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { elasticsearchEnv, httpEnv, ingestEnv, llmEnv, loadConfig, redisEnv, storageEnv } from '@rescue/config';
import { JOB_PAYLOAD, JobName, PayloadError, parsePayload } from '@rescue/contracts';
import { FixPairIngestor, MemoryRecordStore, REJECT_CODES, type Reject, type TaskLineProblem, codeqlLanguageFromPath, parseFixPairLine, readTaskLines } from '@rescue/datasets';
import { ConfigError, type FixRecord, InvalidInputError, LANGUAGES, languageFromFileName, normalizeLanguageName, parseCweId, taskLanguage } from '@rescue/domain';
import { Slicer } from '@rescue/slicing';
import { RetrieveRequestSchema } from '../../apps/api/src/retrieve-request';
import { HOSTILE_NAMES, PLACEMENTS, type Placement, expectClean, expectUnpolluted, fieldPaths, hostileName, poison, poisonedLine } from './hostile-names';

// Issue 11, problem 2: user data is looked up in tables (languages, CWEs, job names, formats). Every
// Object.prototype name, thrown at every field of every input, must give a clean record or a clear
// error naming the field, never a crash, never a value read off a prototype, never a polluted one.

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

const fieldArb = (base: Json): fc.Arbitrary<(string | number)[]> => fc.constantFrom(...fieldPaths(base));
const placementArb = fc.constantFrom(...PLACEMENTS);
const isLanguage = (l: unknown): boolean => (LANGUAGES as readonly unknown[]).includes(l);
// The space is small (fields × names × 6 spellings × 3 placements): enough runs to meet most of it on every run.
const RUNS = { numRuns: 2000 };

const GENERIC = {
  language: 'python',
  cwe: 'CWE-89',
  before: 'def find(c, n):\n    c.execute("SELECT * FROM u WHERE n = \'" + n + "\'")\n',
  after: 'def find(c, n):\n    c.execute("SELECT * FROM u WHERE n = %s", (n,))\n',
  changed_lines: { deleted: [2], added: [2] },
  file_name: 'app/db.py',
  function_name: 'find',
  description: 'SQL built by concatenation',
  commit_message: 'use query parameters',
  source_url: 'https://example.com/commit/1',
};
const SVEN = {
  func_name: 'copy',
  func_src_before: 'void copy(char *d, const char *s) {\n  strcpy(d, s);\n}\n',
  func_src_after: 'void copy(char *d, const char *s, size_t n) {\n  strncpy(d, s, n);\n}\n',
  vul_type: 'cwe-787',
  file_name: 'src/copy.c',
  commit_link: 'github.com/example/repo/commit/2',
  line_changes: { deleted: [{ line_no: 2, char_start: 2, char_end: 8, line: 'strcpy' }], added: [{ line_no: 2, line: 'strncpy' }] },
  description: 'unbounded copy',
  commit_msg: 'bound the copy',
  parent_commit: 'abc123',
};

/** A rejected line names the field that was poisoned (or the hostile key itself). */
function expectRejectNamesField(field: string | undefined, path: (string | number)[], name: string, placement: Placement): void {
  expect(field).toBeTruthy();
  if (placement === 'key') expect([String(path[0]), name].some((f) => String(field).startsWith(f) || String(field).endsWith(name))).toBe(true);
  else expect(String(field).startsWith(String(path[0]))).toBe(true);
}

function expectCleanRecord(record: FixRecord): void {
  expectClean(record);
  expect(isLanguage(record.language)).toBe(true);
  expect(record.cwe).toMatch(/^CWE-\d+$/);
  expect(typeof record.before).toBe('string');
  expect(typeof record.after).toBe('string');
}

afterEach(() => expectUnpolluted());

describe('fix-pair records through the ingest normalizer', () => {
  it.each([
    ['generic', GENERIC],
    ['SVEN/SafeCoder', SVEN],
  ])('%s: every field, every placement: kept cleanly or rejected naming the field', (_format, base) => {
    fc.assert(
      fc.property(fieldArb(base), hostileName, placementArb, (path, name, placement) => {
        const outcome = parseFixPairLine(poisonedLine(base, path, name, placement), 'auto', { file: 'hostile.jsonl', line: 3 });
        if (outcome.ok) expectCleanRecord(outcome.record);
        else {
          expect(REJECT_CODES).toContain(outcome.reject.code);
          expect(outcome.reject.message.length).toBeGreaterThan(0);
          expectRejectNamesField(outcome.reject.field, path, name, placement);
        }
        expectUnpolluted();
      }),
      RUNS,
    );
  });

  it('a file with every name at every field keeps the good records around them, and names each bad line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rescue-hostile-'));
    try {
      const lines: string[] = [JSON.stringify(GENERIC)];
      for (const base of [GENERIC, SVEN]) {
        for (const path of fieldPaths(base)) for (const name of HOSTILE_NAMES) for (const placement of PLACEMENTS) lines.push(poisonedLine(base, path, name, placement));
      }
      lines.push(JSON.stringify(SVEN));
      const file = join(dir, 'hostile.jsonl');
      writeFileSync(file, `${lines.join('\n')}\n`);
      const store = new MemoryRecordStore();
      const rejects: Reject[] = [];
      const report = await new FixPairIngestor(store).ingest([file], { format: 'auto', maxLineBytes: 1 << 20 }, { onReject: (r) => rejects.push(r) });

      expect(report.linesRead).toBe(lines.length);
      expect(report.kept + report.duplicates + report.rejected).toBe(lines.length);
      for (const r of rejects) {
        expect(r.line).toBeGreaterThanOrEqual(1);
        expect(r.field).toBeTruthy();
        expect(r.code).not.toBe('unreadable_file');
      }
      for (const good of [lines[0], lines[lines.length - 1]]) {
        const outcome = parseFixPairLine(good, 'auto', { file, line: 1 });
        expect(outcome.ok && (await store.has(outcome.record.id))).toBe(true);
      }
      for await (const id of store.ids()) expectCleanRecord((await store.get(id)) as FixRecord);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a record whose language is a prototype name (a store another process wrote) is an unsupported language to the slicer', async () => {
    const slicer = await Slicer.create();
    for (const name of HOSTILE_NAMES) {
      expect(slicer.supports(name as FixRecord['language'])).toBe(false);
      const outcome = await slicer.sliceRecord({
        id: 'a'.repeat(32),
        language: name as FixRecord['language'],
        cwe: 'CWE-89',
        before: GENERIC.before,
        after: GENERIC.after,
        changedLines: { deleted: [2], added: [2], source: 'dataset' },
        origin: { file: 'x', line: 1, format: 'generic' },
      });
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) expect(outcome.failure.failureClass).toBe('unsupported_language');
      await expect(slicer.apiCalls(name as FixRecord['language'], 'f(x)')).rejects.toMatchObject({ failureClass: 'unsupported_language' });
    }
  });
});

describe('coding tasks (task files)', () => {
  const BASE = { id: 't', language: 'python', prompt: 'def f(x):\n    return x\n', kind: 'completion', gold_cwes: ['CWE-89', 79] };

  it('every field, every placement: a clean task or a problem naming the line and the field; the tasks around it are kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rescue-hostile-tasks-'));
    try {
      await fc.assert(
        fc.asyncProperty(fieldArb(BASE), hostileName, placementArb, async (path, name, placement) => {
          const file = join(dir, 'tasks.jsonl');
          writeFileSync(file, [JSON.stringify({ ...BASE, id: 'before' }), poisonedLine(BASE, path, name, placement), JSON.stringify({ ...BASE, id: 'after' })].join('\n'));
          const problems: TaskLineProblem[] = [];
          const tasks = [];
          for await (const t of readTaskLines(file, (p) => problems.push(p))) tasks.push(t);
          expect(tasks.map((t) => t.id)).toEqual(expect.arrayContaining(['before', 'after']));
          expect(tasks.length + problems.length).toBe(3);
          for (const t of tasks) {
            expectClean(t);
            expect(isLanguage(t.language)).toBe(true);
          }
          for (const p of problems) {
            expect(p.line).toBe(2);
            expect(p.message.length).toBeGreaterThan(0);
            expectRejectNamesField(p.field, path, name, placement);
          }
          expectUnpolluted();
        }),
        { numRuns: 150 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('API retrieve bodies (the request schema)', () => {
  const BASE = { id: 't1', language: 'python', prompt: 'def find_user(db, name):', kind: 'completion', guidanceCwes: 2, guidanceTokens: 1500 };

  it('every field, every placement: a clean request or an issue at the field', () => {
    fc.assert(
      fc.property(fieldArb(BASE), hostileName, placementArb, (path, name, placement) => {
        const parsed = RetrieveRequestSchema.safeParse(poison(BASE, path, name, placement));
        if (parsed.success) {
          expectClean(parsed.data);
          expect(isLanguage(parsed.data.language)).toBe(true);
        } else {
          expect(parsed.error.issues.length).toBeGreaterThan(0);
          for (const issue of parsed.error.issues) {
            expect(String(issue.path[0])).toBe(String(path[0]));
            expect(issue.message.length).toBeGreaterThan(0);
          }
        }
        expectUnpolluted();
      }),
      RUNS,
    );
  });
});

describe('CLI options (language, CWE, file names) through the functions the commands call', () => {
  it('a prototype name is no language, no CWE and no extension, or a real one', () => {
    fc.assert(
      fc.property(hostileName, (name) => {
        const languages = [normalizeLanguageName(name), taskLanguage(name), languageFromFileName(name), codeqlLanguageFromPath(`/checkout/${name}/ql/src/Q.qhelp`)];
        for (const l of languages) expect(l === undefined || isLanguage(l)).toBe(true);
        // Only `other` (a plausible name of a language Rescue does not know) or nothing: never a table's inherited value.
        expect([undefined, 'other']).toContain(taskLanguage(name));
        expect(normalizeLanguageName(name)).toBeUndefined();
        expect(parseCweId(name)).toBeUndefined();
        expectUnpolluted();
      }),
      { numRuns: 500 },
    );
  });
});

describe('queue payloads (parsePayload)', () => {
  const BASES: Record<JobName, Json> = {
    [JobName.DatasetIngest]: {
      v: 1,
      sources: [{ path: '/data/a.jsonl', sha256: 'a'.repeat(64) }],
      format: 'auto',
      build: { buildId: 'b1', kbDir: '/kb', trust: { trusted: ['/data'], untrusted: [] } },
    },
    [JobName.RecordSlice]: { v: 1, buildId: 'b1', recordIds: ['0'.repeat(32)], hops: 2 },
    [JobName.ClusterSummarize]: { v: 1, buildId: 'b1', clusterKey: 'python:CWE-89', recordIds: ['1'.repeat(32)] },
    [JobName.KbIndex]: { v: 1, buildId: 'b1' },
    [JobName.TaskGenerate]: { v: 1, batchId: 'b1', taskId: 't1', kbVersion: 'kb-1', samples: 1, style: 'chat', temperature: 0.2 },
  };

  it("the base payloads are valid (so every rejection below is the hostile name's)", () => {
    for (const [name, base] of Object.entries(BASES)) expect(() => parsePayload(name as JobName, base)).not.toThrow();
    expect(Object.keys(BASES).sort()).toEqual(Object.keys(JOB_PAYLOAD).sort());
  });

  it.each(Object.values(JobName))('%s: every field, every placement: a clean payload or a PayloadError naming the field', (job) => {
    const base = BASES[job];
    fc.assert(
      fc.property(fieldArb(base), hostileName, placementArb, (path, name, placement) => {
        let parsed: unknown;
        try {
          parsed = parsePayload(job, poison(base, path, name, placement));
        } catch (err) {
          expect(err).toBeInstanceOf(PayloadError);
          for (const problem of (err as PayloadError).problems) expect(problem.startsWith(String(path[0]))).toBe(true);
          return;
        }
        expectClean(parsed);
        expectUnpolluted();
      }),
      { numRuns: 150 },
    );
  });

  it('a job name that is a prototype name is an unknown job, not a crash', () => {
    for (const name of HOSTILE_NAMES) {
      const attempt = (): unknown => parsePayload(name as JobName, BASES[JobName.KbIndex]);
      expect(attempt).toThrow(PayloadError);
      expect(attempt).toThrow(InvalidInputError);
      expect(attempt).toThrow(/unknown job/);
    }
  });
});

describe('configuration (environment variables)', () => {
  const SCHEMAS = { redisEnv, storageEnv, ingestEnv, httpEnv, llmEnv, elasticsearchEnv };

  it('every variable of every settings schema: a clean configuration or a ConfigError naming that variable', () => {
    const entries = Object.entries(SCHEMAS).flatMap(([schemaName, schema]) => Object.keys(schema.shape).map((key) => ({ schemaName, schema, key })));
    // The schemas start from an empty environment, so any error below is the hostile value's.
    for (const { schema } of entries) expect(() => loadConfig(schema, {})).not.toThrow();
    fc.assert(
      fc.property(fc.constantFrom(...entries), hostileName, fc.boolean(), ({ schema, key }, name, asKey) => {
        const env: Record<string, string> = {};
        Object.defineProperty(env, asKey ? name : key, { value: name, enumerable: true, writable: true, configurable: true });
        let loaded: unknown;
        try {
          loaded = loadConfig(schema, env);
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          expect(asKey).toBe(false);
          for (const problem of (err as ConfigError).problems) expect(problem.startsWith(`${key}=`)).toBe(true);
          return;
        }
        expectClean(loaded);
        expectUnpolluted();
      }),
      RUNS,
    );
  });
});

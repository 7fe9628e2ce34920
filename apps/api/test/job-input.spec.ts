import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { checkTasks, readNdjsonTasks } from '../src/jobs/batch-input';
import { saveUpload, sourceUnderRoot } from '../src/jobs/kb-sources';

describe('batch tasks', () => {
  it('keeps every valid task and names each bad one by place and field', () => {
    const { tasks, rejected } = checkTasks([
      { at: 'tasks.0', value: { id: 'a', language: 'py', prompt: 'def f():\n' } },
      { at: 'tasks.1', value: { id: 'b', language: '{cobol}', prompt: 'x' } },
      { at: 'tasks.2', value: { id: 'a', language: 'c', prompt: 'int f(void) {\n' } },
      { at: 'tasks.3', value: { id: 'c', language: 'java', prompt: '   ', kind: 'chat' } },
      { at: 'tasks.4', value: 'not an object' },
      { at: 'tasks.5', value: { id: 'd', language: 'C#', prompt: 'public void F() {' } },
    ]);
    expect(tasks.map((t) => [t.id, t.language])).toEqual([
      ['a', 'python'],
      ['d', 'csharp'],
    ]);
    expect(rejected).toEqual([
      { at: 'tasks.1', field: 'language', message: expect.stringContaining('"{cobol}"') },
      { at: 'tasks.2', field: 'id', message: expect.stringContaining('already used at tasks.0') },
      { at: 'tasks.3', field: 'prompt', message: expect.any(String) },
      { at: 'tasks.3', field: 'kind', message: expect.any(String) },
      { at: 'tasks.4', field: '(task)', message: expect.any(String) },
    ]);
  });

  it('reads NDJSON by line, hashing the bytes, and stops past the size limit', async () => {
    const body = '{"id":"a","language":"python","prompt":"x = 1"}\n\n{oops\n';
    const read = await readNdjsonTasks(Readable.from([Buffer.from(body)]), 1024);
    expect(read.items).toEqual([{ at: 'line 1', value: { id: 'a', language: 'python', prompt: 'x = 1' } }]);
    expect(read.unreadable).toEqual([{ at: 'line 3', field: '(line)', message: expect.stringContaining('not JSON') }]);
    expect(read.bodyHash).toMatch(/^[0-9a-f]{64}$/);
    await expect(readNdjsonTasks(Readable.from([Buffer.from(body)]), 10)).rejects.toThrow(/GENERATION_SUBMIT_MAX_BYTES/);
  });
});

describe('KB build sources', () => {
  let dir: string;
  let root: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-sources-'));
    root = join(dir, 'root');
    mkdirSync(join(root, 'pairs'), { recursive: true });
    writeFileSync(join(root, 'pairs', 'a.jsonl'), '{}\n');
    writeFileSync(join(dir, 'secret.jsonl'), '{}\n');
    symlinkSync(join(dir, 'secret.jsonl'), join(root, 'link.jsonl'));
    symlinkSync(join(root, 'pairs'), join(root, 'inside-link'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('resolves names under the root, through links that stay inside', async () => {
    expect(await sourceUnderRoot(root, 'pairs/a.jsonl', 'sources.0')).toBe(join(root, 'pairs', 'a.jsonl'));
    expect(await sourceUnderRoot(root, 'inside-link/a.jsonl', 'sources.0')).toBe(join(root, 'pairs', 'a.jsonl'));
    expect(await sourceUnderRoot(root, 'pairs/../pairs', 'sources.0')).toBe(join(root, 'pairs'));
  });

  it('refuses absolute paths, climbing out, links that point out, and missing names; and an unset root', async () => {
    await expect(sourceUnderRoot(root, join(dir, 'secret.jsonl'), 'sources.0')).rejects.toThrow(/sources\.0: .* is absolute/);
    await expect(sourceUnderRoot(root, '../secret.jsonl', 'sources.1')).rejects.toThrow(/sources\.1: .* resolves outside KB_SOURCES_ROOT/);
    await expect(sourceUnderRoot(root, 'link.jsonl', 'sources.2')).rejects.toThrow(/sources\.2: .* resolves outside KB_SOURCES_ROOT/);
    await expect(sourceUnderRoot(root, 'pairs/none.jsonl', 'catalog')).rejects.toThrow(/catalog: .* does not exist under KB_SOURCES_ROOT/);
    await expect(sourceUnderRoot(undefined, 'pairs', 'sources.0')).rejects.toThrow(/KB_SOURCES_ROOT is unset/);
  });

  it('saves an upload under the data folder, and removes a partial one past the limit', async () => {
    const saved = await saveUpload(Readable.from([Buffer.from('{"a":1}\n'), Buffer.from('{"b":2}\n')]), join(dir, 'data'), 'b1', 1024);
    expect(saved).toEqual({ path: join(dir, 'data', 'uploads', 'b1.jsonl'), bytes: 16 });
    expect(readFileSync(saved.path, 'utf8')).toBe('{"a":1}\n{"b":2}\n');
    await expect(saveUpload(Readable.from([Buffer.alloc(600), Buffer.alloc(600)]), join(dir, 'data'), 'b2', 1024)).rejects.toThrow(/KB_UPLOAD_MAX_BYTES/);
    expect(() => readFileSync(join(dir, 'data', 'uploads', 'b2.jsonl'))).toThrow(/ENOENT/);
    await expect(saveUpload(Readable.from([]), join(dir, 'data'), 'b3', 1024)).rejects.toThrow(/the upload is empty/);
  });
});

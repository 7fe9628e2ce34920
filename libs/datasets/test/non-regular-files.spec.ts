import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixPairIngestor, MemoryRecordStore, type Reject, assertWritableFilePath, fileSha256, readCodeqlHelp, readCweCatalog, readLines, readSecEvalScenarios, readTaskLines } from '@rescue/datasets';
import { InvalidInputError } from '@rescue/domain';

// Issue 11, problem 5: a FIFO named as --source, --tasks or --cwe-catalog hung the command. Every
// reader of a user-given path must refuse a FIFO, a socket, a device (/dev/zero, /dev/urandom never
// end) and a directory by name, at once. Each call runs against a deadline, so a hang fails the
// test in seconds instead of stalling the run.

const BOUND_MS = 5_000;

/** `work` settled within BOUND_MS, or the test fails naming it as a hang. */
async function bounded<T>(what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still running after ${BOUND_MS} ms: it hangs`)), BOUND_MS);
  });
  try {
    return await Promise.race([work, hang]);
  } finally {
    clearTimeout(timer);
  }
}

const GOOD = JSON.stringify({ language: 'python', cwe: 'CWE-89', before: 'def f(c, n):\n    c.execute("S" + n)\n', after: 'def f(c, n):\n    c.execute("S %s", (n,))\n' });
const TASK = JSON.stringify({ id: 't1', language: 'python', prompt: 'def f(x):' });

describe('non-regular files are refused by name, without hanging', () => {
  let dir: string;
  let fifo: string;
  let socketPath: string;
  let server: Server;
  let folderAsFile: string;
  const devices = ['/dev/zero', '/dev/urandom'].filter((d) => existsSync(d));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-nonregular-'));
    fifo = join(dir, 'pairs.jsonl');
    execFileSync('mkfifo', [fifo]);
    socketPath = join(dir, 'socket.jsonl');
    server = createServer();
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    folderAsFile = join(dir, 'folder.jsonl');
    mkdirSync(folderAsFile);
    writeFileSync(join(dir, 'good.jsonl'), `${GOOD}\n`);
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  const specials = (): [string, string, RegExp][] => [
    ['a FIFO', fifo, /FIFO/],
    ['a socket', socketPath, /socket/],
    ['a directory', folderAsFile, /directory/],
    ...devices.map((d): [string, string, RegExp] => [d, d, /character device/]),
  ];

  it('the line reader (ingest sources, task files) refuses each, naming the path and what it is', async () => {
    for (const [, path, kind] of specials()) {
      const read = async (): Promise<unknown[]> => {
        const lines = [];
        for await (const l of readLines(path, { maxLineBytes: 1 << 20, what: 'tasks file' })) lines.push(l);
        return lines;
      };
      const err = await bounded(
        `readLines(${path})`,
        read().then(
          () => undefined,
          (e: unknown) => e,
        ),
      );
      expect(err).toBeInstanceOf(InvalidInputError);
      expect((err as Error).message).toContain(`tasks file ${path} is `);
      expect((err as Error).message).toMatch(kind);
      expect((err as Error).message).toMatch(/not a regular file/);
    }
  });

  it('ingest reports each given source by name and still keeps the records of the good file beside them', async () => {
    const store = new MemoryRecordStore();
    const rejects: Reject[] = [];
    const sources = [...specials().map(([, p]) => p), join(dir, 'good.jsonl')];
    const report = await bounded('ingest', new FixPairIngestor(store).ingest(sources, { format: 'auto', maxLineBytes: 1 << 20 }, { onReject: (r) => rejects.push(r) }));
    expect(report.kept).toBe(1);
    expect(await store.count()).toBe(1);
    for (const [, path, kind] of specials()) {
      // A directory given as a source is walked (and this one is empty): it is not an error.
      if (path === folderAsFile) continue;
      const reject = rejects.find((r) => r.file === path);
      expect(reject).toMatchObject({ line: 0, code: 'unreadable_file' });
      expect(reject?.message).toMatch(kind);
    }
  });

  it('ingest of a folder reports a FIFO inside it under its dataset name, and reads the rest', async () => {
    const store = new MemoryRecordStore();
    const rejects: Reject[] = [];
    await bounded('ingest of the folder', new FixPairIngestor(store).ingest([dir], { format: 'auto', maxLineBytes: 1 << 20 }, { onReject: (r) => rejects.push(r) }));
    expect(await store.count()).toBe(1);
    expect(rejects.find((r) => r.file === fifo)?.message).toMatch(/FIFO/);
    expect(rejects.find((r) => r.file === socketPath)?.message).toMatch(/socket/);
  });

  it('a tasks file, a CWE catalogue (CSV and XML), a scenario folder and a hashed source refuse each by name', async () => {
    for (const [, path, kind] of specials()) {
      const readTasks = async (): Promise<void> => {
        for await (const _ of readTaskLines(path, () => undefined)) void _;
      };
      await expect(bounded('readTaskLines', readTasks())).rejects.toThrow(kind);
      await expect(bounded('readCweCatalog (CSV)', readCweCatalog(path))).rejects.toThrow(kind);
      await expect(bounded('fileSha256', fileSha256(path))).rejects.toThrow(kind);
    }
    const xmlFifo = join(dir, 'cwec_v4.16.xml');
    execFileSync('mkfifo', [xmlFifo]);
    try {
      await expect(bounded('readCweCatalog (XML)', readCweCatalog(xmlFifo))).rejects.toThrow(/named pipe|FIFO/);
    } finally {
      rmSync(xmlFifo);
    }
    const scenario = join(dir, 'eval', 'trained', 'cwe-089', '0-py');
    mkdirSync(scenario, { recursive: true });
    execFileSync('mkfifo', [join(scenario, 'info.json')]);
    await expect(bounded('readSecEvalScenarios', readSecEvalScenarios(join(dir, 'eval')))).rejects.toThrow(/scenario file .*info\.json is a FIFO/);
  });

  it('a CodeQL root that is a FIFO or a device is not a folder', async () => {
    for (const [, path] of specials().filter(([, p]) => p !== folderAsFile)) {
      await expect(bounded('readCodeqlHelp', readCodeqlHelp(path))).rejects.toThrow(InvalidInputError);
    }
  });

  it('an --out that is a FIFO, a socket, a device or a directory is refused before anything is written; a new or regular file is fine', async () => {
    for (const [, path, kind] of specials()) {
      await expect(bounded('assertWritableFilePath', assertWritableFilePath(path, '--out'))).rejects.toThrow(kind);
    }
    await expect(assertWritableFilePath(join(dir, 'new.jsonl'), '--out')).resolves.toBeUndefined();
    await expect(assertWritableFilePath(join(dir, 'good.jsonl'), '--out')).resolves.toBeUndefined();
  });

  it('a huge single-line file is refused by file and line, without holding the line', async () => {
    const huge = join(dir, 'huge.jsonl');
    writeFileSync(huge, `${TASK}\n${'x'.repeat(8 << 20)}\n${TASK.replace('t1', 't2')}\n`);
    const rejects: Reject[] = [];
    await new FixPairIngestor(new MemoryRecordStore()).ingest([huge], { format: 'auto', maxLineBytes: 1 << 20 }, { onReject: (r) => rejects.push(r) });
    expect(rejects.find((r) => r.code === 'line_too_long')).toMatchObject({ file: huge, line: 2 });
    const problems: { line: number; message: string }[] = [];
    const ids: string[] = [];
    for await (const t of readTaskLines(huge, (p) => problems.push(p))) ids.push(t.id);
    expect(ids).toEqual(['t1', 't2']);
    expect(problems).toEqual([expect.objectContaining({ file: huge, line: 2, message: expect.stringMatching(/over the .*limit/) })]);
  });
});

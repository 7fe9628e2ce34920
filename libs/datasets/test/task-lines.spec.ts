import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CodingTask, type TaskLineProblem, inferTaskKind, readTaskLines } from '@rescue/datasets';

describe('readTaskLines', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-tasks-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const read = async (name: string, content: string | Buffer): Promise<{ tasks: CodingTask[]; problems: TaskLineProblem[] }> => {
    const path = join(dir, name);
    writeFileSync(path, content);
    const problems: TaskLineProblem[] = [];
    const tasks: CodingTask[] = [];
    for await (const t of readTaskLines(path, (p) => problems.push(p))) tasks.push(t);
    return { tasks, problems };
  };

  it('keeps every valid task and names the line and field of each bad one', async () => {
    const lines = [
      { id: 'a', language: 'python', prompt: 'def f():\n' },
      'not json',
      { id: 'b', language: '<cobol>', prompt: 'x' },
      { id: 'c', language: 'Py', prompt: 'Write a parser.', kind: 'instruction', gold_cwes: ['cwe-089', 79] },
      { id: '', language: 'c', prompt: 'x' },
      { id: 'd', language: 'c', prompt: '   ' },
      { id: 'e', language: 'go', prompt: 'x', kind: 'chat' },
      { id: 'f', language: 'go', prompt: 'x', gold_cwes: ['SQL injection'] },
      { id: 'a', language: 'java', prompt: 'x' },
      [1, 2],
      { id: 'g', language: 'js', prompt: 'x', __proto__: { polluted: true } },
      '',
      { id: 'h', language: 'ruby', prompt: 'puts 1' },
      { id: 'i', language: 'COBOL', prompt: 'Write a payroll report.' },
      { id: 'j', language: 'constructor', prompt: 'x' },
      { id: 'k', language: 'C#', prompt: 'public int Add(int a, int b) {' },
    ].map((l) => (typeof l === 'string' ? l : JSON.stringify(l)));
    // JSON.stringify drops a literal __proto__ key, so write that line by hand.
    lines[10] = '{"id": "g", "language": "js", "prompt": "x", "__proto__": {"polluted": true}}';
    const { tasks, problems } = await read('mixed.jsonl', lines.join('\r\n') + '\n');

    // A language Rescue has no name for is still a task (`other`); only a non-name is refused.
    expect(tasks.map((t) => [t.id, t.language, t.kind])).toEqual([
      ['a', 'python', 'completion'],
      ['c', 'python', 'instruction'],
      ['h', 'ruby', 'instruction'],
      ['i', 'other', 'instruction'],
      ['j', 'other', 'instruction'],
      ['k', 'csharp', 'completion'],
    ]);
    expect(tasks[1]).toEqual({ id: 'c', language: 'python', prompt: 'Write a parser.', kind: 'instruction', goldCwes: ['CWE-89', 'CWE-79'] });
    expect(problems.map((p) => [p.line, p.field])).toEqual([
      [2, undefined],
      [3, 'language'],
      [5, 'id'],
      [6, 'prompt'],
      [7, 'kind'],
      [8, 'gold_cwes'],
      [9, 'id'],
      [10, undefined],
      [11, '__proto__'],
    ]);
    expect(problems[1].message).toContain('"<cobol>"');
    expect(problems[6].message).toContain('already used on line 1');
    for (const p of problems) expect(p.file).toBe(join(dir, 'mixed.jsonl'));
  });

  it('reports invalid UTF-8 and over-long lines without losing the lines around them', async () => {
    const good = (id: string): string => JSON.stringify({ id, language: 'python', prompt: 'x = 1' });
    const content = Buffer.concat([
      Buffer.from(`${good('a')}\n`),
      Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]),
      Buffer.from(`${JSON.stringify({ id: 'big', language: 'python', prompt: 'x'.repeat((4 << 20) + 10) })}\n`),
      Buffer.from(`${good('b')}\n`),
    ]);
    const { tasks, problems } = await read('bytes.jsonl', content);
    expect(tasks.map((t) => t.id)).toEqual(['a', 'b']);
    expect(problems.map((p) => p.line)).toEqual([2, 3]);
    expect(problems[0].message).toMatch(/UTF-8/);
    expect(problems[1].message).toMatch(/limit/);
  });

  it('refuses a missing file and a binary one', async () => {
    const missing = readTaskLines(join(dir, 'absent.jsonl'), () => undefined);
    await expect(missing.next()).rejects.toThrow(/no tasks file/);
    const { tasks, problems } = await read('gz.jsonl', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00]));
    expect(tasks).toEqual([]);
    expect(problems).toHaveLength(1);
    expect(problems[0].message).toMatch(/not a text file/);
  });
});

describe('inferTaskKind', () => {
  it('reads a prefix with a signature, an import or mostly code lines as completion, prose as an instruction', () => {
    expect(inferTaskKind('def add(a, b):\n    """Add two numbers."""\n')).toBe('completion');
    expect(inferTaskKind('/**\n * Returns the user.\n */\nfunc getUser(id string) string {')).toBe('completion');
    expect(inferTaskKind('#include <stdio.h>\n')).toBe('completion');
    expect(inferTaskKind('x = load()\ny = x + 1;\nprint(y);')).toBe('completion');
    expect(inferTaskKind('Generate C code for the following: a function copies bytes from one buffer to another.')).toBe('instruction');
    expect(inferTaskKind('Write a Go function that sorts names.\nIt should be stable.')).toBe('instruction');
    expect(inferTaskKind('')).toBe('instruction');
  });
});

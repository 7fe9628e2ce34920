import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Language, NotFoundError, normalizeLanguageName, parseCweId, taskLanguage } from '@rescue/domain';
import { readLines } from './line-reader';
import { readRegularFileText } from './regular-file';
import { parseJsonSafely } from './safe-json';

/** A coding task: what `rescue retrieve` and `rescue generate` take, one JSON object per line. */
export interface CodingTask {
  id: string;
  language: Language;
  /** A natural-language instruction, or the code prefix a model completes. */
  prompt: string;
  kind?: 'completion' | 'instruction';
  /** For evaluation: the CWEs the task is known to invite. */
  goldCwes?: string[];
}

/**
 * Reads a SafeCoder-style security evaluation set (`<split>/cwe-XXX/N-<lang>/info.json` with
 * `file_context.*` and `func_context.*`) as completion tasks with their gold CWE; the split
 * (`trained`, `trained-new`, `not-trained`) is kept in the id.
 */
export async function readSecEvalScenarios(root: string): Promise<CodingTask[]> {
  const tasks: CodingTask[] = [];
  const walk = async (dir: string, rel: string[]): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    if (entries.some((e) => e.name === 'info.json')) {
      // Every file is opened as a regular file only: a FIFO among them would block the read for ever.
      const info = JSON.parse(await readRegularFileText(join(dir, 'info.json'), 'scenario file')) as { language: string; cwe: string; description?: string };
      const ext = info.language;
      const language = normalizeLanguageName(ext === 'py' ? 'python' : ext === 'js' ? 'javascript' : ext === 'rb' ? 'ruby' : ext);
      const cwe = parseCweId(info.cwe);
      if (!language || !cwe) return;
      const read = async (name: string): Promise<string> => {
        const file = entries.find((e) => e.name.startsWith(`${name}.`));
        return file ? readRegularFileText(join(dir, file.name), 'scenario file') : '';
      };
      const prompt = `${await read('file_context')}${await read('func_context')}`;
      tasks.push({ id: rel.join('/'), language, prompt, kind: 'completion', goldCwes: [cwe] });
      return;
    }
    for (const e of entries) if (e.isDirectory()) await walk(join(dir, e.name), [...rel, e.name]);
  };
  if (!existsSync(root)) throw new NotFoundError(`no evaluation set at ${root}`);
  await walk(root, []);
  return tasks;
}

// A line that reads as code: it ends a statement or opens a block, starts with a declaration or
// directive most languages share, or is a comment/docstring marker.
const CODE_LINE =
  /[{};]\s*$|^\s*(#include|#define|import|from\s+\S+\s+import|package|using|namespace|def|class|struct|func|fn|pub|public|private|protected|static|function|const|let|var|int|void|char|bool|float|double|long|unsigned|return|if|for|while)\b|^\s*(\/\*\*?|\*\/?|\/\/|#|"""|''')|\)\s*(->\s*[\w[\], .]+)?:\s*$/;

// A line only code has: a signature opening a body (`def f(x):`, `int f(void) {`), an import.
const SIGNATURE_LINE =
  /^\s*(async\s+)?(def|class)\s+\w+.*:\s*$|^\s*(func|fn|pub|function|public|private|protected|static|export|async)\b.*[{:]\s*$|[)\]>]\s*(->\s*[^{:]+|throws\s+[\w., ]+)?\s*[{:]\s*$|^\s*#include\b|^\s*(import\s+[\w.{*]|from\s+[\w.]+\s+import\b|package\s+[\w.]+;?\s*$|using\s+[\w.]+;)/;

/**
 * Whether a task without a `kind` is a code prefix to complete or an instruction in words: code
 * when a line only code has (a signature opening a body, an import) is there, or when at least a
 * third of its non-blank lines read as code. Benchmarks rarely say which they
 * are, and the two are read differently (an instruction's words are all prose; a prefix's prose
 * is its comments).
 */
export function inferTaskKind(prompt: string): 'completion' | 'instruction' {
  const lines = prompt.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) return 'instruction';
  if (lines.some((l) => SIGNATURE_LINE.test(l))) return 'completion';
  const code = lines.filter((l) => CODE_LINE.test(l)).length;
  return code * 3 >= lines.length ? 'completion' : 'instruction';
}

/** A task line that could not be used, with where it is and what to do. */
export interface TaskLineProblem {
  file: string;
  line: number;
  field?: string;
  message: string;
}

/** Task lines larger than this are refused (a prompt is code or text, not a data dump). */
export const MAX_TASK_LINE_BYTES = 4 << 20;

/**
 * Streams a tasks file (`{"id", "language", "prompt", "kind"?, "gold_cwes"?}` per line) through the
 * same guarded reader as the datasets. A bad line (not JSON, a missing or unknown field, a repeated
 * id, binary, too long) goes to `onProblem` with its line and field, and reading goes on: the
 * valid tasks of a file are never lost to one bad line.
 */
export async function* readTaskLines(path: string, onProblem: (p: TaskLineProblem) => void): AsyncGenerator<CodingTask> {
  if (!existsSync(path)) throw new NotFoundError(`no tasks file at ${path}`);
  const ids = new Map<string, number>();
  let binary: string | undefined;
  for await (const raw of readLines(path, { what: 'tasks file', maxLineBytes: MAX_TASK_LINE_BYTES, onVerdict: (v) => (binary = v.binary ? (v.reason ?? 'binary') : undefined) })) {
    const problem = (message: string, field?: string): void => onProblem({ file: path, line: raw.lineNo, field, message });
    if (raw.kind === 'too-long') {
      problem(`line is ${raw.byteLength} bytes, over the ${MAX_TASK_LINE_BYTES}-byte limit for a task`);
      continue;
    }
    if (raw.kind === 'invalid-utf8') {
      problem(`invalid UTF-8 at byte ${raw.byteOffset}; save the file as UTF-8`);
      continue;
    }
    const parsed = parseJsonSafely(raw.text);
    if (!parsed.ok) {
      problem(`${parsed.message}; each line must be one JSON object`, parsed.field);
      continue;
    }
    const t = parsed.value as Record<string, unknown> | null;
    if (typeof t !== 'object' || t === null || Array.isArray(t)) {
      problem('a task is a JSON object like {"id": "t1", "language": "python", "prompt": "..."}');
      continue;
    }
    if (typeof t.id !== 'string' || !t.id.trim()) {
      problem(`"id" must be a non-empty string, got ${JSON.stringify(t.id)}`, 'id');
      continue;
    }
    const language = typeof t.language === 'string' ? taskLanguage(t.language) : undefined;
    if (!language) {
      problem(`"language" must be a language name (python, c, cpp, java, csharp, rust, php, …), got ${JSON.stringify(t.language)}`, 'language');
      continue;
    }
    if (typeof t.prompt !== 'string' || !t.prompt.trim()) {
      problem(`"prompt" must be a non-empty string (the instruction or the code prefix)`, 'prompt');
      continue;
    }
    if (t.kind !== undefined && t.kind !== 'completion' && t.kind !== 'instruction') {
      problem(`"kind" must be "completion" or "instruction", got ${JSON.stringify(t.kind)}`, 'kind');
      continue;
    }
    let goldCwes: string[] | undefined;
    if (t.gold_cwes !== undefined) {
      const list = Array.isArray(t.gold_cwes) ? t.gold_cwes.map((c) => (typeof c === 'string' || typeof c === 'number' ? parseCweId(String(c)) : undefined)) : [undefined];
      if (list.some((c) => c === undefined)) {
        problem(`"gold_cwes" must be a list of CWE ids like ["CWE-89"], got ${JSON.stringify(t.gold_cwes)}`, 'gold_cwes');
        continue;
      }
      goldCwes = list as string[];
    }
    const first = ids.get(t.id);
    if (first !== undefined) {
      problem(`id ${JSON.stringify(t.id)} was already used on line ${first}; ids must be unique (they key results and resumption)`, 'id');
      continue;
    }
    ids.set(t.id, raw.lineNo);
    yield { id: t.id, language, prompt: t.prompt, kind: t.kind ?? inferTaskKind(t.prompt), goldCwes };
  }
  if (binary) onProblem({ file: path, line: 0, message: `not a text file (${binary}); a tasks file is JSON Lines` });
}

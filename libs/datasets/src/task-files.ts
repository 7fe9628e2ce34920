import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Language, normalizeLanguageName, parseCweId } from '@rescue/domain';

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
      const info = JSON.parse(await readFile(join(dir, 'info.json'), 'utf8')) as { language: string; cwe: string; description?: string };
      const ext = info.language;
      const language = normalizeLanguageName(ext === 'py' ? 'python' : ext === 'js' ? 'javascript' : ext === 'rb' ? 'ruby' : ext);
      const cwe = parseCweId(info.cwe);
      if (!language || !cwe) return;
      const read = async (name: string): Promise<string> => {
        const file = entries.find((e) => e.name.startsWith(`${name}.`));
        return file ? readFile(join(dir, file.name), 'utf8') : '';
      };
      const prompt = `${await read('file_context')}${await read('func_context')}`;
      tasks.push({ id: rel.join('/'), language, prompt, kind: 'completion', goldCwes: [cwe] });
      return;
    }
    for (const e of entries) if (e.isDirectory()) await walk(join(dir, e.name), [...rel, e.name]);
  };
  if (!existsSync(root)) throw new Error(`no evaluation set at ${root}`);
  await walk(root, []);
  return tasks;
}

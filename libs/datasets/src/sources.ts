import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileKind, openRegularFile } from './regular-file';

/** File extensions read when a source is a directory. */
export const DATASET_EXTENSIONS = ['.jsonl', '.json', '.ndjson'];

export interface SourceProblem {
  path: string;
  message: string;
}

/**
 * Expands the given files and directories (recursively, in sorted order so runs are repeatable)
 * into dataset files. A path that does not exist is reported, and the other sources still count;
 * so is one that is neither a file nor a directory (a FIFO would block the read for ever, a device
 * such as /dev/zero never ends), given or met in a directory under a dataset name.
 */
export async function expandSources(sources: string[]): Promise<{ files: string[]; problems: SourceProblem[] }> {
  const files: string[] = [];
  const problems: SourceProblem[] = [];
  const seen = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const full = join(dir, e.name);
      if (e.isDirectory()) await walk(full);
      else if (!DATASET_EXTENSIONS.some((ext) => e.name.endsWith(ext))) continue;
      else if (e.isFile()) add(full);
      else if (!e.isSymbolicLink()) problems.push({ path: full, message: notRegular(e) });
    }
  };
  const add = (p: string): void => {
    const abs = resolve(p);
    if (!seen.has(abs)) {
      seen.add(abs);
      files.push(p);
    }
  };
  for (const source of sources) {
    try {
      const s = await stat(source);
      if (s.isDirectory()) await walk(source);
      else if (s.isFile()) add(source);
      else problems.push({ path: source, message: notRegular(s) });
    } catch (err) {
      problems.push({ path: source, message: `cannot read source: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    }
  }
  return { files, problems };
}

const notRegular = (info: Parameters<typeof fileKind>[0]): string => `not read: it is ${fileKind(info)}, not a regular file (give JSONL files, or directories of them)`;

/** sha256 of a file's bytes, streamed; a path that is not a regular file is refused by name. */
export async function fileSha256(path: string): Promise<string> {
  const handle = await openRegularFile(path, 'source');
  return new Promise((resolvePromise, reject) => {
    const h = createHash('sha256');
    createReadStream(path, { fd: handle })
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolvePromise(h.digest('hex')));
  });
}

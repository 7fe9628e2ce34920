import { readFile } from 'node:fs/promises';
import { InvalidInputError } from '@rescue/domain';

/**
 * A file's UTF-8 text, or undefined when there is no such file. Only "not there" means absent:
 * any other failure (permissions, an I/O error, a folder where a file should be) is thrown, so an
 * unreadable store or KB folder never passes for an empty one.
 */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * A JSON file's value, or undefined when there is no such file; text that is not JSON is an
 * InvalidInputError naming the file and what to do (`whatToDo`, e.g. "delete it and rebuild").
 */
export async function readJsonIfExists<T>(path: string, whatToDo: string): Promise<T | undefined> {
  const text = await readTextIfExists(path);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new InvalidInputError(`${path} is not valid JSON (${(err as Error).message}); ${whatToDo}`, { cause: err });
  }
}

import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { TextFileWriter } from '../text-file-writer';

/**
 * JSON.stringify of a plain object, a piece at a time: each of its fields, and the items of its
 * array field `spread` one by one. The pieces joined are exactly JSON.stringify(value) (fields
 * whose value JSON leaves out are left out, an array's undefined items are null), but no piece
 * holds more than one item. A summarized cluster at 100× the shared data is a few hundred MB of
 * JSON: written whole it was one string of that size, and its UTF-8 copy, at once.
 *
 * With `items`, the array field `spread` is their JSON texts instead of its own value (which is
 * then only a placeholder keeping the field's place): items waiting in a file (see SpilledTexts).
 */
export function* jsonPieces(value: object, spread: string, items?: JsonItems): Generator<string> {
  let first = true;
  yield '{';
  for (const [key, field] of Object.entries(value)) {
    if (key === spread && items) {
      yield `${first ? '' : ','}${JSON.stringify(key)}:[`;
      for (let i = 0; i < items.count; i += 1) yield `${i === 0 ? '' : ','}${items.json(i)}`;
      yield ']';
      first = false;
      continue;
    }
    if (key === spread && Array.isArray(field)) {
      yield `${first ? '' : ','}${JSON.stringify(key)}:[`;
      for (let i = 0; i < field.length; i += 1) yield `${i === 0 ? '' : ','}${JSON.stringify(field[i]) ?? 'null'}`;
      yield ']';
      first = false;
      continue;
    }
    const json = JSON.stringify(field) as string | undefined;
    if (json === undefined) continue;
    yield `${first ? '' : ','}${JSON.stringify(key)}:${json}`;
    first = false;
  }
  yield '}';
}

/** The JSON texts of an array's items, read one at a time (`JSON.stringify` of each). */
export interface JsonItems {
  readonly count: number;
  json(i: number): string;
}

/**
 * Writes pieces of text to `path` atomically: into a temporary file beside it, then renamed over it
 * (as write-file-atomic does, without the whole text in one string). The temporary file's name
 * ends in `.tmp`, which the caches' sweeps (whole names of hex digits) leave alone.
 *
 * `durable: false` skips the fsync before the rename, for a build cache: each of its files checks
 * its own bytes (a checksum) when read, so one that a crash left empty or cut short is ignored and
 * worked out again, and the builds that wrote a few dozen of them one after another no longer
 * wait on the disk for each.
 */
export async function writePiecesAtomic(path: string, pieces: Iterable<string>, { durable = true }: { durable?: boolean } = {}): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const file = await open(tmp, 'w');
  try {
    const out = new TextFileWriter(file);
    for (const piece of pieces) await out.write(piece);
    await out.end();
    if (durable) await file.sync();
    await file.close();
    await rename(tmp, path);
  } catch (err) {
    await file.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
}

import { createWriteStream } from 'node:fs';
import { mkdir, realpath, rm } from 'node:fs/promises';
import { isAbsolute, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ConfigError, InvalidInputError } from '@rescue/domain';

/**
 * Resolves a named source under the allowed root, refusing anything that ends up outside it:
 * absolute paths, `..` segments that climb out, and symbolic links that point out (the real path
 * is what is checked, and what the workers are given).
 */
export async function sourceUnderRoot(root: string | undefined, name: string, field: string): Promise<string> {
  if (!root) throw new ConfigError(['KB_SOURCES_ROOT is unset: set it to the shared folder builds may read sources from, or upload the fix pairs instead']);
  if (isAbsolute(name)) throw new InvalidInputError(`${field}: ${JSON.stringify(name)} is absolute; name sources relative to the API's KB_SOURCES_ROOT`);
  const base = await realpath(root);
  let real: string;
  try {
    real = await realpath(resolve(base, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw err;
    throw new InvalidInputError(`${field}: ${JSON.stringify(name)} does not exist under KB_SOURCES_ROOT`);
  }
  if (real !== base && !real.startsWith(base + sep)) throw new InvalidInputError(`${field}: ${JSON.stringify(name)} resolves outside KB_SOURCES_ROOT; only sources under it can be built from`);
  return real;
}

/**
 * Saves an uploaded fix-pair JSONL stream under `<dataDir>/uploads/<name>.jsonl` (the data folder
 * the workers share), stopping with a clear error past `maxBytes`; a partial file is removed.
 */
export async function saveUpload(body: Readable, dataDir: string, name: string, maxBytes: number): Promise<{ path: string; bytes: number }> {
  const dir = resolve(join(dataDir, 'uploads'));
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name}.jsonl`);
  let bytes = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > maxBytes) done(new InvalidInputError(`the upload is larger than KB_UPLOAD_MAX_BYTES (${maxBytes} bytes): split it, or name it as a source on the shared volume`));
      else done(null, chunk);
    },
  });
  try {
    await pipeline(body, cap, createWriteStream(path, { flags: 'wx' }));
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  }
  if (bytes === 0) {
    await rm(path, { force: true });
    throw new InvalidInputError('the upload is empty: send fix-pair JSONL lines as the request body');
  }
  return { path, bytes };
}

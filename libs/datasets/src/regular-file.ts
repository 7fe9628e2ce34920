import { constants as fsConstants, type Stats } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { InvalidInputError } from '@rescue/domain';

/**
 * What a path is when it is not a regular file, in words a user recognises. A FIFO blocks its
 * reader until a writer comes (for ever, when none does), a socket cannot be opened, and a device
 * such as /dev/zero or /dev/urandom never ends: none of them is a data file.
 */
export function fileKind(info: Pick<Stats, 'isFile' | 'isDirectory' | 'isFIFO' | 'isSocket' | 'isCharacterDevice' | 'isBlockDevice' | 'isSymbolicLink'>): string {
  if (info.isFile()) return 'a regular file';
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO (named pipe)';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isSymbolicLink()) return 'a symbolic link';
  return 'a special file';
}

/** The error for a path that is not a regular file: what it is, and what to give instead. */
export function notRegularFileError(what: string, path: string, kind: string, hint = 'give the path of a regular file'): InvalidInputError {
  return new InvalidInputError(`${what} ${path} is ${kind}, not a regular file; it was not read: ${hint}`);
}

/**
 * Opens a user-given path for reading only when it is a regular file (following links), and
 * refuses anything else by name before a byte is read. The open itself cannot block: O_NONBLOCK
 * makes opening a FIFO without a writer return at once (it has no effect on a regular file), and
 * the type is checked on the opened descriptor, so a path swapped for a FIFO after a stat is caught.
 *
 * @param what how the path is named to the user (`tasks file`, `--source`, `catalogue`)
 * @throws InvalidInputError for a FIFO, socket, device or directory; the fs error (ENOENT, EACCES) otherwise
 */
export async function openRegularFile(path: string, what: string, hint?: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (err) {
    // A Unix socket cannot be opened at all (ENXIO): name it rather than pass the errno on.
    if ((err as NodeJS.ErrnoException).code === 'ENXIO') throw notRegularFileError(what, path, await kindOf(path), hint);
    throw err;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw notRegularFileError(what, path, fileKind(info), hint);
    return handle;
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** The whole text of a user-given regular file (UTF-8), refused by name when it is anything else. */
export async function readRegularFileText(path: string, what: string, hint?: string): Promise<string> {
  const handle = await openRegularFile(path, what, hint);
  try {
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/**
 * Checks a path a command will write to (`--out`): absent, or an existing regular file. Opening a
 * FIFO for writing blocks until a reader comes, a device swallows or refuses the output, and a
 * directory fails with a bare EISDIR: each is refused by name before anything is computed.
 */
export async function assertWritableFilePath(path: string, what: string): Promise<void> {
  let info: Stats;
  try {
    info = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!info.isFile()) throw new InvalidInputError(`${what} ${path} is ${fileKind(info)}, not a regular file; nothing was written: give the path of a file to create or replace`);
}

async function kindOf(path: string): Promise<string> {
  try {
    return fileKind(await stat(path));
  } catch (_unstattable) {
    // Only for the message: a path that cannot even be stat'ed is described, the caller refuses it.
    return 'not openable';
  }
}

import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { type FileHandle, mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A temporary file under a build's staging folder that items are appended to, then read back by
 * byte range (synchronously: rows read their own item inside synchronous loops). Its life: append,
 * `seal`, read, `remove`. What is appended and how an item maps to bytes is the subclass's.
 */
export abstract class SpillFile {
  private fd?: number;

  protected constructor(
    readonly path: string,
    private writer?: FileHandle,
  ) {}

  /** A new, empty file in `dir` (made when missing), named `<prefix>-<pid>-<random>.tmp`. */
  protected static async openNew(dir: string, prefix: string): Promise<{ path: string; writer: FileHandle }> {
    await mkdir(dir, { recursive: true });
    const path = join(dir, `${prefix}-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
    return { path, writer: await open(path, 'w') };
  }

  /** Writes what is waiting to be appended (called by {@link seal} first). */
  protected abstract flush(): Promise<void>;

  protected async append(data: Buffer): Promise<void> {
    if (!this.writer) throw new Error(`${this.path} is sealed`);
    await this.writer.write(data);
  }

  /** Nothing more to add: written out, and the file opened for reading. */
  async seal(): Promise<void> {
    await this.flush();
    await this.writer?.close();
    this.writer = undefined;
    this.fd = openSync(this.path, 'r');
  }

  /** Throws unless the file is sealed (readable). */
  protected assertSealed(): number {
    if (this.fd === undefined) throw new Error(`${this.path} is read before it is sealed`);
    return this.fd;
  }

  /** Fills `buffer` from byte `position` of the file; `what` names the item in errors. */
  protected readInto(buffer: Buffer, position: number, what: string): void {
    const fd = this.assertSealed();
    let read = 0;
    while (read < buffer.length) {
      const n = readSync(fd, buffer, read, buffer.length - read, position + read);
      if (n === 0) throw new Error(`${this.path} ends before ${what}`);
      read += n;
    }
  }

  async remove(): Promise<void> {
    // Closing a handle of a file about to be deleted: nothing written through it matters any more.
    await this.writer?.close().catch(() => undefined);
    this.writer = undefined;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    await rm(this.path, { force: true });
  }
}

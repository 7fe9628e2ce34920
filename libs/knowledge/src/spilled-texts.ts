import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { type FileHandle, mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Characters of texts gathered before they are appended to the file. */
const APPEND_CHARS = 1 << 20;

/**
 * Texts kept in a file instead of memory, each read back (synchronously, by its byte range) when
 * asked: a publish's example rows carry their search terms (about 2 KB an example) through every
 * step that writes the version (the tables a shard at a time, the snapshot's postings a
 * document at a time, the term counts), and at 100× the shared data they were a quarter of a GB
 * held from the first pass over the examples to the end. Add every text, then `seal`, then read;
 * `remove` deletes the file.
 */
export class SpilledTexts {
  private readonly starts: number[] = [];
  private readonly lengths: number[] = [];
  private pending: string[] = [];
  private pendingChars = 0;
  private at = 0;
  private fd?: number;

  private constructor(
    readonly path: string,
    private writer?: FileHandle,
  ) {}

  /** A new, empty file in `dir` (made when missing). */
  static async create(dir: string): Promise<SpilledTexts> {
    await mkdir(dir, { recursive: true });
    const path = join(dir, `texts-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
    return new SpilledTexts(path, await open(path, 'w'));
  }

  get count(): number {
    return this.starts.length;
  }

  /** Appends a text; its number is the count before it. */
  async add(text: string): Promise<number> {
    const bytes = Buffer.byteLength(text);
    this.starts.push(this.at);
    this.lengths.push(bytes);
    this.at += bytes;
    this.pending.push(text);
    this.pendingChars += text.length;
    if (this.pendingChars >= APPEND_CHARS) await this.flush();
    return this.starts.length - 1;
  }

  private async flush(): Promise<void> {
    if (!this.writer) throw new Error(`${this.path} is sealed`);
    if (this.pending.length > 0) await this.writer.write(this.pending.join(''));
    this.pending = [];
    this.pendingChars = 0;
  }

  /** No more texts: written out, and the file opened for reading. */
  async seal(): Promise<void> {
    await this.flush();
    await this.writer?.close();
    this.writer = undefined;
    this.fd = openSync(this.path, 'r');
  }

  /** Text `i`, read from the file. */
  get(i: number): string {
    if (this.fd === undefined) throw new Error(`${this.path} is read before it is sealed`);
    const length = this.lengths[i];
    if (length === undefined) throw new RangeError(`no text ${i} of ${this.count} in ${this.path}`);
    if (length === 0) return '';
    const buffer = Buffer.allocUnsafe(length);
    let read = 0;
    while (read < length) {
      const n = readSync(this.fd, buffer, read, length - read, this.starts[i] + read);
      if (n === 0) throw new Error(`${this.path} ends before text ${i}`);
      read += n;
    }
    return buffer.toString('utf8');
  }

  async remove(): Promise<void> {
    await this.writer?.close().catch(() => undefined);
    this.writer = undefined;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    await rm(this.path, { force: true });
  }
}

import { SpillFile } from './spill-file';

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
export class SpilledTexts extends SpillFile {
  private readonly starts: number[] = [];
  private readonly lengths: number[] = [];
  private pending: string[] = [];
  private pendingChars = 0;
  private at = 0;

  /** A new, empty file in `dir` (made when missing). */
  static async create(dir: string): Promise<SpilledTexts> {
    const { path, writer } = await SpillFile.openNew(dir, 'texts');
    return new SpilledTexts(path, writer);
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

  protected async flush(): Promise<void> {
    if (this.pending.length > 0) await this.append(Buffer.from(this.pending.join('')));
    this.pending = [];
    this.pendingChars = 0;
  }

  /** Text `i`, read from the file. */
  get(i: number): string {
    this.assertSealed();
    const length = this.lengths[i];
    if (length === undefined) throw new RangeError(`no text ${i} of ${this.count} in ${this.path}`);
    if (length === 0) return '';
    const buffer = Buffer.allocUnsafe(length);
    this.readInto(buffer, this.starts[i], `text ${i}`);
    return buffer.toString('utf8');
  }
}

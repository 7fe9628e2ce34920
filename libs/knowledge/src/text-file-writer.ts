import type { FileHandle } from 'node:fs/promises';
import { isHighSurrogate, textSlices } from '@rescue/domain';

/**
 * Characters encoded into one buffer, at most: well under V8's large-object size (128 KB), so
 * neither the joined string nor its UTF-8 buffer is a fresh mapping of its own. Writing a
 * version's 14 MB of JSON lines a thousand lines (a megabyte or more) at a time took 185–210 ms,
 * half of it in the kernel mapping, zeroing and unmapping those pages; 32K-character pieces took
 * 40 ms for the same bytes.
 */
const PIECE_CHARS = 32 * 1024;

/** Encoded bytes handed to one writev, at least (the last call's may be fewer). */
const WRITE_BYTES = 1 << 20;

/**
 * Text appended to an open file piece by piece, as UTF-8, in few system calls and without large
 * transient strings or buffers (see {@link PIECE_CHARS}): the file holds exactly the
 * concatenation of the texts given. `end()` writes what is still buffered; the caller closes the file.
 */
export class TextFileWriter {
  private texts: string[] = [];
  private chars = 0;
  private buffers: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly file: FileHandle) {}

  async write(text: string): Promise<void> {
    this.texts.push(text);
    this.chars += text.length;
    if (this.chars >= PIECE_CHARS) this.encode(false);
    if (this.bytes >= WRITE_BYTES) await this.flush();
  }

  /** Writes everything still buffered. */
  async end(): Promise<void> {
    this.encode(true);
    await this.flush();
  }

  /**
   * The texts held so far, encoded: a long one (a CWE node's whole-knowledge terms, a cluster's
   * JSON) a slice at a time. Until the end, a high surrogate they end with is held back for the
   * next text, whose low surrogate may complete it: encoded apart, the two would be two U+FFFD.
   */
  private encode(final: boolean): void {
    if (this.texts.length === 0) return;
    let whole = this.texts.length === 1 ? this.texts[0] : this.texts.join('');
    let held = '';
    if (!final && whole.length > 0 && isHighSurrogate(whole.charCodeAt(whole.length - 1))) {
      held = whole.slice(-1);
      whole = whole.slice(0, -1);
    }
    for (const slice of textSlices(whole, PIECE_CHARS)) this.push(Buffer.from(slice, 'utf8'));
    this.texts = held ? [held] : [];
    this.chars = held.length;
  }

  private push(buffer: Buffer): void {
    this.buffers.push(buffer);
    this.bytes += buffer.length;
  }

  private bytesOf(buffers: Buffer[]): number {
    return buffers.reduce((n, b) => n + b.length, 0);
  }

  private async flush(): Promise<void> {
    let rest = this.buffers;
    this.buffers = [];
    this.bytes = 0;
    // writev may write less than asked (a full disk, a signal): the rest is written again.
    while (rest.length > 0) {
      let { bytesWritten } = await this.file.writev(rest);
      if (bytesWritten === 0) throw new Error(`writing ${this.bytesOf(rest)} bytes to a file wrote none`);
      let i = 0;
      while (i < rest.length && bytesWritten >= rest[i].length) bytesWritten -= rest[i++].length;
      rest = rest.slice(i);
      if (rest.length > 0 && bytesWritten > 0) rest[0] = rest[0].subarray(bytesWritten);
    }
  }
}

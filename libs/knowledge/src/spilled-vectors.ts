import { SpillFile } from './spill-file';

/** Vectors gathered before they are appended to the file. */
const APPEND_VECTORS = 1024;

/**
 * Vectors of one length kept in a file instead of memory, vector i at i × length × 4 bytes, each
 * read back (synchronously) when asked: the examples' vectors are read once by the in-memory
 * index snapshot and once by the LanceDB tables, and at 100× the shared data they were 136 MB of
 * array buffers held through both (with the tables' own native memory on top, the index stage's
 * peak). The same life as {@link SpilledTexts}: add in order, `seal`, read, `remove`.
 */
export class SpilledVectors extends SpillFile {
  private dims = -1;
  private added = 0;
  private pending: Float32Array[] = [];

  /** A new, empty file in `dir` (made when missing). */
  static async create(dir: string): Promise<SpilledVectors> {
    const { path, writer } = await SpillFile.openNew(dir, 'vectors');
    return new SpilledVectors(path, writer);
  }

  get count(): number {
    return this.added;
  }

  /** Appends a vector (all of one length); its number is the count before it. */
  async add(vector: Float32Array): Promise<number> {
    if (this.dims === -1) this.dims = vector.length;
    if (vector.length !== this.dims) throw new RangeError(`${this.path} holds vectors of ${this.dims} dimensions, not ${vector.length}`);
    this.pending.push(vector);
    this.added += 1;
    if (this.pending.length >= APPEND_VECTORS) await this.flush();
    return this.added - 1;
  }

  protected async flush(): Promise<void> {
    if (this.pending.length > 0) await this.append(Buffer.concat(this.pending.map((v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength))));
    this.pending = [];
  }

  /** Vector `i`, read from the file (a new array each time). */
  get(i: number): Float32Array {
    this.assertSealed();
    if (!(i >= 0 && i < this.added)) throw new RangeError(`no vector ${i} of ${this.added} in ${this.path}`);
    const vector = new Float32Array(this.dims);
    const bytes = Buffer.from(vector.buffer);
    this.readInto(bytes, i * bytes.length, `vector ${i}`);
    return vector;
  }
}

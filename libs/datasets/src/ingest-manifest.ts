import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import type { DatasetFormat } from '@rescue/domain';
import type { Reject } from './rejects';
import { fileSha256 } from './sources';

/**
 * What an ingest learned from each source file, kept beside the record store (a KB folder's
 * `ingest/sources.json`) so the next ingest into the same store can skip the files that did not
 * change: their records are already stored, and the manifest says which ones (with line and
 * format) and which lines were rejected, so the run's records, counts and rejects file are the
 * same as if the file had been read again.
 *
 * A file is skipped only when its path, size, mtime and sha256 all equal what was recorded, and
 * the run reads with the same options; anything else, or a missing or unreadable manifest, reads
 * the file. Bump {@link INGEST_MANIFEST_VERSION} when parsing or normalization changes what a line
 * becomes: an older manifest is then ignored.
 */
export const INGEST_MANIFEST_VERSION = 1;

/** (path, size, mtime, sha256) of a source file, as seen before it was read. */
export interface SourceFingerprint {
  size: number;
  mtimeMs: number;
  sha256: string;
}

/** One file's outcome: each valid line's record id (duplicates included), and its rejects. */
export interface SourceFileEntry extends SourceFingerprint {
  /** [record id, line number, format] per valid line, in line order. */
  records: [string, number, DatasetFormat][];
  rejects: Reject[];
  /** Non-blank lines and their bytes, as the read counted them. */
  lines: number;
  bytes: number;
}

interface ManifestFile {
  v: number;
  /** The read options the outcomes depend on. */
  options: string;
  files: Record<string, SourceFileEntry>;
}

export class IngestManifest {
  private readonly next: Record<string, SourceFileEntry> = {};

  private constructor(
    readonly path: string,
    private readonly options: string,
    private readonly previous: Record<string, SourceFileEntry>,
  ) {}

  /**
   * The manifest at `path` for a run with these read options. A missing file starts empty; so does
   * one that cannot be parsed or was written by another version or with other options (the files
   * are then all read, which is always correct).
   */
  static async open(path: string, options: { format: string; maxLineBytes: number }): Promise<IngestManifest> {
    const key = JSON.stringify({ format: options.format, maxLineBytes: options.maxLineBytes });
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new IngestManifest(path, key, {});
      throw err;
    }
    let parsed: Partial<ManifestFile> | undefined;
    try {
      parsed = JSON.parse(text) as Partial<ManifestFile>;
    } catch (err) {
      // A damaged manifest only costs a full read; it is rewritten at the end of the run.
      if (!(err instanceof SyntaxError)) throw err;
    }
    const files = parsed?.v === INGEST_MANIFEST_VERSION && parsed.options === key ? parsed.files : undefined;
    return new IngestManifest(path, key, files !== null && typeof files === 'object' ? files : {});
  }

  /** The file's fingerprint now, and its entry when the file is unchanged since it was recorded. */
  async lookup(file: string): Promise<{ fingerprint: SourceFingerprint; entry?: SourceFileEntry }> {
    const fingerprint = await fingerprintOf(file);
    const old = this.previous[file];
    const same = old !== undefined && old.size === fingerprint.size && old.mtimeMs === fingerprint.mtimeMs && old.sha256 === fingerprint.sha256;
    return same ? { fingerprint, entry: old } : { fingerprint };
  }

  /**
   * Records what this run got from `file` (read or skipped). `fingerprint` is the one taken before
   * reading: if the file changed while it was read, the entry is dropped, so the next run reads it.
   */
  async keep(file: string, fingerprint: SourceFingerprint, outcome: Omit<SourceFileEntry, keyof SourceFingerprint>): Promise<void> {
    const now = await stat(file);
    if (now.size !== fingerprint.size || now.mtimeMs !== fingerprint.mtimeMs) return;
    this.next[file] = { ...fingerprint, ...outcome };
  }

  /** Writes the files this run kept (files no longer among the sources are forgotten). */
  async save(): Promise<void> {
    const body: ManifestFile = { v: INGEST_MANIFEST_VERSION, options: this.options, files: this.next };
    await mkdir(dirname(this.path), { recursive: true });
    await writeFileAtomic(this.path, JSON.stringify(body));
  }
}

async function fingerprintOf(file: string): Promise<SourceFingerprint> {
  const before = await stat(file);
  return { size: before.size, mtimeMs: before.mtimeMs, sha256: await fileSha256(file) };
}

import { InvalidInputError } from '@rescue/domain';
import { IngestManifest } from './ingest-manifest';
import { FixPairIngestor, type FormatChoice, type IngestHooks, type IngestReport } from './fix-pair-ingestor';
import type { RecordStore } from './record-store';
import { RejectsFileWriter } from './rejects';
import { fileSha256 } from './sources';

export interface IngestRunInput {
  sources: string[];
  format: FormatChoice;
  maxLineBytes: number;
  store: RecordStore;
  rejectsPath: string;
  /** When given (queue jobs), each file must still have the content hash it had at enqueue time. */
  expectedSha256?: Record<string, string>;
  /**
   * Where to keep what each source file gave (IngestManifest), beside `store`: files unchanged
   * since (same path, size, mtime and sha256) are not read again. Only for a store that keeps its
   * records between runs (a KB folder's).
   */
  manifestPath?: string;
}

export interface IngestRunResult {
  report: IngestReport;
  rejectsPath: string;
}

/** One ingest run as the CLI and the ingest worker both do it: records to the store, rejects to JSONL. */
export async function runIngest(input: IngestRunInput, hooks: IngestHooks = {}): Promise<IngestRunResult> {
  if (input.expectedSha256) {
    for (const [path, expected] of Object.entries(input.expectedSha256)) {
      let actual: string;
      try {
        actual = await fileSha256(path);
      } catch (err) {
        throw new InvalidInputError(`source ${path} cannot be read by this worker: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      if (actual !== expected) throw new InvalidInputError(`source ${path} changed since the job was enqueued (sha256 ${actual.slice(0, 12)}… ≠ ${expected.slice(0, 12)}…); enqueue it again`);
    }
  }
  const rejects = new RejectsFileWriter(input.rejectsPath);
  try {
    const report = await new FixPairIngestor(input.store).ingest(
      input.sources,
      {
        format: input.format,
        maxLineBytes: input.maxLineBytes,
        ...(input.manifestPath ? { manifest: await IngestManifest.open(input.manifestPath, input) } : {}),
      },
      {
        ...hooks,
        onReject: (r) => {
          rejects.write(r);
          hooks.onReject?.(r);
        },
      },
    );
    return { report, rejectsPath: input.rejectsPath };
  } finally {
    await rejects.close();
  }
}

import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { ConfigError, type FixRecord, InvalidInputError } from '@rescue/domain';
import { FixPairIngestor, type FormatChoice, type IngestHooks, type IngestReport } from './fix-pair-ingestor';
import { FsRecordStore } from './fs-record-store';
import type { RecordStore, StoredDocument } from './record-store';
import { RedisRecordStore } from './redis-record-store';
import { RejectsFileWriter } from './rejects';
import { fileSha256 } from './sources';

export type RecordStoreKind = 'fs' | 'redis';

/**
 * The one place a store backend is chosen. `collection` names what is stored (`records`,
 * `slices`): a folder under the data directory, or a hash under the prefix in Redis.
 */
export function createRecordStore<T extends StoredDocument = FixRecord>(
  kind: RecordStoreKind,
  opts: { dataDir: string; redis?: Redis; prefix?: string; collection?: string },
): RecordStore<T> {
  const collection = opts.collection ?? 'records';
  if (kind === 'redis') {
    if (!opts.redis || !opts.prefix) throw new ConfigError(['RECORD_STORE=redis: the redis store needs a Redis connection and a key prefix']);
    return new RedisRecordStore<T>(opts.redis, opts.prefix, collection);
  }
  return new FsRecordStore<T>(join(opts.dataDir, collection));
}

export interface IngestRunInput {
  sources: string[];
  format: FormatChoice;
  maxLineBytes: number;
  store: RecordStore;
  rejectsPath: string;
  /** When given (queue jobs), each file must still have the content hash it had at enqueue time. */
  expectedSha256?: Record<string, string>;
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
      { format: input.format, maxLineBytes: input.maxLineBytes },
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

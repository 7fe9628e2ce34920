import { createHash } from 'node:crypto';
import { join } from 'node:path';
import PQueue from 'p-queue';
import type { JobName, JobPayload } from '@rescue/contracts';
import type { RecordStore, StoredEntry } from '@rescue/datasets';
import { type FixRecord, InvalidInputError, NotFoundError } from '@rescue/domain';
import { screenRulesFingerprint } from '@rescue/datasets';
import {
  type ClusterDistiller,
  ClusterSummaryCache,
  ExampleSpool,
  type QuarantineEntry,
  adviceFor,
  clusterTermsFile,
  StreamedJsonArray,
  contentKeyStreamed,
  countLlmCalls,
  knowledgeCodeFingerprint,
  openSearchTermsMemo,
  summarizeCluster,
  withTrust,
} from '@rescue/knowledge';
import { SEARCH_TERMS_VERSION } from '@rescue/retrieval';
import { type SliceDocument, sliceId } from '@rescue/slicing';
import type { BuildKnowledge } from '../build-knowledge';
import type { BuildStaging } from '../build-staging';

/**
 * Record and slice reads in flight, for all the clusters being summarized in this process: each a
 * chunk of a cluster's records or slices, read together (see RecordStore.getMany). One FIFO queue,
 * so the clusters' reads complete in the order the clusters started (the runner starts the largest
 * first): with a queue per cluster, every cluster's reads interleaved with every other's in the
 * file system's thread pool, and each made its first LLM call only once nearly all were read.
 */
const reads = new PQueue({ concurrency: 4 });

/** Records above which a cluster is read a chunk at a time (when its distiller reads no code), and the chunk. */
export const CHUNKED_ABOVE_RECORDS = 1000;
const READ_CHUNK = 500;

export interface SummarizeStageDeps {
  records: RecordStore;
  slices: RecordStore<SliceDocument>;
  staging: BuildStaging;
  knowledge: BuildKnowledge;
  distiller: ClusterDistiller;
  /** Records above which a cluster is read a chunk at a time (default {@link CHUNKED_ABOVE_RECORDS}). */
  chunkedAboveRecords?: number;
}

/** Both stores' entries (see RecordStore.entriesMany), when both give their stored bytes. */
type ReadEntries = (ids: string[]) => Promise<[(StoredEntry<FixRecord> | undefined)[], (StoredEntry<SliceDocument> | undefined)[]]>;

function entriesReader(deps: SummarizeStageDeps, hops: number): ReadEntries | undefined {
  const records = deps.records.entriesMany?.bind(deps.records);
  const slices = deps.slices.entriesMany?.bind(deps.slices);
  if (!records || !slices) return undefined;
  return (ids) => Promise.all([reads.add(() => records(ids)), reads.add(() => slices(ids.map((id) => sliceId(id, hops))))]);
}

/**
 * One digest of a cluster's stored records and slices, in its ids' order, each with its id and
 * lengths, made a chunk at a time (a big cluster is read so) or at once: the same either way. The
 * same document always stores as the same bytes, so with the records' trust (the build's, beside
 * the stored record) this stands for the records and slices the summary is made from; serializing
 * them again to hash their JSON was most of what a reused cluster cost.
 */
class StoredDigest {
  private readonly h = createHash('sha256');

  add(id: string, record: Buffer, slice: Buffer | undefined): void {
    this.h.update(`${id} ${record.length} ${slice?.length ?? -1}\n`).update(record);
    if (slice) this.h.update(slice);
  }

  digest(): string {
    return this.h.digest('hex');
  }
}

/** What a summarize job returns (small: the cluster itself goes to the staging). */
export interface SummarizeJobResult {
  clusterKey: string;
  examples: number;
  llmCalls: number;
  llmCached: number;
  /** Guidelines and causes the distillation screen held back (few; the index stage adds them to the quarantine report). */
  withheld?: QuarantineEntry[];
  /** The key of the cluster's cached summary (used or written), which the index stage keeps while it drops the rest. */
  cacheKey?: string;
  /** Whether the summary came from the KB folder's cache (nothing distilled). */
  reused?: boolean;
}

/**
 * The summarize stage: one cluster's records and slices distilled into its CWE node and examples,
 * staged for the index stage under the build id.
 */
export async function summarizeStage(payload: JobPayload<JobName.ClusterSummarize>, deps: SummarizeStageDeps): Promise<SummarizeJobResult> {
  if (!payload.build || !payload.recordIds) throw new InvalidInputError(`summarize job for ${payload.clusterKey} carries no build spec or record ids`);
  // Several reads at a time, through the stage's one queue (see `reads`).
  const ids = [...payload.recordIds].sort();
  const { hops } = payload.build;
  const trusted = (r: FixRecord): FixRecord => withTrust(r, deps.knowledge.screen.trust, deps.knowledge.screen.codeqlRoots);
  const readRecords = (chunk: string[]): Promise<(FixRecord | undefined)[]> => reads.add(() => deps.records.getMany(chunk));
  const readSlices = (chunk: string[]): Promise<(SliceDocument | undefined)[]> => reads.add(() => deps.slices.getMany(chunk.map((id) => sliceId(id, hops))));
  const readAll = (chunk: string[]): Promise<[(FixRecord | undefined)[], (SliceDocument | undefined)[]]> => Promise.all([readRecords(chunk), readSlices(chunk)]);
  // A big cluster with a distiller that reads no code is read a chunk at a time, pass after pass
  // (its key, then its examples), and only its records' metadata is held: read whole, the biggest
  // cluster at 100× the shared data (24,300 records) held well over a GB.
  const chunked = deps.distiller.readsRecordCode === false && ids.length > (deps.chunkedAboveRecords ?? CHUNKED_ABOVE_RECORDS);
  const missingNow = (id: string): NotFoundError => new NotFoundError(`record ${id} of ${payload.clusterKey} is no longer in the record store`);
  /** The records (with the build's trust) and their slices, in `ids`' order, a chunk at a time. */
  const reread = async function* (): AsyncIterable<[FixRecord, SliceDocument | undefined]> {
    for (let i = 0; i < ids.length; i += READ_CHUNK) {
      const chunk = ids.slice(i, i + READ_CHUNK);
      const [rs, ss] = await readAll(chunk);
      for (let j = 0; j < chunk.length; j++) {
        const r = rs[j];
        if (!r) throw missingNow(chunk[j]);
        yield [trusted(r), ss[j]];
      }
    }
  };
  /** The records alone, then the slices alone, as {@link reread} gives them: the key hashes each on its own pass. */
  const rereadRecords = async function* (): AsyncIterable<FixRecord> {
    for (let i = 0; i < ids.length; i += READ_CHUNK) {
      const chunk = ids.slice(i, i + READ_CHUNK);
      const rs = await readRecords(chunk);
      for (let j = 0; j < chunk.length; j++) {
        const r = rs[j];
        if (!r) throw missingNow(chunk[j]);
        yield trusted(r);
      }
    }
  };
  const rereadSlices = async function* (): AsyncIterable<SliceDocument | null> {
    for (let i = 0; i < ids.length; i += READ_CHUNK) for (const s of await readSlices(ids.slice(i, i + READ_CHUNK))) yield s ?? null;
  };
  const records: FixRecord[] = [];
  const missing: string[] = [];
  const slices = new Map<string, SliceDocument>();
  // The JSON lengths of the records and slices (for the key, when chunked).
  let recordsJson = 2 + Math.max(0, ids.length - 1);
  let slicesJson = 2 + Math.max(0, ids.length - 1);
  // From stores that give their bytes, the cluster is keyed by those bytes (see StoredDigest). A
  // cluster read whole decodes only its records' small fields (for their trust and CWE) until a
  // miss, then their code and its slices; a big one reads them again, chunk by chunk, on a miss.
  const readEntries = entriesReader(deps, hops);
  const stored = readEntries ? new StoredDigest() : undefined;
  let held: Awaited<ReturnType<ReadEntries>> | undefined;
  for (let i = 0; i < ids.length; i += chunked ? READ_CHUNK : ids.length) {
    const chunk = ids.slice(i, i + (chunked ? READ_CHUNK : ids.length));
    if (readEntries && stored) {
      const [found, foundSlices] = await readEntries(chunk);
      if (!chunked) held = [found, foundSlices];
      found.forEach((entry, j) => {
        if (!entry) {
          missing.push(chunk[j]);
          return;
        }
        stored.add(chunk[j], entry.bytes, foundSlices[j]?.bytes);
        // A big cluster keeps each record's metadata (its description too, which a head may leave
        // out when long), without its code; a cluster read whole, its heads until a miss.
        if (chunked) records.push({ ...trusted(entry.document()), before: '', after: '' });
        else records.push(trusted(entry.head()));
      });
      continue;
    }
    const [found, foundSlices] = await readAll(chunk);
    found.forEach((stored, j) => {
      if (!stored) {
        missing.push(chunk[j]);
        return;
      }
      // Trust is the build's verdict on the record's source, not a property stored with the record.
      const r = trusted(stored);
      const s = foundSlices[j];
      if (!chunked) {
        records.push(r);
        if (s) slices.set(r.id, s);
        return;
      }
      recordsJson += JSON.stringify(r).length;
      slicesJson += (JSON.stringify(s ?? null) ?? 'null').length;
      records.push({ ...r, before: '', after: '' });
    });
  }
  if (missing.length > 0) throw new NotFoundError(`${missing.length} record(s) of ${payload.clusterKey} are not in the record store: ${missing.slice(0, 3).join(', ')}`);
  const { catalog, documents, isGeneric, screen, catalogTrust, catalogDigest } = deps.knowledge;
  const cwe = records[0].cwe;
  const { clusterBy } = payload.build;
  const entry = catalog.get(cwe);
  const advice = adviceFor(cwe, documents);
  const quoteCatalog = catalogTrust === 'trusted';
  // Everything the summary is a function of: a cluster whose key is unchanged since an earlier
  // build into this KB folder is not distilled again. The code that summarizes (this library's,
  // the screen's, the search terms' version) is part of it, so new code never reuses old text.
  const cache = deps.distiller.identity ? ClusterSummaryCache.of(payload.build.kbDir) : undefined;
  const cacheKey = cache
    ? await contentKeyStreamed([
        'cluster-summary',
        knowledgeCodeFingerprint(),
        screenRulesFingerprint(),
        SEARCH_TERMS_VERSION,
        deps.distiller.identity,
        payload.clusterKey,
        clusterBy,
        payload.build.hops,
        ...(stored
          ? [{ stored: stored.digest(), trust: records.map((r) => r.origin.trust ?? null) }]
          : chunked
            ? [new StreamedJsonArray(recordsJson, rereadRecords), new StreamedJsonArray(slicesJson, rereadSlices)]
            : [records, records.map((r) => slices.get(r.id) ?? null)]),
        entry ?? null,
        advice,
        catalogDigest,
        quoteCatalog,
        [...screen.released].sort(),
      ])
    : undefined;
  const recordIds = records.map((r) => r.id);
  const cached = cache && cacheKey ? await cache.getStaged(cacheKey, payload.clusterKey, recordIds) : undefined;
  if (cached) {
    const { withheld, ...result } = cached.summary;
    // Staged as the cache's text of it, which is the JSON the staging would make of it.
    await deps.staging.put(payload.buildId, result, cached.staged);
    return { clusterKey: payload.clusterKey, examples: result.examples.length, llmCalls: 0, llmCached: 0, ...(withheld.length > 0 ? { withheld } : {}), cacheKey, reused: true };
  }
  if (held) {
    const [heldRecords, heldSlices] = held;
    held = undefined;
    heldRecords.forEach((entry, j) => {
      if (entry) records[j] = trusted(entry.document());
    });
    heldSlices.forEach((entry, j) => {
      if (entry) slices.set(ids[j], entry.document());
    });
  }
  // Counted for this cluster alone: other clusters may be distilled at the same time with the same client.
  // Without the ingest stage's memo of verdicts: this job would add to it and never save it (the
  // cluster's own summary is what is remembered).
  const { memo: _ingestMemo, ...distillScreen } = screen;
  // A cluster read a chunk at a time is a big one: its examples go to a file as they are built
  // (their JSON, as the cache and the staging store it), and from it to the cache and the staging,
  // one at a time. Held, they were most of the stage's memory (the biggest cluster at 100× the
  // shared data: about 0.65–0.8 GB peak), and then a copy of each was made to write them out.
  const { kbDir } = payload.build;
  const spool = chunked ? await ExampleSpool.create(join(kbDir, 'staging', 'summarize')) : undefined;
  try {
    // In a function of its own, so the memo (every example's search terms) is let go once saved,
    // before the cluster is written out.
    const counted = await (async () => {
      // The cluster's examples' search terms, remembered per text: a cluster that gained a record
      // stems only that record's fix (this job alone writes the cluster's memo).
      const terms = await openSearchTermsMemo(clusterTermsFile(kbDir, payload.clusterKey));
      const summarized = await countLlmCalls(() =>
        summarizeCluster(
          payload.clusterKey,
          records,
          slices,
          entry,
          clusterBy,
          deps.distiller,
          { advice, isGeneric, screen: distillScreen, quoteCatalog, searchTerms: terms.terms },
          chunked ? reread : undefined,
          spool,
        ),
      );
      // Nothing reads the records and slices after the distillation: let go before the cluster is
      // written out, which at 100× the shared data is the stage's biggest moment for the biggest cluster.
      records.length = 0;
      slices.clear();
      await terms.flush();
      return summarized;
    })();
    await spool?.seal();
    const { withheld, ...result } = counted.value;
    // Stored as its JSON, as the staging stores it, so a reused summary is the one a fresh build
    // stages (not through a copy: JSON.parse(JSON.stringify()) of a big cluster held it twice more).
    // A cluster read whole is made into JSON once, for both (each made it again, the cache twice).
    if (spool) {
      if (cache && cacheKey) await cache.put(cacheKey, { node: result.node, withheld }, spool.inOrder());
      await deps.staging.putSpooled(payload.buildId, result.node, spool.byId());
    } else {
      const staged = JSON.stringify(result);
      if (cache && cacheKey) await cache.putStaged(cacheKey, withheld, staged);
      await deps.staging.put(payload.buildId, result, staged);
    }
    return {
      clusterKey: payload.clusterKey,
      examples: spool ? spool.count : result.examples.length,
      llmCalls: counted.calls,
      llmCached: counted.cached,
      ...(withheld.length > 0 ? { withheld } : {}),
      ...(cacheKey ? { cacheKey, reused: false } : {}),
    };
  } finally {
    await spool?.remove();
  }
}

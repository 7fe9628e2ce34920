import type { Client } from '@elastic/elasticsearch';
import { InvalidInputError } from '@rescue/domain';
import type { IndexedKnowledge } from '../knowledge-index';
import { type BulkPolicy, bulkIndex } from './bulk';
import { assertDims, assertName, COLLECTIONS, INDEX_SETTINGS, type KnowledgeCollection, mappingOf, perCollection, type VectorCollection } from './mappings';
import { documentDocument, exampleDocument, nodeDocument, type Prepared, prepare } from './prepare-documents';
import { describeCounts, describeFailures, type DocumentFailure, KnowledgeIndexPublishError, type PublishStage } from './publish-error';
import type { AliasTargets, KbVersions } from './versions';

/** Options of one {@link ElasticsearchKnowledgeIndex.publish}. */
export interface PublishOptions {
  /**
   * Vector length of the embedder that produced the vectors, written into the mappings. Given by the
   * caller, never guessed from the first document, so a stray vector is rejected instead of defining
   * the index. A number applies to both vector collections (documents have no vector).
   */
  dims: number | Record<VectorCollection, number>;
  /** KB versions to keep, newest first by index creation time, the live one always kept (default 3). */
  keep?: number;
}

/** What a successful {@link ElasticsearchKnowledgeIndex.publish} did. */
export interface PublishResult {
  version: string;
  /** The version the aliases pointed at before, if any. */
  previousVersion?: string;
  /** True when `version` was already live with the same document counts, so nothing was written. */
  alreadyLive: boolean;
  indexed: Record<KnowledgeCollection, number>;
  /** Documents stored without their vector because it was all zeros (they never match a kNN search). */
  withoutVector: Record<VectorCollection, number>;
  /** Documents resent after a 429. */
  retried: number;
  /** Versions deleted by the `keep` policy. */
  deletedVersions: string[];
  /** Why deleting old versions failed, if it did. The new version is live either way; the next publish retries the pruning. */
  pruneError?: unknown;
}

/** What a publish writes with. */
export interface PublishTarget {
  client: Client;
  versions: KbVersions;
  bulk: Required<BulkPolicy>;
}

/**
 * Builds `version` from `index` and makes it live; see {@link ElasticsearchKnowledgeIndex.publish}
 * for the steps and guarantees.
 */
export async function publishVersion(target: PublishTarget, version: string, index: IndexedKnowledge, options: PublishOptions): Promise<PublishResult> {
  const { client, versions } = target;
  assertName('version', version);
  const dims = typeof options.dims === 'number' ? { nodes: options.dims, examples: options.dims } : options.dims;
  assertDims(dims.nodes);
  assertDims(dims.examples);
  const keep = options.keep ?? 3;
  if (!Number.isInteger(keep) || keep < 1) throw new InvalidInputError(`keep must be a positive integer, got ${keep}`);
  for (const c of COLLECTIONS) {
    if (!Array.isArray(index?.[c])) throw new InvalidInputError(`publish of ${version}: the index has no ${c} list`);
  }

  const prepared: Record<KnowledgeCollection, Prepared> = {
    nodes: prepare('nodes', index.nodes, { of: (n) => n.causeVector, dims: dims.nodes }, nodeDocument),
    examples: prepare('examples', index.examples, { of: (e) => e.codeVector, dims: dims.examples }, exampleDocument),
    documents: prepare('documents', index.documents, undefined, documentDocument),
  };
  const invalid = COLLECTIONS.flatMap((c) => prepared[c].failures);
  if (invalid.length > 0) throw new KnowledgeIndexPublishError(version, 'validate', describeFailures(invalid), invalid);
  const expected = perCollection((c) => prepared[c].docs.length);

  const names = versions.indicesOf(version);
  const all = COLLECTIONS.map((c) => names[c]);
  let previous: AliasTargets;
  try {
    previous = await versions.aliasTargets();
  } catch (err) {
    throw new KnowledgeIndexPublishError(version, 'prepare', 'could not read the aliases', [], { cause: err });
  }
  const previousVersion = versions.versionOfTargets(previous);
  const withoutVector = { nodes: prepared.nodes.withoutVector, examples: prepared.examples.withoutVector };
  const base = { version, previousVersion, withoutVector };

  const live = COLLECTIONS.filter((c) => previous[c].includes(names[c]));
  if (live.length > 0) {
    // Rebuilding in place would delete what readers are using; deleting an index drops its aliases.
    if (live.length < COLLECTIONS.length)
      throw new KnowledgeIndexPublishError(version, 'prepare', `only its ${live.join(' and ')} ${live.length === 1 ? 'index is' : 'indices are'} live; fix the aliases by hand`, [], {
        kind: 'invalid-input',
      });
    let counts: Record<KnowledgeCollection, number>;
    try {
      counts = await versions.counts(names);
    } catch (err) {
      throw new KnowledgeIndexPublishError(version, 'prepare', 'could not count the live version', [], { cause: err });
    }
    if (COLLECTIONS.some((c) => counts[c] !== expected[c])) {
      // A rerun sends the same content to the same version: only a new version can succeed.
      throw new KnowledgeIndexPublishError(version, 'prepare', `version is live with ${describeCounts(counts)}, not ${describeCounts(expected)}; publish under a new version`, [], {
        kind: 'invalid-input',
      });
    }
    // Still prune: the run that made it live may have crashed before doing so.
    return { ...base, alreadyLive: true, indexed: counts, retried: 0, ...(await pruneQuietly(versions, keep, version)) };
  }

  let stage: PublishStage = 'prepare';
  // False only when the swap's outcome is unknown: the new indices may be live, and deleting them would take the KB offline.
  let deleteOnFailure = true;
  let retried = 0;
  try {
    await client.indices.delete({ index: all, ignore_unavailable: true });
    stage = 'create';
    for (const c of COLLECTIONS) {
      await client.indices.create({ index: names[c], settings: INDEX_SETTINGS, mappings: mappingOf(c, c === 'documents' ? undefined : dims[c]) });
    }

    // Every collection is sent even after failures, so the error lists every bad document at once.
    stage = 'bulk';
    const failed: DocumentFailure[] = [];
    for (const c of COLLECTIONS) {
      const outcome = await bulkIndex(client, names[c], prepared[c].docs, target.bulk);
      retried += outcome.retried;
      failed.push(...outcome.dropped.map((d) => ({ collection: c, ...d })));
    }
    if (failed.length > 0) throw new KnowledgeIndexPublishError(version, 'bulk', describeFailures(failed), failed);

    // Once, here: refreshing per bulk request would make every request pay for a new segment.
    stage = 'refresh';
    await client.indices.refresh({ index: all });

    stage = 'verify';
    const counts = await versions.counts(names);
    if (COLLECTIONS.some((c) => counts[c] !== expected[c])) {
      throw new KnowledgeIndexPublishError(version, 'verify', `indexed ${describeCounts(perCollection((c) => `${counts[c]}/${expected[c]}`))}`);
    }

    stage = 'swap';
    try {
      await versions.swap(previous, names);
    } catch (err) {
      const outcome = await versions.swapOutcome(err, names);
      if (outcome !== 'applied') {
        deleteOnFailure = outcome === 'refused';
        throw err;
      }
    }
  } catch (err) {
    const failure = err instanceof KnowledgeIndexPublishError ? err : new KnowledgeIndexPublishError(version, stage, errorMessage(err), [], { cause: err });
    if (deleteOnFailure) {
      try {
        await client.indices.delete({ index: all, ignore_unavailable: true });
      } catch (cleanupError) {
        failure.cleanupError = cleanupError;
      }
    }
    throw failure;
  }

  return { ...base, alreadyLive: false, indexed: expected, retried, ...(await pruneQuietly(versions, keep, version)) };
}

/** Pruning runs after the version is live, so its failure is reported, not thrown: the publish did succeed. */
async function pruneQuietly(versions: KbVersions, keep: number, live: string): Promise<Pick<PublishResult, 'deletedVersions' | 'pruneError'>> {
  try {
    return { deletedVersions: await versions.prune(keep, live) };
  } catch (err) {
    return { deletedVersions: [], pruneError: err };
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

import { join } from 'node:path';
import { InvalidInputError } from '@rescue/domain';
import { MEMORY_INDEX_FILE, type PrebuiltMemoryIndex, memoryIndexSnapshotOf } from '@rescue/retrieval';
import { KbDirectory } from '../kb-directory';
import { type CweNode, causeText } from '../kb-model';

/**
 * Examples up to which a rebuild takes their vectors from the earlier version (see
 * {@link earlierExampleVectors}): they are held as a map while the version is written, a KB of
 * 20,000 examples about 20 MB. Above (a 100× build has about 125,000), every example is embedded.
 */
export const REUSE_VECTORS_MAX_EXAMPLES = 20_000;

/**
 * The example vectors of an earlier version of this KB folder, by example id, from its in-memory
 * index snapshot: what a rebuild whose embedder is that version's model, read back (see
 * reusedFit), takes instead of embedding every example again. An example's id is a hash of what
 * it is embedded from (a slice's id hashes its record's id, the slicer's version and h; a record's
 * id its language, CWE and code; a vulnerable-only example's id its code), so under the same model
 * the same id is the same vector, as the slice store already relies on for the slices themselves.
 * Nothing without that version's snapshot (see {@link earlierMemoryIndex}): then every example is
 * embedded, which is always right.
 */
export function earlierExampleVectors(earlier: PrebuiltMemoryIndex | undefined): Map<string, Float32Array> | undefined {
  const table = earlier?.vectors('examples');
  if (!table) return undefined;
  const { data } = table.parts();
  const { dims } = table;
  // Copied out, so the snapshot's bytes (its postings too) are let go.
  return new Map(table.rows.map((row, i) => [row.id, data.slice(i * dims, (i + 1) * dims)]));
}

/**
 * The cause vectors of version `version`'s nodes by the text they were embedded from (a node's
 * name and cause, see {@link causeText}): what a rebuild whose embedder is that version's model
 * takes instead of embedding every node's cause again (at 1× about 50 ms of a +1% rebuild, where
 * a few clusters' causes change). Keyed by the text itself, so a node whose cause changed is
 * embedded, whatever its id. Nothing when the version's nodes file does not match its checksum,
 * or its snapshot holds no node vectors: then every cause is embedded, which is always right.
 */
export async function earlierCauseVectors(kbDir: string, version: string, index: PrebuiltMemoryIndex | undefined): Promise<Map<string, Float32Array> | undefined> {
  const table = index?.vectors('nodes');
  if (!table) return undefined;
  let checked: Awaited<ReturnType<KbDirectory['checkedFile']>>;
  try {
    checked = await new KbDirectory(kbDir).checkedFile(version, 'nodes.jsonl');
  } catch (err) {
    // Gone or its manifest unreadable since its snapshot was read (see earlierMemoryIndex).
    if (err instanceof InvalidInputError) return undefined;
    throw err;
  }
  if (!checked) return undefined;
  const { data } = table.parts();
  const { dims } = table;
  const rowOf = new Map(table.rows.map((row, i) => [row.id, i]));
  const out = new Map<string, Float32Array>();
  for (const line of checked.bytes.toString('utf8').split('\n')) {
    if (!line) continue;
    const node = JSON.parse(line) as Pick<CweNode, 'id' | 'name' | 'cause'>;
    const i = rowOf.get(node.id);
    if (i !== undefined) out.set(causeText(node), data.slice(i * dims, (i + 1) * dims));
  }
  return out;
}

/**
 * The in-memory index snapshot of version `version` of this KB folder (the one CURRENT names when
 * absent), read and checked against its manifest's checksum: what a rebuild takes unchanged
 * vectors and postings from. Nothing when there is no such version, it is gone or unreadable, or
 * its snapshot is not the file its manifest names or was written in another format: then the
 * rebuild works everything out afresh, which is always right.
 */
export async function earlierMemoryIndex(kbDir: string, version?: string): Promise<PrebuiltMemoryIndex | undefined> {
  const dir = new KbDirectory(kbDir);
  let checked: Awaited<ReturnType<KbDirectory['checkedFile']>>;
  let v: string | undefined;
  try {
    v = version ?? (await dir.current());
    if (!v) return undefined;
    checked = await dir.checkedFile(v, MEMORY_INDEX_FILE);
  } catch (err) {
    // The version is gone or its manifest unreadable: it is the one being rebuilt after damage
    // (moved aside by the publish before the vectors are worked out), or was pruned meanwhile.
    if (err instanceof InvalidInputError) return undefined;
    throw err;
  }
  return checked && memoryIndexSnapshotOf(checked.bytes, join(dir.versionDir(v), MEMORY_INDEX_FILE));
}

/**
 * {@link earlierMemoryIndex} of each version asked for, read once: a rebuild takes the vectors of
 * the version its embedder came from and the postings of the one CURRENT names, most often the same.
 */
export function earlierMemoryIndexes(kbDir: string): (version?: string) => Promise<PrebuiltMemoryIndex | undefined> {
  const read = new Map<string, Promise<PrebuiltMemoryIndex | undefined>>();
  return async (version) => {
    const v = version ?? (await new KbDirectory(kbDir).current());
    if (!v) return undefined;
    let found = read.get(v);
    if (!found) {
      found = earlierMemoryIndex(kbDir, v);
      read.set(v, found);
    }
    return found;
  };
}

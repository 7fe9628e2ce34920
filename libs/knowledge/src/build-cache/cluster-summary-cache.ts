import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CodeExample, CweNode } from '../kb-model';
import type { QuarantineEntry } from '../quarantine/quarantine-store';
import { type JsonItems, jsonPieces, writePiecesAtomic } from './json-pieces';
import { buildCacheDir } from './screen-memo';
import { sha256Hex, updateWithText } from '@rescue/domain';

/*
 * A cluster's summary (its CWE node, examples and what the distillation screen withheld) kept by a
 * key over everything that went into it: the records (with the trust the build gave them), their
 * slices, the catalogue entry, the advice, the distiller's identity, the screen's rules and this
 * library's code (see the summarize stage for the whole key). A cluster whose inputs did not
 * change is not distilled again: no LLM call, no search terms recomputed.
 *
 * One file per cluster (`cache/clusters/<key>.json`), written whole and atomically: the summarize
 * jobs of a distributed build write theirs concurrently. A file holds a header line (its key and a
 * checksum of the rest), a line with what the screen withheld, then the JSON of the node and its
 * examples, exactly as a build stages a cluster: a reused cluster is staged as the file's text,
 * not parsed and made into JSON again (that was most of a +1% rebuild's summarize stage). A file
 * whose checksum, key or shape does not match is ignored, and the cluster distilled again (and
 * the file rewritten). The index stage, which sees every cluster of a build, drops the files no
 * cluster of it used, so the folder holds one build's worth.
 */

export interface ClusterSummary {
  node: CweNode;
  examples: CodeExample[];
  withheld: QuarantineEntry[];
}

const FORMAT = 'rescue-cluster-summary-2';

/** A summary lost or cut short by a crash fails its checksum and is distilled again: not fsynced (see writePiecesAtomic). */
const NOT_DURABLE = { durable: false };

/** The shape a summary must have to be used: the cluster's node, one example per record, in order. */
function fits(v: unknown, clusterKey: string, recordIds: readonly string[]): v is ClusterSummary {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as ClusterSummary;
  return (
    typeof s.node === 'object' &&
    s.node !== null &&
    s.node.id === clusterKey &&
    Array.isArray(s.node.guidelines) &&
    typeof s.node.cause === 'string' &&
    Array.isArray(s.withheld) &&
    Array.isArray(s.examples) &&
    s.examples.length === recordIds.length &&
    s.examples.every((e, i) => typeof e === 'object' && e !== null && e.recordId === recordIds[i] && e.cweNodeId === clusterKey)
  );
}

export interface ClusterSummaryCacheStats {
  hits: number;
  misses: number;
  /** Files found but not trusted (checksum, key or shape). */
  ignored: number;
}

export class ClusterSummaryCache {
  readonly stats: ClusterSummaryCacheStats = { hits: 0, misses: 0, ignored: 0 };

  constructor(readonly dir: string) {}

  /** The cache of a KB folder. */
  static of(kbDir: string): ClusterSummaryCache {
    return new ClusterSummaryCache(join(buildCacheDir(kbDir), 'clusters'));
  }

  private fileOf(key: string): string {
    if (!/^[0-9a-f]{64}$/.test(key)) throw new RangeError(`not a cluster cache key: ${key}`);
    return join(this.dir, `${key}.json`);
  }

  /** The summary stored under `key` for the cluster `clusterKey` of these records, when it can be trusted. */
  async get(key: string, clusterKey: string, recordIds: readonly string[]): Promise<ClusterSummary | undefined> {
    return (await this.getStaged(key, clusterKey, recordIds))?.summary;
  }

  /**
   * {@link get}, with `staged`: the JSON of the summary's node and examples as the file holds it,
   * which is `JSON.stringify({ node, examples })` of the summary (what a build stages).
   */
  async getStaged(key: string, clusterKey: string, recordIds: readonly string[]): Promise<{ summary: ClusterSummary; staged: string } | undefined> {
    let text: string;
    try {
      text = await readFile(this.fileOf(key), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.stats.misses += 1;
      return undefined;
    }
    const newline = text.indexOf('\n');
    let header: { format?: unknown; key?: unknown; sha256?: unknown } | undefined;
    try {
      header = JSON.parse(text.slice(0, newline)) as typeof header;
    } catch (_unreadableHeader) {
      // An unreadable header: the file is not trusted (below).
      header = undefined;
    }
    const rest = text.slice(newline + 1);
    const second = rest.indexOf('\n');
    let value: unknown;
    let staged = '';
    if (newline > 0 && second > 0 && header?.format === FORMAT && header.key === key && header.sha256 === sha256Hex(rest)) {
      staged = rest.slice(second + 1);
      try {
        value = { ...(JSON.parse(staged) as object), withheld: JSON.parse(rest.slice(0, second)) as unknown };
      } catch (_unparsable) {
        // Checksummed but unparsable: written wrong; not trusted (below).
        value = undefined;
      }
    }
    if (value !== undefined && fits(value, clusterKey, recordIds)) {
      this.stats.hits += 1;
      return { summary: value, staged };
    }
    this.stats.ignored += 1;
    this.stats.misses += 1;
    return undefined;
  }

  /**
   * Stores the summary: what the screen withheld, then the node and examples as their JSON (so a
   * reused summary is staged as a fresh build stages it), made an example at a time, twice (for
   * the checksum in the header, then to write it): a big cluster's JSON is never one string (see
   * jsonPieces).
   */
  async put(key: string, summary: ClusterSummary): Promise<void>;
  /** The same, with the examples' JSON read one at a time from `examples` (a spool: see ExampleSpool), in the records' order. */
  async put(key: string, summary: Omit<ClusterSummary, 'examples'>, examples: JsonItems): Promise<void>;
  async put(key: string, summary: ClusterSummary | Omit<ClusterSummary, 'examples'>, examples?: JsonItems): Promise<void> {
    // The file's body is the JSON of { node, examples }, as the staging stores a cluster.
    const value = { node: summary.node, examples: examples ? [] : (summary as ClusterSummary).examples };
    const withheld = `${JSON.stringify(summary.withheld)}\n`;
    const h = createHash('sha256').update(withheld);
    for (const piece of jsonPieces(value, 'examples', examples)) h.update(piece);
    await mkdir(this.dir, { recursive: true });
    const header = JSON.stringify({ format: FORMAT, key, sha256: h.digest('hex') });
    await writePiecesAtomic(
      this.fileOf(key),
      (function* () {
        yield `${header}\n${withheld}`;
        yield* jsonPieces(value, 'examples', examples);
      })(),
      NOT_DURABLE,
    );
  }

  /**
   * {@link put} of a summary whose node and examples the caller has as their JSON already
   * (`staged`, which must be `JSON.stringify({ node, examples })`: what it stages): written as it is.
   */
  async putStaged(key: string, withheld: QuarantineEntry[], staged: string): Promise<void> {
    const withheldLine = `${JSON.stringify(withheld)}\n`;
    const header = JSON.stringify({ format: FORMAT, key, sha256: updateWithText(updateWithText(createHash('sha256'), withheldLine), staged).digest('hex') });
    await mkdir(this.dir, { recursive: true });
    await writePiecesAtomic(this.fileOf(key), [`${header}\n${withheldLine}`, staged], NOT_DURABLE);
  }

  /** Removes every cached summary but those under `keep` (what the build just used). */
  async retainOnly(keep: ReadonlySet<string>): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    // Only finished entries: a writer's temporary file (write-file-atomic's) is left to its rename.
    const stale = names.filter((n) => /^[0-9a-f]{64}\.json$/.test(n) && !keep.has(n.slice(0, 64)));
    await Promise.all(stale.map((n) => rm(join(this.dir, n), { force: true, recursive: true })));
    return stale.length;
  }
}

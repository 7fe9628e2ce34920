import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Redis } from 'ioredis';
import { sha256Hex, InvalidInputError } from '@rescue/domain';
import { type CodeExample, type CweNode, type JsonItems, jsonPieces, writePiecesAtomic } from '@rescue/knowledge';

/** One summarized cluster, as the summarize stage hands it to the index stage. */
export interface ClusterResult {
  node: CweNode;
  examples: CodeExample[];
}

/**
 * Where the summarize jobs of a build leave their clusters for the index job: job return values
 * stay small (BullMQ keeps them in Redis with the job), the results go here. Writes are keyed by
 * cluster, so a retried job overwrites its own result.
 */
export interface BuildStaging {
  /**
   * Stages a cluster. `json`, when the caller has it, is `JSON.stringify(result)` (a cached
   * summary's text): a staging that keeps clusters as one JSON text keeps it instead of making it again.
   */
  put(buildId: string, result: ClusterResult, json?: string): Promise<void>;
  /**
   * Stages a cluster whose examples wait in a file (a big one: see ExampleSpool), `examples` being
   * their JSON sorted by id: what {@link put} of the cluster would stage, without the examples
   * ever all in memory where the staging keeps clusters in files.
   */
  putSpooled(buildId: string, node: CweNode, examples: JsonItems): Promise<void>;
  /** Every cluster of the build, sorted by cluster key (the inline runner's order). */
  all(buildId: string): Promise<ClusterResult[]>;
  /** One cluster of the build by key (its node's id); undefined when it was not staged. */
  get(buildId: string, key: string): Promise<ClusterResult | undefined>;
  /** A staged cluster's node and how many examples it has, without its examples; undefined when it was not staged. */
  head(buildId: string, key: string): Promise<{ node: CweNode; examples: number } | undefined>;
  /**
   * A staged cluster's examples by id (as the KB orders a node's examples), a batch at a time: a
   * big cluster is never read whole where the staging keeps it in files (see FsBuildStaging).
   * Nothing when it was not staged.
   */
  examples(buildId: string, key: string): AsyncIterable<CodeExample[]>;
  /** How many clusters of the build are staged. */
  count(buildId: string): Promise<number>;
  /**
   * Whether reading the build's clusters back costs more than a copy in memory (files, Redis):
   * the index stage then reads them cluster by cluster, pass after pass, instead of all at once.
   */
  outOfMemory(buildId: string): boolean;
  clear(buildId: string): Promise<void>;
}

/** Examples a batch of {@link BuildStaging.examples} holds, at most. */
const EXAMPLES_BATCH = 500;

const byId = (a: CodeExample, b: CodeExample): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** A cluster read whole, its examples by id a batch at a time. */
async function* examplesOf(result: ClusterResult | undefined): AsyncIterable<CodeExample[]> {
  if (!result) return;
  const sorted = [...result.examples].sort(byId);
  for (let i = 0; i < sorted.length; i += EXAMPLES_BATCH) yield sorted.slice(i, i + EXAMPLES_BATCH);
}
const headOf = (result: ClusterResult | undefined): { node: CweNode; examples: number } | undefined => (result ? { node: result.node, examples: result.examples.length } : undefined);

/**
 * A staging that keeps one value a cluster (a Redis hash field, a string in memory): head and
 * examples read the cluster whole, then hand its examples out by id a batch at a time.
 */
abstract class WholeClusterStaging implements BuildStaging {
  abstract put(buildId: string, result: ClusterResult, json?: string): Promise<void>;
  abstract all(buildId: string): Promise<ClusterResult[]>;
  abstract get(buildId: string, key: string): Promise<ClusterResult | undefined>;
  abstract count(buildId: string): Promise<number>;
  abstract outOfMemory(buildId: string): boolean;
  abstract clear(buildId: string): Promise<void>;

  /** A cluster kept as one value is read into memory to be staged. */
  async putSpooled(buildId: string, node: CweNode, examples: JsonItems): Promise<void> {
    const list: CodeExample[] = [];
    for (let i = 0; i < examples.count; i += 1) list.push(parseCluster(examples.json(i), `example ${i} of ${node.id}, spooled`) as unknown as CodeExample);
    await this.put(buildId, { node, examples: list });
  }

  async head(buildId: string, key: string): Promise<{ node: CweNode; examples: number } | undefined> {
    return headOf(await this.get(buildId, key));
  }

  async *examples(buildId: string, key: string): AsyncIterable<CodeExample[]> {
    yield* examplesOf(await this.get(buildId, key));
  }
}

const fileOf = (key: string): string => `${sha256Hex(key).slice(0, 32)}.json`;
const byKey = (a: ClusterResult, b: ClusterResult): number => (a.node.id < b.node.id ? -1 : a.node.id > b.node.id ? 1 : 0);
const safeBuild = (id: string): string => {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new InvalidInputError(`not a build id: ${JSON.stringify(id.slice(0, 70))}`);
  return id;
};

/**
 * A staged cluster read back. Writes are whole (write-file-atomic, HSET), so a corrupt one was damaged
 * afterwards: the message names it, and retrying reads the same bytes, hence invalid input.
 */
function parseCluster(text: string, where: string): ClusterResult {
  try {
    return JSON.parse(text) as ClusterResult;
  } catch (err) {
    throw new InvalidInputError(`staged cluster ${where} is not valid JSON (${(err as Error).message}); rerun the build`, { cause: err });
  }
}

/**
 * Clusters staged in a folder, one file a cluster: a line with the node and its example count,
 * then one example a line, by id. Written and read an example at a time, so the index stage's
 * passes hold one batch of a cluster, never the whole of it (the biggest cluster at 100× the
 * shared data is tens of thousands of examples, a few hundred MB of JSON).
 */
export class FsBuildStaging implements BuildStaging {
  constructor(private readonly dataDir: string) {}

  private dir(buildId: string): string {
    return join(this.dataDir, 'builds', safeBuild(buildId), 'clusters');
  }

  async put(buildId: string, result: ClusterResult): Promise<void> {
    const dir = this.dir(buildId);
    await mkdir(dir, { recursive: true });
    const sorted = [...result.examples].sort(byId);
    await writePiecesAtomic(
      join(dir, fileOf(result.node.id)),
      (function* () {
        yield `${JSON.stringify({ node: result.node, examples: sorted.length })}\n`;
        for (const e of sorted) yield `${JSON.stringify(e)}\n`;
      })(),
    );
  }

  async putSpooled(buildId: string, node: CweNode, examples: JsonItems): Promise<void> {
    const dir = this.dir(buildId);
    await mkdir(dir, { recursive: true });
    await writePiecesAtomic(
      join(dir, fileOf(node.id)),
      (function* () {
        yield `${JSON.stringify({ node, examples: examples.count })}\n`;
        for (let i = 0; i < examples.count; i += 1) yield `${examples.json(i)}\n`;
      })(),
    );
  }

  /** The lines of a staged cluster's file: its head, then its examples; nothing when it is not there. */
  private async *lines(path: string): AsyncIterable<string> {
    let input: ReturnType<typeof createReadStream> | undefined;
    try {
      input = createReadStream(path, { encoding: 'utf8' });
      await new Promise<void>((ready, failed) => input?.once('open', () => ready()).once('error', failed));
    } catch (err) {
      input?.destroy();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const lines = createInterface({ input, crlfDelay: Infinity });
    try {
      for await (const line of lines) if (line !== '') yield line;
    } finally {
      lines.close();
      input.destroy();
    }
  }

  private async readHead(path: string): Promise<{ node: CweNode; examples: number } | undefined> {
    for await (const line of this.lines(path)) return parseHead(line, path);
    return undefined;
  }

  async all(buildId: string): Promise<ClusterResult[]> {
    const dir = this.dir(buildId);
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => n.endsWith('.json'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out = await Promise.all(names.map((n) => this.readWhole(join(dir, n))));
    return out.filter((c): c is ClusterResult => c !== undefined).sort(byKey);
  }

  private async readWhole(path: string): Promise<ClusterResult | undefined> {
    let node: CweNode | undefined;
    let expected = 0;
    const examples: CodeExample[] = [];
    for await (const line of this.lines(path)) {
      if (!node) ({ node, examples: expected } = parseHead(line, path));
      else examples.push(parseCluster(line, path) as unknown as CodeExample);
    }
    if (!node) return undefined;
    if (examples.length !== expected) throw new InvalidInputError(`staged cluster ${path} holds ${examples.length} examples, its head says ${expected}; rerun the build`);
    return { node, examples };
  }

  async get(buildId: string, key: string): Promise<ClusterResult | undefined> {
    return this.readWhole(join(this.dir(buildId), fileOf(key)));
  }

  async head(buildId: string, key: string): Promise<{ node: CweNode; examples: number } | undefined> {
    return this.readHead(join(this.dir(buildId), fileOf(key)));
  }

  async *examples(buildId: string, key: string): AsyncIterable<CodeExample[]> {
    const path = join(this.dir(buildId), fileOf(key));
    let head = true;
    let expected = 0;
    let read = 0;
    let batch: CodeExample[] = [];
    for await (const line of this.lines(path)) {
      if (head) {
        expected = parseHead(line, path).examples;
        head = false;
        continue;
      }
      batch.push(parseCluster(line, path) as unknown as CodeExample);
      read += 1;
      if (batch.length >= EXAMPLES_BATCH) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
    if (!head && read !== expected) throw new InvalidInputError(`staged cluster ${path} holds ${read} examples, its head says ${expected}; rerun the build`);
  }

  async count(buildId: string): Promise<number> {
    try {
      return (await readdir(this.dir(buildId))).filter((n) => n.endsWith('.json')).length;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
  }

  outOfMemory(): boolean {
    return true;
  }

  async clear(buildId: string): Promise<void> {
    await rm(join(this.dataDir, 'builds', safeBuild(buildId)), { recursive: true, force: true });
  }
}

/** A staged cluster file's first line: its node and example count. */
function parseHead(line: string, where: string): { node: CweNode; examples: number } {
  const head = parseCluster(line, where) as unknown as { node?: CweNode; examples?: unknown };
  if (typeof head.node !== 'object' || head.node === null || typeof head.examples !== 'number')
    throw new InvalidInputError(`staged cluster ${where} does not start with its node and example count; rerun the build`);
  return { node: head.node, examples: head.examples };
}

export class RedisBuildStaging extends WholeClusterStaging {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    super();
  }

  private key(buildId: string): string {
    return `${this.prefix}:build:${safeBuild(buildId)}`;
  }

  async put(buildId: string, result: ClusterResult, json?: string): Promise<void> {
    await this.redis.hset(this.key(buildId), result.node.id, json ?? JSON.stringify(result));
  }

  async all(buildId: string): Promise<ClusterResult[]> {
    const key = this.key(buildId);
    const values = await this.redis.hvals(key);
    return values.map((v) => parseCluster(v, `in Redis hash ${key}`)).sort(byKey);
  }

  async get(buildId: string, key: string): Promise<ClusterResult | undefined> {
    const hash = this.key(buildId);
    const value = await this.redis.hget(hash, key);
    return value === null ? undefined : parseCluster(value, `${key} in Redis hash ${hash}`);
  }

  async count(buildId: string): Promise<number> {
    return this.redis.hlen(this.key(buildId));
  }

  outOfMemory(): boolean {
    return true;
  }

  async clear(buildId: string): Promise<void> {
    await this.redis.del(this.key(buildId));
  }
}

/**
 * The inline runner's staging: its summarize and index stages share one process. Clusters are
 * kept as JSON, as the other stagings keep them, so the index stage reads what it would read back
 * from a file or from Redis (a copy, without undefined fields), and both runners publish the same.
 */
export class MemoryBuildStaging extends WholeClusterStaging {
  private readonly builds = new Map<string, Map<string, string>>();

  async put(buildId: string, result: ClusterResult, json?: string): Promise<void> {
    let clusters = this.builds.get(buildId);
    if (!clusters) this.builds.set(buildId, (clusters = new Map()));
    clusters.set(result.node.id, json ?? JSON.stringify(result));
  }

  async all(buildId: string): Promise<ClusterResult[]> {
    return [...(this.builds.get(buildId)?.values() ?? [])].map((text) => parseCluster(text, `of build ${buildId} in memory`)).sort(byKey);
  }

  async get(buildId: string, key: string): Promise<ClusterResult | undefined> {
    const text = this.builds.get(buildId)?.get(key);
    return text === undefined ? undefined : parseCluster(text, `${key} of build ${buildId} in memory`);
  }

  async count(buildId: string): Promise<number> {
    return this.builds.get(buildId)?.size ?? 0;
  }

  outOfMemory(): boolean {
    return false;
  }

  async clear(buildId: string): Promise<void> {
    this.builds.delete(buildId);
  }
}

/**
 * The inline runner's staging for builds of any size: clusters are kept in memory, as JSON, up to
 * `maxHeldChars` characters of it; once a cluster does not fit, it and every cluster of the build,
 * held or still to come, go to `spill` (a folder). A build of the
 * shared data at 1× stages about 13 MB and never touches the disk; at 100× the clusters' examples
 * are well over a gigabyte of JSON, which would otherwise stay in memory from the first summarize
 * job until the index job, beside the clusters the index job reads back.
 */
export class SpillingBuildStaging implements BuildStaging {
  private readonly held = new Map<string, Map<string, string>>();
  /** Cluster keys of each build that went to the spill (present once the build spills: then every cluster of it does). */
  private readonly spilled = new Map<string, Set<string>>();
  private heldChars = 0;

  constructor(
    private readonly spill: BuildStaging,
    private readonly maxHeldChars = 64 << 20,
  ) {}

  async put(buildId: string, result: ClusterResult, json?: string): Promise<void> {
    const key = result.node.id;
    let clusters = this.held.get(buildId);
    if (!clusters) this.held.set(buildId, (clusters = new Map()));
    const previous = clusters.get(key);
    if (previous !== undefined) {
      clusters.delete(key);
      this.heldChars -= previous.length;
    }
    // Measured a piece at a time: a cluster too big to hold is never one string here (the spill
    // writes it an example at a time).
    let length = json?.length ?? 0;
    if (json === undefined) for (const piece of jsonPieces(result, 'examples')) length += piece.length;
    if (!this.spilled.has(buildId) && this.heldChars + length <= this.maxHeldChars) {
      const text = json ?? JSON.stringify(result);
      clusters.set(key, text);
      this.heldChars += text.length;
      return;
    }
    (await this.spilling(buildId)).add(key);
    await this.spill.put(buildId, result, json);
  }

  /** A spooled cluster is a big one: spilled, as is then every cluster of its build (see `spilling`). */
  async putSpooled(buildId: string, node: CweNode, examples: JsonItems): Promise<void> {
    const held = this.held.get(buildId)?.get(node.id);
    if (held !== undefined) {
      this.held.get(buildId)?.delete(node.id);
      this.heldChars -= held.length;
    }
    (await this.spilling(buildId)).add(node.id);
    await this.spill.putSpooled(buildId, node, examples);
  }

  /**
   * The build's spilled keys, once it spills. At its first cluster that does not fit, the build is
   * a big one, whose index stage reads every cluster back pass after pass: the clusters held so
   * far go to the spill too (one at a time, each dropped once written), and so does every later
   * one. Held, they would sit in memory (up to the budget, 64M characters by default) through the
   * whole index stage, beside its own peak, where read from the folder they cost a batch of
   * examples at a time.
   */
  private async spilling(buildId: string): Promise<Set<string>> {
    let spilled = this.spilled.get(buildId);
    if (spilled) return spilled;
    this.spilled.set(buildId, (spilled = new Set()));
    const clusters = this.held.get(buildId) ?? new Map<string, string>();
    // Each is marked spilled before it is written: a job of the build runs one cluster, so no
    // other put of the same cluster can be writing it meanwhile.
    for (const [key, text] of [...clusters]) {
      clusters.delete(key);
      this.heldChars -= text.length;
      spilled.add(key);
      await this.spill.put(buildId, parseCluster(text, `${key} of build ${buildId} in memory`));
    }
    return spilled;
  }

  async all(buildId: string): Promise<ClusterResult[]> {
    const held = [...(this.held.get(buildId)?.values() ?? [])].map((text) => parseCluster(text, `of build ${buildId} in memory`));
    const spilled = this.spilled.has(buildId) ? await this.spill.all(buildId) : [];
    return [...held, ...spilled].sort(byKey);
  }

  async get(buildId: string, key: string): Promise<ClusterResult | undefined> {
    const text = this.held.get(buildId)?.get(key);
    if (text !== undefined) return parseCluster(text, `${key} of build ${buildId} in memory`);
    return this.spilled.get(buildId)?.has(key) ? this.spill.get(buildId, key) : undefined;
  }

  async head(buildId: string, key: string): Promise<{ node: CweNode; examples: number } | undefined> {
    const text = this.held.get(buildId)?.get(key);
    if (text !== undefined) return headOf(parseCluster(text, `${key} of build ${buildId} in memory`));
    return this.spilled.get(buildId)?.has(key) ? this.spill.head(buildId, key) : undefined;
  }

  async *examples(buildId: string, key: string): AsyncIterable<CodeExample[]> {
    const text = this.held.get(buildId)?.get(key);
    if (text !== undefined) yield* examplesOf(parseCluster(text, `${key} of build ${buildId} in memory`));
    else if (this.spilled.get(buildId)?.has(key)) yield* this.spill.examples(buildId, key);
  }

  async count(buildId: string): Promise<number> {
    return (this.held.get(buildId)?.size ?? 0) + (this.spilled.get(buildId)?.size ?? 0);
  }

  /** Only once something spilled: below that the clusters are a few MB of JSON in memory. */
  outOfMemory(buildId: string): boolean {
    return (this.spilled.get(buildId)?.size ?? 0) > 0;
  }

  async clear(buildId: string): Promise<void> {
    for (const text of this.held.get(buildId)?.values() ?? []) this.heldChars -= text.length;
    this.held.delete(buildId);
    this.spilled.delete(buildId);
    // Cleared whether or not this process spilled: a killed earlier build may have left clusters there.
    await this.spill.clear(buildId);
  }
}

import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import writeFileAtomic from 'write-file-atomic';
import { InvalidInputError } from '@rescue/domain';
import type { CodeExample, CweNode } from '@rescue/knowledge';

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
  put(buildId: string, result: ClusterResult): Promise<void>;
  /** Every cluster of the build, sorted by cluster key (the inline runner's order). */
  all(buildId: string): Promise<ClusterResult[]>;
  /** One cluster of the build by key (its node's id); undefined when it was not staged. */
  get(buildId: string, key: string): Promise<ClusterResult | undefined>;
  /** How many clusters of the build are staged. */
  count(buildId: string): Promise<number>;
  /**
   * Whether reading the build's clusters back costs more than a copy in memory (files, Redis):
   * the index stage then reads them cluster by cluster, pass after pass, instead of all at once.
   */
  outOfMemory(buildId: string): boolean;
  clear(buildId: string): Promise<void>;
}

const fileOf = (key: string): string => `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`;
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

export class FsBuildStaging implements BuildStaging {
  constructor(private readonly dataDir: string) {}

  private dir(buildId: string): string {
    return join(this.dataDir, 'builds', safeBuild(buildId), 'clusters');
  }

  async put(buildId: string, result: ClusterResult): Promise<void> {
    const dir = this.dir(buildId);
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(join(dir, fileOf(result.node.id)), JSON.stringify(result));
  }

  async all(buildId: string): Promise<ClusterResult[]> {
    const dir = this.dir(buildId);
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => n.endsWith('.json'));
    } catch (err) {
      // No folder: no summarize job has finished yet. Anything else (unreadable, not a folder) is real.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out = await Promise.all(names.map(async (n) => parseCluster(await readFile(join(dir, n), 'utf8'), join(dir, n))));
    return out.sort(byKey);
  }

  async get(buildId: string, key: string): Promise<ClusterResult | undefined> {
    const path = join(this.dir(buildId), fileOf(key));
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return parseCluster(text, path);
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

export class RedisBuildStaging implements BuildStaging {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(buildId: string): string {
    return `${this.prefix}:build:${safeBuild(buildId)}`;
  }

  async put(buildId: string, result: ClusterResult): Promise<void> {
    await this.redis.hset(this.key(buildId), result.node.id, JSON.stringify(result));
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
export class MemoryBuildStaging implements BuildStaging {
  private readonly builds = new Map<string, Map<string, string>>();

  async put(buildId: string, result: ClusterResult): Promise<void> {
    let clusters = this.builds.get(buildId);
    if (!clusters) this.builds.set(buildId, (clusters = new Map()));
    clusters.set(result.node.id, JSON.stringify(result));
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
 * `maxHeldChars` characters of it, and those past that go to `spill` (a folder). A build of the
 * shared data at 1× stages about 13 MB and never touches the disk; at 100× the clusters' examples
 * are well over a gigabyte of JSON, which would otherwise stay in memory from the first summarize
 * job until the index job, beside the clusters the index job reads back.
 */
export class SpillingBuildStaging implements BuildStaging {
  private readonly held = new Map<string, Map<string, string>>();
  /** Cluster keys of each build that went to the spill, so a cluster put again replaces its spilled copy. */
  private readonly spilled = new Map<string, Set<string>>();
  private heldChars = 0;

  constructor(
    private readonly spill: BuildStaging,
    private readonly maxHeldChars = 64 << 20,
  ) {}

  async put(buildId: string, result: ClusterResult): Promise<void> {
    const key = result.node.id;
    let clusters = this.held.get(buildId);
    if (!clusters) this.held.set(buildId, (clusters = new Map()));
    const previous = clusters.get(key);
    if (previous !== undefined) {
      clusters.delete(key);
      this.heldChars -= previous.length;
    }
    const text = JSON.stringify(result);
    const spilled = this.spilled.get(buildId);
    if (!spilled?.has(key) && this.heldChars + text.length <= this.maxHeldChars) {
      clusters.set(key, text);
      this.heldChars += text.length;
      return;
    }
    if (spilled) spilled.add(key);
    else this.spilled.set(buildId, new Set([key]));
    await this.spill.put(buildId, result);
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

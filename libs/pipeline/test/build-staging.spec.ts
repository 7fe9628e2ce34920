import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError } from '@rescue/domain';
import { type CodeExample, ExampleSpool } from '@rescue/knowledge';
import { type ClusterResult, FsBuildStaging, MemoryBuildStaging, SpillingBuildStaging } from '@rescue/pipeline';

const cluster = (id: string): ClusterResult => ({
  node: { id, cwe: 'CWE-89', language: 'python', parents: [], guidelines: ['Use parameters.'], cause: 'string-built SQL', apiNames: [], exampleIds: [], provenance: { mode: 'catalog-only' } },
  examples: [],
});

/** Examples of a cluster, not in id order (ids e0 … e9 shuffled, the last id twice), with a field JSON leaves out. */
const unsorted = (key: string): CodeExample[] =>
  ['e7', 'e2', 'e9', 'e0', 'e5', 'e9'].map((id, i) => ({
    id,
    recordId: `r${i}`,
    cweNodeId: key,
    cwe: 'CWE-89',
    language: 'python',
    slicedSecure: `s${i}`,
    slicedVulnerable: 'v',
    apiNames: [],
    description: undefined,
  }));

/** Stages `examples` of the cluster `key` through a spool, as the summarize stage stages a big cluster. */
async function putSpooled(staging: { putSpooled: FsBuildStaging['putSpooled'] }, dir: string, buildId: string, key: string, examples: CodeExample[]): Promise<void> {
  const spool = await ExampleSpool.create(join(dir, 'spool'));
  try {
    for (const e of examples) await spool.add(e);
    await spool.seal();
    await staging.putSpooled(buildId, cluster(key).node, spool.byId());
  } finally {
    await spool.remove();
  }
}

describe('FsBuildStaging.all', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'rescue-staging-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('answers [] only while the staging folder does not exist, then every cluster sorted by key', async () => {
    const staging = new FsBuildStaging(dataDir);
    expect(await staging.all('b1')).toEqual([]);
    await staging.put('b1', cluster('python:CWE-89'));
    await staging.put('b1', cluster('c:CWE-787'));
    expect((await staging.all('b1')).map((c) => c.node.id)).toEqual(['c:CWE-787', 'python:CWE-89']);
  });

  it('rethrows a folder it cannot read instead of answering "no clusters"', async () => {
    const staging = new FsBuildStaging(dataDir);
    // A file where the clusters folder should be.
    mkdirSync(join(dataDir, 'builds', 'b2'), { recursive: true });
    writeFileSync(join(dataDir, 'builds', 'b2', 'clusters'), 'not a folder');
    await expect(staging.all('b2')).rejects.toMatchObject({ code: 'ENOTDIR' });
  });

  it('names a corrupt staged cluster, as invalid input (a retry reads the same bytes)', async () => {
    const staging = new FsBuildStaging(dataDir);
    await staging.put('b3', cluster('python:CWE-89'));
    const dir = join(dataDir, 'builds', 'b3', 'clusters');
    const [file] = readdirSync(dir);
    writeFileSync(join(dir, file), '{"node": {"id": "python:CWE-');
    await expect(staging.all('b3')).rejects.toThrow(InvalidInputError);
    await expect(staging.all('b3')).rejects.toThrow(`staged cluster ${join(dir, file)} is not valid JSON`);
  });

  it('answers one cluster by key (undefined when not staged) and counts them', async () => {
    const staging = new FsBuildStaging(dataDir);
    expect(await staging.count('b4')).toBe(0);
    expect(await staging.get('b4', 'python:CWE-89')).toBeUndefined();
    await staging.put('b4', cluster('python:CWE-89'));
    await staging.put('b4', cluster('c:CWE-787'));
    expect(await staging.count('b4')).toBe(2);
    expect(await staging.get('b4', 'c:CWE-787')).toEqual(cluster('c:CWE-787'));
    expect(await staging.get('b4', 'go:CWE-22')).toBeUndefined();
  });

  it("answers a cluster's head and its examples by id, a batch at a time, without reading it whole", async () => {
    const staging = new FsBuildStaging(dataDir);
    const ids = Array.from({ length: 1203 }, (_, i) => `e${String((i * 7919) % 1203).padStart(5, '0')}`);
    const examples = ids.map((id) => ({ id, recordId: id, cweNodeId: 'python:CWE-89', cwe: 'CWE-89' as const, language: 'python' as const, slicedSecure: 's', slicedVulnerable: 'v', apiNames: [] }));
    await staging.put('b5', { ...cluster('python:CWE-89'), examples });
    expect(await staging.head('b5', 'python:CWE-89')).toEqual({ node: cluster('python:CWE-89').node, examples: 1203 });
    expect(await staging.head('b5', 'c:CWE-787')).toBeUndefined();
    const batches: string[][] = [];
    for await (const batch of staging.examples('b5', 'python:CWE-89')) batches.push(batch.map((e) => e.id));
    expect(batches.map((b) => b.length)).toEqual([500, 500, 203]);
    expect(batches.flat()).toEqual([...ids].sort());
    for await (const _ of staging.examples('b5', 'c:CWE-787')) throw new Error('a cluster not staged has no examples');
    expect((await staging.get('b5', 'python:CWE-89'))?.examples.map((e) => e.id)).toEqual([...ids].sort());
  });

  it('refuses a cluster file whose examples are not as many as its head says', async () => {
    const staging = new FsBuildStaging(dataDir);
    const example = { id: 'e1', recordId: 'e1', cweNodeId: 'python:CWE-89', cwe: 'CWE-89' as const, language: 'python' as const, slicedSecure: 's', slicedVulnerable: 'v', apiNames: [] };
    await staging.put('b6', { ...cluster('python:CWE-89'), examples: [example, { ...example, id: 'e2' }] });
    const dir = join(dataDir, 'builds', 'b6', 'clusters');
    const [file] = readdirSync(dir);
    writeFileSync(join(dir, file), readFileSync(join(dir, file), 'utf8').split('\n').slice(0, 2).join('\n'));
    await expect(staging.get('b6', 'python:CWE-89')).rejects.toThrow('holds 1 examples, its head says 2');
    const read = async (): Promise<void> => {
      for await (const _ of staging.examples('b6', 'python:CWE-89'));
    };
    await expect(read()).rejects.toThrow(InvalidInputError);
  });

  it('stages a spooled cluster as it stages the same cluster put whole (examples by id, the same file)', async () => {
    const whole = new FsBuildStaging(join(dataDir, 'whole'));
    const spooled = new FsBuildStaging(join(dataDir, 'spooled'));
    await whole.put('b7', { ...cluster('python:CWE-89'), examples: unsorted('python:CWE-89') });
    await putSpooled(spooled, dataDir, 'b7', 'python:CWE-89', unsorted('python:CWE-89'));
    const fileOf = (root: string): string => {
      const dir = join(root, 'builds', 'b7', 'clusters');
      return readFileSync(join(dir, readdirSync(dir)[0]), 'utf8');
    };
    expect(fileOf(join(dataDir, 'spooled'))).toBe(fileOf(join(dataDir, 'whole')));
    expect((await spooled.get('b7', 'python:CWE-89'))?.examples.map((e) => [e.id, e.recordId])).toEqual([
      ['e0', 'r3'],
      ['e2', 'r1'],
      ['e5', 'r4'],
      ['e7', 'r0'],
      ['e9', 'r2'],
      ['e9', 'r5'],
    ]);
    expect(readdirSync(join(dataDir, 'spool'))).toEqual([]);
  });

  it('refuses a build id that could name another folder', async () => {
    await expect(new FsBuildStaging(dataDir).all('../x')).rejects.toThrow(InvalidInputError);
  });
});

describe('SpillingBuildStaging', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'rescue-spill-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));
  const spilledFiles = (buildId: string): string[] => {
    try {
      return readdirSync(join(dataDir, 'builds', buildId, 'clusters'));
    } catch (err) {
      // No folder: nothing spilled. Anything else is a real failure of the test.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  };
  const oneCluster = JSON.stringify(cluster('python:CWE-89')).length;

  it('keeps clusters in memory up to its budget; past it spills that cluster, those held and every later one; answers them all sorted by key', async () => {
    const staging = new SpillingBuildStaging(new FsBuildStaging(dataDir), oneCluster * 2);
    await staging.put('b1', cluster('python:CWE-89'));
    await staging.put('b1', cluster('c:CWE-787'));
    expect(spilledFiles('b1')).toHaveLength(0);
    // The third does not fit: it and the two held go to the folder (held, they would stay in memory through the index stage).
    await staging.put('b1', cluster('go:CWE-22'));
    expect(spilledFiles('b1')).toHaveLength(3);
    // Room in memory again, but the build is out of memory already: a later cluster is spilled too.
    await staging.put('b1', cluster('java:CWE-79'));
    expect(spilledFiles('b1')).toHaveLength(4);
    expect((await staging.all('b1')).map((c) => c.node.id)).toEqual(['c:CWE-787', 'go:CWE-22', 'java:CWE-79', 'python:CWE-89']);
    // Another build's budget is its own.
    await staging.put('b2', cluster('python:CWE-89'));
    expect(spilledFiles('b2')).toHaveLength(0);
  });

  it('answers what an in-memory staging answers, however much of it spilled', async () => {
    const ids = ['python:CWE-89', 'c:CWE-787', 'go:CWE-22', 'java:CWE-79', 'js:CWE-94'];
    const results: ClusterResult[][] = [];
    for (const budget of [Number.MAX_SAFE_INTEGER, oneCluster * 3, 0]) {
      const staging = new SpillingBuildStaging(new FsBuildStaging(join(dataDir, String(budget))), budget);
      for (const id of ids) await staging.put('b', { ...cluster(id), examples: [] });
      results.push(await staging.all('b'));
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
  });

  it('answers one cluster by key and counts them, held or spilled, and says when any is out of memory', async () => {
    const staging = new SpillingBuildStaging(new FsBuildStaging(dataDir), oneCluster * 2);
    await staging.put('b1', cluster('python:CWE-89'));
    await staging.put('b1', cluster('c:CWE-787'));
    expect(staging.outOfMemory('b1')).toBe(false);
    await staging.put('b1', cluster('go:CWE-22'));
    expect(spilledFiles('b1')).toHaveLength(3);
    expect(staging.outOfMemory('b1')).toBe(true);
    expect(await staging.count('b1')).toBe(3);
    for (const id of ['python:CWE-89', 'c:CWE-787', 'go:CWE-22']) expect((await staging.get('b1', id))?.node.id).toBe(id);
    expect(await staging.get('b1', 'java:CWE-79')).toBeUndefined();
    for (const id of ['python:CWE-89', 'go:CWE-22']) expect(await staging.head('b1', id)).toEqual({ node: cluster(id).node, examples: 0 });
    expect(await staging.head('b1', 'java:CWE-79')).toBeUndefined();
    expect(await staging.count('b2')).toBe(0);
    await staging.clear('b1');
    expect(await staging.count('b1')).toBe(0);
    expect(await staging.get('b1', 'go:CWE-22')).toBeUndefined();
  });

  it('spills a spooled cluster, with the clusters held before it, and answers it as the in-memory staging answers it put whole', async () => {
    const staging = new SpillingBuildStaging(new FsBuildStaging(dataDir));
    await staging.put('b1', cluster('c:CWE-787'));
    expect(staging.outOfMemory('b1')).toBe(false);
    await putSpooled(staging, join(dataDir, 'tmp'), 'b1', 'python:CWE-89', unsorted('python:CWE-89'));
    expect(staging.outOfMemory('b1')).toBe(true);
    expect(spilledFiles('b1')).toHaveLength(2);
    const memory = new MemoryBuildStaging();
    await memory.put('b1', cluster('c:CWE-787'));
    await putSpooled(memory, join(dataDir, 'tmp'), 'b1', 'python:CWE-89', unsorted('python:CWE-89'));
    await memory.put('b2', { ...cluster('python:CWE-89'), examples: unsorted('python:CWE-89') });
    expect(await staging.all('b1')).toEqual(await memory.all('b1'));
    const examplesOf = async (buildId: string): Promise<CodeExample[]> => {
      const out: CodeExample[] = [];
      for await (const batch of memory.examples(buildId, 'python:CWE-89')) out.push(...batch);
      return out;
    };
    expect(await examplesOf('b1')).toEqual(await examplesOf('b2'));
    expect(await examplesOf('b1')).toHaveLength(6);
  });

  it('replaces a cluster put again, held or spilled, instead of answering it twice', async () => {
    const staging = new SpillingBuildStaging(new FsBuildStaging(dataDir), oneCluster);
    await staging.put('b1', cluster('c:CWE-787'));
    await staging.put('b1', cluster('python:CWE-89'));
    await staging.put('b1', { ...cluster('c:CWE-787'), node: { ...cluster('c:CWE-787').node, cause: 'again' } });
    await staging.put('b1', { ...cluster('python:CWE-89'), node: { ...cluster('python:CWE-89').node, cause: 'again' } });
    const all = await staging.all('b1');
    expect(all.map((c) => [c.node.id, c.node.cause])).toEqual([
      ['c:CWE-787', 'again'],
      ['python:CWE-89', 'again'],
    ]);
  });

  it('clears what a killed earlier build left in the folder', async () => {
    await new FsBuildStaging(dataDir).put('b1', cluster('go:CWE-22'));
    const staging = new SpillingBuildStaging(new FsBuildStaging(dataDir));
    await staging.clear('b1');
    await staging.put('b1', cluster('c:CWE-787'));
    expect((await staging.all('b1')).map((c) => c.node.id)).toEqual(['c:CWE-787']);
    expect(spilledFiles('b1')).toEqual([]);
  });
});

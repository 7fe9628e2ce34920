import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError } from '@rescue/domain';
import { type ClusterResult, FsBuildStaging, SpillingBuildStaging } from '@rescue/pipeline';

const cluster = (id: string): ClusterResult => ({
  node: { id, cwe: 'CWE-89', language: 'python', parents: [], guidelines: ['Use parameters.'], cause: 'string-built SQL', apiNames: [], exampleIds: [], provenance: { mode: 'catalog-only' } },
  examples: [],
});

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

  it('keeps clusters in memory up to its budget, spills the rest to the folder, and answers them all sorted by key', async () => {
    const staging = new SpillingBuildStaging(new FsBuildStaging(dataDir), oneCluster * 2);
    for (const id of ['python:CWE-89', 'c:CWE-787', 'go:CWE-22', 'java:CWE-79']) await staging.put('b1', cluster(id));
    expect(spilledFiles('b1')).toHaveLength(2);
    expect((await staging.all('b1')).map((c) => c.node.id)).toEqual(['c:CWE-787', 'go:CWE-22', 'java:CWE-79', 'python:CWE-89']);
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
    expect(spilledFiles('b1')).toHaveLength(1);
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

import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError } from '@rescue/domain';
import { type ClusterResult, FsBuildStaging } from '@rescue/pipeline';

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

  it('refuses a build id that could name another folder', async () => {
    await expect(new FsBuildStaging(dataDir).all('../x')).rejects.toThrow(InvalidInputError);
  });
});

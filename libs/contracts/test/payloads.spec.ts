import { JOB_ID_PATTERN, JobName, PayloadError, jobIdFor, parsePayload } from '@rescue/contracts';
import { InvalidInputError, classify } from '@rescue/domain';

const sha = 'a'.repeat(64);

describe('payload schemas', () => {
  it('round-trips a valid ingest payload and fills defaults', () => {
    const p = parsePayload(JobName.DatasetIngest, { v: 1, sources: [{ path: '/data/a.jsonl', sha256: sha }] });
    expect(p).toEqual({ v: 1, sources: [{ path: '/data/a.jsonl', sha256: sha }], format: 'auto' });
  });

  it('names an index job by its build id only; a job enqueued with the old kbVersion copy still parses', () => {
    expect(parsePayload(JobName.KbIndex, { v: 1, buildId: 'b1' })).toEqual({ v: 1, buildId: 'b1' });
    expect(parsePayload(JobName.KbIndex, { v: 1, buildId: 'b1', kbVersion: 'b1' })).toEqual({ v: 1, buildId: 'b1' });
  });

  it('names every bad field', () => {
    try {
      parsePayload(JobName.DatasetIngest, { v: 2, sources: [{ path: '', sha256: 'xyz' }], format: 'csv' });
      throw new Error('expected a PayloadError');
    } catch (err) {
      expect(err).toBeInstanceOf(PayloadError);
      const fields = (err as PayloadError).problems.map((p) => p.split(':')[0]);
      expect(fields).toEqual(expect.arrayContaining(['v', 'sources.0.path', 'sources.0.sha256', 'format']));
    }
  });

  it('is invalid input: never retried, keeping its name, job and problems', () => {
    const err = new PayloadError(JobName.RecordSlice, ['hops: too big']);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err.name).toBe('PayloadError');
    expect([err.job, err.problems, err.message]).toEqual([JobName.RecordSlice, ['hops: too big'], `Invalid ${JobName.RecordSlice} payload: hops: too big`]);
    expect(classify(err)).toMatchObject({ kind: 'invalid-input', retryable: false });
  });

  it('rejects slice payloads whose record ids are not content ids', () => {
    expect(() => parsePayload(JobName.RecordSlice, { v: 1, buildId: 'b', recordIds: ['nope'] })).toThrow(/recordIds\.0/);
  });
});

describe('job ids', () => {
  it('are deterministic, content-derived and independent of key order', () => {
    const a = jobIdFor(JobName.KbIndex, { v: 1, buildId: 'b1' });
    const b = jobIdFor(JobName.KbIndex, { buildId: 'b1', v: 1 });
    const c = jobIdFor(JobName.KbIndex, { v: 1, buildId: 'b2' });
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(a).toMatch(JOB_ID_PATTERN);
    expect(a).not.toContain(':');
    expect(a.startsWith('KbIndex-')).toBe(true);
  });

  it('are the ids derived before canonicalJson moved to libs/domain (jobs queued then still deduplicate)', () => {
    const build = {
      buildId: 'b-1',
      hops: 2,
      clusterBy: 'language-cwe',
      kbDir: '/data/kb',
      catalogPath: '/data/cwe.xml',
      catalogOnlyNodes: true,
      codeqlRoots: ['/data/codeql'],
      distillation: 'llm',
      batchSize: 10,
      embedder: 'local',
      elasticsearchPrefix: 'rescue',
    };
    expect(jobIdFor(JobName.KbIndex, { v: 1, buildId: 'b1', extra: undefined })).toBe('KbIndex-83ccd7bad38574064dc6f0796e963daa');
    expect(jobIdFor(JobName.KbIndex, { v: 1, buildId: 'b-1', build })).toBe('KbIndex-030eeaf019432cba75cc6c5b4f39a99e');
    expect(jobIdFor(JobName.ClusterSummarize, { v: 1, buildId: 'b-1', clusterKey: 'python:CWE-89', recordIds: ['0123456789abcdef0123456789abcdef'], build })).toBe(
      'ClusterSummarize-dc0a81ab681af99871fa9506c0f7b7b2',
    );
  });
});

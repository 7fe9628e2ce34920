import { type SandboxedJob, UnrecoverableError } from 'bullmq';
import processSliceJob from '../src/slice.sandbox';

// The sandboxed processor in-process: the mapping is the same one the worker thread runs.
const job = (data: unknown): SandboxedJob => ({ data }) as SandboxedJob;

describe('the slice sandbox (no Redis)', () => {
  const saved = process.env.SLICER_TIME_BUDGET_MS;
  afterEach(() => {
    if (saved === undefined) delete process.env.SLICER_TIME_BUDGET_MS;
    else process.env.SLICER_TIME_BUDGET_MS = saved;
  });

  it('fails a bad payload for good', async () => {
    const failed = processSliceJob(job({ v: 1, buildId: 'b', recordIds: ['nope'] }));
    await expect(failed).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(failed).rejects.toThrow(/^PayloadError: .*recordIds\.0/);
  });

  it('fails for good on invalid settings too: a worker with a bad configuration fails every attempt the same way', async () => {
    process.env.SLICER_TIME_BUDGET_MS = '1';
    const failed = processSliceJob(job({ v: 1, buildId: 'b', recordIds: ['0123456789abcdef0123456789abcdef'], hops: 2 }));
    await expect(failed).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(failed).rejects.toThrow(/^ConfigError: .*SLICER_TIME_BUDGET_MS/);
  });
});

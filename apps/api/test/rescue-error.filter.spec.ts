import { type ArgumentsHost, Logger } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import { ConfigError, InvalidInputError, NotFoundError, RateLimitedError, type RescueError, TransientUpstreamError, UnsupportedLanguageError } from '@rescue/domain';
import { RescueErrorFilter } from '../src/rescue-error.filter';

/** Runs the filter against a recording adapter: what status, body and headers it answers with. */
function answer(err: RescueError): { status?: number; body?: unknown; headers: Record<string, string> } {
  const out: { status?: number; body?: unknown; headers: Record<string, string> } = { headers: {} };
  const response = {};
  const httpAdapter = {
    reply: (res: unknown, body: unknown, status: number) => {
      expect(res).toBe(response);
      Object.assign(out, { body, status });
    },
    setHeader: (_res: unknown, name: string, value: string) => {
      out.headers[name] = value;
    },
  };
  const host = { switchToHttp: () => ({ getResponse: () => response }) } as unknown as ArgumentsHost;
  new RescueErrorFilter({ httpAdapter } as unknown as HttpAdapterHost).catch(err, host);
  return out;
}

describe('RescueErrorFilter (no server)', () => {
  // The 5xx answers are logged; the log is not what these tests read.
  beforeAll(() => Logger.overrideLogger(false));

  it.each([
    [new InvalidInputError('prompt: expected a string'), 400, 'invalid-input'],
    [new UnsupportedLanguageError('no grammar for cobol'), 422, 'unsupported'],
    [new NotFoundError('KB version kb-1 is not in /kb'), 404, 'not-found'],
    [new ConfigError(['LLM_BASE_URL=(unset): required']), 503, 'config'],
    [new TransientUpstreamError('Elasticsearch did not answer'), 503, 'transient'],
  ])('answers %p with %i', (err, status, kind) => {
    expect(answer(err)).toEqual({ status, body: { statusCode: status, message: err.message, error: kind }, headers: {} });
  });

  it('answers a rate limit with 429 and the upstream hint as Retry-After, in whole seconds', () => {
    expect(answer(new RateLimitedError('LLM chat was rate limited (429)', 1500))).toMatchObject({ status: 429, headers: { 'Retry-After': '2' } });
    expect(answer(new RateLimitedError('LLM chat was rate limited (429)'))).toMatchObject({ status: 429, headers: {} });
  });
});

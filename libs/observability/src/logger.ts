import { type Logger, pino } from 'pino';

/**
 * Header and field paths that may carry a secret. pino replaces them before the line is written,
 * so no code path (an error object, a logged request) can put a key in the log.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'authorization',
  'apiKey',
  'password',
  '*.apiKey',
  '*.password',
];

export interface LoggerOptions {
  app: string;
  level?: string;
  /** Where lines go (tests pass a stream to read them); default stdout. */
  destination?: NodeJS.WritableStream;
}

/** JSON lines with the app name, ISO time and secrets redacted. */
export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      name: opts.app,
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      base: { app: opts.app },
    },
    (opts.destination ?? process.stdout) as never,
  );
}

export type { Logger };

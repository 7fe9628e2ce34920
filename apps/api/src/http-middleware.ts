import type { IncomingMessage, ServerResponse } from 'node:http';

/** Express-style middleware over Node's own types (the API has no @types/express). */
export type Next = (err?: unknown) => void;
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: Next) => void;

/** Answers with Nest's error body shape; `close` also ends the connection after the answer. */
export function replyError(res: ServerResponse, status: number, error: string, message: string, opts: { close?: boolean; headers?: Record<string, string> } = {}): void {
  if (res.headersSent) return;
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', ...opts.headers };
  // Closing is how we avoid reading a body we will not use: Node would otherwise read the rest of
  // it (to reuse the connection), however large or slow it is.
  if (opts.close) headers.connection = 'close';
  const body = JSON.stringify({ statusCode: status, message, error });
  headers['content-length'] = String(Buffer.byteLength(body));
  res.writeHead(status, headers);
  res.end(body);
}

/** Whether a request carries a body still to be read. */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

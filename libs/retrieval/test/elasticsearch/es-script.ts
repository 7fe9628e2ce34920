import { Client, errors } from '@elastic/elasticsearch';
import Mock from '@elastic/elasticsearch-mock';

/** One request as it reached the wire: NDJSON bodies arrive as an array of parsed lines. */
export interface RecordedRequest {
  method: string;
  path: string;
  querystring: Record<string, string>;
  body: unknown;
}

/** An HTTP error answer: the client turns it into a `ResponseError`. */
export interface ErrorReply {
  httpStatus: number;
  body: Record<string, unknown>;
}

/** A JSON answer, an HTTP error, or no answer at all (the connection failed). */
export type Reply = Record<string, unknown> | ErrorReply | { connectionError: string };

const isErrorReply = (r: Reply): r is ErrorReply => 'httpStatus' in r && typeof r.httpStatus === 'number';
const isConnectionError = (r: Reply): r is { connectionError: string } => 'connectionError' in r && typeof r.connectionError === 'string';

/**
 * A scripted Elasticsearch on top of @elastic/elasticsearch-mock: every request is recorded in order,
 * and each `METHOD path` answers with its scripted replies in turn. An unscripted request, or one more
 * than scripted, gets a 500 naming it, so a test fails on the first unexpected call.
 */
export class ScriptedElasticsearch {
  readonly requests: RecordedRequest[] = [];
  private readonly replies = new Map<string, Reply[]>();
  private readonly mock = new Mock();

  constructor() {
    this.mock.add({ method: ['GET', 'POST', 'PUT', 'DELETE', 'HEAD'], path: '*' }, (params) => {
      const request: RecordedRequest = { method: String(params.method), path: String(params.path), querystring: { ...params.querystring }, body: params.body ?? null };
      this.requests.push(request);
      const key = `${request.method} ${request.path}`;
      const reply = this.replies.get(key)?.shift() ?? { httpStatus: 500, body: { error: `unscripted request ${key}` } };
      if (isConnectionError(reply)) return new errors.ConnectionError(reply.connectionError);
      if (isErrorReply(reply)) return responseError(request, reply);
      return reply;
    });
  }

  /** Queues replies for `METHOD path` (path exactly as sent, commas unescaped). */
  on(method: string, path: string, ...replies: Reply[]): this {
    const key = `${method} ${path}`;
    this.replies.set(key, [...(this.replies.get(key) ?? []), ...replies]);
    return this;
  }

  /** Drops the replies queued for `METHOD path`, to script a variation of a shared scenario. */
  clear(method: string, path: string): this {
    this.replies.delete(`${method} ${path}`);
    return this;
  }

  /** Scripted replies nobody asked for: a test that leaves some did not take the path it meant to. */
  unused(): string[] {
    return [...this.replies.entries()].filter(([, r]) => r.length > 0).map(([key, r]) => `${key} (${r.length})`);
  }

  /** A client on this script. No transport retries, so every request the code makes is seen once. */
  client(): Client {
    return new Client({ node: 'http://localhost:9200', Connection: this.mock.getConnection(), maxRetries: 0 });
  }
}

function responseError(request: RecordedRequest, reply: ErrorReply): errors.ResponseError {
  return new errors.ResponseError({
    body: reply.body,
    statusCode: reply.httpStatus,
    warnings: null,
    meta: {
      context: null,
      name: 'elasticsearch-js',
      request: { params: { method: request.method, path: request.path }, options: {}, id: 0 },
      connection: null,
      attempts: 0,
      aborted: false,
    },
  });
}

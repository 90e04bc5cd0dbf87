// GraphQL over Server-Sent Events (the graphql-sse protocol, distinct connections mode) at
// /graphql/stream: one operation per request (GET with the operation in the query string, as a
// browser's EventSource sends it, or POST with a JSON body), its results as `next` events, then
// `complete`. graphql-sse's handler speaks the protocol; what runs the operation is the WebSocket
// path's: the same authentication, document limits and validation (prepare-operation.ts), rate limits
// and caps (ws-guards.ts, with the SSE settings), shared execution, error formatter and resume (`after`).
//
// A request is authenticated from its headers before anything else is done with it: no key 401, a key
// that is invalid or revoked 403, both before the body is read. A stream's writes are bounded as a
// socket's are on the WebSocket path: while the response holds more than SSE_MAX_BUFFERED_BYTES unsent,
// the subscription waits, so a client that stops reading backs up into its subscription's bounded
// buffer and is then ended with RESUME_REQUIRED (its last event), after which the server gives the
// response endFlushMs() (SSE_FLUSH_TIMEOUT_MS) to leave and then closes the connection. A result waits at
// most endFlushMs() for the client to take what is ahead of it, then the connection is closed: until the
// client reads, its subscription cannot end, so one that never reads again would otherwise be held without end.
import type { ServerResponse } from 'node:http';
import type { NextFunction, Request as ExpressRequest, Response as ExpressResponse, RequestHandler } from 'express';
import { locatedError, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { createHandler, type OperationContext, type Request as SseRequest } from 'graphql-sse';
import type { Logger } from 'pino';
import { principalFrom, unauthenticated } from '../access.js';
import { createApiContext, type ApiContext, type ApiDeps, type Principal } from '../context.js';
import { ApiError, errorCodeOf, httpStatusFor, toApiError } from '../errors.js';
import type { ErrorFormatter } from '../graphql/format-error.js';
import type { Hardening } from '../hardening/index.js';
import { retryAfterSeconds } from '../hardening/rate-limit.js';
import type { WsConnection } from '../hardening/ws-guards.js';
import { findInexactNumber, inexactNumber } from '../validation/exact-numbers.js';
import { findRepeatedName, repeatedName } from '../validation/unique-names.js';
import { createOperationPreparer, executionCaller, formatStreamedResult } from './prepare-operation.js';
import { createSharedSubscribe } from './shared-execution.js';

export const SSE_PATH = '/graphql/stream';

/** Unsent bytes per stream before its subscription waits: as a WebSocket's (ws-server.ts). */
export const SSE_MAX_BUFFERED_BYTES = 256 * 1024;

/**
 * How long an ended stream's last events may take to leave before the connection is closed, and how long
 * a result may wait for the client to take what is ahead of it: `flushTimeoutMs` (SSE_FLUSH_TIMEOUT_MS,
 * 30 s by default), at least twice the keep-alive interval.
 */
export const endFlushMs = (keepAliveMs: number, flushTimeoutMs: number): number => Math.max(flushTimeoutMs, 2 * keepAliveMs);

/** The one operation of a distinct-connections stream, as the caps count it. */
const OPERATION_ID = '';

/** graphql-sse's keep-alive comment; the interval here (SSE_KEEP_ALIVE_MS) replaces the library's own. */
const COMMENT = ':\n\n';

interface StreamContext {
  res: ServerResponse;
  principal: Principal;
  conn: WsConnection;
}

export interface GraphqlSseOptions {
  schema: GraphQLSchema;
  deps: ApiDeps;
  formatError: ErrorFormatter;
  hardening: Hardening;
}

export interface GraphqlSse {
  /** Authentication, then the request's form and the per-client cap: before any body is read. */
  admit: RequestHandler;
  /** The graphql-sse handler and the bounded writer of its stream. */
  serve: RequestHandler;
  /** Ends every open stream (the server is closing). */
  dispose(): void;
}

/**
 * Settles once the response holds at most `bound` unsent bytes, or is closed. With `maxWaitMs`, a response
 * still over its bound after that long is destroyed: a client that does not read is not waited for without end.
 */
function writable(res: ServerResponse, bound: number, maxWaitMs?: number): Promise<void> | undefined {
  if (res.writableLength <= bound || res.destroyed) return undefined;
  return new Promise<void>((resolve) => {
    const giveUp = maxWaitMs === undefined ? undefined : setTimeout(() => res.destroy(), maxWaitMs);
    const done = () => {
      clearTimeout(giveUp);
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

export function createGraphqlSse(opts: GraphqlSseOptions): GraphqlSse {
  const { schema, deps, formatError, hardening } = opts;
  const { metrics } = deps;
  const logger: Logger = deps.logger;
  const guards = hardening.sseGuards;
  const prepare = createOperationPreparer({ schema, deps, hardening, transport: 'sse' });
  const sharedSubscribe = createSharedSubscribe(executionCaller);
  const open = new Set<ServerResponse>();
  const flushMs = endFlushMs(hardening.sseKeepAliveMs, hardening.sseFlushTimeoutMs);

  const refuse = (res: ExpressResponse, status: number, error: ApiError) => {
    metrics.apiErrors.inc({ code: error.code, transport: 'sse' });
    res.status(status).json({ errors: [{ message: error.message, extensions: { ...error.extensions } }] });
  };
  const countErrors = (errors: ReadonlyArray<{ extensions?: Record<string, unknown> | undefined }>) => {
    for (const e of errors) metrics.apiErrors.inc({ code: errorCodeOf(e), transport: 'sse' });
  };

  const handler = createHandler<ExpressRequest, StreamContext, OperationContext>({
    schema,
    // Every operation is validated by prepare() (with the document-limit rules) before it gets here.
    validate: () => [],
    // A stream that fails (RESUME_REQUIRED for a reader too slow, a damaged log) ends with that error as
    // its last event, as graphql-ws sends it as an `error` message.
    subscribe: async (args) => {
      const result = await sharedSubscribe(args);
      if (!(Symbol.asyncIterator in result)) return result;
      return endWithError(result);
    },
    onSubscribe: async (req, params) => {
      const { principal, conn } = req.context;
      const prepared = await prepare(principal, params, (document, operation, variables) =>
        guards.admit(conn, OPERATION_ID, principal, document, operation, variables),
      );
      if (!('document' in prepared)) return once({ errors: prepared });
      const { document, operation, variables } = prepared;
      const contextValue: ApiContext = createApiContext(deps, 'sse', principal, {
        subscription: operation.operation === 'subscription',
      });
      return {
        schema,
        document,
        operationName: params.operationName ?? null,
        variableValues: variables,
        contextValue: contextValue as unknown as OperationContext,
      };
    },
    onNext: async (ctx, req, result) => {
      const formatted = formatStreamedResult(formatError, ctx, result as ExecutionResult);
      if (formatted) {
        countErrors(formatted.errors);
        return formatted as unknown as ExecutionResult;
      }
      // Results wait while the client is behind; an error (the stream's end) is written at once. While a
      // result waits, the subscription cannot end (RESUME_REQUIRED, a revoked key): after endFlushMs() the
      // connection is closed, or a client that never reads again would hold it without end.
      await writable(req.context.res, SSE_MAX_BUFFERED_BYTES, flushMs);
      return undefined;
    },
  });

  const admit: RequestHandler = async (req, res, next) => {
    try {
      const principal = await principalFrom(deps.auth, req.headers);
      if (principal.kind === 'anonymous') return refuse(res, 401, unauthenticated(principal));
      if (principal.kind === 'invalid') return refuse(res, 403, unauthenticated(principal));
      if (req.method !== 'GET' && req.method !== 'POST') {
        res.setHeader('Allow', 'GET, POST');
        return refuse(
          res,
          405,
          new ApiError('BAD_USER_INPUT', `method: ${SSE_PATH} takes GET or POST`, { field: 'method', rule: 'method' }),
        );
      }
      if (!req.accepts('text/event-stream') || !String(req.headers.accept ?? '').includes('text/event-stream')) {
        return refuse(
          res,
          406,
          new ApiError('BAD_USER_INPUT', 'Accept: must include text/event-stream (graphql-sse distinct connections mode)', {
            field: 'Accept',
            rule: 'accept',
          }),
        );
      }
      // graphql-sse's JSON.parse rounds numbers and keeps a repeated name's last value; a GET's variables
      // are checked first, as bodies are (json-body.ts).
      if (req.method === 'GET') {
        const variables = new URL(req.originalUrl, 'http://localhost').searchParams.get('variables');
        const within = (field: string) => `variables${field ? `.${field}` : ''}`;
        const bad = variables === null ? undefined : findInexactNumber(variables);
        if (bad) return refuse(res, 400, inexactNumber(within(bad.field), bad.token));
        const repeated = variables === null ? undefined : findRepeatedName(variables);
        if (repeated) return refuse(res, 400, repeatedName(within(repeated.field), repeated.name));
      }
      let capped: string | undefined;
      const conn: WsConnection = {
        subscriptions: { [OPERATION_ID]: true },
        extra: { socket: { close: (_code, reason) => (capped = reason) }, request: { socket: req.socket } },
      };
      if (!guards.connect(conn, principal)) {
        return refuse(
          res,
          429,
          new ApiError('RATE_LIMITED', capped ?? 'too many connections', { rule: 'maxConnectionsPerClient' }),
        );
      }
      res.once('close', () => guards.close(conn));
      res.locals.sse = { principal, conn } satisfies Omit<StreamContext, 'res'>;
      next();
    } catch (err) {
      // In the GraphQL shape of the stream's other refusals: a key that cannot be looked up now (UNAVAILABLE, Retry-After).
      const api = toApiError(err);
      if (!api) return next(err);
      if (typeof api.extensions.retryAfterMs === 'number') res.setHeader('Retry-After', String(retryAfterSeconds(api)));
      refuse(res, httpStatusFor(api.code), api);
    }
  };

  const serve: RequestHandler = async (req, res, next: NextFunction) => {
    const { principal, conn } = res.locals.sse as Omit<StreamContext, 'res'>;
    let stream: AsyncGenerator<string, void, unknown> | undefined;
    try {
      const request: SseRequest<ExpressRequest, StreamContext> = {
        method: req.method,
        url: req.originalUrl,
        headers: {
          // admit() has checked that the client accepts an event stream; graphql-sse compares the header whole.
          get: (key) => (key === 'accept' ? 'text/event-stream' : headerOf(req, key)),
        },
        body: () => Promise.resolve(req.body as Record<string, unknown> | string | null),
        raw: req,
        context: { res, principal, conn },
      };
      const [body, init] = await handler(request);
      res.writeHead(init.status, init.statusText, init.headers as Record<string, string>);
      if (!body || typeof body === 'string') {
        res.end(body);
        return;
      }
      stream = body;
    } catch (err) {
      next(err);
      return;
    }
    open.add(res);
    res.once('close', () => open.delete(res));
    await pump(stream, res, hardening.sseKeepAliveMs, flushMs, logger);
  };

  return {
    admit,
    serve,
    dispose: () => {
      for (const res of open) res.destroy();
    },
  };
}

/**
 * Writes the stream's messages with keep-alive comments. What waits while the response is over its bound
 * is the subscription (onNext, before a result is made a message); the messages graphql-sse has made are
 * written at once, so that a stream's end (its last result, `complete`) is not held behind a client that
 * does not read, and the response is ended and given `flushMs` (endFlushMs()) to leave.
 */
async function pump(
  stream: AsyncGenerator<string, void, unknown>,
  res: ServerResponse,
  keepAliveMs: number,
  flushMs: number,
  logger: Logger,
): Promise<void> {
  res.socket?.setNoDelay(true);
  const keepAlive =
    keepAliveMs > 0
      ? setInterval(() => {
          if (res.writableLength <= SSE_MAX_BUFFERED_BYTES) res.write(COMMENT);
        }, keepAliveMs)
      : undefined;
  const closed = () => {
    clearInterval(keepAlive);
    void stream.return(undefined);
  };
  res.once('close', closed);
  let first = true;
  try {
    for await (const message of stream) {
      if (res.destroyed) break;
      // The first comment flushes the headers (graphql-sse's own); its 12 s pings are replaced by keepAlive.
      if (message === COMMENT && !first) continue;
      first = false;
      res.write(message);
    }
  } catch (err) {
    logger.error({ err }, 'GraphQL over SSE stream failed');
  } finally {
    clearInterval(keepAlive);
    if (!res.destroyed) {
      // A client that does not read what is left is not waited for without end.
      const flush = setTimeout(() => res.destroy(), flushMs);
      flush.unref();
      res.once('close', () => clearTimeout(flush));
      res.end();
    }
  }
}

function headerOf(req: ExpressRequest, key: string): string | undefined {
  const value = req.headers[key];
  return Array.isArray(value) ? value.join('\n') : value;
}

/** One result as a stream: graphql-sse sends it as a `next` event, then `complete`. */
async function* once(result: ExecutionResult): AsyncGenerator<ExecutionResult> {
  yield result;
}

/**
 * The subscription's results; an error it throws becomes its last result instead of failing the stream.
 * Not an async generator: return() must reach the source at once, even while a next() waits on it, so
 * that an idle subscription ends when its client goes away.
 */
function endWithError(results: AsyncIterableIterator<ExecutionResult>): AsyncIterableIterator<ExecutionResult> {
  let ended = false;
  return {
    async next() {
      if (ended) return { done: true, value: undefined };
      try {
        return await results.next();
      } catch (err) {
        ended = true;
        // As a GraphQLError (the original kept) for the error formatter: a damaged row's MALFORMED_EVENT,
        // a storage outage's UNAVAILABLE, as graphql-ws sends them.
        return { done: false, value: { errors: [locatedError(err, undefined)] } };
      }
    },
    async return() {
      ended = true;
      await results.return?.();
      return { done: true, value: undefined };
    },
    async throw(err: unknown) {
      ended = true;
      await results.return?.();
      throw err;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

// Subscriptions over graphql-ws (WebSocket) or graphql-sse (Server-Sent Events, distinct connections), as
// async iterables that reconnect. Each attempt is a fresh library client without retries of its own: the
// libraries would resubscribe with the variables of the first attempt, and eventLogged must resume with
// `after` = the id of the last event this iterable delivered, so that the server replays exactly what
// followed it. Events of a log at or below the last seq delivered of that log are dropped, so an overlap
// (a replay racing a live event) is never delivered twice. The protocol libraries load on the first
// subscription, so that a program that only sends requests (the simulator, the auditor) does not load them.
import { AnswerTooLongError, readBoundedText } from '../net/bounded-answer.js';
import { ChainlogError, ChainlogGraphqlError, ChainlogTransportError, type GraphqlErrorItem } from './errors.js';
import { isTransient, sleep } from './http.js';

export type SubscriptionTransport = 'ws' | 'sse';

export interface TransportConfig {
  /** Service base URL (http or https). */
  url: string;
  apiKey: string | undefined;
  headers: Record<string, string>;
  fetch: typeof fetch;
  webSocketImpl: unknown;
  /** The most bytes of a refusal's body read (the client's maxResponseBytes). */
  maxResponseBytes: number;
}

export interface ReconnectOptions {
  /** Failed connection attempts in a row before the iteration throws; default 10. */
  reconnectAttempts?: number;
  /** Wait before the first reconnection in ms, doubling per failure in a row up to 10 s; default 250. */
  reconnectDelayMs?: number;
  /** Called before each reconnection with the error that ended the connection and the attempt (1, 2, …). */
  onReconnect?: (error: ChainlogError, attempt: number) => void;
}

/** The graphql-ws close codes chainlog uses for a missing (4401) and an invalid or revoked (4403) key. */
const WS_CLOSE_UNAUTHORIZED = 4401;
const WS_CLOSE_FORBIDDEN = 4403;
const MAX_RECONNECT_DELAY_MS = 10_000;

interface Result {
  data?: unknown;
  errors?: readonly GraphqlErrorItem[];
}

/** A single attempt's stream of results; returning it closes the connection. */
async function openStream(
  t: TransportConfig,
  transport: SubscriptionTransport,
  query: string,
  variables: unknown,
): Promise<AsyncIterableIterator<Result>> {
  const payload = { query, variables: variables as Record<string, unknown> };
  if (transport === 'ws') {
    const { createClient: createWsClient } = await import('graphql-ws/client');
    const url = t.url.replace(/^http/, 'ws').replace(/\/+$/, '') + '/graphql';
    const client = createWsClient({
      url,
      retryAttempts: 0,
      lazy: true,
      ...(t.webSocketImpl !== undefined && { webSocketImpl: t.webSocketImpl }),
      connectionParams: t.apiKey ? { apiKey: t.apiKey } : {},
    });
    // dispose() rejects when the connection never opened; there is nothing to close then.
    return disposing(client.iterate(payload), () => void Promise.resolve(client.dispose()).catch(() => undefined));
  }
  const { createClient: createSseClient } = await import('graphql-sse');
  const client = createSseClient({
    url: `${t.url.replace(/\/+$/, '')}/graphql/stream`,
    retryAttempts: 0,
    fetchFn: boundedAnswers(t.fetch, t.maxResponseBytes),
    headers: { ...t.headers, ...(t.apiKey && { 'x-api-key': t.apiKey }) },
  });
  return disposing(client.iterate(payload), () => client.dispose());
}

/**
 * `fetchImpl`, with the body of a refusal (not 2xx) read before graphql-sse sees it: graphql-sse aborts
 * the request before it throws, which would cut the GraphQL errors (their extensions.code) off the body.
 * An accepted stream's messages are bounded as they pass (boundedMessages): graphql-sse buffers a
 * message whole, however long, before it parses it.
 */
function boundedAnswers(fetchImpl: typeof fetch, maxBytes: number): typeof fetch {
  return async (input, init) => {
    const res = await fetchImpl(input, init);
    if (res.ok) {
      if (!res.body) return res;
      const { status, statusText, headers } = res;
      return new Response(boundedMessages(res.body, maxBytes), { status, statusText, headers });
    }
    // A refusal longer than the bound is not read on: its status alone is told.
    const text = await readBoundedText(res, maxBytes).catch((err: unknown) => {
      if (err instanceof AnswerTooLongError) return '';
      throw err;
    });
    return new Response(text, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

/**
 * `body`, an event stream, passed on while each of its messages (the bytes up to a blank line, "\n\n"
 * or "\r\n\r\n") stays within `max` bytes. At the first that does not, the complete messages before it
 * are passed on, and the next read fails with AnswerTooLongError, the body cancelled. Read on demand
 * (no queue of its own), so the messages it passed are the reader's before it fails.
 */
function boundedMessages(body: ReadableStream<Uint8Array>, max: number): ReadableStream<Uint8Array> {
  const tooLong = () => new AnswerTooLongError(`an event stream message longer than ${max} bytes`);
  const reader = body.getReader();
  let message = 0; // bytes of the message so far, up to the current line
  let line = 0; // bytes of the current line so far
  let last = 0; // the byte before the current position (0 at the start)
  let failed = false;
  const fail = async (controller: ReadableStreamDefaultController<Uint8Array>) => {
    await reader.cancel().catch(() => undefined);
    controller.error(tooLong());
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (failed) return fail(controller);
        const { done, value: chunk } = await reader.read();
        if (done) return controller.close();
        let at = 0;
        let whole = 0; // the bytes of this chunk that end a message, or messages
        for (let nl = chunk.indexOf(10); nl !== -1 && !failed; nl = chunk.indexOf(10, at)) {
          line += nl - at;
          if (message + line > max) failed = true;
          else {
            const before = nl > 0 ? chunk[nl - 1]! : last;
            // A blank line ("\n", or "\r\n") ends the message.
            if (line === 0 || (line === 1 && before === 13)) {
              message = 0;
              whole = nl + 1;
            } else message += line + 1;
            line = 0;
            at = nl + 1;
          }
        }
        if (!failed) {
          line += chunk.length - at;
          failed = message + line > max;
        }
        if (!failed) {
          if (chunk.length > 0) last = chunk[chunk.length - 1]!;
          return controller.enqueue(chunk);
        }
        if (whole === 0) return fail(controller);
        controller.enqueue(chunk.subarray(0, whole));
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

/** `inner`, which also runs `dispose` once it ends, throws or is returned. */
function disposing<T>(inner: AsyncIterableIterator<T>, dispose: () => void): AsyncIterableIterator<T> {
  let done = false;
  const end = () => {
    if (!done) dispose();
    done = true;
  };
  return {
    async next() {
      try {
        const r = await inner.next();
        if (r.done) end();
        return r;
      } catch (err) {
        end();
        throw err;
      }
    },
    async return() {
      try {
        await inner.return?.();
      } finally {
        end();
      }
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** What ended an attempt, as a client error: a refused key is a ChainlogGraphqlError, a lost connection a transport error. */
async function asClientError(err: unknown, transport: SubscriptionTransport): Promise<ChainlogError> {
  if (err instanceof ChainlogError) return err;
  if (Array.isArray(err)) return new ChainlogGraphqlError(err as GraphqlErrorItem[]); // graphql-ws: an `error` message
  // graphql-sse's NetworkError (by name: the library is loaded lazily): a failed request or a refusal.
  if (err instanceof Error && err.name === 'NetworkError') {
    const res = (err as { response?: Response }).response;
    if (res) {
      const body = (await res.json().catch(() => null)) as { errors?: GraphqlErrorItem[] } | null;
      if (Array.isArray(body?.errors) && body.errors.length > 0) return new ChainlogGraphqlError(body.errors, res.status);
      return new ChainlogTransportError(`${transport} subscription: ${err.message}`, res.status, { cause: err });
    }
    return new ChainlogTransportError(`${transport} subscription: ${err.message}`, null, { cause: err });
  }
  const close = err as { code?: unknown; reason?: unknown };
  if (typeof close?.code === 'number') {
    const reason = typeof close.reason === 'string' && close.reason !== '' ? close.reason : 'no reason given';
    if (close.code === WS_CLOSE_UNAUTHORIZED || close.code === WS_CLOSE_FORBIDDEN) {
      return new ChainlogGraphqlError([{ message: reason, extensions: { code: 'UNAUTHENTICATED', closeCode: close.code } }]);
    }
    return new ChainlogTransportError(`ws subscription closed (${close.code}): ${reason}`, null, { cause: err });
  }
  const said = (err as { message?: unknown } | null)?.message;
  const message = err instanceof Error ? err.message : typeof said === 'string' ? said : 'connection error';
  return new ChainlogTransportError(`${transport} subscription: ${message}`, null, { cause: err });
}

/** Whether a subscription that ended with `err` resumes on a new connection. */
function resumable(err: ChainlogError): boolean {
  return isTransient(err) || (err instanceof ChainlogGraphqlError && err.code === 'RESUME_REQUIRED');
}

export interface ResumableSpec<T> {
  transport: SubscriptionTransport;
  query: string;
  /** The variables of the next attempt (eventLogged: with `after` of the last delivered event). */
  variables: () => unknown;
  /** The item of a result, or null to drop it (a duplicate). */
  accept: (data: unknown) => T | null;
}

/** Results of `spec` across reconnections, until the server completes it, the consumer stops, or it fails for good. */
export async function* resumableSubscription<T>(
  t: TransportConfig,
  spec: ResumableSpec<T>,
  o: ReconnectOptions,
): AsyncGenerator<T, void, undefined> {
  const attempts = o.reconnectAttempts ?? 10;
  const baseDelay = o.reconnectDelayMs ?? 250;
  let failures = 0;
  for (;;) {
    let stream: AsyncIterableIterator<Result> | null = null;
    try {
      stream = await openStream(t, spec.transport, spec.query, spec.variables());
      for await (const result of stream) {
        if (result.errors && result.errors.length > 0) throw new ChainlogGraphqlError(result.errors);
        failures = 0;
        const item = spec.accept(result.data);
        if (item !== null) yield item;
      }
      return;
    } catch (raw) {
      const err = await asClientError(raw, spec.transport);
      if (!resumable(err) || failures >= attempts) throw err;
      failures++;
      o.onReconnect?.(err, failures);
      await sleep(Math.min(MAX_RECONNECT_DELAY_MS, baseDelay * 2 ** (failures - 1)));
    } finally {
      await stream?.return?.();
    }
  }
}

// createChainlogClient: the typed client for applications (published as `chainlog/client`). Every
// operation is a document of operations.graphql, typed by GraphQL Code Generator from the schema. It runs
// in browsers and on Node: fetch, WebSocket (graphql-ws) or Server-Sent Events (graphql-sse), and the pure
// core for verification with a pinned verifier key.
import { NoteError, parseVerifierKey, ReceiptError, toHex, type NoteVerifier } from '../core/index.js';
import { ChainlogError, ChainlogVerificationError } from './errors.js';
import {
  ClientCheckpointPublishedDocument,
  ClientEventDocument,
  ClientEventLoggedDocument,
  ClientEventsDocument,
  ClientLogEventDocument,
  ClientLogEventsDocument,
  ClientReceiptDocument,
  ClientServerInfoDocument,
  type ClientCheckpointPublishedSubscription,
  type EventFieldsFragment,
  type ClientEventLoggedSubscription,
  type ClientLogEventMutation,
  type ClientServerInfoQuery,
  type EventFilter,
  type LogEventInput,
  type SortOrder,
  type TypedDocumentString,
} from './generated/graphql.js';
import { post, type HttpOptions } from './http.js';
import { resumableSubscription, type ReconnectOptions, type SubscriptionTransport, type TransportConfig } from './subscribe.js';
import { checkReceipt } from './verify.js';

export type { EventFilter, LogEventInput, SortOrder, TypedDocumentString };
/** An event as the client reads it: every field of its leaf, so it can be verified. */
export type ChainlogEvent = EventFieldsFragment;
/** An event as logEvent and logEvents answer it, with its receipt when they waited for one. */
export type LoggedEvent = ClientLogEventMutation['logEvent'];
export type CheckpointUpdate = ClientCheckpointPublishedSubscription['checkpointPublished'];
export type ServerInfo = ClientServerInfoQuery['serverInfo'];

/**
 * Names the one log a request writes to, so a load balancer can send each log's appends to one API
 * process (README, "Many API processes"). The client sets it when every event of a request is for one log.
 */
export const LOG_ROUTE_HEADER = 'x-chainlog-log';

export interface ChainlogClientOptions {
  /** The service's base URL, e.g. `https://chainlog.example.com` (required). GraphQL goes to `<url>/graphql`, SSE to `<url>/graphql/stream`, WebSocket to `ws(s)://…/graphql`. */
  url: string;
  /** The API key, sent as `x-api-key` (on WebSocket in connectionParams). Default: none (a server with AUTH=off). */
  apiKey?: string | undefined;
  /**
   * The server's verifier key, PINNED: obtained out of band (the operator's `serverInfo.verifierKey`
   * compared once, or derived from the signing key), never taken from the server at run time. verifyEvent
   * and verifyReceipt need it. Default: none.
   */
  verifierKey?: string | undefined;
  /** The prefix of the logs' origins (`<originPrefix>/<sourceAppId>`). Default: the verifier key's name (a server's KEY_NAME defaults to its ORIGIN_PREFIX). */
  originPrefix?: string | undefined;
  /** The fetch to use for GraphQL over HTTP and SSE. Default: `globalThis.fetch`. */
  fetch?: typeof fetch | undefined;
  /** The WebSocket class for `transport: 'ws'`. Default: `globalThis.WebSocket` (browsers, Node 22+); on Node 20 pass the `ws` package's. */
  webSocketImpl?: unknown;
  /** Extra headers on every HTTP request and SSE connection. Default: none. */
  headers?: Record<string, string> | undefined;
  /** How long one HTTP request may take, in ms, before it fails with a ChainlogTransportError. Default: 30000. */
  timeoutMs?: number | undefined;
  /**
   * The most bytes of one HTTP answer (and of one SSE message, or an SSE refusal) read: a longer one
   * fails with a ChainlogTransportError as soon as it passes the bound, its rest unread. Default: 134217728
   * (128 MiB; a server answers at most its GRAPHQL_MAX_RESPONSE_BYTES, 64 MiB by default).
   */
  maxResponseBytes?: number | undefined;
  /**
   * How many times a request that failed transiently (no answer, HTTP 429/502/503/504, RATE_LIMITED) is
   * sent again. Reads always qualify; logEvent and logEvents only when every event has an idempotency key
   * (see idempotencyKeys), since only then can a retry not log an event twice. Default: 2.
   */
  retries?: number | undefined;
  /** The wait before the first retry in ms, doubling per retry (or the server's Retry-After), at most 10 s. Default: 200. */
  retryDelayMs?: number | undefined;
  /**
   * Give every event sent without an idempotencyKey a random one (crypto.randomUUID), so that a retry
   * returns the event already logged (marked replayed) instead of logging it twice. Default: true.
   */
  idempotencyKeys?: boolean | undefined;
}

export interface LogOptions {
  /** Answer only once a checkpoint covers the event(s), with the receipt in `receipt` (bounded by the server's wait). Default: false. */
  waitForReceipt?: boolean | undefined;
}

export interface EventsOptions {
  /** ASC (oldest first, the default here) or DESC. */
  order?: SortOrder | undefined;
  /** Events per page, 1 to the server's maxPageSize (500). Default: 100. */
  pageSize?: number | undefined;
  /** Start after this cursor (a page's endCursor). Default: the start of the list. */
  after?: string | undefined;
}

export interface EventsPage {
  events: ChainlogEvent[];
  /** Pass as `after` to continue after this page; null for an empty page. */
  endCursor: string | null;
  hasNextPage: boolean;
}

export interface SubscribeOptions extends ReconnectOptions {
  /** 'ws' (graphql-ws over WebSocket, the default) or 'sse' (graphql-sse over Server-Sent Events). */
  transport?: SubscriptionTransport | undefined;
}

export interface EventLoggedOptions extends SubscribeOptions {
  /** Which events; all the key may read when omitted. */
  filter?: EventFilter | undefined;
  /**
   * The id of the last event already processed (or `<sourceAppId>/-1` for a log's first event on): the
   * server replays what followed it, then goes live. Without it the stream starts live, and is gapless
   * from its first event on (a reconnection before any event resumes live).
   */
  after?: string | undefined;
}

export interface CheckpointPublishedOptions extends SubscribeOptions {
  /** Checkpoints of this log only; every log the key may read when omitted. */
  sourceAppId?: string | undefined;
}

/** An async iterable of a subscription's items; `return()` (or `break` in for await) closes it. */
export type Subscription<T> = AsyncGenerator<T, void, undefined>;

export interface VerifiedEvent {
  /** The log's origin the checkpoint is signed under. */
  origin: string;
  /** The event's leaf index (its seq). */
  index: number;
  /** The leaf hash recomputed from the event's fields, lowercase hex. */
  leafHash: string;
  /** The verified checkpoint's tree size and root hash (lowercase hex). */
  treeSize: number;
  rootHash: string;
  /** The checkpoint's signed note. */
  note: string;
}

export interface ChainlogClient {
  /** Logs one event; throws ChainlogGraphqlError (extensions.code) when it is refused. */
  logEvent(input: LogEventInput, options?: LogOptions): Promise<LoggedEvent>;
  /** Logs 1 to maxBatchSize events, all or nothing; a refusal's extensions.errors names each bad item by index. */
  logEvents(inputs: readonly LogEventInput[], options?: LogOptions): Promise<LoggedEvent[]>;
  /** The events matching `filter`, page by page, following the cursors until the last page. */
  events(filter?: EventFilter, options?: EventsOptions): AsyncGenerator<EventsPage, void, undefined>;
  /** An event by id (`<sourceAppId>/<seq>`); null if there is none. */
  event(id: string): Promise<ChainlogEvent | null>;
  subscribe(to: 'eventLogged', options?: EventLoggedOptions): Subscription<ChainlogEvent>;
  subscribe(to: 'checkpointPublished', options?: CheckpointPublishedOptions): Subscription<CheckpointUpdate>;
  /**
   * Verifies that `event` (or the event of this id) is in its log: its leaf recomputed from its fields
   * (leaf version 2: the payload against its commitment), its receipt's inclusion proof to a checkpoint
   * signed by the pinned verifier key. Throws ChainlogVerificationError with the part that fails (`pending`
   * while no checkpoint covers it yet).
   */
  verifyEvent(event: ChainlogEvent | string): Promise<VerifiedEvent>;
  /** Verifies a receipt (C2SP tlog-proof text) of `event`, offline, as verifyEvent does. */
  verifyReceipt(receipt: string, event: ChainlogEvent | LoggedEvent): VerifiedEvent;
  serverInfo(): Promise<ServerInfo>;
  /** Any typed document (or query text) over HTTP; `retry` only for operations safe to repeat (default false). */
  request<R, V>(document: TypedDocumentString<R, V> | string, variables?: V, options?: { retry?: boolean }): Promise<R>;
}

const DEFAULT_PAGE_SIZE = 100;
const DEFAULT_MAX_RESPONSE_BYTES = 128 * 1024 * 1024;

export function createChainlogClient(options: ChainlogClientOptions): ChainlogClient {
  const base = options.url.replace(/\/+$/, '');
  const fetchImpl = options.fetch ?? ((...args: Parameters<typeof fetch>) => globalThis.fetch(...args));
  const headers: Record<string, string> = {
    ...options.headers,
    'content-type': 'application/json',
    accept: 'application/graphql-response+json, application/json',
  };
  if (options.apiKey) headers['x-api-key'] = options.apiKey;
  const http: HttpOptions = {
    endpoint: `${base}/graphql`,
    headers,
    fetch: fetchImpl,
    timeoutMs: options.timeoutMs ?? 30_000,
    maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    retries: options.retries ?? 2,
    retryDelayMs: options.retryDelayMs ?? 200,
  };
  const transport: TransportConfig = {
    url: base,
    apiKey: options.apiKey,
    headers: options.headers ?? {},
    fetch: fetchImpl,
    webSocketImpl: options.webSocketImpl,
    maxResponseBytes: http.maxResponseBytes,
  };
  const autoKeys = options.idempotencyKeys ?? true;
  let pinned: NoteVerifier | null = null;
  const verifier = (): NoteVerifier => {
    if (pinned) return pinned;
    if (!options.verifierKey) throw new ChainlogError('verifying needs the pinned verifierKey option');
    try {
      pinned = parseVerifierKey(options.verifierKey);
    } catch (err) {
      if (err instanceof NoteError) throw new ChainlogError(`the verifierKey option is not a verifier key: ${err.message}`);
      throw err;
    }
    return pinned;
  };

  const request = async <R, V>(
    doc: TypedDocumentString<R, V> | string,
    variables?: V,
    o?: { retry?: boolean; headers?: Record<string, string> },
  ) =>
    (await post(http, doc.toString(), variables, { retry: o?.retry ?? false, ...(o?.headers && { headers: o.headers }) })) as R;

  /** The events with idempotency keys (when enabled), whether a retry is safe, and the routing header. */
  const prepare = (inputs: readonly LogEventInput[]) => {
    const keyed = inputs.map((i) =>
      autoKeys && !i.idempotencyKey ? { ...i, idempotencyKey: globalThis.crypto.randomUUID() } : i,
    );
    const log = keyed[0]?.sourceAppId;
    const route = log !== undefined && keyed.every((e) => e.sourceAppId === log) ? { [LOG_ROUTE_HEADER]: log } : undefined;
    return { keyed, retry: keyed.every((i) => !!i.idempotencyKey), ...(route && { headers: route }) };
  };

  const verifyAgainst = (receipt: string, event: ChainlogEvent | LoggedEvent): VerifiedEvent => {
    const trusted = verifier();
    try {
      const r = checkReceipt(receipt, event, trusted, options.originPrefix ?? trusted.name);
      return {
        origin: r.origin,
        index: r.proof.index,
        leafHash: r.leafHash,
        treeSize: r.checkpoint.size,
        rootHash: toHex(r.checkpoint.rootHash),
        note: r.proof.checkpoint,
      };
    } catch (err) {
      if (err instanceof ReceiptError) throw new ChainlogVerificationError(err.part, err.message);
      throw err;
    }
  };

  function subscribe(to: 'eventLogged', o?: EventLoggedOptions): Subscription<ChainlogEvent>;
  function subscribe(to: 'checkpointPublished', o?: CheckpointPublishedOptions): Subscription<CheckpointUpdate>;
  function subscribe(
    to: 'eventLogged' | 'checkpointPublished',
    o: EventLoggedOptions & CheckpointPublishedOptions = {},
  ): Subscription<ChainlogEvent> | Subscription<CheckpointUpdate> {
    const kind = o.transport ?? 'ws';
    if (to === 'eventLogged') {
      let after = o.after ?? null;
      /** The last seq delivered per log: anything at or below it is a replayed duplicate. */
      const delivered = new Map<string, number>();
      return resumableSubscription<ChainlogEvent>(
        transport,
        {
          transport: kind,
          query: ClientEventLoggedDocument.toString(),
          variables: () => ({ filter: o.filter ?? null, after }),
          accept: (data) => {
            const e = (data as ClientEventLoggedSubscription).eventLogged;
            const last = delivered.get(e.sourceAppId);
            if (last !== undefined && e.seq <= last) return null;
            delivered.set(e.sourceAppId, e.seq);
            after = e.id;
            return e;
          },
        },
        o,
      );
    }
    /** The last (tree size, witnessed) delivered per log: a checkpoint comes at most twice, unwitnessed then witnessed. */
    const seen = new Map<string, { size: number; witnessed: boolean }>();
    return resumableSubscription<CheckpointUpdate>(
      transport,
      {
        transport: kind,
        query: ClientCheckpointPublishedDocument.toString(),
        variables: () => ({ sourceAppId: o.sourceAppId ?? null }),
        accept: (data) => {
          const u = (data as ClientCheckpointPublishedSubscription).checkpointPublished;
          const last = seen.get(u.checkpoint.sourceAppId);
          const stale =
            last !== undefined &&
            (u.checkpoint.treeSize < last.size ||
              (u.checkpoint.treeSize === last.size && (last.witnessed || !u.checkpoint.witnessed)));
          if (stale) return null;
          seen.set(u.checkpoint.sourceAppId, { size: u.checkpoint.treeSize, witnessed: u.checkpoint.witnessed });
          return u;
        },
      },
      o,
    );
  }

  const client: ChainlogClient = {
    async logEvent(input, o) {
      const p = prepare([input]);
      const data = await request(ClientLogEventDocument, { input: p.keyed[0]!, waitForReceipt: o?.waitForReceipt ?? false }, p);
      return data.logEvent;
    },
    async logEvents(inputs, o) {
      const p = prepare(inputs);
      const data = await request(ClientLogEventsDocument, { inputs: p.keyed, waitForReceipt: o?.waitForReceipt ?? false }, p);
      return data.logEvents;
    },
    async *events(filter, o) {
      let after = o?.after ?? null;
      for (;;) {
        const vars = { filter: filter ?? null, order: o?.order ?? 'ASC', first: o?.pageSize ?? DEFAULT_PAGE_SIZE, after };
        const { events } = await request(ClientEventsDocument, vars, { retry: true });
        yield { events: events.nodes, endCursor: events.pageInfo.endCursor, hasNextPage: events.pageInfo.hasNextPage };
        // A page may end early (and even be empty) with more to come: its endCursor is where to go on.
        if (!events.pageInfo.hasNextPage || events.pageInfo.endCursor === null) return;
        after = events.pageInfo.endCursor;
      }
    },
    async event(id) {
      return (await request(ClientEventDocument, { id }, { retry: true })).event;
    },
    subscribe,
    async verifyEvent(eventOrId) {
      verifier();
      const event = typeof eventOrId === 'string' ? await client.event(eventOrId) : eventOrId;
      if (event === null) throw new ChainlogVerificationError('event', `there is no event ${eventOrId as string}`);
      const { receipt } = await request(ClientReceiptDocument, { id: event.id }, { retry: true });
      if (receipt === null) throw new ChainlogVerificationError('event', `the server has no event ${event.id}`);
      if (receipt.status !== 'READY' || receipt.proof === null) {
        throw new ChainlogVerificationError('pending', `no checkpoint of ${event.sourceAppId} covers event ${event.id} yet`);
      }
      return verifyAgainst(receipt.proof, event);
    },
    verifyReceipt: verifyAgainst,
    async serverInfo() {
      return (await request(ClientServerInfoDocument, {}, { retry: true })).serverInfo;
    },
    request: (doc, variables, o) => request(doc, variables, o),
  };
  return client;
}

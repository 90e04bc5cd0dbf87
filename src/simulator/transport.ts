// Sends one batch over REST or GraphQL and says, per event, whether it was accepted or which code rejected it.
// GraphQL goes through the chainlog client (src/client), without its retries and idempotency keys: the
// simulator counts every answer as it comes and backs off itself (runner.ts).
import {
  ChainlogGraphqlError,
  ChainlogTransportError,
  createChainlogClient,
  LOG_ROUTE_HEADER,
  type LogEventInput,
} from '../client/index.js';
import type { EventInput } from './generator.js';

export type TransportKind = 'rest' | 'graphql';

export interface SendOutcome {
  latencyMs: number;
  /** One entry per event: null when accepted, else the rejection code. */
  codes: Array<string | null>;
  /** The service did not answer, or answered 5xx: back off, and give up after enough of these in a row. */
  unavailable?: boolean;
  /** The service answered 429 (rate limited): back off, but it is there. */
  throttled?: boolean;
}

export interface TransportOptions {
  kind: TransportKind;
  /** Service base URL, e.g. http://127.0.0.1:4000 */
  url: string;
  apiKey?: string | undefined;
  timeoutMs?: number;
}

interface WireError {
  code?: unknown;
  index?: unknown;
}

/**
 * Names the one log a request writes to, so a load balancer can send each log's appends to one API
 * process (which then keeps that log's sequencer lease; README, "Many API processes"). The client sets
 * it on GraphQL writes; the REST transport here sets it too.
 */
export { LOG_ROUTE_HEADER };

export function createTransport(options: TransportOptions): (events: EventInput[]) => Promise<SendOutcome> {
  const base = options.url.replace(/\/+$/, '');
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (options.apiKey) headers['x-api-key'] = options.apiKey;
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (options.kind === 'graphql') {
    const client = createChainlogClient({ url: base, apiKey: options.apiKey, timeoutMs, retries: 0, idempotencyKeys: false });
    // The generator's invalid events break the input rules on purpose: they are sent as they are.
    return (events) => sendGraphql(() => client.logEvents(events as LogEventInput[]), events.length);
  }

  return async (events) => {
    const endpoint = `${base}/v1/events`;
    const body = events.length === 1 ? events[0] : events;
    const started = performance.now();
    let status = 0;
    let json: unknown;
    try {
      const log = events[0]?.sourceAppId;
      const route: Record<string, string> =
        log !== undefined && events.every((e) => e.sourceAppId === log) ? { [LOG_ROUTE_HEADER]: log } : {};
      const res = await fetch(endpoint, {
        method: 'POST',
        headers: { ...headers, ...route },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = res.status;
      json = await res.json().catch(() => undefined);
    } catch {
      return { latencyMs: performance.now() - started, codes: events.map(() => 'NETWORK_ERROR'), unavailable: true };
    }
    const latencyMs = performance.now() - started;
    return {
      latencyMs,
      codes: outcomeCodes('rest', status, json, events.length),
      unavailable: status >= 500,
      throttled: status === 429,
    };
  };
}

/** One logEvents call through the client, its answer or failure as per-event codes. */
async function sendGraphql(send: () => Promise<unknown>, count: number): Promise<SendOutcome> {
  const started = performance.now();
  try {
    await send();
    return { latencyMs: performance.now() - started, codes: Array.from({ length: count }, () => null) };
  } catch (err) {
    const latencyMs = performance.now() - started;
    if (err instanceof ChainlogGraphqlError) {
      const status = err.status ?? 200;
      const codes = outcomeCodes('graphql', status, { errors: err.errors }, count);
      return { latencyMs, codes, unavailable: status >= 500, throttled: status === 429 };
    }
    if (err instanceof ChainlogTransportError) {
      if (err.status === null)
        return { latencyMs, codes: Array.from({ length: count }, () => 'NETWORK_ERROR'), unavailable: true };
      const codes = Array.from({ length: count }, () => `HTTP_${err.status}`);
      return { latencyMs, codes, unavailable: err.status >= 500, throttled: err.status === 429 };
    }
    throw err;
  }
}

/** Per-event codes from a response; exported for tests of the wire formats. */
export function outcomeCodes(kind: TransportKind, status: number, json: unknown, count: number): Array<string | null> {
  const body = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  const accepted =
    kind === 'rest'
      ? (status === 201 || status === 200) && Array.isArray(body.events) && body.events.length === count
      : Array.isArray((body.data as Record<string, unknown> | null | undefined)?.logEvents) && !Array.isArray(body.errors);
  if (accepted) return Array.from({ length: count }, () => null);

  const errors: WireError[] = [];
  if (Array.isArray(body.errors)) {
    for (const e of body.errors as Array<Record<string, unknown>>) {
      if (kind === 'rest') errors.push(e);
      else {
        const ext = (e.extensions ?? {}) as Record<string, unknown>;
        if (Array.isArray(ext.errors)) errors.push(...(ext.errors as WireError[]));
        else errors.push({ code: ext.code });
      }
    }
  }
  const byIndex = new Map<number, string>();
  for (const e of errors) if (typeof e.index === 'number' && typeof e.code === 'string') byIndex.set(e.index, e.code);
  const first = errors.find((e) => typeof e.code === 'string')?.code as string | undefined;
  // Batches are all or nothing: good items of a rejected batch were rejected because of their neighbours.
  const rest = byIndex.size > 0 ? 'BATCH_REJECTED' : (first ?? `HTTP_${status}`);
  return Array.from({ length: count }, (_, i) => byIndex.get(i) ?? rest);
}

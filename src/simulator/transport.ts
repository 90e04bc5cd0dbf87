// Sends one batch over REST or GraphQL and says, per event, whether it was accepted or which code rejected it.
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
 * process (which then keeps that log's sequencer lease; README, "Many API processes").
 */
export const LOG_ROUTE_HEADER = 'x-chainlog-log';

const LOG_EVENTS = `mutation LogEvents($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }`;

export function createTransport(options: TransportOptions): (events: EventInput[]) => Promise<SendOutcome> {
  const base = options.url.replace(/\/+$/, '');
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (options.apiKey) headers['x-api-key'] = options.apiKey;
  const timeoutMs = options.timeoutMs ?? 30_000;

  return async (events) => {
    const [endpoint, body] =
      options.kind === 'rest'
        ? [`${base}/v1/events`, events.length === 1 ? events[0] : events]
        : [`${base}/graphql`, { query: LOG_EVENTS, variables: { inputs: events } }];
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
      codes: outcomeCodes(options.kind, status, json, events.length),
      unavailable: status >= 500,
      throttled: status === 429,
    };
  };
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

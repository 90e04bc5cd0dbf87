// Batch ingest through `logEvents` over HTTP: N concurrent clients, each sending one batch at a time.
import type { EventGenerator } from '../src/simulator/generator.js';
import { nextBatch, type EventInput } from './events.js';
import { GraphQLClient, GraphQLRequestError } from './http.js';
import { LOG_EVENTS } from './queries.js';

export interface IngestRun {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  /** Round trip of each batch, ms. */
  batchLatencies: number[];
}

export const logEventsBody = (inputs: EventInput[]) => JSON.stringify({ query: LOG_EVENTS, variables: { inputs } });

/** Checks a logEvents response: HTTP 200, no errors, one result per input. */
export function checkLogEventsResponse(status: number, body: string, expected: number): void {
  if (status !== 200 || body.includes('"errors"')) {
    throw new GraphQLRequestError(`logEvents failed: HTTP ${status}: ${body.slice(0, 400)}`, status, null);
  }
  const n = (JSON.parse(body) as { data: { logEvents: unknown[] } }).data.logEvents.length;
  if (n !== expected) throw new Error(`logEvents returned ${n} events for ${expected} inputs`);
}

type Batch = { body: string; count: number };

/**
 * Sends logEvents requests from `clients` concurrent clients, each taking the next batch when its
 * previous one is acknowledged, until `nextBatchOf` has none left.
 */
async function send(
  url: string,
  clients: number,
  nextBatchOf: () => Batch | undefined,
  onProgress?: (sent: number, seconds: number) => void,
  apiKey?: string,
): Promise<IngestRun> {
  const client = new GraphQLClient(url, { maxSockets: clients, ...(apiKey !== undefined && { apiKey }) });
  const latencies: number[] = [];
  let events = 0;
  let lastReport = 0;
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (let b = nextBatchOf(); b !== undefined; b = nextBatchOf()) {
          const t = performance.now();
          const res = await client.post(b.body);
          latencies.push(performance.now() - t);
          checkLogEventsResponse(res.status, res.body, b.count);
          events += b.count;
          if (onProgress && events - lastReport >= 100_000) {
            lastReport = events;
            onProgress(events, (performance.now() - t0) / 1000);
          }
        }
      }),
    );
  } finally {
    client.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  return { events, seconds, eventsPerSecond: events / seconds, batchLatencies: latencies };
}

/** Sends `bodies` (pre-serialized logEvents requests, so that serializing is not timed). */
export function sendBatches(url: string, bodies: readonly Batch[], clients: number): Promise<IngestRun> {
  let next = 0;
  return send(url, clients, () => bodies[next++]);
}

/**
 * Sends `total` events of `source`, each batch generated just before it is sent (for large loads);
 * `apiKey` for a server with AUTH=on.
 */
export function streamBatches(
  url: string,
  source: EventGenerator,
  total: number,
  batchSize: number,
  clients: number,
  onProgress?: (sent: number, seconds: number) => void,
  apiKey?: string,
): Promise<IngestRun> {
  let generated = 0;
  const nextBatchOf = (): Batch | undefined => {
    const count = Math.min(batchSize, total - generated);
    if (count <= 0) return undefined;
    generated += count;
    return { body: logEventsBody(nextBatch(source, count)), count };
  };
  return send(url, clients, nextBatchOf, onProgress, apiKey);
}

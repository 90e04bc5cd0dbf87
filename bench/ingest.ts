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

/**
 * Sends `bodies` (pre-serialized logEvents requests) from `clients` concurrent clients, each taking
 * the next unsent body when its previous one is acknowledged.
 */
export async function sendBatches(url: string, bodies: ReadonlyArray<{ body: string; count: number }>, clients: number): Promise<IngestRun> {
  const client = new GraphQLClient(url, { maxSockets: clients });
  const latencies: number[] = [];
  let next = 0;
  let events = 0;
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < bodies.length) {
          const b = bodies[next++]!;
          const t = performance.now();
          const res = await client.post(b.body);
          latencies.push(performance.now() - t);
          checkLogEventsResponse(res.status, res.body, b.count);
          events += b.count;
        }
      }),
    );
  } finally {
    client.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  return { events, seconds, eventsPerSecond: events / seconds, batchLatencies: latencies };
}

/** Like sendBatches but generates each batch from `source` just before sending it (for large loads). */
export async function streamBatches(
  url: string,
  source: EventGenerator,
  total: number,
  batchSize: number,
  clients: number,
  onProgress?: (sent: number, seconds: number) => void,
): Promise<IngestRun> {
  const client = new GraphQLClient(url, { maxSockets: clients });
  const latencies: number[] = [];
  let generated = 0;
  let events = 0;
  let lastReport = 0;
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (generated < total) {
          const n = Math.min(batchSize, total - generated);
          generated += n;
          const body = logEventsBody(nextBatch(source, n));
          const t = performance.now();
          const res = await client.post(body);
          latencies.push(performance.now() - t);
          checkLogEventsResponse(res.status, res.body, n);
          events += n;
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

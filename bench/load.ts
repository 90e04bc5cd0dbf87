// Closed-loop load: `clients` concurrent clients each sending one request after another for a duration.
import { GraphQLClient } from './http.js';

export interface LoopRun {
  requests: number;
  errors: number;
  firstError?: string;
  seconds: number;
  perSecond: number;
  latencies: number[];
}

/** `makeBody(i)` builds the i-th request body; a response counts as an error if it is not 200 or has errors. */
export async function closedLoop(
  url: string,
  clients: number,
  seconds: number,
  makeBody: (i: number) => string,
): Promise<LoopRun> {
  const client = new GraphQLClient(url, { maxSockets: clients });
  const latencies: number[] = [];
  let requests = 0;
  let errors = 0;
  let firstError: string | undefined;
  let i = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  try {
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (performance.now() < end) {
          const body = makeBody(i++);
          const t = performance.now();
          const res = await client.post(body);
          latencies.push(performance.now() - t);
          requests++;
          if (res.status !== 200 || res.body.includes('"errors"')) {
            errors++;
            firstError ??= `HTTP ${res.status}: ${res.body.slice(0, 300)}`;
          }
        }
      }),
    );
  } finally {
    client.close();
  }
  const elapsed = (performance.now() - t0) / 1000;
  return { requests, errors, ...(firstError ? { firstError } : {}), seconds: elapsed, perSecond: requests / elapsed, latencies };
}

/** A sample budget: at most `max` iterations, stopping early after `seconds` once `min` are done. */
export function budget(max: number, seconds: number, min = 5): () => boolean {
  const end = performance.now() + seconds * 1000;
  let i = 0;
  return () => i < max && (i++ < min || performance.now() < end);
}

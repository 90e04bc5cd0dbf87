// Drives the simulation: `concurrency` workers take batches off a shared schedule paced at `rate` events/s.
import { SimulationStats, type Summary } from './stats.js';
import type { EventGenerator, EventInput, SimEvent } from './generator.js';
import type { SendOutcome } from './transport.js';

export interface RunOptions {
  generator: EventGenerator;
  send: (events: EventInput[]) => Promise<SendOutcome>;
  /** Events per second; 0 = as fast as the service answers. */
  rate: number;
  concurrency: number;
  batch: number;
  /** Stop after this long and/or this many events, whichever comes first (at least one is required). */
  durationMs?: number | undefined;
  count?: number | undefined;
  stats?: SimulationStats;
  signal?: AbortSignal;
  /** Requests in a row the service may fail (no answer, 5xx) before the run stops (default 8). */
  maxFailures?: number;
  /** Backoff after such a failure: doubles from `backoffMs` (default 100) up to `maxBackoffMs` (default 2000). */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export interface RunResult extends Summary {
  /** Why the run ended before its duration or count, if it did. */
  stoppedEarly?: string;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

export async function runSimulation(options: RunOptions): Promise<RunResult> {
  const { generator, send, rate, concurrency, batch, durationMs, count } = options;
  if (durationMs === undefined && count === undefined) throw new RangeError('give a duration or a count');
  const maxFailures = options.maxFailures ?? 8;
  const backoffMs = options.backoffMs ?? 100;
  const maxBackoffMs = options.maxBackoffMs ?? 2000;
  const stats = options.stats ?? new SimulationStats();
  const start = performance.now();
  const deadline = durationMs === undefined ? Infinity : start + durationMs;
  let issued = 0;
  // A down or overloaded service is not hammered: every worker waits out a shared, growing backoff,
  // and the run stops after maxFailures failed requests in a row.
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) stop.abort();
  const signal = stop.signal;
  let failuresInARow = 0;
  let resumeAt = 0;
  let stoppedEarly: string | undefined;

  const sendAndRecord = async (events: SimEvent[]) => {
    await sleep(resumeAt - performance.now(), signal);
    if (signal.aborted) return;
    const outcome = await send(events.map((e) => e.input));
    if (outcome.unavailable) {
      failuresInARow++;
      resumeAt = Math.max(resumeAt, performance.now() + Math.min(maxBackoffMs, backoffMs * 2 ** (failuresInARow - 1)));
      if (failuresInARow >= maxFailures && !stoppedEarly) {
        stoppedEarly = `the service failed ${failuresInARow} requests in a row (no answer or 5xx); stopped`;
        stop.abort();
      }
    } else {
      failuresInARow = 0;
      // Rate limited: the service is there; slow down without counting towards giving up.
      if (outcome.throttled) resumeAt = Math.max(resumeAt, performance.now() + backoffMs);
    }
    stats.record(
      outcome.latencyMs,
      events.map((e, i) => ({
        code: i < outcome.codes.length ? outcome.codes[i]! : 'MISSING_RESULT',
        invalid: e.invalid !== null,
      })),
    );
  };

  const worker = async () => {
    while (!signal.aborted) {
      const n = Math.min(batch, count === undefined ? batch : count - issued);
      if (n <= 0) return;
      const first = issued;
      issued += n;
      if (rate > 0) await sleep(Math.min(start + (first / rate) * 1000, deadline) - performance.now(), signal);
      if (signal.aborted || performance.now() >= deadline) return;
      const events = Array.from({ length: n }, () => generator.next());
      // A batch is all or nothing, so bad events go alone: they must not sink the good ones.
      const valid = events.filter((e) => e.invalid === null);
      if (valid.length > 0) await sendAndRecord(valid);
      for (const bad of events.filter((e) => e.invalid !== null)) await sendAndRecord([bad]);
    }
  };

  await Promise.all(Array.from({ length: concurrency }, worker));
  options.signal?.removeEventListener('abort', onAbort);
  const summary = stats.summary();
  return stoppedEarly ? { ...summary, stoppedEarly } : summary;
}

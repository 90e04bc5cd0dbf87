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

export async function runSimulation(options: RunOptions): Promise<Summary> {
  const { generator, send, rate, concurrency, batch, durationMs, count, signal } = options;
  if (durationMs === undefined && count === undefined) throw new RangeError('give a duration or a count');
  const stats = options.stats ?? new SimulationStats();
  const start = performance.now();
  const deadline = durationMs === undefined ? Infinity : start + durationMs;
  let issued = 0;

  const sendAndRecord = async (events: SimEvent[]) => {
    const outcome = await send(events.map((e) => e.input));
    stats.record(
      outcome.latencyMs,
      events.map((e, i) => ({ code: i < outcome.codes.length ? outcome.codes[i]! : 'MISSING_RESULT', invalid: e.invalid !== null })),
    );
  };

  const worker = async () => {
    while (!signal?.aborted) {
      const n = Math.min(batch, count === undefined ? batch : count - issued);
      if (n <= 0) return;
      const first = issued;
      issued += n;
      if (rate > 0) await sleep(Math.min(start + (first / rate) * 1000, deadline) - performance.now(), signal);
      if (signal?.aborted || performance.now() >= deadline) return;
      const events = Array.from({ length: n }, () => generator.next());
      // A batch is all or nothing, so bad events go alone: they must not sink the good ones.
      const valid = events.filter((e) => e.invalid === null);
      if (valid.length > 0) await sendAndRecord(valid);
      for (const bad of events.filter((e) => e.invalid !== null)) await sendAndRecord([bad]);
    }
  };

  await Promise.all(Array.from({ length: concurrency }, worker));
  return stats.summary();
}

// The benchmark's events come from the simulator's generator (src/simulator/generator.ts): every app
// profile's event types and payloads, written to the logs a scenario names, without idempotency keys
// (a key adds a lookup per event that the scenarios do not measure).
import { createGenerator, type EventGenerator, type EventInput } from '../src/simulator/generator.js';
import { PROFILES } from '../src/simulator/dictionary.js';
import { mulberry32 } from '../src/simulator/prng.js';

export type { EventInput } from '../src/simulator/generator.js';

export interface BenchEventOptions {
  seed: number;
  /** The logs events go to, round-robin unless `logOf` is given. */
  logs: readonly string[];
  /** The log of event n. */
  logOf?: (n: number) => string;
  /** Timestamp of event n (epoch ms); default: now, minus up to 2 s. */
  timestampOf?: (n: number) => number;
}

/** Seeded events for the benchmark: a run always generates the same events. */
export function benchEvents(o: BenchEventOptions): EventGenerator {
  return createGenerator({
    seed: o.seed,
    apps: PROFILES.length,
    idempotencyKeyRatio: 0,
    sourceAppIdOf: o.logOf ?? ((n) => o.logs[n % o.logs.length]!),
    ...(o.timestampOf ? { timestampOf: o.timestampOf } : {}),
  });
}

/** The next `size` events of `events`. */
export const nextBatch = (events: EventGenerator, size: number): EventInput[] =>
  Array.from({ length: size }, () => events.next().input);

/** Share of the generated events that have one of `types` (each profile is picked with equal chance). */
export function typeShare(types: readonly string[]): number {
  let share = 0;
  for (const p of PROFILES) {
    const total = p.events.reduce((sum, e) => sum + e.weight, 0);
    for (const e of p.events) if (types.includes(e.type)) share += e.weight / total / PROFILES.length;
  }
  return share;
}

/**
 * Timestamps of a live stream, for events generated ahead of a run: event n is stamped as if produced
 * at `eventsPerSecond` ending now, each up to `jitterMs` earlier (client clocks and delays). Stamping a
 * whole pre-generated run with the generator's own clock would put it within a second or two, so the
 * run's events would arrive in random timestamp order from first to last, which no live source does.
 */
export function streamTimestamps(count: number, eventsPerSecond: number, jitterMs = 1000, seed = 7): (n: number) => number {
  const r = mulberry32(seed);
  const start = Date.now() - Math.ceil((count * 1000) / eventsPerSecond);
  return (n) => start + Math.floor((n * 1000) / eventsPerSecond) - Math.floor(r() * jitterMs);
}

export const appNames = (prefix: string, count: number): string[] =>
  Array.from({ length: count }, (_, i) => (count === 1 ? prefix : `${prefix}-${String(i).padStart(3, '0')}`));

/**
 * `payload` resized to `bytes` of JSON text (the simulator's own payloads run from 40 to 465 bytes):
 * its top-level members are kept in order while they fit, and a `note` string fills the rest. Batch
 * ingest reports ~100-byte and ~250-byte payloads this way, with the simulator's payload shapes.
 */
export function sizedPayload(payload: Record<string, unknown>, bytes: number): Record<string, unknown> {
  const filler = ',"note":""'.length;
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(payload)) {
    kept[key] = value;
    if (JSON.stringify(kept).length + filler > bytes) delete kept[key];
  }
  const length = JSON.stringify(kept).length + (Object.keys(kept).length === 0 ? filler - 1 : filler);
  return { ...kept, note: 'n'.repeat(Math.max(0, bytes - length)) };
}

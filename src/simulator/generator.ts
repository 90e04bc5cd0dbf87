// Pure event generator: seeded, clock injected, so a seed always yields the same events. The one event
// generator of the tools: the simulator sends its events, the benchmark and the scale harness load with them.
import { profilesFor, type AppProfile } from './dictionary.js';
import { createRng, type Rng } from './prng.js';

/** The body of one event as REST and GraphQL take it. `payload` is unknown because invalid events may break it. */
export interface EventInput {
  eventType: string;
  timestamp: string;
  sourceAppId: string;
  payload: unknown;
  idempotencyKey?: string;
}

export interface SimEvent {
  input: EventInput;
  /** Which rule the event breaks on purpose, or null for a valid event. */
  invalid: InvalidKind | null;
}

export const INVALID_KINDS = ['sourceAppId', 'eventType', 'payloadNotObject', 'futureTimestamp', 'malformedTimestamp'] as const;
export type InvalidKind = (typeof INVALID_KINDS)[number];

export interface GeneratorOptions {
  seed: number;
  apps: number;
  /** Share of events, 0..1, that break a rule on purpose. */
  invalidRatio?: number;
  /** Epoch ms; events are stamped up to 2 s before it, as clients report slightly late. */
  now?: () => number;
  /** Timestamp (epoch ms) of the n-th event (from 0), instead of `now` minus up to 2 s. */
  timestampOf?: (n: number) => number;
  /** The log of the n-th event, instead of its profile's app (the profile still gives type and payload). */
  sourceAppIdOf?: (n: number) => string;
  /** Share of events, 0..1, that carry an idempotency key (default 0.25, as some clients retry safely). */
  idempotencyKeyRatio?: number;
}

export interface EventGenerator {
  readonly apps: readonly string[];
  next(): SimEvent;
}

export function createGenerator(options: GeneratorOptions): EventGenerator {
  const rng = createRng(options.seed);
  const profiles = profilesFor(options.apps);
  const invalidRatio = options.invalidRatio ?? 0;
  const keyRatio = options.idempotencyKeyRatio ?? 0.25;
  const now = options.now ?? Date.now;
  const timestampOf = options.timestampOf ?? (() => now() - rng.int(0, 2000));
  let n = 0;
  return {
    apps: profiles.map((p) => p.app),
    next() {
      const i = n++;
      const event = validEvent(rng, rng.pick(profiles), timestampOf(i), keyRatio);
      if (options.sourceAppIdOf) event.sourceAppId = options.sourceAppIdOf(i);
      if (invalidRatio > 0 && rng.chance(invalidRatio)) {
        const kind = rng.pick(INVALID_KINDS);
        return { input: breakRule(event, kind, now()), invalid: kind };
      }
      return { input: event, invalid: null };
    },
  };
}

function validEvent(rng: Rng, profile: AppProfile, timestamp: number, keyRatio: number): EventInput {
  const total = profile.events.reduce((sum, e) => sum + e.weight, 0);
  let roll = rng.next() * total;
  const spec = profile.events.find((e) => (roll -= e.weight) < 0) ?? profile.events[0]!;
  const input: EventInput = {
    eventType: spec.type,
    timestamp: new Date(timestamp).toISOString(),
    sourceAppId: profile.app,
    payload: spec.payload(rng),
  };
  // The PRNG makes the keys unique per seed.
  if (keyRatio > 0 && rng.chance(keyRatio)) input.idempotencyKey = `sim-${rng.hex(24)}`;
  return input;
}

function breakRule(event: EventInput, kind: InvalidKind, nowMs: number): EventInput {
  switch (kind) {
    case 'sourceAppId':
      return { ...event, sourceAppId: `-${event.sourceAppId} app` };
    case 'eventType':
      return { ...event, eventType: event.eventType.replace('.', ' ') + '!' };
    case 'payloadNotObject':
      return { ...event, payload: [event.payload] };
    case 'futureTimestamp':
      return { ...event, timestamp: new Date(nowMs + 86_400_000).toISOString() };
    case 'malformedTimestamp':
      return { ...event, timestamp: '2024-13-45T25:61:00Z' };
  }
}

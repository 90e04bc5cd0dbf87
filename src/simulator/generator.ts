// Pure event generator: seeded, clock injected, so a seed always yields the same events.
import type { JsonObject } from '../core/index.js';
import { profilesFor, type AppProfile } from './dictionary.js';
import { createRng, type Rng } from './prng.js';

/** The body of one event as REST and GraphQL take it. `payload` is unknown because invalid events may break it. */
export interface EventInput {
  eventType: string;
  timestamp: string;
  sourceAppId: string;
  payload: JsonObject | unknown;
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
}

export interface EventGenerator {
  readonly apps: readonly string[];
  next(): SimEvent;
}

export function createGenerator(options: GeneratorOptions): EventGenerator {
  const rng = createRng(options.seed);
  const profiles = profilesFor(options.apps);
  const invalidRatio = options.invalidRatio ?? 0;
  const now = options.now ?? Date.now;
  return {
    apps: profiles.map((p) => p.app),
    next() {
      const event = validEvent(rng, rng.pick(profiles), now());
      if (invalidRatio > 0 && rng.chance(invalidRatio)) {
        const kind = rng.pick(INVALID_KINDS);
        return { input: breakRule(event, kind, now()), invalid: kind };
      }
      return { input: event, invalid: null };
    },
  };
}

function validEvent(rng: Rng, profile: AppProfile, nowMs: number): EventInput {
  const total = profile.events.reduce((sum, e) => sum + e.weight, 0);
  let roll = rng.next() * total;
  const spec = profile.events.find((e) => (roll -= e.weight) < 0) ?? profile.events[0]!;
  const input: EventInput = {
    eventType: spec.type,
    timestamp: new Date(nowMs - rng.int(0, 2000)).toISOString(),
    sourceAppId: profile.app,
    payload: spec.payload(rng),
  };
  // Some clients retry safely with idempotency keys; the PRNG makes them unique per seed.
  if (rng.chance(0.25)) input.idempotencyKey = `sim-${rng.hex(24)}`;
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

import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { eventInputSchema } from '../../src/api/validation/event-input.js';
import { createGenerator, INVALID_KINDS } from '../../src/simulator/generator.js';
import { PROFILES, profilesFor } from '../../src/simulator/dictionary.js';
import { createRng } from '../../src/simulator/prng.js';

const NOW = Date.parse('2025-03-01T12:00:00.000Z');
const now = () => NOW;
const APP_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const EVENT_TYPE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
// The service's own input schema with its default limits.
const serviceSchema = eventInputSchema(
  { maxPayloadBytes: 65_536, maxPayloadDepth: 32, maxClockSkewMs: 300_000, maxBatchSize: 1000 },
  now,
);

const take = (n: number, seed: number, invalidRatio = 0, apps = PROFILES.length) => {
  const gen = createGenerator({ seed, apps, invalidRatio, now });
  return Array.from({ length: n }, () => gen.next());
};

describe('prng', () => {
  it('is deterministic per seed and stays in range', () => {
    const a = createRng(7);
    const b = createRng(7);
    const xs = Array.from({ length: 1000 }, () => a.int(3, 9));
    expect(Array.from({ length: 1000 }, () => b.int(3, 9))).toEqual(xs);
    expect(new Set(xs)).toEqual(new Set([3, 4, 5, 6, 7, 8, 9]));
    expect(createRng(8).hex(32)).not.toBe(createRng(7).hex(32));
  });
});

describe('event generator', () => {
  it('yields the same events for the same seed and different ones for another seed', () => {
    expect(take(200, 42, 0.2)).toEqual(take(200, 42, 0.2));
    expect(take(50, 43)).not.toEqual(take(50, 42));
  });

  it('every valid event passes the service rules', () => {
    const events = take(2000, 1);
    for (const { input, invalid } of events) {
      expect(invalid).toBeNull();
      expect(input.sourceAppId).toMatch(APP_ID);
      expect(input.eventType).toMatch(EVENT_TYPE);
      expect(typeof input.payload === 'object' && input.payload !== null && !Array.isArray(input.payload)).toBe(true);
      const ts = Date.parse(input.timestamp);
      expect(ts).toBeLessThanOrEqual(NOW);
      expect(ts).toBeGreaterThanOrEqual(NOW - 2000);
      const parsed = serviceSchema.safeParse(input);
      expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    }
    // Realistic variety: every app and every event type of the dictionary shows up.
    const types = new Set(events.map((e) => `${e.input.sourceAppId}/${e.input.eventType}`));
    for (const p of PROFILES) for (const e of p.events) expect(types).toContain(`${p.app}/${e.type}`);
    // Payloads survive JSON transport unchanged (no undefined, NaN or Dates).
    for (const { input } of events.slice(0, 100)) expect(JSON.parse(JSON.stringify(input.payload))).toEqual(input.payload);
    expect(canonicalize(events[0]!.input.payload)).toBeTypeOf('string');
  });

  it('idempotency keys are unique within a stream', () => {
    const keys = take(3000, 5)
      .map((e) => e.input.idempotencyKey)
      .filter((k) => k !== undefined);
    expect(keys.length).toBeGreaterThan(300);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('invalid events come at about the asked ratio, of every kind, and each one breaks the service rules', () => {
    const events = take(2000, 9, 0.25);
    const bad = events.filter((e) => e.invalid !== null);
    expect(bad.length).toBeGreaterThan(400);
    expect(bad.length).toBeLessThan(600);
    expect(new Set(bad.map((e) => e.invalid))).toEqual(new Set(INVALID_KINDS));
    for (const e of bad) expect(serviceSchema.safeParse(e.input).success, e.invalid!).toBe(false);
    for (const e of events.filter((x) => x.invalid === null)) expect(serviceSchema.safeParse(e.input).success).toBe(true);
  });

  it('spreads events over exactly the asked number of apps, with valid suffixed ids past the dictionary', () => {
    expect(new Set(take(500, 3, 0, 2).map((e) => e.input.sourceAppId))).toEqual(new Set(['checkout', 'auth']));
    const many = profilesFor(PROFILES.length * 2 + 1).map((p) => p.app);
    expect(new Set(many).size).toBe(many.length);
    for (const app of many) expect(app).toMatch(APP_ID);
    expect(many.at(-1)).toBe('checkout-3');
    expect(() => profilesFor(0)).toThrow(RangeError);
  });
});

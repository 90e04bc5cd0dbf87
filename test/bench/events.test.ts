import { describe, expect, it } from 'vitest';
import { benchEvents, nextBatch, streamTimestamps, typeShare } from '../../bench/events.js';
import { PROFILES } from '../../src/simulator/dictionary.js';

describe('streamTimestamps', () => {
  it('stamps events as a live stream: in arrival order but for the jitter, never in the future, the same every run', () => {
    // The stream ends when it is created: between these two clock readings.
    const before = Date.now();
    const at = streamTimestamps(10_000, 2_000, 1000, 3);
    const after = Date.now();
    const ts = Array.from({ length: 10_000 }, (_, n) => at(n));
    const again = streamTimestamps(10_000, 2_000, 1000, 3);
    ts.forEach((t, n) => {
      // Event n is produced n / 2 ms after the stream's start (5 s before its end), then up to 1 s of jitter.
      expect(t).toBeLessThanOrEqual(after - 5000 + n / 2);
      expect(t).toBeGreaterThan(before - 5000 + n / 2 - 1000 - 1);
    });
    expect(Math.max(...ts)).toBeLessThanOrEqual(Date.now());
    // A late event is at most a second's worth of events out of place.
    for (let n = 2000; n < ts.length; n++) expect(ts[n]!).toBeGreaterThan(ts[n - 2000]! - 1000);
    // The same seed gives the same jitter: a later stream is the same one shifted by the time between them.
    expect(new Set(Array.from({ length: 1000 }, (_, n) => again(n) - ts[n]!)).size).toBe(1);
  });
});

describe('benchEvents', () => {
  it("uses the simulator's generator on the scenario's logs, without idempotency keys, the same for a seed", () => {
    const events = nextBatch(benchEvents({ seed: 4, logs: ['a', 'b'], timestampOf: (n) => Date.UTC(2025, 0, 1) + n }), 600);
    expect(events.map((e) => e.sourceAppId).slice(0, 4)).toEqual(['a', 'b', 'a', 'b']);
    expect(events.every((e) => e.idempotencyKey === undefined)).toBe(true);
    expect(events[5]!.timestamp).toBe('2025-01-01T00:00:00.005Z');
    const types = new Set(PROFILES.flatMap((p) => p.events.map((e) => e.type)));
    expect(events.every((e) => types.has(e.eventType))).toBe(true);
    expect(nextBatch(benchEvents({ seed: 4, logs: ['a', 'b'], timestampOf: (n) => Date.UTC(2025, 0, 1) + n }), 600)).toEqual(
      events,
    );
  });

  it('says which share of the events has the given types', () => {
    expect(typeShare([...new Set(PROFILES.flatMap((p) => p.events.map((e) => e.type)))])).toBeCloseTo(1);
    const share = typeShare(['search.query', 'email.sent']);
    const events = nextBatch(benchEvents({ seed: 1, logs: ['x'] }), 20_000);
    expect(
      events.filter((e) => e.eventType === 'search.query' || e.eventType === 'email.sent').length / events.length,
    ).toBeCloseTo(share, 1);
  });
});

import { describe, expect, it } from 'vitest';
import { streamTimestamps } from '../../bench/events.js';

describe('streamTimestamps', () => {
  it('stamps events as a live stream: in arrival order but for the jitter, never in the future, the same every run', () => {
    const before = Date.now();
    const at = streamTimestamps(10_000, 2_000, 1000, 3);
    const ts = Array.from({ length: 10_000 }, (_, n) => at(n));
    const again = streamTimestamps(10_000, 2_000, 1000, 3);
    const start = before - 5000;
    ts.forEach((t, n) => {
      const produced = start + n / 2;
      expect(t).toBeLessThanOrEqual(Math.ceil(produced) + 50); // the clock moved on while this ran
      expect(t).toBeGreaterThan(produced - 1000 - 50);
      expect(t).toBeLessThanOrEqual(Date.now());
    });
    // A late event is at most a second's worth of events out of place.
    for (let n = 2000; n < ts.length; n++) expect(ts[n]!).toBeGreaterThan(ts[n - 2000]! - 1000);
    expect(Array.from({ length: 100 }, (_, n) => again(n) - ts[n]!).every((d) => Math.abs(d) <= 50)).toBe(true);
  });
});

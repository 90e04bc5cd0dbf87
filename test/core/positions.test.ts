import { describe, expect, it } from 'vitest';
import { PositionSet } from '../../src/core/positions.js';

/** A seeded generator, so a failure names a reproducible case. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

describe('PositionSet', () => {
  it('keeps ascending positions as runs: ten million in one run, two gaps in three', () => {
    const s = new PositionSet();
    for (let p = 0; p < 10_000_000; p++) s.add(p);
    expect(s.size).toBe(10_000_000);
    expect(s.runs).toBe(1);
    expect([s.has(0), s.has(9_999_999), s.has(10_000_000), s.has(-1)]).toEqual([true, true, false, false]);
    const gaps = new PositionSet();
    for (const p of [5, 6, 7, 9, 10, 20]) gaps.add(p);
    expect(gaps.runs).toBe(3);
    expect([4, 5, 7, 8, 9, 10, 11, 19, 20, 21].map((p) => gaps.has(p))).toEqual([
      false,
      true,
      true,
      false,
      true,
      true,
      false,
      false,
      true,
      false,
    ]);
    expect([...gaps]).toEqual([5, 6, 7, 9, 10, 20]);
    expect(gaps.lowest()).toBe(5);
    expect(new PositionSet().lowest()).toBeUndefined();
  });

  it('counts a position once, whether added again inside a run, out of order, or both', () => {
    const s = new PositionSet();
    for (const p of [10, 11, 12, 3, 11, 3, 12, 0, 13]) s.add(p);
    expect(s.size).toBe(6);
    expect([...s].sort((a, b) => a - b)).toEqual([0, 3, 10, 11, 12, 13]);
    expect(s.lowest()).toBe(0);
  });

  it('answers as a Set<number> does for positions added in any order', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const random = lcg(seed);
      const s = new PositionSet();
      const reference = new Set<number>();
      for (let i = 0; i < 3000; i++) {
        // Mostly ascending runs, with some positions behind them and some repeated.
        const p = random() < 0.8 ? i + Math.floor(random() * 3) : Math.floor(random() * 3000);
        s.add(p);
        reference.add(p);
      }
      expect(s.size, `seed ${seed}`).toBe(reference.size);
      for (let p = -1; p < 3100; p++) expect(s.has(p), `seed ${seed}, position ${p}`).toBe(reference.has(p));
      expect([...s].sort((a, b) => a - b)).toEqual([...reference].sort((a, b) => a - b));
    }
  });
});

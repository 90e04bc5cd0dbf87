// runsWithin: how a coalesced run too large for one command is split (no database needed).
import { describe, expect, it } from 'vitest';
import { runsWithin } from '../../../src/storage/mongodb/coalesce.js';

describe('runsWithin', () => {
  const size = (n: number) => n;

  it('keeps the order and fills each run up to the budget', () => {
    expect(runsWithin([3, 4, 3, 5, 1], size, 10)).toEqual([
      [3, 4, 3],
      [5, 1],
    ]);
    expect(runsWithin([10, 10], size, 10)).toEqual([[10], [10]]);
  });

  it('puts an item larger than the budget alone in its run', () => {
    expect(runsWithin([2, 25, 3], size, 10)).toEqual([[2], [25], [3]]);
  });

  it('makes no run of nothing', () => {
    expect(runsWithin([], size, 10)).toEqual([]);
  });
});

// The benchmark's statistics and option parsing (no timing is asserted anywhere).
import { describe, expect, it } from 'vitest';
import { parseOptions, UsageError } from '../../bench/options.js';
import { percentile, slope, summarize } from '../../bench/stats.js';
import { judge } from '../../bench/report.js';

describe('percentile (nearest rank)', () => {
  const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it('picks the sample at ceil(p% of n)', () => {
    expect(percentile(oneToHundred, 50)).toBe(50);
    expect(percentile(oneToHundred, 95)).toBe(95);
    expect(percentile(oneToHundred, 99)).toBe(99);
    expect(percentile(oneToHundred, 100)).toBe(100);
    expect(percentile(oneToHundred, 0)).toBe(1);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
    expect(percentile([7], 50)).toBe(7);
  });

  it('is NaN for no samples and rejects p outside [0, 100]', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], -1)).toThrow(RangeError);
  });
});

describe('summarize', () => {
  it('sorts numerically without touching the input', () => {
    const xs = [10, 9, 100, 1, 2];
    const s = summarize(xs);
    expect(xs).toEqual([10, 9, 100, 1, 2]);
    expect(s).toMatchObject({ n: 5, min: 1, max: 100, p50: 9, p95: 100, mean: 24.4 });
  });

  it('reports NaN figures for no samples', () => {
    const s = summarize([]);
    expect(s.n).toBe(0);
    expect(s.p50).toBeNaN();
  });
});

describe('slope', () => {
  it('is the least-squares slope', () => {
    expect(slope([0, 1, 2, 3], [1, 3, 5, 7])).toBeCloseTo(2);
    expect(slope([0, 1, 2], [5, 5, 5])).toBe(0);
    expect(slope([1], [1])).toBe(0);
  });
});

describe('judge', () => {
  const atLeast = { op: '>=' as const, value: 10, text: '>= 10' };
  it('applies targets to the embedded engine only', () => {
    expect(judge(10, atLeast, 'sqlite')).toBe('PASS');
    expect(judge(9, atLeast, 'sqlite')).toBe('MISS');
    expect(judge(NaN, atLeast, 'sqlite')).toBe('MISS');
    expect(judge(9, atLeast, 'mongodb')).toBe('INFO');
    expect(judge(9, undefined, 'sqlite')).toBe('INFO');
  });
});

describe('parseOptions', () => {
  it('has full-run defaults', () => {
    expect(parseOptions([])).toMatchObject({ quick: false, engines: ['sqlite', 'mongodb'], only: ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'], outDir: 'bench/results' });
  });

  it('reads the flags', () => {
    expect(parseOptions(['--quick', '--engine', 'sqlite', '--only', '5,1', '--out=x', '--dataset', '5000'])).toMatchObject({
      quick: true,
      engines: ['sqlite'],
      only: ['1', '5'],
      outDir: 'x',
      datasetSize: 5000,
    });
    expect(parseOptions(['--help'])).toBe('help');
  });

  it('rejects what it does not know', () => {
    expect(() => parseOptions(['--engine', 'postgres'])).toThrow(UsageError);
    expect(() => parseOptions(['--only', '11'])).toThrow(UsageError);
    expect(() => parseOptions(['--dataset', '-1'])).toThrow(UsageError);
    expect(() => parseOptions(['--fast'])).toThrow(UsageError);
    expect(() => parseOptions(['--out'])).toThrow(UsageError);
  });
});

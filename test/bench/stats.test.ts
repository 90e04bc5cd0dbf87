// The tools' statistics, the benchmark's judging and its option parsing (no timing is asserted anywhere).
import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../../bench/options.js';
import { percentile, slope, summarize } from '../../src/simulator/stats.js';
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

describe('parseBenchArgs', () => {
  const options = (argv: string[]) => {
    const r = parseBenchArgs(argv);
    if (r.help || 'error' in r) throw new Error(`expected options, got ${JSON.stringify(r)}`);
    return r.options;
  };
  const error = (argv: string[]) => {
    const r = parseBenchArgs(argv);
    return !r.help && 'error' in r ? r.error : `no error: ${JSON.stringify(r)}`;
  };

  it('has full-run defaults', () => {
    expect(options([])).toEqual({
      quick: false,
      engines: ['sqlite', 'mongodb'],
      only: ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11'],
      outDir: 'bench/results',
      keep: false,
    });
  });

  it('reads the flags', () => {
    expect(
      options([
        '--quick',
        '--engine',
        'sqlite',
        '--only',
        '5,1',
        '--out=x',
        '--dataset',
        '5000',
        '--steady-seconds',
        '9',
        '--keep',
      ]),
    ).toEqual({
      quick: true,
      engines: ['sqlite'],
      only: ['1', '5'],
      outDir: 'x',
      datasetSize: 5000,
      steadySeconds: 9,
      keep: true,
    });
    expect(options(['--quick']).outDir).toBe('bench/tmp/results');
  });

  it('runs the peers (scenario 12) only when asked: --peers adds it, --only may name it', () => {
    expect(options([]).only).not.toContain('12');
    expect(options(['--peers']).only).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12']);
    expect(options(['--only', '2', '--peers']).only).toEqual(['2', '12']);
    expect(options(['--only', '12']).only).toEqual(['12']);
    expect(parseBenchArgs(['--help'])).toEqual({ help: true });
    expect(parseBenchArgs(['-h'])).toEqual({ help: true });
  });

  it('rejects what it does not know, naming the option', () => {
    expect(error(['--engine', 'postgres'])).toBe('--engine must be sqlite, mongodb or all');
    expect(error(['--only', '1,13'])).toBe('--only: unknown scenario 13 (known: 1,2,3,4,5,6,7,8,9,10,11,12)');
    expect(error(['--dataset=-1'])).toBe('--dataset must be at least 1');
    expect(error(['--dataset', '0'])).toBe('--dataset must be at least 1');
    expect(error(['--dataset', '2.5'])).toBe('--dataset must be a whole number');
    expect(error(['--fast'])).toMatch(/--fast/);
    expect(error(['--out'])).toMatch(/--out/);
  });
});

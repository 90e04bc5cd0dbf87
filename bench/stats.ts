// Latency and rate statistics for the benchmark. Percentiles use the nearest-rank method
// (the smallest sample with at least p% of the samples at or below it), so every figure is a real sample.

export interface Summary {
  n: number;
  min: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of ascending `sorted`; NaN when empty. p in [0, 100]. */
export function percentile(sorted: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within [0, 100], got ${p}`);
  const n = sorted.length;
  if (n === 0) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * n));
  return sorted[Math.min(n, rank) - 1]!;
}

/** Summary of unsorted samples (not modified). */
export function summarize(samples: readonly number[]): Summary {
  const sorted = Float64Array.from(samples).sort();
  const arr = Array.from(sorted);
  const n = arr.length;
  let sum = 0;
  for (const x of arr) sum += x;
  return {
    n,
    min: n ? arr[0]! : NaN,
    mean: n ? sum / n : NaN,
    p50: percentile(arr, 50),
    p95: percentile(arr, 95),
    p99: percentile(arr, 99),
    max: n ? arr[n - 1]! : NaN,
  };
}

/** Rounds every number of a summary for the report (ms figures keep 3 decimals). */
export function roundSummary(s: Summary, digits = 3): Summary {
  const r = (x: number) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);
  return { n: s.n, min: r(s.min), mean: r(s.mean), p50: r(s.p50), p95: r(s.p95), p99: r(s.p99), max: r(s.max) };
}

/** Least-squares slope of y over x (units of y per unit of x); 0 with fewer than 2 points. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return 0;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += xs[i]!;
    my += ys[i]!;
  }
  mx /= n;
  my /= n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Milliseconds since an arbitrary origin, sub-millisecond resolution. */
export const nowMs = (): number => performance.now();

/** A sample budget: at most `max` iterations, stopping early after `seconds` once `min` are done. */
export function budget(max: number, seconds: number, min = 5): () => boolean {
  const end = performance.now() + seconds * 1000;
  let i = 0;
  return () => i < max && (i++ < min || performance.now() < end);
}

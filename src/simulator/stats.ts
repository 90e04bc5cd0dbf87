// Statistics of the tools: latency distributions (nearest-rank percentiles), means and slopes, shared by
// the simulator and the benchmark; and the running counters of a simulation with the summary they reduce to.

export interface Summary {
  sent: number;
  accepted: number;
  rejected: number;
  rejectedByCode: Record<string, number>;
  /** Events generated invalid on purpose, and how many of those the service wrongly accepted. */
  invalid: { sent: number; rejected: number; accepted: number };
  requests: number;
  elapsedSeconds: number;
  /** Accepted events per second. */
  rate: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
}

/** Latency figures of a set of samples; NaN figures when there are none. */
export interface Distribution {
  n: number;
  min: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/**
 * Nearest-rank percentile of ascending `sorted` (the smallest sample with at least p% of the samples at
 * or below it), so every figure is a real sample; NaN for no samples. p in [0, 100].
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within [0, 100], got ${p}`);
  const n = sorted.length;
  if (n === 0) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * n));
  return sorted[Math.min(n, rank) - 1]!;
}

/** Figures of unsorted samples (not modified). */
export function summarize(samples: readonly number[]): Distribution {
  const sorted = Array.from(Float64Array.from(samples).sort());
  const n = sorted.length;
  return {
    n,
    min: n ? sorted[0]! : NaN,
    mean: mean(sorted),
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: n ? sorted[n - 1]! : NaN,
  };
}

/** Rounds every figure for a report (ms figures keep 3 decimals by default). */
export function roundSummary(s: Distribution, digits = 3): Distribution {
  const r = (x: number) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);
  return { n: s.n, min: r(s.min), mean: r(s.mean), p50: r(s.p50), p95: r(s.p95), p99: r(s.p99), max: r(s.max) };
}

/** Least-squares slope of y over x (units of y per unit of x); 0 with fewer than 2 points. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return 0;
  const mx = mean(xs.slice(0, n));
  const my = mean(ys.slice(0, n));
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Arithmetic mean; NaN for no values. */
export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

export class SimulationStats {
  sent = 0;
  accepted = 0;
  readonly rejectedByCode: Record<string, number> = {};
  readonly invalid = { sent: 0, rejected: 0, accepted: 0 };
  private readonly latencies: number[] = [];

  constructor(private readonly startedAt: number = performance.now()) {}

  record(latencyMs: number, results: ReadonlyArray<{ code: string | null; invalid: boolean }>): void {
    this.latencies.push(latencyMs);
    for (const { code, invalid } of results) {
      this.sent++;
      if (code === null) this.accepted++;
      else this.rejectedByCode[code] = (this.rejectedByCode[code] ?? 0) + 1;
      if (invalid) {
        this.invalid.sent++;
        if (code === null) this.invalid.accepted++;
        else this.invalid.rejected++;
      }
    }
  }

  get rejected(): number {
    return this.sent - this.accepted;
  }

  summary(now: number = performance.now()): Summary {
    const latency = summarize(this.latencies);
    const elapsedSeconds = Math.max(0, (now - this.startedAt) / 1000);
    // Two decimals for people; a run without requests has no latency to show, so 0.
    const round = (x: number) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : 0);
    return {
      sent: this.sent,
      accepted: this.accepted,
      rejected: this.rejected,
      rejectedByCode: { ...this.rejectedByCode },
      invalid: { ...this.invalid },
      requests: this.latencies.length,
      elapsedSeconds: round(elapsedSeconds),
      rate: round(elapsedSeconds > 0 ? this.accepted / elapsedSeconds : 0),
      latencyMs: { p50: round(latency.p50), p95: round(latency.p95), p99: round(latency.p99), max: round(latency.max) },
    };
  }
}

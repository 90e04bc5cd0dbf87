// Running counters and request latencies of a simulation, and the summary they reduce to.

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

/** Nearest-rank percentile of ascending `sorted`; 0 for no samples. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
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
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const elapsedSeconds = Math.max(0, (now - this.startedAt) / 1000);
    const round = (x: number) => Math.round(x * 100) / 100;
    return {
      sent: this.sent,
      accepted: this.accepted,
      rejected: this.rejected,
      rejectedByCode: { ...this.rejectedByCode },
      invalid: { ...this.invalid },
      requests: this.latencies.length,
      elapsedSeconds: round(elapsedSeconds),
      rate: round(elapsedSeconds > 0 ? this.accepted / elapsedSeconds : 0),
      latencyMs: {
        p50: round(percentile(sorted, 50)),
        p95: round(percentile(sorted, 95)),
        p99: round(percentile(sorted, 99)),
        max: round(sorted.at(-1) ?? 0),
      },
    };
  }
}

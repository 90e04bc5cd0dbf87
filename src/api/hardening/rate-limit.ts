// Per-client rate limits, in memory: a read budget in items per second and a write budget in events per
// second, each a fixed window per client. A client is its API key once authentication names one (a
// principal with an `id`), else its remote IP. Over budget: ApiError RATE_LIMITED with
// extensions.retryAfterMs, and nothing is charged. The clock is injectable so that tests decide when a
// window ends.
import type { Principal } from '../../auth/principal.js';
import { ApiError } from '../errors.js';

export interface RateLimitSettings {
  /** Items per second per client (queries, subscriptions: the items each asks for, at least 1); 0 = off. */
  readsPerSec: number;
  /** Events per second per client (mutations, REST ingest); 0 = off. */
  writesPerSec: number;
  /** The largest batch one request may carry, so that one batch always fits one window. */
  maxBatchSize: number;
  /** Epoch ms; Date.now by default. */
  now?: () => number;
}

export interface RateLimits {
  readonly settings: RateLimitSettings;
  /** Charges `items` reads (at least 1); throws RATE_LIMITED when over budget. */
  read(client: string, items?: number): Promise<void>;
  /** Charges `events` writes; throws RATE_LIMITED when over budget. */
  write(client: string, events: number): Promise<void>;
}

/** The rate-limit (and connection-cap) key of a caller. */
export function clientKey(principal: Principal | undefined, remoteAddress: string | undefined): string {
  if (principal?.kind === 'key') return `key:${principal.id}`;
  return `ip:${remoteAddress ?? 'unknown'}`;
}

export const retryAfterSeconds = (err: ApiError) => Math.max(1, Math.ceil(Number(err.extensions.retryAfterMs ?? 1000) / 1000));

/** Clients remembered at once; past it, windows that ended are dropped, then the oldest. */
const MAX_CLIENTS = 100_000;

/** A fixed window of `points` per `durationMs` for each client. */
export class FixedWindowLimiter {
  private readonly windows = new Map<string, { endsAt: number; used: number }>();

  constructor(
    readonly points: number,
    private readonly durationMs: number,
    private readonly now: () => number,
  ) {}

  /** Takes `points` from the client's window; when they do not fit, takes nothing and returns the ms until it ends. */
  take(client: string, points: number): number | undefined {
    const t = this.now();
    let w = this.windows.get(client);
    if (!w || w.endsAt <= t) {
      if (!w && this.windows.size >= MAX_CLIENTS) this.prune(t);
      w = { endsAt: t + this.durationMs, used: 0 };
      this.windows.set(client, w);
    }
    if (w.used + points > this.points) return w.endsAt - t;
    w.used += points;
    return undefined;
  }

  private prune(t: number): void {
    for (const [client, w] of this.windows) if (w.endsAt <= t) this.windows.delete(client);
    if (this.windows.size >= MAX_CLIENTS) this.windows.delete(this.windows.keys().next().value!);
  }
}

function limiter(perSec: number, maxCharge: number, now: () => number): FixedWindowLimiter | undefined {
  if (perSec <= 0) return undefined;
  // A window long enough that the largest single charge fits: the average stays at perSec.
  const seconds = Math.max(1, Math.ceil(maxCharge / perSec));
  return new FixedWindowLimiter(perSec * seconds, seconds * 1000, now);
}

export function createRateLimits(settings: RateLimitSettings): RateLimits {
  const now = settings.now ?? Date.now;
  // A read asking for more items than one window holds takes the whole window (it is served, alone).
  const reads = limiter(settings.readsPerSec, 1, now);
  const writes = limiter(settings.writesPerSec, settings.maxBatchSize, now);
  const charge = async (rl: FixedWindowLimiter | undefined, client: string, points: number, what: 'reads' | 'writes') => {
    if (!rl || points <= 0) return;
    const waitMs = rl.take(client, Math.min(points, rl.points));
    if (waitMs === undefined) return;
    const retryAfterMs = Math.max(1, Math.ceil(waitMs));
    const budget =
      what === 'reads' ? `${settings.readsPerSec} reads/s (a read is an item asked for)` : `${settings.writesPerSec} events/s`;
    throw new ApiError('RATE_LIMITED', `rate limit of ${budget} exceeded; retry in ${retryAfterMs} ms`, {
      rule: what === 'reads' ? 'readsPerSec' : 'writesPerSec',
      extra: { retryAfterMs },
    });
  };
  return {
    settings,
    read: (client, items = 1) => charge(reads, client, Math.max(1, items), 'reads'),
    write: (client, events) => charge(writes, client, Math.max(1, events), 'writes'),
  };
}

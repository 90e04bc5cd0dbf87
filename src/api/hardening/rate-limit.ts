// Per-client rate limits (rate-limiter-flexible, in memory): a read budget in requests per second and a
// write budget in events per second. A client is its API key once authentication names one (a principal
// with an `id`), else its remote IP. Over budget: ApiError RATE_LIMITED with extensions.retryAfterMs.
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { ApiError } from '../errors.js';

export interface RateLimitSettings {
  /** Items per second per client (queries, subscriptions: the items each asks for, at least 1); 0 = off. */
  readsPerSec: number;
  /** Events per second per client (mutations, REST ingest); 0 = off. */
  writesPerSec: number;
  /** The largest batch one request may carry, so that one batch always fits one window. */
  maxBatchSize: number;
}

export interface RateLimits {
  readonly settings: RateLimitSettings;
  /** Charges `items` reads (at least 1); throws RATE_LIMITED when over budget. */
  read(client: string, items?: number): Promise<void>;
  /** Charges `events` writes; throws RATE_LIMITED when over budget. */
  write(client: string, events: number): Promise<void>;
}

/** The rate-limit (and connection-cap) key of a caller. */
export function clientKey(principal: unknown, remoteAddress: string | undefined): string {
  const id = (principal as { id?: unknown } | null | undefined)?.id;
  if ((typeof id === 'string' && id !== '') || typeof id === 'number') return `key:${id}`;
  return `ip:${remoteAddress ?? 'unknown'}`;
}

export const retryAfterSeconds = (err: ApiError) => Math.max(1, Math.ceil(Number(err.extensions.retryAfterMs ?? 1000) / 1000));

function limiter(perSec: number, maxCharge: number): RateLimiterMemory | undefined {
  if (perSec <= 0) return undefined;
  // A window long enough that the largest single charge fits: the average stays at perSec.
  const seconds = Math.max(1, Math.ceil(maxCharge / perSec));
  return new RateLimiterMemory({ points: perSec * seconds, duration: seconds });
}

export function createRateLimits(settings: RateLimitSettings): RateLimits {
  // A read asking for more items than one window holds takes the whole window (it is served, alone).
  const reads = limiter(settings.readsPerSec, 1);
  const writes = limiter(settings.writesPerSec, settings.maxBatchSize);
  const charge = async (rl: RateLimiterMemory | undefined, client: string, points: number, what: 'reads' | 'writes') => {
    if (!rl || points <= 0) return;
    try {
      await rl.consume(client, Math.min(points, rl.points));
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      const retryAfterMs = Math.max(1, Math.ceil(res.msBeforeNext));
      const budget = what === 'reads' ? `${settings.readsPerSec} reads/s (a read is an item asked for)` : `${settings.writesPerSec} events/s`;
      throw new ApiError('RATE_LIMITED', `rate limit of ${budget} exceeded; retry in ${retryAfterMs} ms`, {
        rule: what === 'reads' ? 'readsPerSec' : 'writesPerSec',
        extra: { retryAfterMs },
      });
    }
  };
  return {
    settings,
    read: (client, items = 1) => charge(reads, client, Math.max(1, items), 'reads'),
    write: (client, events) => charge(writes, client, Math.max(1, events), 'writes'),
  };
}

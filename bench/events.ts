// Deterministic, cheap event inputs (LogEventInput shape) for the benchmark.
// Payloads are ~250 bytes of realistic JSON: ids, amounts, a nested object, a small array, some non-ASCII.
import { mulberry32 } from '../src/simulator/prng.js';

export interface EventInput {
  eventType: string;
  timestamp: string;
  sourceAppId: string;
  payload: Record<string, unknown>;
}

export const EVENT_TYPES = [
  'order.created',
  'order.cancelled',
  'payment.captured',
  'payment.refunded',
  'user.login',
  'user.logout',
  'stock.reserved',
  'shipment.dispatched',
] as const;

const COUNTRIES = ['FR', 'DE', 'US', 'GB', 'JP', 'SE', 'BR', 'IN'];
const CURRENCIES = ['EUR', 'USD', 'GBP', 'JPY'];
const NAMES = ['Zoë Ångström', 'José Núñez', 'Aiko 山田', 'Olamide Adeyemi', 'Chloé Dubois'];

/** mulberry32: a seeded PRNG, so a run always generates the same events. */
export const rng = (seed: number): (() => number) => mulberry32(seed);

export function makePayload(r: () => number, n: number): Record<string, unknown> {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  return {
    id: `evt_${n.toString(36)}_${Math.floor(r() * 0xffffffff).toString(16)}`,
    customer: { id: `cus_${Math.floor(r() * 1e9).toString(36)}`, name: pick(NAMES), country: pick(COUNTRIES) },
    amount: { minor: Math.floor(r() * 200_000), currency: pick(CURRENCIES) },
    items: [
      { sku: `SKU-${1000 + Math.floor(r() * 9000)}`, quantity: 1 + Math.floor(r() * 5) },
      { sku: `SKU-${1000 + Math.floor(r() * 9000)}`, quantity: 1 + Math.floor(r() * 5) },
    ],
    flagged: r() < 0.05,
  };
}

export interface GeneratorOptions {
  seed?: number;
  /** The log(s) events go to, round-robin unless `pickApp` is given. */
  apps: readonly string[];
  /** Timestamp of event n (epoch ms); default: now, minus up to a second. */
  timestampOf?: (n: number) => number;
  pickApp?: (n: number) => string;
}

export class EventSource {
  private n = 0;
  private readonly r: () => number;

  constructor(private readonly opts: GeneratorOptions) {
    this.r = rng(opts.seed ?? 42);
  }

  /** How many events were generated so far. */
  get count(): number {
    return this.n;
  }

  next(): EventInput {
    const n = this.n++;
    const r = this.r;
    const ts = this.opts.timestampOf ? this.opts.timestampOf(n) : Date.now() - Math.floor(r() * 1000);
    return {
      eventType: EVENT_TYPES[Math.floor(r() * EVENT_TYPES.length)]!,
      timestamp: new Date(ts).toISOString(),
      sourceAppId: this.opts.pickApp ? this.opts.pickApp(n) : this.opts.apps[n % this.opts.apps.length]!,
      payload: makePayload(r, n),
    };
  }

  batch(size: number): EventInput[] {
    const out = new Array<EventInput>(size);
    for (let i = 0; i < size; i++) out[i] = this.next();
    return out;
  }
}

/**
 * Timestamps of a live stream, for events generated ahead of a run: event n is stamped as if produced
 * at `eventsPerSecond` ending now, each up to `jitterMs` earlier (client clocks and delays). Stamping a
 * whole pre-generated run with the generator's own clock would put it within a second or two, so the
 * run's events would arrive in random timestamp order from first to last, which no live source does.
 */
export function streamTimestamps(count: number, eventsPerSecond: number, jitterMs = 1000, seed = 7): (n: number) => number {
  const r = rng(seed);
  const start = Date.now() - Math.ceil((count * 1000) / eventsPerSecond);
  return (n) => start + Math.floor((n * 1000) / eventsPerSecond) - Math.floor(r() * jitterMs);
}

export const appNames = (prefix: string, count: number): string[] =>
  Array.from({ length: count }, (_, i) => (count === 1 ? prefix : `${prefix}-${String(i).padStart(3, '0')}`));

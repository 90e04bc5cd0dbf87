// What the simulated world looks like: source apps, their event types and payload shapes.
import type { JsonObject } from '../core/index.js';
import type { Rng } from './prng.js';

export type PayloadBuilder = (rng: Rng) => JsonObject;

export interface AppProfile {
  app: string;
  /** Event type → payload builder; `weight` makes common events common. */
  events: ReadonlyArray<{ type: string; weight: number; payload: PayloadBuilder }>;
}

const CURRENCIES = ['EUR', 'USD', 'GBP', 'JPY', 'CHF', 'SEK'] as const;
const COUNTRIES = ['FR', 'DE', 'US', 'GB', 'JP', 'SE', 'BR', 'IN'] as const;
const USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148',
  'okhttp/4.12.0',
  'curl/8.7.1',
] as const;
const NAMES = ['Zoë Ångström', 'José Núñez', 'Aiko 山田', 'Olamide Adeyemi', 'Chloé Dubois', 'Søren Kierkegaard'] as const;
const SKUS = ['SKU-1001', 'SKU-1002', 'SKU-2040', 'SKU-3310', 'SKU-7777', 'SKU-9001'] as const;
const WAREHOUSES = ['par-1', 'fra-2', 'iad-1', 'nrt-1'] as const;
const QUERIES = ['running shoes', 'usb-c cable', 'café crème', 'noise cancelling', 'tent 4 person', '"exact phrase"'] as const;

const id = (rng: Rng, prefix: string) => `${prefix}_${rng.hex(16)}`;
const ip = (rng: Rng) => `${rng.int(1, 223)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
/** Money in minor units: integers never lose precision in JSON. */
const money = (rng: Rng, max: number) => ({ amountMinor: rng.int(50, max), currency: rng.pick(CURRENCIES) });

const lineItems = (rng: Rng) =>
  Array.from({ length: rng.int(1, 4) }, () => ({
    sku: rng.pick(SKUS),
    quantity: rng.int(1, 5),
    unitPriceMinor: rng.int(99, 25_000),
  }));

const client = (rng: Rng) => ({ ip: ip(rng), userAgent: rng.pick(USER_AGENTS), country: rng.pick(COUNTRIES) });

export const PROFILES: readonly AppProfile[] = [
  {
    app: 'checkout',
    events: [
      {
        type: 'cart.item_added',
        weight: 5,
        payload: (r) => ({ cartId: id(r, 'cart'), item: lineItems(r)[0]!, session: client(r) }),
      },
      {
        type: 'order.created',
        weight: 3,
        payload: (r) => ({
          orderId: id(r, 'ord'),
          customer: { id: id(r, 'cus'), name: r.pick(NAMES), newCustomer: r.chance(0.2) },
          items: lineItems(r),
          total: money(r, 200_000),
          shipping: { method: r.pick(['standard', 'express', 'pickup']), country: r.pick(COUNTRIES) },
          coupon: r.chance(0.3) ? `SAVE${r.int(5, 30)}` : null,
        }),
      },
      {
        type: 'order.cancelled',
        weight: 1,
        payload: (r) => ({ orderId: id(r, 'ord'), reason: r.pick(['customer_request', 'fraud_suspected', 'out_of_stock']) }),
      },
    ],
  },
  {
    app: 'auth',
    events: [
      {
        type: 'user.login',
        weight: 6,
        payload: (r) => ({
          userId: id(r, 'usr'),
          method: r.pick(['password', 'sso', 'passkey']),
          mfa: r.chance(0.6),
          client: client(r),
        }),
      },
      {
        type: 'user.login_failed',
        weight: 2,
        payload: (r) => ({
          username: `user${r.int(1, 9999)}@example.com`,
          reason: r.pick(['bad_password', 'locked', 'unknown_user']),
          attempt: r.int(1, 6),
          client: client(r),
        }),
      },
      { type: 'user.logout', weight: 3, payload: (r) => ({ userId: id(r, 'usr'), sessionSeconds: r.int(5, 86_400) }) },
      {
        type: 'token:refreshed',
        weight: 2,
        payload: (r) => ({ userId: id(r, 'usr'), scopes: ['read', 'write', 'admin'].slice(0, r.int(1, 3)), expiresIn: 3600 }),
      },
    ],
  },
  {
    app: 'inventory',
    events: [
      {
        type: 'stock.reserved',
        weight: 4,
        payload: (r) => ({ sku: r.pick(SKUS), quantity: r.int(1, 10), orderId: id(r, 'ord'), warehouse: r.pick(WAREHOUSES) }),
      },
      {
        type: 'stock.released',
        weight: 1,
        payload: (r) => ({ sku: r.pick(SKUS), quantity: r.int(1, 10), reason: r.pick(['order_cancelled', 'expired']) }),
      },
      {
        type: 'stock.adjusted',
        weight: 1,
        payload: (r) => ({
          sku: r.pick(SKUS),
          warehouse: r.pick(WAREHOUSES),
          delta: r.int(-50, 200),
          counts: { before: r.int(0, 500), audited: r.chance(0.5) },
        }),
      },
    ],
  },
  {
    app: 'billing',
    events: [
      {
        type: 'payment.authorized',
        weight: 3,
        payload: (r) => ({
          paymentId: id(r, 'pay'),
          orderId: id(r, 'ord'),
          amount: money(r, 200_000),
          card: { brand: r.pick(['visa', 'mastercard', 'amex']), last4: String(r.int(0, 9999)).padStart(4, '0') },
        }),
      },
      {
        type: 'payment.captured',
        weight: 3,
        payload: (r) => ({
          paymentId: id(r, 'pay'),
          amount: money(r, 200_000),
          settledAt: null,
          fees: { percent: r.int(1, 35) / 10, fixedMinor: 25 },
        }),
      },
      {
        type: 'payment.refunded',
        weight: 1,
        payload: (r) => ({
          paymentId: id(r, 'pay'),
          amount: money(r, 50_000),
          partial: r.chance(0.4),
          note: r.chance(0.5) ? 'Rückerstattung — merci ✓' : '',
        }),
      },
      {
        type: 'invoice.issued',
        weight: 1,
        payload: (r) => ({
          invoiceId: `INV-${r.int(10_000, 99_999)}`,
          lines: lineItems(r),
          taxRate: r.pick([0, 0.055, 0.1, 0.2]),
        }),
      },
    ],
  },
  {
    app: 'search',
    events: [
      {
        type: 'search.query',
        weight: 8,
        payload: (r) => ({
          query: r.pick(QUERIES),
          results: r.int(0, 500),
          tookMs: r.int(1, 900),
          filters: { inStock: r.chance(0.5), tags: [r.pick(['sale', 'new', 'eco'])] },
        }),
      },
      {
        type: 'search.click',
        weight: 3,
        payload: (r) => ({ query: r.pick(QUERIES), position: r.int(1, 20), sku: r.pick(SKUS) }),
      },
    ],
  },
  {
    app: 'shipping',
    events: [
      {
        type: 'shipment.dispatched',
        weight: 2,
        payload: (r) => ({
          shipmentId: id(r, 'shp'),
          carrier: r.pick(['dhl', 'ups', 'colissimo']),
          parcels: r.int(1, 3),
          weightGrams: r.int(100, 20_000),
        }),
      },
      {
        type: 'shipment.delivered',
        weight: 2,
        payload: (r) => ({ shipmentId: id(r, 'shp'), signedBy: r.chance(0.7) ? r.pick(NAMES) : null, onTime: r.chance(0.9) }),
      },
    ],
  },
  {
    app: 'notifications',
    events: [
      {
        type: 'email.sent',
        weight: 4,
        payload: (r) => ({
          messageId: id(r, 'msg'),
          template: r.pick(['welcome', 'receipt', 'reset_password']),
          locale: r.pick(['en-US', 'fr-FR', 'ja-JP']),
        }),
      },
      {
        type: 'push.failed',
        weight: 1,
        payload: (r) => ({ deviceId: id(r, 'dev'), error: { code: r.int(400, 503), retryable: r.chance(0.5) } }),
      },
    ],
  },
];

/** The first `count` app profiles; past the dictionary, apps repeat with a numeric suffix (checkout-2, …). */
export function profilesFor(count: number): AppProfile[] {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`app count must be a positive integer, got ${count}`);
  return Array.from({ length: count }, (_, i) => {
    const base = PROFILES[i % PROFILES.length]!;
    const round = Math.floor(i / PROFILES.length);
    return round === 0 ? base : { ...base, app: `${base.app}-${round + 1}` };
  });
}

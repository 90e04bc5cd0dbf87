// The exact-number check's shortcuts (the first look at the whole text, the short-token fast path) never
// change its verdict: against an independent reference (decimal.js compares the decimal values, with no
// normalization of our own) over every number token of the text, on generated bodies.
import { Decimal } from 'decimal.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findInexactNumber, keptExactly } from '../../../src/api/validation/exact-numbers.js';

/**
 * The reference: a token is kept iff its double is finite, not -0, and the shortest decimal of that double
 * (String(n)) has exactly the token's value. Decimal parses both texts exactly (no rounding on construction).
 */
function reference(token: string): boolean {
  const n = Number(token);
  if (!Number.isFinite(n) || Object.is(n, -0)) return false;
  return new Decimal(token).eq(new Decimal(String(n)));
}

const numberToken = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => String(d)),
  fc
    .double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 })
    .chain((d) => fc.integer({ min: 0, max: 20 }).map((k) => d.toFixed(k))),
  fc.bigInt({ min: -(10n ** 25n), max: 10n ** 25n }).map(String),
  fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.bigInt({ min: 0n, max: 10n ** 12n })).map(([a, b]) => `${a}.${b}`),
  fc.constantFrom('0', '-0', '-0.0', '0.000', '1e400', '1e-400', '-0e5', '12345678.12345679', '9007199254740993', '0.1'),
);
const body = fc
  .array(
    fc.tuple(
      numberToken,
      fc.constantFrom('2026-01-02T03:04:05.006Z', 'a1e5b', 'x-0y', 'plain', ':1e5,', '[-0]', ', 12345678901234567'),
    ),
    { maxLength: 8 },
  )
  .map((items) =>
    JSON.stringify(items.map(([, s], i) => ({ when: s, i }))).replace(/"i":(\d+)/g, (_m, i) => `"n":${items[Number(i)]![0]}`),
  );

describe('exact numbers', () => {
  it('keptExactly agrees with the reference on every token', () => {
    fc.assert(
      fc.property(numberToken, (t) => {
        expect(keptExactly(t), t).toBe(reference(t));
      }),
      { numRuns: 5000 },
    );
  });

  it('finds an inexact number in a body exactly when the reference finds one', () => {
    fc.assert(
      fc.property(body, (text) => {
        const tokens = [...text.matchAll(/"n":(-?[\d.eE+-]+)/g)].map((m) => m[1]!);
        const inexact = tokens.find((t) => !reference(t));
        expect(findInexactNumber(text)?.token).toBe(inexact);
      }),
      { numRuns: 3000 },
    );
  });
});

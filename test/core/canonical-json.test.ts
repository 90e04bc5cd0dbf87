// The fast RFC 8785 writer against the reference (`canonicalize`): byte for byte, and the same failures.
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/core/canonical-json.js';
import { eventLeafHash, formatTime, leafHashHex } from '../../src/core/leaf.js';

const outcome = (f: () => string | undefined): { ok: string | undefined } | { threw: string } => {
  try {
    return { ok: f() };
  } catch (err) {
    return { threw: (err as Error).message };
  }
};

const same = (value: unknown): void => {
  expect(outcome(() => canonicalJson(value))).toEqual(outcome(() => canonicalize(value)));
};

describe('canonicalJson', () => {
  it('equals canonicalize on JSON values, including full Unicode and integer-like keys', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => same(v)),
      { numRuns: 2000 },
    );
    const unicodeString = fc.string({ unit: 'binary' });
    const key = fc.oneof(
      unicodeString,
      fc.nat({ max: 20 }).map(String),
      fc.constantFrom('10', '9', '01', '-1', '1.5', '__proto__', 'a\u0000'),
    );
    const value = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        unicodeString,
        fc.double(),
        fc.integer(),
        // eslint-disable-next-line no-loss-of-precision -- RFC 8785's example: the double it parses to is the subject
        fc.constantFrom(0, -0, 1e21, 1e-7, 333333333.33333329, null, true, false),
        fc.array(tie('v'), { maxLength: 4 }),
        fc.dictionary(key, tie('v'), { maxKeys: 5 }),
      ),
    })).v;
    fc.assert(
      fc.property(value, (v) => same(v)),
      { numRuns: 2000 },
    );
  });

  it('fails where the reference fails, and defers to it for values that are not plain data', () => {
    for (const v of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      { x: [1, Number.NEGATIVE_INFINITY] },
      '\ud800',
      'a\udc00b',
      { '\udbff': 1 },
      'ok \ud83d\ude00 \\ud800 (an escaped backslash, not a surrogate)',
      { d: new Date(0) },
      { u: undefined, n: 1 },
      [undefined, 1],
      { toJSON: () => ({ b: 1, a: 2 }) },
      Object.assign(Object.create(null), { b: 1, a: 2 }),
    ]) {
      same(v);
    }
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    same(cyclic);
    // Where the reference returns nothing, there is no text to hash.
    expect(canonicalize(undefined)).toBeUndefined();
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
  });
});

describe('eventLeafHash', () => {
  it('hashes like leafHashHex of the formatted times', () => {
    const fields = {
      sourceAppId: 'app',
      seq: 3,
      prevHash: 'cd'.repeat(32),
      eventType: 'x.y',
      payload: { b: [1, 'é'], a: { d: null, c: true } },
    };
    for (const [timestamp, receivedAt] of [
      [0, 1],
      [1_700_000_000_123, 1_700_000_000_123],
      [Date.parse('9999-12-31T23:59:59.999Z'), Date.parse('0000-01-01T00:00:00.000Z')],
    ] as const) {
      expect(eventLeafHash({ ...fields, timestamp, receivedAt })).toBe(
        leafHashHex({ ...fields, timestamp: formatTime(timestamp), receivedAt: formatTime(receivedAt) }),
      );
    }
    expect(() => eventLeafHash({ ...fields, timestamp: 1.5, receivedAt: 0 })).toThrow(RangeError);
    expect(() => eventLeafHash({ ...fields, timestamp: 0, receivedAt: 0, prevHash: 'AB'.repeat(32) })).toThrow(TypeError);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bitLen, onesCount, shiftRight, trailingZeros, xor } from '../../src/core/bits.js';

// BigInt oracle: exact for any size, slow, fine for tests.
const big = {
  bitLen: (x: number) => BigInt(x).toString(2).replace(/^0+/, '').length,
  trailingZeros: (x: number) => (x === 0 ? 64 : BigInt(x).toString(2).length - BigInt(x).toString(2).lastIndexOf('1') - 1),
  onesCount: (x: number) => [...BigInt(x).toString(2)].filter((c) => c === '1').length,
  xor: (a: number, b: number) => Number(BigInt(a) ^ BigInt(b)),
  shiftRight: (x: number, k: number) => Number(BigInt(x) >> BigInt(k)),
};

const edges = [
  0,
  1,
  2,
  3,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 31 + 1,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 32 + 1,
  2 ** 40 + 12345,
  2 ** 52,
  2 ** 53 - 1,
];
const index = fc.oneof(fc.constantFrom(...edges), fc.nat(), fc.maxSafeNat(), fc.integer({ min: 2 ** 31, max: 2 ** 34 }));

describe('bit helpers above 2^31', () => {
  it('match BigInt at the 32-bit edges', () => {
    for (const x of edges) {
      expect(bitLen(x), `bitLen(${x})`).toBe(big.bitLen(x));
      expect(trailingZeros(x), `trailingZeros(${x})`).toBe(big.trailingZeros(x));
      expect(onesCount(x), `onesCount(${x})`).toBe(big.onesCount(x));
      for (const y of edges) expect(xor(x, y), `xor(${x}, ${y})`).toBe(big.xor(x, y));
    }
    expect(bitLen(2 ** 53 - 1)).toBe(53);
    expect(trailingZeros(2 ** 52)).toBe(52);
    expect(onesCount(2 ** 53 - 1)).toBe(53);
  });

  it('match BigInt on random safe integers', () => {
    fc.assert(
      fc.property(index, index, fc.integer({ min: 0, max: 60 }), (a, b, k) => {
        expect(bitLen(a)).toBe(big.bitLen(a));
        expect(trailingZeros(a)).toBe(big.trailingZeros(a));
        expect(onesCount(a)).toBe(big.onesCount(a));
        expect(xor(a, b)).toBe(big.xor(a, b));
        expect(shiftRight(a, k)).toBe(big.shiftRight(a, k));
      }),
    );
  });

  it('reject negatives, fractions and unsafe integers', () => {
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN]) {
      expect(() => bitLen(bad)).toThrow(RangeError);
      expect(() => xor(bad, 1)).toThrow(RangeError);
    }
  });
});

// Bit helpers for tree indexes and sizes. These are JS numbers up to 2^53, so the 32-bit
// bitwise operators alone would be wrong past 2^31: every helper splits into high and low words.

const TWO_32 = 2 ** 32;

/** 2^k for k in 0..53, exact. */
export const POW2: readonly number[] = Array.from({ length: 54 }, (_, k) => 2 ** k);

function assertIndex(x: number): void {
  if (!Number.isSafeInteger(x) || x < 0) throw new RangeError(`not a non-negative safe integer: ${x}`);
}

function hi(x: number): number {
  return Math.floor(x / TWO_32);
}

function lo(x: number): number {
  return x >>> 0; // ToUint32 is exact modulo 2^32 for any integer
}

function bitLen32(x: number): number {
  return 32 - Math.clz32(x);
}

function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}

function pop32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Number of bits needed to represent x (Go's bits.Len64); 0 for 0. */
export function bitLen(x: number): number {
  assertIndex(x);
  const h = hi(x);
  return h === 0 ? bitLen32(lo(x)) : 32 + bitLen32(h);
}

/** Number of trailing zero bits of x (Go's bits.TrailingZeros64); 64 for 0. */
export function trailingZeros(x: number): number {
  assertIndex(x);
  if (x === 0) return 64;
  const l = lo(x);
  return l !== 0 ? ctz32(l) : 32 + ctz32(hi(x));
}

/** Number of one bits (Go's bits.OnesCount64). */
export function onesCount(x: number): number {
  assertIndex(x);
  return pop32(lo(x)) + pop32(hi(x));
}

export function xor(a: number, b: number): number {
  assertIndex(a);
  assertIndex(b);
  return ((hi(a) ^ hi(b)) >>> 0) * TWO_32 + ((lo(a) ^ lo(b)) >>> 0);
}

/** floor(x / 2^k): x >> k without the 32-bit truncation. */
export function shiftRight(x: number, k: number): number {
  return k >= 54 ? 0 : Math.floor(x / POW2[k]!);
}

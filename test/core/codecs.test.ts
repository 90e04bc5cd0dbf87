import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64Strict, toBase64 } from '../../src/core/base64.js';
import { fromHex, isHex64, toHex } from '../../src/core/hex.js';

describe('hex', () => {
  it('round-trips and writes lowercase', () => {
    const b = Uint8Array.of(0, 1, 0xab, 0xff);
    expect(toHex(b)).toBe('0001abff');
    expect([...fromHex('0001abff')]).toEqual([...b]);
    expect([...fromHex('0001ABFF')]).toEqual([...b]);
    expect(toHex(new Uint8Array(0))).toBe('');
  });

  it('encodes only the viewed bytes of a subarray', () => {
    expect(toHex(Uint8Array.of(1, 2, 3, 4).subarray(1, 3))).toBe('0203');
  });

  it('throws on odd length or non-hex', () => {
    expect(() => fromHex('abc')).toThrow(/odd length/);
    expect(() => fromHex('zz')).toThrow(/non-hex/);
    expect(() => fromHex('0g')).toThrow(/non-hex/);
    expect(() => fromHex(' 00')).toThrow();
    expect(() => fromHex('00zz00')).toThrow(/non-hex/);
    expect(() => fromHex('000g')).toThrow(/non-hex/);
  });

  it('accepts exactly the even-length strings of hex digits', () => {
    const hexChar = fc.constantFrom(...'0123456789abcdefABCDEF');
    const anyChar = fc.oneof(hexChar, fc.constantFrom('g', 'G', 'x', ' ', '-', '\u0000', 'é', '０', '\ud800'));
    fc.assert(
      fc.property(fc.array(anyChar, { maxLength: 12 }), (chars) => {
        const s = chars.join('');
        const valid = s.length % 2 === 0 && /^[0-9a-fA-F]*$/.test(s);
        if (valid) expect(toHex(fromHex(s))).toBe(s.toLowerCase());
        else expect(() => fromHex(s)).toThrow(TypeError);
      }),
      { numRuns: 3000 },
    );
  });

  it('isHex64 is /^[0-9a-f]{64}$/ for strings and false for anything else', () => {
    const HEX64 = /^[0-9a-f]{64}$/;
    const hash = 'ab'.repeat(32);
    // One character changed at each place, to each kind of character a hash must not have.
    for (const c of ['A', 'F', 'g', '/', ':', '`', '@', ' ', '\u0000', 'é', '０', '\ud800', '\u0130']) {
      for (const at of [0, 31, 63]) expect(isHex64(hash.slice(0, at) + c + hash.slice(at + 1))).toBe(false);
    }
    expect(isHex64(hash)).toBe(true);
    for (const v of [hash.slice(1), `${hash}0`, '', null, undefined, 64, Buffer.from(hash), [hash], { length: 64 }])
      expect(isHex64(v)).toBe(false);
    const anyChar = fc.oneof(
      fc.constantFrom(...'0123456789abcdef'),
      fc.constantFrom(...'ABCDEFgz/:`@', '\u0000', '\u007f', '\u0080', 'é', '\ud800'),
    );
    fc.assert(
      fc.property(fc.array(anyChar, { minLength: 62, maxLength: 66 }), (chars) => {
        const s = chars.join('');
        expect(isHex64(s)).toBe(HEX64.test(s));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('strict base64', () => {
  it('round-trips', () => {
    for (let n = 0; n < 40; n++) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
      expect([...fromBase64Strict(toBase64(b))!]).toEqual([...b]);
    }
  });

  it('rejects what a lenient decoder would accept', () => {
    expect(fromBase64Strict('AQ')).toBeNull(); // missing padding
    expect(fromBase64Strict('AR==')).toBeNull(); // non-zero trailing bits
    expect(fromBase64Strict('A Q==')).toBeNull();
    expect(fromBase64Strict('-_8=')).toBeNull(); // url-safe alphabet
    expect(fromBase64Strict('AQ==\n')).toBeNull();
    expect(fromBase64Strict('AQ==')).toEqual(Uint8Array.of(1));
  });
});

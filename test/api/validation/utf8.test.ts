// The UTF-8 rule (RFC 8259 §8.1) against an independent reference: the first ill-formed sequence begins
// where the longest prefix that Node's isUtf8 (simdutf) accepts ends. Byte strings from fast-check,
// drawn mostly from the bytes UTF-8 is made of so that well-formed sequences, and sequences broken in
// each way, both occur; then the cases The Unicode Standard's Table 3-7 names, one by one.
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findNotUtf8, firstInvalidUtf8, verifyUtf8 } from '../../../src/api/validation/utf8.js';

/** Where the longest prefix that isUtf8 accepts ends, or -1 when it accepts the whole. */
function reference(bytes: Uint8Array): number {
  if (isUtf8(bytes)) return -1;
  for (let end = bytes.length - 1; end >= 0; end--) if (isUtf8(bytes.subarray(0, end))) return end;
  return 0;
}

/** Bytes UTF-8 is made of, each range as likely: ASCII, continuations, and the leads with their edges. */
const utf8ish = fc.oneof(
  fc.integer({ min: 0x00, max: 0x7f }),
  fc.integer({ min: 0x80, max: 0xbf }),
  fc.integer({ min: 0xc0, max: 0xdf }),
  fc.integer({ min: 0xe0, max: 0xef }),
  fc.integer({ min: 0xf0, max: 0xff }),
);

/** Well-formed text with random scalar values (every plane but the surrogates). */
const text = fc.string({ unit: 'grapheme', maxLength: 40 });

describe('firstInvalidUtf8', () => {
  it('agrees with the longest prefix isUtf8 accepts, on random bytes', () => {
    fc.assert(
      fc.property(fc.array(utf8ish, { maxLength: 24 }), (list) => {
        const bytes = Uint8Array.from(list);
        expect(firstInvalidUtf8(bytes)).toBe(reference(bytes));
      }),
      { numRuns: 20_000 },
    );
  });

  it('finds nothing in well-formed text, and the byte put into it', () => {
    fc.assert(
      fc.property(text, text, utf8ish, (before, after, byte) => {
        const head = Buffer.from(before, 'utf8');
        expect(firstInvalidUtf8(head)).toBe(-1);
        const bytes = Buffer.concat([head, Buffer.from([byte]), Buffer.from(after, 'utf8')]);
        expect(firstInvalidUtf8(bytes)).toBe(reference(bytes));
        if (byte >= 0x80 && byte <= 0xbf) expect(firstInvalidUtf8(bytes)).toBe(head.length);
      }),
      { numRuns: 5_000 },
    );
  });

  it.each([
    ['a lone continuation byte', [0x61, 0x80], 1],
    ['C0 and C1 (overlong for ASCII)', [0xc0, 0xaf], 0],
    ['an overlong three-byte form (E0 below A0)', [0xe0, 0x80, 0xaf], 0],
    ['an overlong four-byte form (F0 below 90)', [0xf0, 0x8f, 0xbf, 0xbf], 0],
    ['a surrogate (ED A0..BF)', [0x41, 0xed, 0xa0, 0x80], 1],
    ['above U+10FFFF (F4 90)', [0xf4, 0x90, 0x80, 0x80], 0],
    ['F5..FF', [0xf5, 0x80, 0x80, 0x80], 0],
    ['a sequence cut short at the end', [0x41, 0xe2, 0x82], 1],
    ['a sequence cut short by ASCII', [0xe2, 0x41, 0x41], 0],
    ['U+FFFD, the replacement character itself, is well-formed', [0xef, 0xbf, 0xbd], -1],
    ['U+10FFFF and U+D7FF, U+E000 at the edges', [0xf4, 0x8f, 0xbf, 0xbf, 0xed, 0x9f, 0xbf, 0xee, 0x80, 0x80], -1],
  ])('%s', (_case, list, offset) => {
    const bytes = Uint8Array.from(list);
    expect(firstInvalidUtf8(bytes)).toBe(offset);
    expect(reference(bytes)).toBe(offset);
  });
});

describe('verifyUtf8', () => {
  it('refuses with BAD_USER_INPUT, rule encoding, naming the field, the offset and the byte', () => {
    const bytes = Buffer.from('{"payload":{"s":"caf\u00e9"}}', 'latin1');
    expect(() => verifyUtf8(bytes)).toThrow(
      'body: must be UTF-8 (RFC 8259); the byte at offset 20 (0xe9) does not begin a well-formed UTF-8 sequence',
    );
    expect(findNotUtf8(bytes, 'message')?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'message',
      rule: 'encoding',
    });
    expect(findNotUtf8(Buffer.from('{"payload":{"s":"caf\u00e9"}}', 'utf8'))).toBeUndefined();
  });
});

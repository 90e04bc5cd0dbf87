import { describe, expect, it } from 'vitest';
import { preferredReturn } from '../../../src/api/rest/prefer.js';

describe('preferredReturn (RFC 7240 Prefer: return)', () => {
  it.each([
    [undefined, null],
    ['', null],
    ['return=minimal', 'minimal'],
    ['return=representation', 'representation'],
    ['Return=minimal', 'minimal'],
    ['  return = minimal  ', 'minimal'],
    ['return="minimal"', 'minimal'],
    ['respond-async, return=minimal', 'minimal'],
    ['return=minimal; foo=bar', 'minimal'],
    ['handling=lenient, wait=10,return=minimal', 'minimal'],
    [['respond-async', 'return=minimal'], 'minimal'],
    // Of a preference given more than once, only the first counts.
    ['return=representation, return=minimal', 'representation'],
    ['return=short, return=minimal', null],
    // A comma or a semicolon inside a quoted value does not end the preference.
    ['foo="a, return=minimal", return=representation', 'representation'],
    ['foo="a\\", return=minimal", return=representation', 'representation'],
    ['return', null],
    ['returns=minimal', null],
    ['return=MINIMAL', null],
  ] as const)('%j prefers %j', (header, expected) => {
    expect(preferredReturn(header as string | string[] | undefined)).toBe(expected);
  });
});

// The core's two sets of primitives give the same answers: Node's (the server, the auditor CLI) and the
// browser's (the dashboard's bundle), so the browser's verdicts are the CLI's.
import { generateKeyPairSync, sign } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as browser from '../../../src/core/crypto/primitives.browser.js';
import * as node from '../../../src/core/crypto/primitives.js';
import { rawPublicKey } from '../../../src/core/index.js';

describe('browser and Node primitives', () => {
  it('export the same functions', () => {
    expect(Object.keys(browser).sort()).toEqual(Object.keys(node).sort());
    // The types too: a browser module that drifted from the Node one would not compile here.
    const same: typeof node = browser;
    expect(same).toBe(browser);
  });

  it('hash, encode and decode alike', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.string(),
        (bytes, a, b) => {
          expect(browser.sha256(bytes)).toEqual(node.sha256(bytes));
          expect(browser.sha256HexOfByteAndText(0, a, b, a)).toBe(node.sha256HexOfByteAndText(0, a, b, a));
          // Under 0x80 the byte goes in as a character of the text, past it through a buffer: both are the bytes.
          for (const byte of [1, 0x7f, 0x80, 0xff])
            expect(node.sha256HexOfByteAndText(byte, a, b, '')).toBe(node.sha256HexOfBytesAndText(new Uint8Array([byte]), a + b));
          // A prefix given as hex hashes as its bytes do, in both builds.
          const ofBytes = node.sha256HexOfBytesAndText(bytes, a);
          expect(node.sha256HexOfHexAndText(node.hexEncode(bytes), a)).toBe(ofBytes);
          expect(browser.sha256HexOfHexAndText(node.hexEncode(bytes), a)).toBe(ofBytes);
          expect(browser.sha256HexOfBytesAndText(bytes, a)).toBe(ofBytes);
          expect(browser.hexEncode(bytes)).toBe(node.hexEncode(bytes));
          expect(browser.hexDecode(node.hexEncode(bytes))).toEqual(new Uint8Array(bytes));
          expect(browser.hexDecode(node.hexEncode(bytes).toUpperCase())).toEqual(
            node.hexDecode(node.hexEncode(bytes).toUpperCase()),
          );
          expect(browser.base64Encode(bytes)).toBe(node.base64Encode(bytes));
          expect(browser.base64Decode(node.base64Encode(bytes))).toEqual(node.base64Decode(node.base64Encode(bytes)));
          expect(browser.utf8Encode(a)).toEqual(node.utf8Encode(a));
          expect(browser.utf8Decode(node.utf8Encode(b))).toBe(node.utf8Decode(node.utf8Encode(b)));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuse the same bad hex', () => {
    for (const s of ['0g', 'zz', '0', 'abc', '12 4', 'é1']) {
      expect([s, browser.hexDecode(s)]).toEqual([s, node.hexDecode(s)]);
    }
  });

  it('verify Ed25519 signatures alike, accepting the good and refusing altered ones', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const raw = rawPublicKey(publicKey);
    const [b, n] = [browser.ed25519Verifier(raw), node.ed25519Verifier(raw)];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(63), fc.integer({ min: 1, max: 255 }), (msg, at, flip) => {
        const sig = new Uint8Array(sign(null, msg, privateKey));
        expect([b(msg, sig), n(msg, sig)]).toEqual([true, true]);
        const bad = sig.slice();
        bad[at]! ^= flip;
        expect(b(msg, bad)).toBe(n(msg, bad));
        expect(b(msg, bad)).toBe(false);
        expect(b(msg, sig.subarray(0, 63))).toBe(false);
      }),
      { numRuns: 50 },
    );
  });

  it('the browser build refuses to sign', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    expect(() => browser.ed25519Sign(privateKey, new Uint8Array(1))).toThrow(/not available in the browser/);
    expect(() => browser.ed25519RawPublicKey(privateKey)).toThrow(/not available in the browser/);
  });
});

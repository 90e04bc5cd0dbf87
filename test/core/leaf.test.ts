import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/core/hex.js';
import type { JsonObject } from '../../src/core/json.js';
import { canonicalJson } from '../../src/core/canonical-json.js';
import { eventLeafHash, formatTime, leafBytes, leafHashHex, parseTime, ZERO_HASH_HEX } from '../../src/core/leaf.js';
import type { LeafFields } from '../../src/core/leaf.js';

const prevHash = 'ab'.repeat(32);
const leaf: LeafFields = {
  sourceAppId: 'app-1',
  seq: 7,
  prevHash,
  eventType: 'user.login',
  timestamp: '2024-03-05T06:07:08.009Z',
  receivedAt: '2024-03-05T06:07:08.010Z',
  payload: { z: 1, a: [1.5, 1e21, -0, 'é😀\u0001'], '€': true, 'a\u0000': null, B: { y: 2, x: 1e-7 } },
};

// Worked by hand from RFC 8785: keys sorted by UTF-16 code unit ("B" < "a" < "a\u0000" < "z" < "€"),
// ES number form (1e+21, 1e-7, -0 → 0), only control characters escaped (lowercase \u0001), no whitespace.
const expectedJson =
  '{"eventType":"user.login",' +
  '"payload":{"B":{"x":1e-7,"y":2},"a":[1.5,1e+21,0,"é😀\\u0001"],"a\\u0000":null,"z":1,"€":true},' +
  `"prevHash":"${prevHash}",` +
  '"receivedAt":"2024-03-05T06:07:08.010Z","seq":7,"sourceAppId":"app-1",' +
  '"timestamp":"2024-03-05T06:07:08.009Z","v":1}';

describe('leaf encoding (RFC 8785)', () => {
  it('produces the hand-checked byte string', () => {
    const bytes = leafBytes(leaf);
    expect(Buffer.from(bytes).toString('utf8')).toBe(expectedJson);
    expect(toHex(bytes)).toBe(Buffer.from(expectedJson, 'utf8').toString('hex'));
    // é is 2 UTF-8 bytes, 😀 is 4, € is 3: the leaf is UTF-8, not UTF-16 or escaped.
    expect(bytes.length).toBe(Buffer.byteLength(expectedJson, 'utf8'));
    expect(bytes.length).toBe(expectedJson.length + 1 + 2 + 2);
  });

  it('hashes as SHA-256(0x00 || leaf bytes)', () => {
    const want = createHash('sha256').update(Uint8Array.of(0)).update(Buffer.from(expectedJson, 'utf8')).digest('hex');
    expect(leafHashHex(leaf)).toBe(want);
  });

  it('hashes the same from epoch-ms times and from the payload text alone (the paths a writer thread takes)', () => {
    const ms = { ...leaf, timestamp: Date.parse(leaf.timestamp), receivedAt: Date.parse(leaf.receivedAt) };
    const want = createHash('sha256').update(Uint8Array.of(0)).update(Buffer.from(expectedJson, 'utf8')).digest('hex');
    expect(eventLeafHash(ms)).toBe(want);
    expect(eventLeafHash(ms, canonicalJson(leaf.payload))).toBe(want);
    const { payload: _, ...withoutPayload } = ms;
    expect(eventLeafHash(withoutPayload, canonicalJson(leaf.payload))).toBe(want);
    expect(() => eventLeafHash(withoutPayload, '[1]')).toThrow(/JSON object/);
    expect(() => eventLeafHash({ ...ms, payload: [1] as never })).toThrow(/JSON object/);
  });

  it('does not depend on the order members were written in', () => {
    const reordered: LeafFields = {
      payload: { B: { x: 1e-7, y: 2 }, '€': true, z: 1, 'a\u0000': null, a: [1.5, 1e21, 0, 'é😀\u0001'] },
      receivedAt: leaf.receivedAt,
      timestamp: leaf.timestamp,
      eventType: leaf.eventType,
      prevHash,
      seq: 7,
      sourceAppId: 'app-1',
    };
    expect(leafHashHex(reordered)).toBe(leafHashHex(leaf));
  });

  it('formats numbers the ECMAScript way', () => {
    // eslint-disable-next-line no-loss-of-precision -- RFC 8785's example: the double it parses to is the subject
    const payload: JsonObject = { n: [333333333.33333329, 1e30, 4.5, 2e-3, 0.000001, 1e-7, -1.25, 100, 9007199254740991] };
    const json = Buffer.from(leafBytes({ ...leaf, payload })).toString('utf8');
    expect(json).toContain('"payload":{"n":[333333333.3333333,1e+30,4.5,0.002,0.000001,1e-7,-1.25,100,9007199254740991]}');
  });

  it('rejects what the contract cannot encode', () => {
    const bad: Array<[string, Partial<LeafFields>]> = [
      ['negative seq', { seq: -1 }],
      ['fractional seq', { seq: 1.5 }],
      ['uppercase prevHash', { prevHash: 'AB'.repeat(32) }],
      ['short prevHash', { prevHash: 'ab' }],
      ['timestamp without ms', { timestamp: '2024-03-05T06:07:08Z' }],
      ['impossible date', { receivedAt: '2024-02-30T00:00:00.000Z' }],
      ['array payload', { payload: [] as unknown as JsonObject }],
      ['null payload', { payload: null as unknown as JsonObject }],
      ['NaN in payload', { payload: { x: Number.NaN } }],
      ['Infinity in payload', { payload: { x: Number.POSITIVE_INFINITY } }],
      ['lone surrogate', { payload: { x: '\ud800' } }],
    ];
    for (const [why, change] of bad) expect(() => leafBytes({ ...leaf, ...change }), why).toThrow();
  });

  it('has a 64-zero prevHash for seq 0', () => {
    expect(ZERO_HASH_HEX).toBe('0'.repeat(64));
    expect(() => leafBytes({ ...leaf, seq: 0, prevHash: ZERO_HASH_HEX })).not.toThrow();
  });
});

describe('formatTime', () => {
  it('always writes millisecond UTC', () => {
    expect(formatTime(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(formatTime(-1)).toBe('1969-12-31T23:59:59.999Z');
    expect(formatTime(Date.UTC(2024, 1, 29, 23, 59, 59, 5))).toBe('2024-02-29T23:59:59.005Z');
    expect(formatTime(Date.parse('0000-01-01T00:00:00.000Z'))).toBe('0000-01-01T00:00:00.000Z');
    expect(formatTime(Date.parse('9999-12-31T23:59:59.999Z'))).toBe('9999-12-31T23:59:59.999Z');
  });

  it('equals Date#toISOString for every millisecond, whatever came before (it remembers recent seconds)', () => {
    const min = Date.parse('0000-01-01T00:00:00.000Z');
    const max = Date.parse('9999-12-31T23:59:59.999Z');
    const edges = [min, min + 999, min + 1000, -1001, -1000, -999, -1, 0, 1, 999, 1000, 1001, 1709618828009, max - 1000, max];
    fc.assert(
      // Clustered times revisit, and evict, the seconds it remembers (8 slots: 8 s apart share one).
      fc.property(
        fc.array(
          fc.oneof(
            fc.constantFrom(...edges),
            fc.integer({ min, max }),
            fc.integer({ min: -20_000, max: 20_000 }),
            fc.integer({ min: 1709618800000, max: 1709618840000 }),
          ),
          { maxLength: 40 },
        ),
        (times) => {
          for (const ms of times) expect(formatTime(ms)).toBe(new Date(ms).toISOString());
        },
      ),
      { numRuns: 500 },
    );
  });

  it('throws RangeError outside years 0000-9999 and for non-integers', () => {
    expect(() => formatTime(Date.parse('0000-01-01T00:00:00.000Z') - 1)).toThrow(RangeError);
    expect(() => formatTime(Date.parse('9999-12-31T23:59:59.999Z') + 1)).toThrow(RangeError);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 1.5, 8.64e15 + 1]) expect(() => formatTime(bad)).toThrow(RangeError);
  });

  it('parseTime inverts it and nothing else', () => {
    for (const ms of [0, -1, 1709618828009, 253402300799999]) expect(parseTime(formatTime(ms))).toBe(ms);
    for (const bad of [
      '2024-03-05T06:07:08.009',
      '2024-03-05 06:07:08.009Z',
      '2024-02-30T00:00:00.000Z',
      '+010000-01-01T00:00:00.000Z',
    ]) {
      expect(() => parseTime(bad), bad).toThrow(RangeError);
    }
  });

  it('parseTime accepts exactly the times Date reads and formatTime writes back', () => {
    // The reference: what parseTime was, Date.parse and formatTime's round trip.
    const reference = (s: string) => {
      const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(s) ? Date.parse(s) : NaN;
      return Number.isNaN(ms) || formatTime(ms) !== s ? null : ms;
    };
    const ours = (s: string) => {
      try {
        return parseTime(s);
      } catch (err) {
        expect(err).toBeInstanceOf(RangeError);
        return null;
      }
    };
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    const pad = (v: number, n: number) => String(v).padStart(n, '0');
    const cases = [
      '0000-01-01T00:00:00.000Z',
      '9999-12-31T23:59:59.999Z',
      '2000-02-29T12:00:00.000Z',
      '1900-02-29T12:00:00.000Z',
      '2024-02-29T00:00:00.000Z',
      '2023-02-29T00:00:00.000Z',
      '2024-04-31T00:00:00.000Z',
      '2024-01-01T24:00:00.000Z',
      '2024-01-01T23:60:00.000Z',
      '2024-01-01T23:59:60.000Z',
      '2024-00-10T00:00:00.000Z',
      '2024-13-10T00:00:00.000Z',
      '2024-01-00T00:00:00.000Z',
      '0099-03-01T00:00:00.000Z',
      '0400-02-29T00:00:00.000Z',
    ];
    for (let i = 0; i < 20_000; i++) {
      cases.push(
        `${pad(rand(10_000), 4)}-${pad(rand(14), 2)}-${pad(rand(33), 2)}T${pad(rand(26), 2)}:${pad(rand(62), 2)}:${pad(rand(62), 2)}.${pad(rand(1000), 3)}Z`,
      );
    }
    for (const s of cases) expect(ours(s), s).toBe(reference(s));
    for (let i = 0; i < 20_000; i++) {
      const ms = -62_167_219_200_000 + rand(2_147_483_647) * 140_000 + rand(140_000);
      expect(parseTime(formatTime(ms))).toBe(ms);
    }
  });
});

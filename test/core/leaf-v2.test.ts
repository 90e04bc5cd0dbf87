import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import {
  checkedLeafHashHex,
  eventLeafHash,
  leafBytes,
  leafHashHex,
  leafVersionOf,
  parseSalt,
  payloadCommitment,
  payloadMatchesCommitment,
} from '../../src/core/leaf.js';
import type { JsonObject } from '../../src/core/json.js';
import data from './vectors/leaf-v2.json' with { type: 'json' };

const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

/** A vector's leaf fields but the payload and its commitment, times as text. */
const fieldsOf = (v: (typeof data.vectors)[number]) => ({
  sourceAppId: v.sourceAppId,
  seq: v.seq,
  prevHash: v.prevHash,
  eventType: v.eventType,
  timestamp: v.timestamp,
  receivedAt: v.receivedAt,
});

describe('leaf version 2 (test/core/vectors/leaf-v2.json)', () => {
  for (const v of data.vectors) {
    const fields = fieldsOf(v);
    const payload = v.payload as JsonObject;

    it(`${v.name}: commitment, leaf bytes and hash`, () => {
      expect(payloadCommitment(parseSalt(v.payloadSalt), v.payloadText)).toBe(v.payloadHash);
      const leaf = leafBytes({ ...fields, payloadHash: v.payloadHash });
      expect(Buffer.from(leaf).toString('utf8')).toBe(v.leafText);
      expect(Buffer.from(leaf).toString('hex')).toBe(v.leafHex);
      expect(leafHashHex({ ...fields, payloadHash: v.payloadHash })).toBe(v.hash);
      // As the log stores it: epoch ms, with or without the payload (erased).
      const stored = {
        ...fields,
        timestamp: Date.parse(v.timestamp),
        receivedAt: Date.parse(v.receivedAt),
        payloadHash: v.payloadHash,
      };
      expect(eventLeafHash(stored)).toBe(v.hash);
      expect(eventLeafHash({ ...stored, payload: null })).toBe(v.hash);
      expect(eventLeafHash({ ...stored, payload })).toBe(v.hash);
      // Version 1 of the same event is another leaf.
      expect(leafHashHex({ ...fields, payload })).toBe(v.v1Hash);
      expect(leafHashHex({ ...fields, payload, payloadHash: null })).toBe(v.v1Hash);
    });

    it(`${v.name}: agrees with a hand-written check (node:crypto and the canonicalize package)`, () => {
      const payloadText = canonicalize(payload)!;
      expect(payloadText).toBe(v.payloadText);
      const payloadHash = sha256(Buffer.from(v.payloadSalt, 'hex'), Buffer.from(payloadText, 'utf8'));
      expect(payloadHash).toBe(v.payloadHash);
      const leafText = canonicalize({ ...fields, v: 2, payloadHash })!;
      expect(leafText).toBe(v.leafText);
      expect(sha256(Uint8Array.of(0), Buffer.from(leafText, 'utf8'))).toBe(v.hash);
    });

    it(`${v.name}: a verifier tells the committed payload and salt from any other`, () => {
      expect(payloadMatchesCommitment(payload, v.payloadSalt, v.payloadHash)).toBe(true);
      expect(payloadMatchesCommitment({ ...payload, extra: 1 }, v.payloadSalt, v.payloadHash)).toBe(false);
      const otherSalt = (v.payloadSalt[0] === '0' ? '1' : '0') + v.payloadSalt.slice(1);
      expect(payloadMatchesCommitment(payload, otherSalt, v.payloadHash)).toBe(false);
      expect(payloadMatchesCommitment(payload, v.payloadSalt.toUpperCase(), v.payloadHash)).toBe(
        v.payloadSalt === v.payloadSalt.toUpperCase(),
      );
      expect(payloadMatchesCommitment(payload, v.payloadSalt.slice(2), v.payloadHash)).toBe(false);
      expect(payloadMatchesCommitment(payload, v.payloadSalt, v.payloadHash.toUpperCase())).toBe(false);
    });
  }

  it('tells the versions apart by payloadHash', () => {
    expect(leafVersionOf({})).toBe(1);
    expect(leafVersionOf({ payloadHash: null })).toBe(1);
    expect(leafVersionOf({ payloadHash: 'ab'.repeat(32) })).toBe(2);
  });

  it('rejects what the contract cannot encode', () => {
    const v = data.vectors[0]!;
    const fields = fieldsOf(v);
    for (const bad of ['AB'.repeat(32), 'ab', '', 'zz'.repeat(32)])
      expect(() => leafBytes({ ...fields, payloadHash: bad }), bad).toThrow(/payloadHash/);
    expect(() => leafBytes({ ...fields, payload: null })).toThrow(/version 1 leaf needs its payload/);
    expect(() => leafBytes({ ...fields, seq: -1, payloadHash: v.payloadHash })).toThrow(RangeError);
    expect(() => payloadCommitment(new Uint8Array(31), '{}')).toThrow(/32 bytes/);
    expect(() => payloadCommitment(new Uint8Array(32), '[1]')).toThrow(/JSON object/);
    expect(() => parseSalt('g'.repeat(64))).toThrow(/payloadSalt/);
    expect(() => eventLeafHash({ ...fields, timestamp: 0, receivedAt: 0, payload: null })).toThrow(
      /version 1 leaf needs its payload/,
    );
  });

  it('checkedLeafHashHex: the hash of leafHashHex, and its refusals of what the caller has not shown well-formed', () => {
    for (const v of data.vectors) {
      const fields = fieldsOf(v);
      for (const [p, h] of [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ] as const) {
        expect(checkedLeafHashHex({ ...fields, payloadHash: v.payloadHash }, p, h)).toBe(v.hash);
        // Version 1 too (no payloadHash: the payload is in the leaf).
        const v1 = { ...fields, payload: v.payload as JsonObject };
        expect(checkedLeafHashHex(v1, p, h)).toBe(leafHashHex(v1));
      }
      // A field not shown well-formed is checked as leafHashHex checks it; every other check stays.
      for (const bad of ['AB'.repeat(32), 'ab', 'zz'.repeat(32)]) {
        expect(() => checkedLeafHashHex({ ...fields, payloadHash: bad }, true, false)).toThrow(/payloadHash/);
        expect(() => checkedLeafHashHex({ ...fields, prevHash: bad, payloadHash: v.payloadHash }, false, true)).toThrow(
          /prevHash/,
        );
        expect(() => checkedLeafHashHex({ ...fields, prevHash: bad, payload: {} }, false, true)).toThrow(/prevHash/);
      }
      expect(() => checkedLeafHashHex({ ...fields, seq: -1, payloadHash: v.payloadHash }, true, true)).toThrow(RangeError);
      expect(() => checkedLeafHashHex({ ...fields, timestamp: 'x', payloadHash: v.payloadHash }, true, true)).toThrow(
        /not a leaf time/,
      );
      expect(() => checkedLeafHashHex({ ...fields, eventType: 'a\ud800', payloadHash: v.payloadHash }, true, true)).toThrow(
        /Lone surrogate/,
      );
      expect(() => checkedLeafHashHex({ ...fields, payload: null }, true, true)).toThrow(/version 1 leaf needs its payload/);
      expect(() => checkedLeafHashHex({ ...fields, payload: [] as unknown as JsonObject }, true, true)).toThrow(/JSON object/);
    }
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeCheckpointCursor,
  decodeEventCursor,
  decodeLogCursor,
  encodeCheckpointCursor,
  encodeEventCursor,
  encodeLogCursor,
} from '../../src/api/cursor.js';
import { ApiError } from '../../src/api/errors.js';
import { rejection } from '../support/api-error.js';

const key = fc.record({
  timestamp: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  pos: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
});

describe('event cursors', () => {
  it('round-trip every (timestamp, pos) and stay opaque base64url', () => {
    fc.assert(
      fc.property(key, (k) => {
        const cursor = encodeEventCursor(k);
        expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(decodeEventCursor(cursor, 'after')).toEqual(k);
      }),
    );
  });

  it('reject anything the API did not issue, naming the argument', () => {
    const forged = [
      '',
      'not a cursor',
      Buffer.from('e2:1:2').toString('base64url'),
      Buffer.from('e1:1').toString('base64url'),
      Buffer.from('e1:1:-2').toString('base64url'),
      Buffer.from('e1:01:2').toString('base64url'),
      Buffer.from('e1:1:99999999999999999').toString('base64url'),
      Buffer.from('e1:1:23').toString('base64'), // padded
      encodeLogCursor('shop'),
      encodeEventCursor({ timestamp: 1, pos: 2 }) + 'A',
      'A'.repeat(300),
    ];
    for (const cursor of forged) {
      expect(rejection(() => decodeEventCursor(cursor, 'before')).extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'before',
        rule: 'cursor',
      });
    }
  });

  it('never throw anything but BAD_USER_INPUT on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        try {
          decodeEventCursor(s, 'after');
        } catch (err) {
          expect((err as ApiError).code).toBe('BAD_USER_INPUT');
        }
      }),
    );
  });
});

describe('log and checkpoint cursors', () => {
  it('round-trip', () => {
    expect(decodeLogCursor(encodeLogCursor('shop.eu-1'), 'after')).toBe('shop.eu-1');
    expect(decodeCheckpointCursor(encodeCheckpointCursor(2 ** 40), 'after')).toBe(2 ** 40);
  });

  it('reject each other and forgeries', () => {
    expect(rejection(() => decodeLogCursor(encodeCheckpointCursor(3), 'after')).rule).toBe('cursor');
    expect(rejection(() => decodeCheckpointCursor(encodeLogCursor('x'), 'after')).rule).toBe('cursor');
    expect(rejection(() => decodeLogCursor(Buffer.from('l1:a/b').toString('base64url'), 'after')).rule).toBe('cursor');
  });
});

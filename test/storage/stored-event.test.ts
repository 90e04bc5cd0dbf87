// The strict decoder both engines read events through: each broken rule is named by field and rule, with the
// position when it can be read, and a well-formed event passes unchanged.
import { describe, expect, it } from 'vitest';
import {
  decodeStoredEvent,
  MAX_STORED_PAYLOAD_BYTES,
  storedLeafHash,
  type RawStoredEvent,
} from '../../src/storage/stored-event.js';
import { MalformedEventError } from '../../src/storage/types.js';

const good: RawStoredEvent = {
  sourceAppId: 'shop',
  seq: 7,
  eventType: 'order.created',
  timestamp: Date.UTC(2026, 0, 1),
  receivedAt: Date.UTC(2026, 0, 1, 0, 0, 1),
  payload: '{"n":1,"note":"é ✓"}',
  prevHash: 'ab'.repeat(32),
  hash: 'cd'.repeat(32),
  idempotencyKey: null,
  pos: 12,
};

function malformed(change: Partial<Record<keyof RawStoredEvent, unknown>>): MalformedEventError {
  try {
    decodeStoredEvent({ ...good, ...change });
  } catch (err) {
    expect(err).toBeInstanceOf(MalformedEventError);
    return err as MalformedEventError;
  }
  throw new Error('decoded');
}

describe('decodeStoredEvent', () => {
  it('passes a well-formed event, the payload parsed', () => {
    expect(decodeStoredEvent(good)).toEqual({ ...good, payload: { n: 1, note: 'é ✓' } });
    expect(decodeStoredEvent({ ...good, idempotencyKey: 'k-1' }).idempotencyKey).toBe('k-1');
  });

  it.each([
    ['prevHash', { prevHash: 'AB'.repeat(32) }, 'lowercaseHex64'],
    ['prevHash', { prevHash: 'ab'.repeat(31) }, 'lowercaseHex64'],
    ['prevHash', { prevHash: null }, 'lowercaseHex64'],
    ['hash', { hash: 'zz'.repeat(32) }, 'lowercaseHex64'],
    ['hash', { hash: `${'cd'.repeat(32)}00` }, 'lowercaseHex64'],
    ['hash', { hash: undefined }, 'lowercaseHex64'],
    ['payload', { payload: '{"n":' }, 'json'],
    ['payload', { payload: '' }, 'json'],
    ['payload', { payload: '[1]' }, 'object'],
    ['payload', { payload: '"x"' }, 'object'],
    ['payload', { payload: '42' }, 'object'],
    ['payload', { payload: 'null' }, 'object'],
    ['payload', { payload: { n: 1 } }, 'jsonText'],
    ['payload', { payload: JSON.stringify({ pad: 'é'.repeat(MAX_STORED_PAYLOAD_BYTES / 2) }) }, 'maxBytes'],
    ['timestamp', { timestamp: '1767225600000' }, 'epochMs'],
    ['timestamp', { timestamp: 1.5 }, 'epochMs'],
    ['receivedAt', { receivedAt: 8.64e15 }, 'epochMs'],
    ['eventType', { eventType: 5 }, 'string'],
    ['idempotencyKey', { idempotencyKey: true }, 'stringOrNull'],
    ['pos', { pos: '12' }, 'nonNegativeSafeInteger'],
    ['sourceAppId', { sourceAppId: '' }, 'nonEmptyString'],
  ])('%s: %j breaks %s, named with its position', (field, change, rule) => {
    const err = malformed(change);
    expect(err).toMatchObject({ field, rule, seq: 7, sourceAppId: field === 'sourceAppId' ? '' : 'shop' });
    expect(err.message).toContain(field);
  });

  it.each([[10.5], [-1], [2 ** 53], ['7'], [null]])(
    'seq %j is malformed and unreadable: the error carries no position',
    (seq) => {
      expect(malformed({ seq })).toMatchObject({ field: 'seq', rule: 'nonNegativeSafeInteger', seq: null });
    },
  );

  it('a stored hash as a tree leaf: 32 bytes, or MalformedEventError', () => {
    expect(Buffer.from(storedLeafHash('shop', 3, 'cd'.repeat(32))).toString('hex')).toBe('cd'.repeat(32));
    expect(() => storedLeafHash('shop', 3, 'CD'.repeat(32))).toThrow(MalformedEventError);
    expect(() => storedLeafHash('shop', 3, null)).toThrow(/seq 3 is malformed: hash/);
  });
});

import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../../src/api/errors.js';
import {
  eventInputSchema,
  validateEventBatch,
  validateEventInput,
  type IngestLimits,
} from '../../../src/api/validation/event-input.js';
import { canonicalPayload, canonicalPayloadBytes, checkPayload } from '../../../src/api/validation/payload.js';
import { pageSize, parseEventFilter, parseEventId } from '../../../src/api/validation/query-args.js';
import { formatTimestamp, parseRfc3339 } from '../../../src/api/validation/timestamp.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../../../src/api/validation/rules.js';
import { rejection } from '../../support/api-error.js';

const NOW = Date.UTC(2025, 5, 1, 12);
/** The reference the fast size is tested against: the RFC 8785 text's UTF-8 size, by the reference implementation. */
const canonicalPayloadBytesReference = (payload: object): number => Buffer.byteLength(canonicalize(payload) ?? '', 'utf8');
const limits: IngestLimits = { maxPayloadBytes: 256, maxPayloadDepth: 4, maxClockSkewMs: 60_000, maxBatchSize: 5 };
const schema = eventInputSchema(limits, () => NOW);

const valid = () => ({
  sourceAppId: 'shop-1',
  eventType: 'order:created',
  timestamp: '2025-06-01T11:00:00.000Z',
  payload: { id: 7, tags: ['a'] },
});

const rejectOne = (input: unknown) => rejection(() => validateEventInput(schema, input));

describe('event input', () => {
  it('turns a valid event into an append request with epoch-ms time and the payload in RFC 8785 form', () => {
    expect(validateEventInput(schema, { ...valid(), idempotencyKey: 'k 1', expectedPrevHash: 'a'.repeat(64) })).toEqual({
      sourceAppId: 'shop-1',
      eventType: 'order:created',
      timestamp: Date.UTC(2025, 5, 1, 11),
      payload: { id: 7, tags: ['a'] },
      payloadText: '{"id":7,"tags":["a"]}',
      idempotencyKey: 'k 1',
      expectedPrevHash: 'a'.repeat(64),
    });
  });

  it('accepts the Date a GraphQL DateTime variable becomes', () => {
    expect(validateEventInput(schema, { ...valid(), timestamp: new Date(NOW) }).timestamp).toBe(NOW);
  });

  it.each([
    ['sourceAppId', 'has/slash', 'format'],
    ['sourceAppId', 'a'.repeat(129), 'format'],
    ['sourceAppId', '', 'format'],
    ['sourceAppId', 42, 'type'],
    ['eventType', '-leading', 'format'],
    ['eventType', 'with space', 'format'],
    ['timestamp', '2025-06-01', 'format'],
    ['timestamp', '2025-02-30T00:00:00Z', 'format'],
    ['timestamp', '2025-06-01T10:00:60Z', 'format'],
    ['timestamp', '1969-12-31T23:59:59.999Z', 'min'],
    ['timestamp', '2025-06-01T12:01:00.001Z', 'future'],
    ['timestamp', 1717236000000, 'format'],
    ['payload', [1, 2], 'type'],
    ['payload', 'text', 'type'],
    ['payload', null, 'type'],
    ['payload', { a: { b: { c: { d: {} } } } }, 'maxDepth'],
    ['payload', { a: [[[[]]]] }, 'maxDepth'],
    ['payload', { n: Number.NaN }, 'finite'],
    ['payload', { n: Infinity }, 'finite'],
    ['payload', { s: 'x\uD800y' }, 'unicode'],
    ['payload', { when: new Date(0) }, 'type'],
    ['idempotencyKey', '', 'format'],
    ['idempotencyKey', 'é', 'format'],
    ['idempotencyKey', 'k'.repeat(129), 'format'],
    ['expectedPrevHash', 'A'.repeat(64), 'format'],
    ['expectedPrevHash', 'a'.repeat(63), 'format'],
  ])('rejects %s = %j by rule %s', (field, value, rule) => {
    const err = rejectOne({ ...valid(), [field]: value });
    expect(err.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field, rule });
    expect(err.message).toContain(field);
  });

  it.each(['sourceAppId', 'eventType', 'timestamp', 'payload'])('requires %s', (field) => {
    const input: Record<string, unknown> = valid();
    delete input[field];
    expect(rejectOne(input).extensions).toMatchObject({ code: 'BAD_USER_INPUT', field, rule: 'required' });
  });

  it('rejects fields the contract does not have (the server assigns seq, prevHash, receivedAt)', () => {
    expect(rejectOne({ ...valid(), seq: 3 }).extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'seq',
      rule: 'unknownField',
    });
  });

  it('counts payload depth in containers: the limit itself is accepted', () => {
    const atLimit = { a: { b: [{ d: 1 }] } };
    expect(validateEventInput(schema, { ...valid(), payload: atLimit }).payload).toEqual(atLimit);
  });

  it('accepts a timestamp within the clock skew', () => {
    expect(validateEventInput(schema, { ...valid(), timestamp: '2025-06-01T12:01:00.000Z' }).timestamp).toBe(NOW + 60_000);
  });

  it('reports an oversized payload as PAYLOAD_TOO_LARGE, measured in canonical UTF-8 bytes', () => {
    // {"s":"…"} is 8 bytes of framing; each é is 2 bytes in UTF-8.
    const fits = { s: 'é'.repeat(124) };
    expect(canonicalPayloadBytes(fits)).toBe(256);
    expect(validateEventInput(schema, { ...valid(), payload: fits }).payload).toEqual(fits);
    const err = rejectOne({ ...valid(), payload: { s: 'é'.repeat(124) + 'x' } });
    expect(err.extensions).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', field: 'payload', rule: 'maxBytes' });
  });

  it('prefers BAD_USER_INPUT when the input is wrong besides being large', () => {
    const err = rejectOne({ ...valid(), eventType: '', payload: { s: 'x'.repeat(1000) } });
    expect(err.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'eventType' });
  });

  it('fails fast on a hostile payload nested far deeper than the limit', () => {
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i++) deep = { d: deep };
    expect(rejectOne({ ...valid(), payload: deep }).extensions).toMatchObject({ rule: 'maxDepth' });
  });
});

describe('event batch', () => {
  it('reports every bad item by index and rejects the batch', () => {
    const err = rejection(() =>
      validateEventBatch(
        schema,
        [valid(), { ...valid(), eventType: '' }, valid(), { ...valid(), payload: [], sourceAppId: '/' }],
        limits,
        'inputs',
      ),
    );
    expect(err.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'inputs', rule: 'items' });
    const items = (err.extensions.errors as Array<Record<string, unknown>>).map(({ index, field, rule }) => ({
      index,
      field,
      rule,
    }));
    expect(items).toEqual([
      { index: 1, field: 'eventType', rule: 'format' },
      { index: 3, field: 'sourceAppId', rule: 'format' },
      { index: 3, field: 'payload', rule: 'type' },
    ]);
  });

  it('tells a missing field from a wrong one in every item', () => {
    const { eventType: _, ...noType } = valid();
    const err = rejection(() => validateEventBatch(schema, [valid(), { ...valid(), sourceAppId: 42 }, noType], limits, 'inputs'));
    const items = (err.extensions.errors as Array<Record<string, unknown>>).map(({ index, field, rule }) => ({
      index,
      field,
      rule,
    }));
    expect(items).toEqual([
      { index: 1, field: 'sourceAppId', rule: 'type' },
      { index: 2, field: 'eventType', rule: 'required' },
    ]);
  });

  it('is PAYLOAD_TOO_LARGE only when size is all that is wrong', () => {
    const big = { ...valid(), payload: { s: 'x'.repeat(300) } };
    expect(rejection(() => validateEventBatch(schema, [valid(), big], limits, 'inputs')).extensions.code).toBe(
      'PAYLOAD_TOO_LARGE',
    );
    expect(
      rejection(() => validateEventBatch(schema, [{ ...valid(), eventType: '' }, big], limits, 'inputs')).extensions.code,
    ).toBe('BAD_USER_INPUT');
  });

  it('bounds the batch size', () => {
    expect(rejection(() => validateEventBatch(schema, [], limits, 'inputs')).extensions).toMatchObject({
      field: 'inputs',
      rule: 'minItems',
    });
    const six = Array.from({ length: 6 }, valid);
    expect(rejection(() => validateEventBatch(schema, six, limits, 'body')).extensions).toMatchObject({
      field: 'body',
      rule: 'maxItems',
    });
    expect(validateEventBatch(schema, six.slice(1), limits, 'inputs')).toHaveLength(5);
  });
});

describe('arbitrary input', () => {
  const expectOnlyInputErrors = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(ApiError);
      expect(['BAD_USER_INPUT', 'PAYLOAD_TOO_LARGE']).toContain((err as ApiError).code);
      expect((err as ApiError).field).toEqual(expect.any(String));
      expect((err as ApiError).rule).toEqual(expect.any(String));
    }
  };

  it('anything as an event yields a request or BAD_USER_INPUT/PAYLOAD_TOO_LARGE, never another error', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => expectOnlyInputErrors(() => validateEventInput(schema, value))),
      { numRuns: 300 },
    );
  });

  it('a valid event with any one field replaced by anything never throws another error', () => {
    const fields = ['sourceAppId', 'eventType', 'timestamp', 'payload', 'idempotencyKey', 'expectedPrevHash', 'extra'];
    fc.assert(
      fc.property(
        fc.constantFrom(...fields),
        fc.anything({ withNullPrototype: true, withBoxedValues: true, withDate: true }),
        (field, value) => expectOnlyInputErrors(() => validateEventInput(schema, { ...valid(), [field]: value })),
      ),
      { numRuns: 500 },
    );
  });

  it('any list as a batch never throws another error', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.anything(), fc.constant(valid())), { maxLength: 8 }), (values) =>
        expectOnlyInputErrors(() => validateEventBatch(schema, values, limits, 'inputs')),
      ),
      { numRuns: 300 },
    );
  });

  it('measures the same size as the RFC 8785 serialization, for any JSON object with any keys and strings', () => {
    const text = fc.string({ unit: 'binary' }); // all of Unicode, well-formed: astral, controls, quotes, escapes
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.constantFrom(null, true, false, 0, -0, 1e21, 1e-7, 5e-324, Number.MAX_SAFE_INTEGER),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        text,
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(text, tie('value'), { maxKeys: 4 }),
      ),
    })).value;
    fc.assert(
      fc.property(fc.dictionary(text, json, { maxKeys: 6 }), (payload) => {
        expect(canonicalPayloadBytes(payload as never)).toBe(canonicalPayloadBytesReference(payload as never));
      }),
      { numRuns: 2000 },
    );
    // The size check is skipped when an upper bound fits, so the limit must bite at exactly the size.
    const controls = fc.string({ unit: fc.constantFrom('\u0000', '\u001f', '"', '\\', 'é', '😀', 'a') });
    fc.assert(
      fc.property(fc.dictionary(fc.oneof(text, controls), fc.oneof(json, controls), { maxKeys: 6 }), (payload) => {
        const size = canonicalPayloadBytesReference(payload);
        const at = { maxPayloadBytes: size, maxPayloadDepth: 10 };
        expect(checkPayload(payload, at)).toBeNull();
        expect(checkPayload(payload, { ...at, maxPayloadBytes: size - 1 })?.rule).toBe('maxBytes');
      }),
      { numRuns: 1000 },
    );
  });

  it('canonicalPayload (one walk) keeps exactly the rules checkPayload checks, and its text is the RFC 8785 form', () => {
    const text = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('\ud800', '\udc00', 'a', '"') }));
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.constantFrom(null, true, false, 0, -0, 1e21, 5e-324, Number.NaN, Number.POSITIVE_INFINITY, undefined),
        fc.double(),
        text,
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(text, tie('value'), { maxKeys: 4 }),
      ),
    })).value;
    fc.assert(
      fc.property(
        fc.oneof(fc.dictionary(text, json, { maxKeys: 6 }), json),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 400 }),
        (payload, maxPayloadDepth, maxPayloadBytes) => {
          const at = { maxPayloadDepth, maxPayloadBytes };
          const problem = checkPayload(payload, at);
          const got = canonicalPayload(payload, at);
          if (problem) expect(got).toEqual({ problem });
          else expect(got).toEqual({ text: canonicalize(payload) });
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('accepts every JSON object within the limits, and measures exactly the canonical size', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }), (payload) => {
        const input = { ...valid(), payload: JSON.parse(JSON.stringify(payload)) };
        const size = canonicalPayloadBytes(input.payload);
        const big = { ...limits, maxPayloadBytes: size, maxPayloadDepth: 10 };
        expect(
          validateEventInput(
            eventInputSchema(big, () => NOW),
            input,
          ).payload,
        ).toEqual(input.payload);
        if (size > 2) {
          const small = eventInputSchema({ ...big, maxPayloadBytes: size - 1 }, () => NOW);
          expect(rejection(() => validateEventInput(small, input)).code).toBe('PAYLOAD_TOO_LARGE');
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('RFC 3339', () => {
  it('round-trips every millisecond date from 1970 on', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date(0), max: new Date(Date.UTC(9999, 11, 31)), noInvalidDate: true }), (d) => {
        expect(parseRfc3339(d.toISOString())).toBe(d.getTime());
      }),
    );
  });

  it('applies offsets, and refuses a digit below the millisecond unless it is a zero', () => {
    expect(parseRfc3339('2024-01-01T02:00:00+02:00')).toBe(Date.UTC(2024, 0, 1));
    expect(parseRfc3339('2023-12-31T19:30:00.1230-04:30')).toBe(Date.UTC(2024, 0, 1, 0, 0, 0, 123));
    expect(parseRfc3339('2024-01-01T00:00:00.999000000Z')).toBe(Date.UTC(2024, 0, 1, 0, 0, 0, 999));
    expect(parseRfc3339('2023-12-31T19:30:00.1239-04:30')).toBeNull();
    expect(parseRfc3339('2024-01-01T00:00:00.123456Z')).toBeNull();
    expect(parseRfc3339('2024-01-01T00:00:00.000000001Z')).toBeNull();
    expect(parseRfc3339('2024-02-29t00:00:00z')).toBe(Date.UTC(2024, 1, 29));
    expect(parseRfc3339('2023-02-29T00:00:00Z')).toBeNull();
    expect(parseRfc3339('2024-01-01T00:00:00')).toBeNull();
    expect(parseRfc3339('2024-01-01T24:00:00Z')).toBeNull();
    expect(parseRfc3339('2024-01-01T00:00:00.5Z')).toBe(Date.UTC(2024, 0, 1, 0, 0, 0, 500));
    expect(parseRfc3339('2024-01-01T00:00:00.05Z')).toBe(Date.UTC(2024, 0, 1, 0, 0, 0, 50));
    expect(parseRfc3339('0000-03-01T00:00:00Z')).toBe(Date.UTC(2000, 2, 1) - 146_097 * 5 * 86_400_000);
    expect(parseRfc3339('1900-02-29T00:00:00Z')).toBeNull();
    expect(parseRfc3339('2000-02-29T00:00:00Z')).toBe(Date.UTC(2000, 1, 29));
    expect(parseRfc3339('2024-04-31T00:00:00Z')).toBeNull();
    expect(parseRfc3339('2024-01-01T00:00:00+24:00')).toBeNull();
    expect(parseRfc3339('2024-01-01T00:00:00+00:60')).toBeNull();
  });

  // Date.parse reads the same text when it is in ECMAScript's date-time form (three fraction digits at most).
  it('reads any offset, from year 0 to 9999, as Date.parse does', () => {
    const two = (n: number) => String(n).padStart(2, '0');
    fc.assert(
      fc.property(
        // From 0000-01-02 (the local time stays in year 0 or later) to 9999-12-30.
        fc.integer({ min: Date.parse('0000-01-02T00:00:00Z'), max: Date.UTC(9999, 11, 30) }),
        fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }),
        fc.constantFrom('', '.1', '.12', '.123'),
        (ms, offset, fraction) => {
          const local = new Date(ms + offset * 60_000).toISOString().slice(0, 19);
          const zone =
            offset === 0
              ? 'Z'
              : `${offset < 0 ? '-' : '+'}${two(Math.floor(Math.abs(offset) / 60))}:${two(Math.abs(offset) % 60)}`;
          const text = local + fraction + zone;
          expect(parseRfc3339(text)).toBe(Date.parse(text));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('formats every millisecond exactly as toISOString does, inside and outside years 0000-9999', () => {
    fc.assert(
      fc.property(fc.integer({ min: -8.64e15, max: 8.64e15 }), (ms) => {
        expect(formatTimestamp(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }), (ms) => {
        expect(formatTimestamp(ms)).toBe(new Date(ms).toISOString());
        expect(parseRfc3339(formatTimestamp(ms))).toBe(ms);
      }),
      { numRuns: 5000 },
    );
    for (const ms of [
      0,
      951_782_400_000,
      4_107_542_400_000,
      Date.UTC(9999, 11, 31, 23, 59, 59, 999),
      Date.UTC(10_000, 0, 1),
      -1,
      0.5,
    ])
      expect(formatTimestamp(ms)).toBe(new Date(ms).toISOString());
  });
});

describe('query arguments', () => {
  it('maps a filter to epoch ms and leaves absent members out', () => {
    expect(parseEventFilter({ sourceAppIds: ['a'], from: new Date(5), to: null })).toEqual({ sourceAppIds: ['a'], from: 5 });
    expect(parseEventFilter(null)).toEqual({});
  });

  it.each([
    [{ sourceAppIds: [] }, 'filter.sourceAppIds', 'minItems'],
    [{ sourceAppIds: Array.from({ length: 101 }, (_, i) => `a${i}`) }, 'filter.sourceAppIds', 'maxItems'],
    [{ eventTypes: ['ok', 'not ok'] }, 'filter.eventTypes[1]', 'format'],
    [{ from: new Date(10), to: new Date(9) }, 'filter.to', 'range'],
  ])('rejects filter %j naming %s', (filter, field, rule) => {
    expect(rejection(() => parseEventFilter(filter)).extensions).toMatchObject({ code: 'BAD_USER_INPUT', field, rule });
  });

  it('defaults page sizes and refuses negative ones and ones over the maximum, naming it', () => {
    expect(pageSize(undefined, 'first')).toBe(DEFAULT_PAGE_SIZE);
    expect(pageSize(MAX_PAGE_SIZE, 'first')).toBe(MAX_PAGE_SIZE);
    expect(pageSize(0, 'first')).toBe(0);
    expect(rejection(() => pageSize(-1, 'last')).extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'last',
      rule: 'min',
    });
    for (const [value, field] of [
      [MAX_PAGE_SIZE + 1, 'first'],
      [10_000, 'last'],
    ] as const) {
      const err = rejection(() => pageSize(value, field));
      expect(err.extensions).toEqual({ code: 'BAD_USER_INPUT', field, rule: 'max', limit: MAX_PAGE_SIZE });
      expect(err.message).toContain(`${field}: must be at most ${MAX_PAGE_SIZE}`);
    }
  });

  it('parses event ids <sourceAppId>/<seq>', () => {
    expect(parseEventId('shop.eu/12')).toEqual({ sourceAppId: 'shop.eu', seq: 12 });
    for (const bad of ['shop', 'shop/', 'shop/-1', 'shop/01', 'a/b/1', '/1', 'shop/99999999999999999']) {
      expect(rejection(() => parseEventId(bad)).extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'id',
        rule: 'format',
      });
    }
  });
});

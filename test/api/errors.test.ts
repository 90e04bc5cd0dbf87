import { GraphQLError } from 'graphql';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ApiError, fromLogError, httpStatusFor } from '../../src/api/errors.js';
import { createErrorFormatter } from '../../src/api/graphql/format-error.js';
import { restErrors } from '../../src/api/rest/errors.js';
import { AuthError } from '../../src/auth/errors.js';
import { LogError } from '../../src/log/errors.js';
import { AppendOutcomeUnknownError, MalformedEventError, StorageUnavailableError } from '../../src/storage/types.js';

const logger = pino({ level: 'silent' });
const production = createErrorFormatter({ production: true, logger });
const development = createErrorFormatter({ production: false, logger });

/** As graphql-js hands a resolver's error to the formatter: located, with the original inside. */
const located = (original: Error) => new GraphQLError(original.message, { path: ['logEvent'], originalError: original });

describe('LogError mapping', () => {
  it('keeps the code and names the field and rule', () => {
    const err = fromLogError(new LogError('CONFLICT', 'head moved', [{ field: 'expectedPrevHash', message: 'head moved' }]));
    expect(err.extensions).toEqual({
      code: 'CONFLICT',
      field: 'expectedPrevHash',
      rule: 'headMismatch',
      errors: undefined,
    } as never);
  });

  it('passes RATE_LIMITED on with its rule and retryAfterMs (a refused audit), as HTTP 429', () => {
    const err = fromLogError(
      new LogError('RATE_LIMITED', 'busy', [{ field: 'sourceAppId', rule: 'oneAuditPerLog', message: 'busy' }], {
        retryAfterMs: 250,
      }),
    );
    expect(err.extensions).toMatchObject({
      code: 'RATE_LIMITED',
      field: 'sourceAppId',
      rule: 'oneAuditPerLog',
      retryAfterMs: 250,
    });
    expect(httpStatusFor(err.code)).toBe(429);
    expect(
      production(
        located(new LogError('RATE_LIMITED', 'busy', [], { retryAfterMs: 9 })).toJSON(),
        located(new LogError('RATE_LIMITED', 'busy', [], { retryAfterMs: 9 })),
      ).extensions,
    ).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 9 });
  });

  it('names a malformed stored event (MALFORMED_EVENT, its field, rule and position), not an internal error', () => {
    const original = new MalformedEventError('shop', 9, 'prevHash', 'lowercaseHex64', 'must be 64 lowercase hex characters');
    const formatted = production(located(original).toJSON(), located(original));
    expect(formatted.message).toContain('at seq 9');
    expect(formatted.extensions).toEqual({
      code: 'MALFORMED_EVENT',
      field: 'prevHash',
      rule: 'lowercaseHex64',
      sourceAppId: 'shop',
      seq: 9,
    });
  });

  it('lists batch details by index', () => {
    const err = fromLogError(
      new LogError('CONFLICT', '2 conflicting events', [
        { index: 1, field: 'idempotencyKey', message: 'reused' },
        { index: 4, field: 'expectedPrevHash', message: 'not head' },
      ]),
    );
    expect(err.extensions.errors).toEqual([
      { index: 1, code: 'CONFLICT', field: 'idempotencyKey', rule: 'idempotencyKeyReused', message: 'reused' },
      { index: 4, code: 'CONFLICT', field: 'expectedPrevHash', rule: 'headMismatch', message: 'not head' },
    ]);
    expect(restErrors(err).map((e) => e.index)).toEqual([1, 4]);
  });

  it.each([
    ['BAD_USER_INPUT', 400],
    ['NOT_FOUND', 404],
    ['CONFLICT', 409],
    ['PAYLOAD_TOO_LARGE', 413],
    ['GRAPHQL_VALIDATION_FAILED', 400],
  ])('%s is HTTP %i', (code, status) => expect(httpStatusFor(code)).toBe(status));
});

describe('error formatter', () => {
  it('passes our errors through with their extensions, from resolvers and from the service', () => {
    const api = new ApiError('NOT_FOUND', 'no such log', { field: 'sourceAppId', rule: 'notFound' });
    expect(production(located(api).toJSON(), located(api))).toMatchObject({
      message: 'no such log',
      path: ['logEvent'],
      extensions: { code: 'NOT_FOUND', field: 'sourceAppId', rule: 'notFound' },
    });
    const log = new LogError('BAD_USER_INPUT', 'seq must be below the tree size 3', [{ field: 'seq', message: '' }]);
    expect(production(located(log).toJSON(), located(log)).extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'seq' });
  });

  it('answers a write whose outcome the storage could not learn as UNAVAILABLE (503, retry with the same keys), not as an internal error', () => {
    const unknown = new AppendOutcomeUnknownError(
      'the append at commit 7 may or may not have committed (connection closed); retry it with the same idempotency keys',
    );
    const formatted = production(located(unknown).toJSON(), located(unknown));
    expect(formatted.extensions).toMatchObject({ code: 'UNAVAILABLE', rule: 'outcomeUnknown', retryAfterMs: 1000 });
    expect(formatted.message).toContain('retry it with the same idempotency keys');
    expect(httpStatusFor('UNAVAILABLE')).toBe(503);
  });

  it('answers a storage that did not answer in time as UNAVAILABLE (rule storageUnavailable), not as an internal error', () => {
    const down = new StorageUnavailableError(
      'the MongoDB database did not answer in time or could not be reached (connection 3 timed out)',
    );
    const formatted = production(located(down).toJSON(), located(down));
    expect(formatted).toMatchObject({
      message: down.message,
      extensions: { code: 'UNAVAILABLE', rule: 'storageUnavailable', retryAfterMs: 1000 },
    });
  });

  it('maps a refusal of key management or scope (AuthError) with its field, rule and items', () => {
    const refusal = new AuthError(
      'FORBIDDEN',
      'inputs: 1 item(s) name a source application this API key may not write to',
      'inputs',
      'scope',
      [{ index: 2, field: 'sourceAppId', rule: 'scope', message: 'no' }],
    );
    expect(production(located(refusal).toJSON(), located(refusal)).extensions).toMatchObject({
      code: 'FORBIDDEN',
      field: 'inputs',
      rule: 'scope',
      errors: [{ index: 2, code: 'FORBIDDEN', field: 'sourceAppId', rule: 'scope' }],
    });
  });

  it('masks unexpected errors in production: no message, no stack', () => {
    const boom = new Error('SQLITE_CORRUPT at /var/lib/chainlog.db');
    const formatted = production(
      { message: boom.message, extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['at x'] } },
      located(boom),
    );
    expect(formatted).toEqual({
      message: 'Internal server error',
      path: undefined,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    } as never);
    expect(JSON.stringify(formatted)).not.toContain('SQLITE');
  });

  it('keeps the message but never the stack outside production', () => {
    const boom = new Error('bug');
    const formatted = development(
      { message: 'bug', extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['at x'] } },
      located(boom),
    );
    expect(formatted).toMatchObject({ message: 'bug', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(formatted.extensions).not.toHaveProperty('stacktrace');
  });

  it("folds Apollo's request-level codes into ours", () => {
    const parse = production(
      { message: 'Syntax Error', extensions: { code: 'GRAPHQL_PARSE_FAILED' } },
      new GraphQLError('Syntax Error'),
    );
    expect(parse.extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', rule: 'syntax' });
    const bad = production({ message: 'POST body missing', extensions: { code: 'BAD_REQUEST' } }, new GraphQLError('x'));
    expect(bad.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    const coercion = production(
      { message: 'Variable "$s" got invalid value', extensions: { code: 'BAD_USER_INPUT', stacktrace: [] } },
      new GraphQLError('x'),
    );
    expect(coercion.extensions).toEqual({ code: 'BAD_USER_INPUT' });
  });
});

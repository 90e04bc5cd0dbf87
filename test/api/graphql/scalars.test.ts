import { GraphQLDateTime } from 'graphql-scalars';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DateTime } from '../../../src/api/graphql/resolvers/scalars.js';
import { parseRfc3339 } from '../../../src/api/validation/timestamp.js';

// GraphQL's DateTime reads input with REST's RFC 3339 parser: one rule for both transports. Its fast path
// (the canonical spelling) changes nothing but speed.
const library = (v: unknown) => {
  try {
    return { ok: (GraphQLDateTime.parseValue(v)).getTime() };
  } catch (e) {
    return { error: (e as Error).message };
  }
};
const ours = (v: unknown) => {
  try {
    return { ok: (DateTime.parseValue(v)).getTime() };
  } catch (e) {
    return { error: (e as Error).message };
  }
};

describe('DateTime scalar', () => {
  it('parses what REST parses, to the same instant, and refuses what it refuses, naming RFC 3339', () => {
    const cases = [
      '2026-11-27T00:12:00.000Z',
      '2024-02-29T23:59:59.999Z',
      '2023-02-29T00:00:00.000Z', // no such day
      '2026-02-30T00:00:00.000Z',
      '2026-11-27T24:00:00.000Z',
      '2016-12-31T23:59:60.000Z', // a leap second: not representable in the log's milliseconds
      '2026-11-27 00:12:00.000Z', // a space for the T: refused by both
      '2026-11-27t00:12:00.000Z',
      '2026-11-27T00:12:00.000z',
      '2026-11-27T00:12:00.00Z0',
      '2026-11-27T01:12:00+01:00',
      '2026-11-27T00:12:00.1234Z',
      '0000-01-01T00:00:00.000Z',
      '9999-12-31T23:59:59.999Z',
      '+02026-11-27T00:12:00.000Z',
      'not a date at all, 24 ch',
      '',
      42,
    ];
    for (const c of cases) {
      const rest = typeof c === 'string' ? parseRfc3339(c) : null;
      if (rest === null) expect(ours(c).error, String(c)).toMatch(/RFC 3339/);
      else expect(ours(c), String(c)).toEqual({ ok: rest });
    }
  });

  it('agrees with graphql-scalars on any instant in its canonical spelling', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.parse('0000-01-01T00:00:00.000Z'), max: Date.parse('9999-12-31T23:59:59.999Z') }), (ms) => {
        const text = new Date(ms).toISOString();
        expect(ours(text)).toEqual(library(text));
        expect(ours(text)).toEqual({ ok: ms });
      }),
      { numRuns: 2000 },
    );
  });
});

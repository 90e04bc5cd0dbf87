import { makeExecutableSchema } from '@graphql-tools/schema';
import { execute, Kind, parse, validate } from 'graphql';
import { GraphQLDateTime } from 'graphql-scalars';
import fc from 'fast-check';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createErrorFormatter } from '../../../src/api/graphql/format-error.js';
import { DateTime, Sha256Hex } from '../../../src/api/graphql/resolvers/scalars.js';
import { parseRfc3339 } from '../../../src/api/validation/timestamp.js';
import { rejection } from '../../support/api-error.js';

// GraphQL's DateTime reads input with REST's RFC 3339 parser: one rule for both transports. Its fast path
// (the canonical spelling) changes nothing but speed.
const library = (v: unknown) => {
  try {
    return { ok: GraphQLDateTime.parseValue(v).getTime() };
  } catch (e) {
    return { error: (e as Error).message };
  }
};
const ours = (v: unknown) => {
  try {
    return { ok: DateTime.parseValue(v).getTime() };
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
      fc.property(
        fc.integer({ min: Date.parse('0000-01-01T00:00:00.000Z'), max: Date.parse('9999-12-31T23:59:59.999Z') }),
        (ms) => {
          const text = new Date(ms).toISOString();
          expect(ours(text)).toEqual(library(text));
          expect(ours(text)).toEqual({ ok: ms });
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('Sha256Hex scalar', () => {
  const hash = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
  const refused = [
    'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855',
    `0x${hash}`,
    hash.slice(1),
    `${hash}0`,
    ` ${hash}`,
    'g'.repeat(64),
    '',
    42,
    null,
    ['x'],
  ];

  it('serves hashes as the lowercase hex strings stored, unchanged', () => {
    expect(Sha256Hex.serialize(hash)).toBe(hash);
    expect(Sha256Hex.serialize('0'.repeat(64))).toBe('0'.repeat(64));
  });

  it('reads exactly 64 lowercase hex digits and refuses anything else with BAD_USER_INPUT, rule format', () => {
    expect(Sha256Hex.parseValue(hash)).toBe(hash);
    expect(Sha256Hex.parseLiteral({ kind: Kind.STRING, value: hash })).toBe(hash);
    for (const value of refused) {
      const err = rejection(() => Sha256Hex.parseValue(value));
      expect(err.extensions, String(value)).toEqual({ code: 'BAD_USER_INPUT', rule: 'format' });
      expect(err.message).toBe('Sha256Hex: must be a SHA-256 hash as 64 lowercase hex digits (0-9, a-f)');
    }
    expect(rejection(() => Sha256Hex.parseLiteral({ kind: Kind.INT, value: '1' })).extensions).toEqual({
      code: 'BAD_USER_INPUT',
      rule: 'format',
    });
  });

  // Through graphql-js and the API's error formatter, as a client sees a refused argument.
  const schema = makeExecutableSchema({
    typeDefs:
      'scalar Sha256Hex\ninput In { h: Sha256Hex! }\ntype Query { echo(h: Sha256Hex!): Sha256Hex! nested(input: In!): Sha256Hex! }',
    resolvers: {
      Sha256Hex,
      Query: {
        echo: (_: unknown, { h }: { h: string }) => h,
        nested: (_: unknown, { input }: { input: { h: string } }) => input.h,
      },
    },
  });
  const format = createErrorFormatter({ production: true, logger: pino({ level: 'silent' }) });
  const run = async (query: string, variableValues?: Record<string, unknown>) => {
    const document = parse(query);
    const invalid = validate(schema, document);
    const result =
      invalid.length > 0 ? { errors: invalid } : await execute({ schema, document, variableValues: variableValues ?? {} });
    return { data: result.data, errors: result.errors?.map((e) => format(e.toJSON(), e)) };
  };

  it('accepts a hash as a literal or a variable', async () => {
    expect((await run(`{ echo(h: "${hash}") }`)).data).toEqual({ echo: hash });
    expect((await run('query($h: Sha256Hex!) { echo(h: $h) }', { h: hash })).data).toEqual({ echo: hash });
  });

  it('refuses a malformed variable naming where it sits and the rule', async () => {
    const { errors } = await run('query($in: In!) { nested(input: $in) }', { in: { h: hash.toUpperCase() } });
    expect(errors).toHaveLength(1);
    expect(errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', rule: 'format' });
    expect(errors![0]!.message).toMatch(
      /^Variable "\$in" got invalid value .* at "in\.h"; Sha256Hex: must be a SHA-256 hash as 64 lowercase hex digits/,
    );
  });

  it('refuses a malformed literal with BAD_USER_INPUT, not as an internal error', async () => {
    const { errors } = await run(`{ echo(h: "0x${hash}") }`);
    expect(errors?.map((e) => e.extensions)).toEqual([{ code: 'BAD_USER_INPUT', rule: 'format' }]);
  });
});

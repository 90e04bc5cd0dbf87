import { buildSchema, parse, specifiedRules, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { MAX_ALIASES, MAX_QUERY_DEPTH, extraValidationRules } from '../../../src/api/graphql/limits.js';

const schema = buildSchema('type Node { id: ID! child: Node } type Query { node: Node }');
const rules = [...specifiedRules, ...extraValidationRules];
const nested = (depth: number) => `{ ${'node { '.repeat(1)}${'child { '.repeat(depth - 2)}id${' }'.repeat(depth - 1)} }`;

describe('document limits', () => {
  it(`accepts ${MAX_QUERY_DEPTH} levels and rejects one more, through fragments too`, () => {
    expect(validate(schema, parse(nested(MAX_QUERY_DEPTH)), rules)).toEqual([]);
    const errors = validate(schema, parse(nested(MAX_QUERY_DEPTH + 1)), rules);
    expect(errors.map((e) => e.extensions.rule)).toEqual(['maxDepth']);
    const viaFragment = `{ node { ...F } } fragment F on Node { ${'child { '.repeat(MAX_QUERY_DEPTH)}id${' }'.repeat(MAX_QUERY_DEPTH)} }`;
    expect(validate(schema, parse(viaFragment), rules).map((e) => e.extensions.rule)).toEqual(['maxDepth']);
  });

  it(`accepts ${MAX_ALIASES} aliases and rejects more`, () => {
    const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: node { id }`).join(' ')} }`;
    expect(validate(schema, parse(aliases(MAX_ALIASES)), rules)).toEqual([]);
    expect(validate(schema, parse(aliases(MAX_ALIASES + 5)), rules).map((e) => e.extensions.rule)).toEqual(['maxAliases']);
  });
});

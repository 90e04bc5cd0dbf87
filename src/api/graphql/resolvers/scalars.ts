import { GraphQLDateTime, GraphQLJSON, GraphQLJSONObject, GraphQLSafeInt } from 'graphql-scalars';
import { GraphQLScalarType, Kind, type ValueNode } from 'graphql';
import { ApiError } from '../../errors.js';
import { inexactNumber, keptExactly } from '../../validation/exact-numbers.js';
import { HASH_HEX } from '../../validation/rules.js';
import { fieldPath } from '../../validation/issues.js';
import { parseRfc3339 } from '../../validation/timestamp.js';
import type { Resolvers } from '../generated/resolvers.js';

export const DATE_TIME_FORM =
  'must be an RFC 3339 date-time with a time zone, at most millisecond-precise, e.g. 2024-05-01T12:00:00.000Z';

/** The one timestamp rule of the API (src/api/validation/timestamp.ts), as a Date. */
function dateTimeFrom(value: unknown): Date {
  if (value instanceof Date && Number.isFinite(value.getTime())) return value;
  if (typeof value === 'string') {
    const ms = parseRfc3339(value);
    if (ms !== null && Number.isFinite(ms)) return new Date(ms);
  }
  throw new TypeError(`DateTime: ${DATE_TIME_FORM}`);
}

/**
 * graphql-scalars' DateTime for output (epoch-ms numbers as YYYY-MM-DDTHH:mm:ss.sssZ, the form the leaf
 * uses); input is read by the same RFC 3339 parser as REST's, so both accept and refuse the same texts.
 */
export const DateTime = new GraphQLScalarType({
  ...GraphQLDateTime.toConfig(),
  parseValue: dateTimeFrom,
  parseLiteral(node) {
    if (node.kind !== Kind.STRING) throw new TypeError(`DateTime: ${DATE_TIME_FORM}`);
    return dateTimeFrom(node.value);
  },
});

/** A number literal in a JSONObject literal must be kept exactly (src/api/validation/exact-numbers.ts). */
function checkLiteralNumbers(node: ValueNode, path: Array<string | number>): void {
  if (node.kind === Kind.INT || node.kind === Kind.FLOAT) {
    if (!keptExactly(node.value)) throw inexactNumber(fieldPath(path), node.value);
  } else if (node.kind === Kind.OBJECT) {
    for (const f of node.fields) checkLiteralNumbers(f.value, [...path, f.name.value]);
  } else if (node.kind === Kind.LIST) {
    node.values.forEach((v, i) => checkLiteralNumbers(v, [...path, i]));
  }
}

export const JSONObject = new GraphQLScalarType({
  ...GraphQLJSONObject.toConfig(),
  parseLiteral(node, variables) {
    checkLiteralNumbers(node, ['payload']);
    return GraphQLJSONObject.parseLiteral(node, variables);
  },
});

/** Any JSON value (eraseEvents' payloadField.equals); literal numbers must be kept exactly, as in payloads. */
export const JSON = new GraphQLScalarType({
  ...GraphQLJSON.toConfig(),
  parseLiteral(node, variables) {
    checkLiteralNumbers(node, ['equals']);
    return GraphQLJSON.parseLiteral(node, variables) as unknown;
  },
});

export const SHA256_HEX_FORM = 'must be a SHA-256 hash as 64 lowercase hex digits (0-9, a-f)';

/** Input in exactly the form hashes are served in: nothing is normalized, so what is sent is what is compared. */
function sha256HexFrom(value: unknown): string {
  if (typeof value === 'string' && HASH_HEX.test(value)) return value;
  throw new ApiError('BAD_USER_INPUT', `Sha256Hex: ${SHA256_HEX_FORM}`, { rule: 'format' });
}

/**
 * A hash of the log format. Output passes the stored lowercase hex string through unchanged (storage
 * checks its form when it reads an event); input is refused unless it already has that form.
 */
export const Sha256Hex = new GraphQLScalarType<string, string>({
  name: 'Sha256Hex',
  serialize(value) {
    if (typeof value !== 'string') throw new TypeError('Sha256Hex: cannot serialize a non-string value');
    return value;
  },
  parseValue: sha256HexFrom,
  parseLiteral(node) {
    return sha256HexFrom(node.kind === Kind.STRING ? node.value : undefined);
  },
});

export const scalarResolvers: Resolvers = {
  DateTime,
  JSONObject,
  JSON,
  SafeInt: GraphQLSafeInt,
  Sha256Hex,
};

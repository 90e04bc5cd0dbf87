// The schema is documentation for client developers: every element of it has a description, written in
// the client's vocabulary (no operator settings, no paths inside this repository).
import {
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  isScalarType,
  isSpecifiedScalarType,
  type GraphQLNamedType,
  type GraphQLSchema,
} from 'graphql';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildApiSchema } from '../../../src/api/graphql/schema.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../../../src/api/validation/rules.js';
import { SETTING_NAMES } from '../../../src/config.js';

interface Described {
  /** Schema coordinate, e.g. `Query.events(first:)`. */
  at: string;
  description: string | null | undefined;
}

/** Every type, field, argument, input field, enum value and scalar the schema defines (built-ins aside). */
function describedElements(schema: GraphQLSchema): Described[] {
  const out: Described[] = [];
  const types = Object.values(schema.getTypeMap()).filter(
    (t: GraphQLNamedType) => !t.name.startsWith('__') && !(isScalarType(t) && isSpecifiedScalarType(t)),
  );
  for (const type of types) {
    out.push({ at: type.name, description: type.description });
    if (isObjectType(type) || isInterfaceType(type)) {
      for (const field of Object.values(type.getFields())) {
        out.push({ at: `${type.name}.${field.name}`, description: field.description });
        for (const arg of field.args) out.push({ at: `${type.name}.${field.name}(${arg.name}:)`, description: arg.description });
      }
    } else if (isInputObjectType(type)) {
      for (const field of Object.values(type.getFields()))
        out.push({ at: `${type.name}.${field.name}`, description: field.description });
    } else if (isEnumType(type)) {
      for (const value of type.getValues()) out.push({ at: `${type.name}.${value.name}`, description: value.description });
    }
  }
  return out;
}

/** Words that belong to the operator or to this repository, not to a client of the API. */
function foreignWords(description: string): string[] {
  const settings = SETTING_NAMES.filter((name) => new RegExp(`\\b${name}\\b`).test(description));
  const paths = [/\bsrc\//, /\bdocs\//, /\btest\//, /\bschema\//, /\.ts\b/, /\.md\b/, /\bREADME\b/]
    .filter((re) => re.test(description))
    .map(String);
  return [...settings, ...paths];
}

const schema = buildApiSchema();
const elements = describedElements(schema);

describe('schema descriptions', () => {
  it('serves the descriptions written for this API, not those of the libraries implementing its scalars', () => {
    expect(schema.getType('DateTime')!.description).toMatch(/^A point in time, RFC 3339/);
    expect(schema.getType('SafeInt')!.description).toMatch(/log positions and tree sizes/);
  });

  it('walks the whole schema (the check below is not vacuous)', () => {
    expect(elements.length).toBeGreaterThan(200);
    for (const at of [
      'Query.events(first:)',
      'LogEventInput.expectedPrevHash',
      'VerificationProblemKind.GAP',
      'Sha256Hex',
      'CheckpointUpdate.consistency',
    ]) {
      expect(elements.map((e) => e.at)).toContain(at);
    }
  });

  it('describes every type, field, argument, input field, enum value and scalar', () => {
    const missing = elements.filter((e) => !e.description?.trim()).map((e) => e.at);
    expect(missing).toEqual([]);
  });

  it('names no environment variable and no path inside the repository', () => {
    const foreign = elements.flatMap((e) => foreignWords(e.description ?? '').map((w) => `${e.at}: ${w}`));
    expect(foreign).toEqual([]);
  });

  it('the check recognizes what it must refuse', () => {
    expect(foreignWords('at most MAX_CLOCK_SKEW_MS in the future')).toEqual(['MAX_CLOCK_SKEW_MS']);
    expect(foreignWords('see src/api/errors.ts')).toHaveLength(2);
    expect(foreignWords('see docs/log-format.md')).toHaveLength(2);
    // Error codes are the client's vocabulary.
    expect(foreignWords('refused with BAD_USER_INPUT, or RESUME_REQUIRED')).toEqual([]);
  });

  it('states the page sizes the server applies', () => {
    const pageInfo = schema.getType('PageInfo')!.description!.replace(/\s+/g, ' ');
    expect(pageInfo).toContain(`default to ${DEFAULT_PAGE_SIZE}`);
    expect(pageInfo).toContain(`may not exceed ${MAX_PAGE_SIZE}`);
    const pageArgs = elements.filter((e) => /\((first|last):\)$/.test(e.at));
    expect(pageArgs.length).toBe(5);
    for (const e of pageArgs)
      expect(e.description, e.at).toBe(
        `Page size${e.at.endsWith('(last:)') ? ' when paging backward' : e.at.startsWith('Query.events') ? ' when paging forward' : ''}: 0-${MAX_PAGE_SIZE}, default ${DEFAULT_PAGE_SIZE}.`,
      );
  });
});

describe('schema files', () => {
  it('each file defines what its name says', () => {
    const dir = fileURLToPath(new URL('../../../schema/', import.meta.url));
    const defined = Object.fromEntries(
      readdirSync(dir)
        .filter((name) => name.endsWith('.graphql'))
        .sort()
        .map((name) => [
          name,
          [...readFileSync(join(dir, name), 'utf8').matchAll(/^(?:type|input|enum|scalar) (\w+)/gm)].map((m) => m[1]),
        ]),
    );
    expect(defined).toEqual({
      'auth.graphql': ['ApiKeyRole', 'ApiKey', 'CreatedApiKey'],
      'inconsistencies.graphql': [
        'InconsistencyKind',
        'InconsistencyDetector',
        'Inconsistency',
        'InconsistencyEdge',
        'InconsistencyConnection',
        'InconsistencyFilter',
      ],
      'erasure.graphql': ['PayloadFieldInput', 'EraseEventsInput', 'EraseResult', 'ProvenErasureRecord', 'ErasureRecordPage'],
      'events.graphql': ['Event', 'LogEventInput', 'EventFilter', 'EventEdge', 'EventConnection', 'Query', 'Mutation'],
      'logs.graphql': ['Checkpoint', 'CheckpointEdge', 'CheckpointConnection', 'Log', 'LogEdge', 'LogConnection'],
      'pagination.graphql': ['SortOrder', 'PageInfo'],
      'proofs.graphql': ['InclusionProof', 'ConsistencyProof', 'RangeProof', 'TreeNodeRun'],
      'receipts.graphql': ['ReceiptStatus', 'Receipt'],
      'scalars.graphql': ['DateTime', 'JSONObject', 'SafeInt', 'Sha256Hex', 'JSON'],
      'server-info.graphql': ['ServerLimits', 'ServerInfo', 'MirrorStatus', 'MirrorStoppedLog'],
      'subscriptions.graphql': ['CheckpointUpdate', 'Subscription'],
      'verification.graphql': ['VerificationProblemKind', 'VerificationProblem', 'VerificationReport'],
      'witnessing.graphql': ['Cosignature', 'WitnessHealth'],
    });
  });
});

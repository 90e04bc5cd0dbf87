import { parse, Kind, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { buildApiSchema } from '../../../src/api/graphql/schema.js';
import { checkVariableSizes, variableSizeLimits } from '../../../src/api/validation/variable-sizes.js';

const limits = variableSizeLimits({ maxBatchSize: 3, maxKeyApps: 2 });
const event = { sourceAppId: 'a', eventType: 't', timestamp: '2026-01-01T00:00:00Z', payload: {} };
const operationOf = (text: string) => {
  const document = parse(text);
  return {
    document,
    operation: document.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION) as OperationDefinitionNode,
  };
};

describe('variable list sizes', () => {
  it('judges each request by its own variables when the same parsed operation is reused (usages are cached per operation)', () => {
    const schema = buildApiSchema();
    const { document, operation } = operationOf('mutation M($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }');
    for (let round = 0; round < 3; round++) {
      expect(checkVariableSizes(schema, document, operation, { inputs: [event, event] }, limits)).toBeNull();
      const refused = checkVariableSizes(schema, document, operation, { inputs: [event, event, event, event] }, limits);
      expect(refused?.message).toBe('inputs: must hold at most 3 items (got 4)');
      expect(refused?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'inputs', rule: 'maxItems' });
    }
  });
});

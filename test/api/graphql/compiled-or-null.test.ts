// The lean route's compiled queries (src/api/graphql/lean-graphql.ts): what graphql-jit cannot compile is
// left to graphql-js (null), never an error of the request.
import { parse, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { compiledOrNull } from '../../../src/api/graphql/lean-graphql.js';
import { buildApiSchema } from '../../../src/api/graphql/schema.js';

const schema = buildApiSchema();
const operationOf = (document: DocumentNode) => document.definitions[0] as OperationDefinitionNode;

describe('compiledOrNull', () => {
  it('compiles an ingest mutation', async () => {
    const document = parse('mutation L($input: LogEventInput!) { logEvent(input: $input) { seq } }');
    const query = compiledOrNull(schema, document, operationOf(document));
    expect(query).not.toBeNull();
    // Its variable coercion runs before any resolver: a refusal has no data.
    const refused = await query!.query(undefined, {}, { input: 'x' });
    expect(refused.data).toBeUndefined();
    expect(refused.errors?.length).toBeGreaterThan(0);
  });

  it('is null where graphql-jit answers with errors instead of a query (an operation the document lacks)', () => {
    const document = parse('mutation L($input: LogEventInput!) { logEvent(input: $input) { seq } }');
    const other = { ...operationOf(document), name: { kind: 'Name', value: 'Missing' } } as OperationDefinitionNode;
    expect(compiledOrNull(schema, document, other)).toBeNull();
  });

  it('is null for a document graphql-jit cannot read (it answers with errors, it does not throw)', () => {
    const broken = {
      kind: 'Document',
      definitions: [{ kind: 'OperationDefinition', operation: 'mutation' }],
    } as unknown as DocumentNode;
    expect(compiledOrNull(schema, broken, operationOf(broken))).toBeNull();
  });
});

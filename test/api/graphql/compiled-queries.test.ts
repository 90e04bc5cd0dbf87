// The lean route's compiled queries (src/api/graphql/lean-graphql.ts): only an operation that comes back
// is compiled, and what graphql-jit cannot compile is left to graphql-js (null), never an error of the
// request.
import { promiseHooks } from 'node:v8';
import { buildSchema, parse, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { compiledOnReturn, compiledOrNull } from '../../../src/api/graphql/lean-graphql.js';
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

describe('compiledOnReturn', () => {
  const document = parse('mutation A($input: LogEventInput!) { logEvent(input: $input) { seq } } mutation B { __typename }');
  const [a, b] = document.definitions as OperationDefinitionNode[];

  it('compiles an operation only when it comes back, once, and keeps the answer per operation', () => {
    const compiles: string[] = [];
    const compiledFor = compiledOnReturn((doc, op) => {
      compiles.push(op.name!.value);
      return op === a ? compiledOrNull(schema, doc, op) : null;
    });
    expect(compiledFor(document, a!)).toBeNull(); // first run: graphql-js
    expect(compiles).toEqual([]);
    const query = compiledFor(document, a!);
    expect(query).not.toBeNull();
    expect(compiledFor(document, a!)).toBe(query);
    expect(compiledFor(document, b!)).toBeNull();
    expect(compiledFor(document, b!)).toBeNull(); // not an ingest mutation: null, kept
    expect(compiledFor(document, b!)).toBeNull();
    expect(compiles).toEqual(['A', 'B']);
  });

  it('never compiles documents that do not come back (a client sending ever new ones)', () => {
    let compiles = 0;
    const compiledFor = compiledOnReturn(() => {
      compiles++;
      return null;
    });
    for (let i = 0; i < 50; i++) {
      const fresh = parse(`mutation N${i}($input: LogEventInput!) { logEvent(input: $input) { seq } }`);
      expect(compiledFor(fresh, operationOf(fresh))).toBeNull();
    }
    expect(compiles).toBe(0);
  });
});

describe("graphql-jit's execution context, as patched at install (scripts/patches)", () => {
  // The promise a compiled mutation resolves with its execution context may be in old space by the time it
  // settles; as long as it is, the context's variables (the request's parsed inputs) and data (the
  // answer) survive every scavenge. The patch has the context let go of both once the answer is made.
  const logSchema = buildSchema(`
    scalar JSON
    input In { payload: JSON! }
    type Out { n: Int! }
    type Query { ok: Boolean }
    type Mutation { log(events: [In!]!): [Out!]! }
  `);
  const document = parse('mutation L($events: [In!]!) { log(events: $events) { n } }');

  /** Runs the compiled mutation with `resolve`; its answer, and the execution contexts among the settled promises. */
  async function runObserved(resolve: (events: unknown[]) => Promise<unknown>) {
    logSchema.getMutationType()!.getFields().log!.resolve = (_root, { events }: { events: unknown[] }) => resolve(events);
    const query = compiledOrNull(logSchema, document, operationOf(document))!;
    expect(query).not.toBeNull();
    // Every promise settled during the operation, the one resolved with the execution context among them.
    const settled: Promise<unknown>[] = [];
    const stop = promiseHooks.onSettled((promise) => settled.push(promise));
    let answer: Awaited<ReturnType<typeof query.query>>;
    try {
      answer = await query.query(undefined, {}, { events: [{ payload: { a: 1 } }, { payload: [2] }] });
    } finally {
      stop();
    }
    const values = await Promise.all(
      settled.map((p) =>
        p.then(
          (v) => v,
          () => undefined,
        ),
      ),
    );
    const contexts = values.filter(
      (v): v is Record<string, unknown> => typeof v === 'object' && v !== null && 'variables' in v && 'rt' in v,
    );
    return { answer, contexts };
  }

  it('holds neither the variables nor the data once an asynchronous operation has answered', async () => {
    const { answer, contexts } = await runObserved(async (events) => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      return events.map((_, n) => ({ n }));
    });
    expect(answer.errors).toBeUndefined();
    expect(answer.data).toEqual({ log: [{ n: 0 }, { n: 1 }] });
    expect(contexts).toHaveLength(1);
    expect(contexts[0]!.variables).toBeNull();
    expect(contexts[0]!.data).toBeNull();
  });

  it('answers a failed resolver with its error and null data (the non-null field trimmed), and lets go as well', async () => {
    const { answer, contexts } = await runObserved(async () => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      throw new Error('the store refused');
    });
    expect(answer.data).toBeNull();
    expect(answer.errors?.map((e) => e.message)).toEqual(['the store refused']);
    expect(contexts).toHaveLength(1);
    expect(contexts[0]!.variables).toBeNull();
    expect(contexts[0]!.data).toBeNull();
  });
});

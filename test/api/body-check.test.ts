// The body-checking thread (src/api/body-check-thread.ts) and the checks it runs (src/api/validation/
// body-check.ts): each refusal is the one the event loop would give, an accepted body comes back byte
// for byte, and the thread's failures (out of memory, an error in a check) are answered UNAVAILABLE
// and followed by a working thread.
import { afterEach, describe, expect, it } from 'vitest';
import { bodyCheckThread, type BodyChecker } from '../../src/api/body-check-thread.js';
import { loadTypeDefs } from '../../src/api/graphql/type-defs.js';
import { buildSchema, parse, type OperationDefinitionNode } from 'graphql';
import { checkVariableSizes, variableSizeLimits } from '../../src/api/validation/variable-sizes.js';
import {
  checkBodyBytes,
  checkBodyText,
  parseJsonBody,
  typesOnlySchema,
  type BodyJob,
} from '../../src/api/validation/body-check.js';

const events: BodyJob = { kind: 'events', maxBatchSize: 1000 };
const graphql: BodyJob = {
  kind: 'graphql',
  limits: variableSizeLimits({ maxBatchSize: 1000, maxKeyApps: 100 }),
  maxTokens: 5000,
};
const LOG_EVENTS = 'mutation($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }';
const event = (i: number) => ({ eventType: 't', timestamp: '2024-01-01T00:00:00Z', sourceAppId: 'big', payload: { i } });
const schema = (() => {
  const built = typesOnlySchema(loadTypeDefs());
  return () => built;
})();

let checkers: BodyChecker[] = [];
afterEach(async () => {
  await Promise.all(checkers.map((c) => c.close()));
  checkers = [];
});
const thread = (opts: Parameters<typeof bodyCheckThread>[0] = {}) => {
  const c = bodyCheckThread(opts);
  checkers.push(c);
  return c;
};

describe('checkBodyText', () => {
  it('refuses a REST batch over MAX_BATCH_SIZE as ingest does', () => {
    expect(checkBodyText(JSON.stringify(Array.from({ length: 1001 }, (_, i) => event(i))), events, schema)).toEqual({
      ok: false,
      code: 'BAD_USER_INPUT',
      message: 'body: must hold at most 1000 events',
      field: 'body',
      rule: 'maxItems',
    });
    expect(checkBodyText(JSON.stringify(Array.from({ length: 1000 }, (_, i) => event(i))), events, schema)).toEqual({ ok: true });
    expect(checkBodyText(JSON.stringify(event(1)), events, schema)).toEqual({ ok: true });
  });

  it('refuses GraphQL variable lists over their limits, naming the field, and leaves everything else to Apollo', () => {
    const body = (query: string, variables: unknown, extra: object = {}) => JSON.stringify({ query, variables, ...extra });
    expect(
      checkBodyText(body(LOG_EVENTS, { inputs: Array.from({ length: 1001 }, (_, i) => event(i)) }), graphql, schema),
    ).toMatchObject({
      ok: false,
      field: 'inputs',
      rule: 'maxItems',
      message: 'inputs: must hold at most 1000 items (got 1001)',
    });
    const filter = 'query A { serverInfo { version } } query B($f: EventFilter) { events(filter: $f) { edges { cursor } } }';
    const ids = { f: { sourceAppIds: Array.from({ length: 101 }, () => 'a') } };
    expect(checkBodyText(body(filter, ids, { operationName: 'B' }), graphql, schema)).toMatchObject({
      ok: false,
      field: 'filter.sourceAppIds',
      rule: 'maxItems',
    });
    // No operation named, several in the document: Apollo reports that.
    expect(checkBodyText(body(filter, ids), graphql, schema)).toEqual({ ok: true });
    expect(checkBodyText(body('query( { broken', ids), graphql, schema)).toEqual({ ok: true });
    expect(checkBodyText(JSON.stringify([{ query: LOG_EVENTS }]), graphql, schema)).toEqual({ ok: true });
  });

  it('walks the items of a list only where an item can hold a list, and there finds a list over its limit', () => {
    const nested = buildSchema(`
      input Item { name: String, tags: [String!], child: Item }
      input Flat { name: String }
      type Query { a(items: [Item!], flat: [Flat!]): Int }
    `);
    const query = parse('query($items: [Item!], $flat: [Flat!]) { a(items: $items, flat: $flat) }');
    const operation = query.definitions[0] as OperationDefinitionNode;
    const limits = { lists: {}, otherLists: 3 };
    const check = (variables: Record<string, unknown>) => checkVariableSizes(nested, query, operation, variables, limits);
    expect(check({ items: [{ name: 'a' }, { child: { tags: ['1', '2', '3', '4'] } }] })).toMatchObject({
      message: 'items[1].child.tags: must hold at most 3 items (got 4)',
    });
    expect(check({ items: [{ tags: ['1', '2', '3'] }], flat: [{ name: 'x' }, { name: 'y' }] })).toBeNull();
    expect(check({ flat: [{ name: 'x' }, { name: 'y' }, { name: 'z' }, { name: 'w' }] })).toMatchObject({
      message: /flat: must hold at most 3/,
    });
  });

  it('applies the exact-number rule before the syntax, as express.json does, and refuses what is not JSON', () => {
    expect(checkBodyText('[{"payload": {"n": 9007199254740993}}]', events, schema)).toMatchObject({
      ok: false,
      field: '[0].payload.n',
      rule: 'exactNumber',
    });
    expect(checkBodyText('[{"payload": {"n": 9007199254740993}}, oops', events, schema)).toMatchObject({
      ok: false,
      rule: 'exactNumber',
    });
    expect(checkBodyText('[{"payload": 1}, oops]', events, schema)).toEqual({ ok: false, notJson: true });
    // The unique-name rule after the parse, as ijsonExpressJson applies it, and before the list sizes.
    expect(checkBodyText('[{"payload": {"a": 1, "b": {}, "a": 2}}]', events, schema)).toMatchObject({
      ok: false,
      field: '[0].payload',
      rule: 'uniqueNames',
    });
    expect(checkBodyText('[{"payload": {"a": 1, "a": 2}}, oops', events, schema)).toEqual({ ok: false, notJson: true });
    expect(checkBodyText('[{"a": 1, "a": 2}, 2, 3]', { kind: 'events', maxBatchSize: 2 }, schema)).toMatchObject({
      rule: 'uniqueNames',
    });
    expect(checkBodyText('"a string"', events, schema)).toEqual({ ok: false, notJson: true });
    expect(checkBodyText('  ', events, schema)).toEqual({ ok: false, notJson: true });
  });

  it('refuses bytes that are not UTF-8 first, as verifyUtf8 does on the event loop, and checks the text of the others', () => {
    const latin1 = (text: string) => Buffer.from(text, 'latin1');
    expect(checkBodyBytes(latin1('[{"payload": {"n": 9007199254740993, "s": "\u00ff"}}, oops'), events, schema)).toEqual({
      ok: false,
      code: 'BAD_USER_INPUT',
      message: 'body: must be UTF-8 (RFC 8259); the byte at offset 43 (0xff) does not begin a well-formed UTF-8 sequence',
      field: 'body',
      rule: 'encoding',
    });
    const utf8 = Buffer.from('[{"payload": {"n": 9007199254740993, "s": "\u00ff"}}]', 'utf8');
    expect(checkBodyBytes(utf8, events, schema)).toEqual(checkBodyText(utf8.toString('utf8'), events, schema));
    expect(checkBodyBytes(Buffer.from('[{"payload": {"s": "\u00ff"}}]'), events, schema)).toEqual({ ok: true });
  });

  it('parses as express.json: {} for no body, a leading BOM dropped, objects and arrays only', () => {
    expect(parseJsonBody('')).toEqual({});
    expect(parseJsonBody('\uFEFF [1]')).toEqual([1]);
    expect(() => parseJsonBody('1')).toThrow(SyntaxError);
  });
});

describe('bodyCheckThread', () => {
  it('answers with the verdict and gives the bytes back intact', async () => {
    const c = thread();
    const text = JSON.stringify(Array.from({ length: 5000 }, (_, i) => event(i)));
    const refused = await c.check(Buffer.from(text), events);
    expect(refused.verdict).toMatchObject({ ok: false, rule: 'maxItems' });
    expect(refused.bytes.toString('utf8')).toBe(text);
    // A slice of a larger buffer is copied, not moved: the caller's buffer stays as it was.
    const whole = Buffer.from(`xx${JSON.stringify([event(1)])}`);
    const accepted = await c.check(whole.subarray(2), events);
    expect(accepted.verdict).toEqual({ ok: true });
    expect(JSON.parse(accepted.bytes.toString('utf8'))).toEqual([event(1)]);
    expect(whole.toString('utf8', 0, 2)).toBe('xx');
  });

  it('holds at most maxLargeBodies at once; a released place can be taken again', () => {
    const c = thread({ maxLargeBodies: 2 });
    const first = c.acquire();
    const second = c.acquire();
    expect(first).toBeTypeOf('function');
    expect(second).toBeTypeOf('function');
    expect(c.acquire()).toBeNull();
    first!();
    first!();
    const third = c.acquire();
    expect(third).toBeTypeOf('function');
    expect(c.acquire()).toBeNull();
  });

  it('a thread that exits or throws answers the body it held UNAVAILABLE, and the next body gets a new thread', async () => {
    const c = thread({ threadEntry: new URL('../support/failing-body-check-worker.mjs', import.meta.url) });
    const failure = { code: 'UNAVAILABLE', field: 'body', rule: 'bodyCheckFailed', extensions: { retryAfterMs: 1000 } };
    await expect(c.check(Buffer.from('exit'), events)).rejects.toMatchObject(failure);
    expect((await c.check(Buffer.from('[1]'), events)).verdict).toEqual({ ok: true });
    await expect(c.check(Buffer.from('throw'), events)).rejects.toMatchObject(failure);
    expect((await c.check(Buffer.from('[2]'), events)).verdict).toEqual({ ok: true });
  });

  it('a check that fails in the thread (no schema to check a GraphQL body with) answers UNAVAILABLE; other bodies are still checked', async () => {
    const c = thread({ schemaDir: '/nonexistent-chainlog-schema' });
    const body = Buffer.from(JSON.stringify({ query: LOG_EVENTS, variables: { inputs: [] } }));
    await expect(c.check(body, graphql)).rejects.toMatchObject({ code: 'UNAVAILABLE', rule: 'bodyCheckFailed' });
    expect((await c.check(Buffer.from('[1, 2]'), events)).verdict).toEqual({ ok: true });
  });

  it('close answers the bodies still being checked', async () => {
    const c = thread();
    const outcome = c.check(Buffer.from(JSON.stringify(Array.from({ length: 100_000 }, (_, i) => event(i)))), events).then(
      () => null,
      (e: unknown) => e,
    );
    await c.close();
    expect(await outcome).toMatchObject({ code: 'UNAVAILABLE', rule: 'bodyCheckFailed' });
  });
});

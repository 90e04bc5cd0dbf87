// Shared subscription execution: one execution per event for subscribers asking the same thing, never
// shared across callers, selections or the variables a selection uses.
import {
  buildSchema,
  parse,
  type ExecutionResult,
  type GraphQLFieldConfig,
  type GraphQLObjectType,
  type GraphQLScalarType,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { createSharedSubscribe, executionKey } from '../../../src/api/subscriptions/shared-execution.js';
import { until } from '../../support/wait.js';

interface Tick {
  n: number;
  at: Date;
}

/** A live feed: every subscriber gets the same objects, as the service's onCommitted listeners do. */
function feed() {
  const listeners = new Set<(t: Tick) => void>();
  let resolved = 0;
  let open = 0;
  const schema = buildSchema(`
    scalar Time
    type Tick { n: Int! at: Time! doubled(times: Int!): Int! fails: Int }
    type Query { ok: Boolean }
    type Subscription { ticks(from: Int): Tick! }`);
  // Resolvers attached by hand: graphql-tools would bring its own copy of graphql into this test.
  (schema.getType('Time') as GraphQLScalarType).serialize = (d: unknown) => d;
  const tick = (schema.getType('Tick') as GraphQLObjectType).getFields();
  tick.n!.resolve = (t: Tick) => {
    resolved++;
    return t.n;
  };
  tick.doubled!.resolve = (t: Tick, { times }) => t.n * (times as number);
  tick.fails!.resolve = () => {
    throw new Error('boom');
  };
  const ticks = schema.getSubscriptionType()!.getFields().ticks! as unknown as GraphQLFieldConfig<unknown, unknown>;
  ticks.resolve = (t) => t;
  ticks.subscribe = () => {
    const queue: Tick[] = [];
    let wake: (() => void) | null = null;
    let ended = false;
    const listener = (t: Tick) => {
      queue.push(t);
      wake?.();
    };
    listeners.add(listener);
    open++;
    const end = () => {
      if (!ended) open--;
      ended = true;
      listeners.delete(listener);
      wake?.();
    };
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next() {
        while (!ended && queue.length === 0) await new Promise<void>((r) => (wake = r));
        return ended ? { done: true, value: undefined } : { done: false, value: queue.shift() };
      },
      async return() {
        end();
        return { done: true, value: undefined };
      },
    };
  };
  return {
    schema,
    emit: (t: Tick) => listeners.forEach((l) => l(t)),
    get resolved() {
      return resolved;
    },
    get open() {
      return open;
    },
  };
}

type Stream = AsyncIterableIterator<ExecutionResult>;

async function subscribeAs(
  subscribe: ReturnType<typeof createSharedSubscribe>,
  schema: ReturnType<typeof feed>['schema'],
  caller: string,
  query: string,
  variableValues: Record<string, unknown> = {},
): Promise<Stream> {
  const stream = await subscribe({ schema, document: parse(query), variableValues, contextValue: { caller } });
  if (!(Symbol.asyncIterator in stream)) throw new Error(JSON.stringify(stream));
  return stream;
}

describe('executionKey', () => {
  const key = (query: string, variables: Record<string, unknown> = {}, caller = 'a', operationName?: string) =>
    executionKey({ document: parse(query), variableValues: variables, ...(operationName && { operationName }) }, caller);
  const Q = 'subscription S($from: Int, $t: Int!) { ticks(from: $from) { n doubled(times: $t) } }';

  it('ignores the root field arguments, which choose events rather than shape them', () => {
    expect(key(Q, { from: 1, t: 2 })).toBe(key(Q, { from: 99, t: 2 }));
  });
  it('includes variables the selection uses, the caller, the operation and the document', () => {
    expect(key(Q, { t: 2 })).not.toBe(key(Q, { t: 3 }));
    expect(key(Q, { t: 2 }, 'a')).not.toBe(key(Q, { t: 2 }, 'b'));
    expect(key('subscription { ticks { n } }')).not.toBe(key('subscription { ticks { n at } }'));
    expect(key('subscription { ticks { n @include(if: true) } }')).not.toBe(
      key('subscription { ticks { n @include(if: false) } }'),
    );
    const two = 'subscription A { ticks { n } } subscription B { ticks { at } }';
    expect(key(two, {}, 'a', 'A')).not.toBe(key(two, {}, 'a', 'B'));
  });
  it('counts a variable used in a directive of the root field', () => {
    const D = 'subscription($x: Boolean!) { ticks @include(if: $x) { n } }';
    expect(key(D, { x: true })).not.toBe(key(D, { x: false }));
  });
  it('refuses to key a document without one chosen operation', () => {
    expect(key('subscription A { ticks { n } } subscription B { ticks { n } }')).toBeNull();
  });
});

describe('createSharedSubscribe', () => {
  it('executes each event once for subscribers with the same query and caller', async () => {
    const f = feed();
    const subscribe = createSharedSubscribe((ctx) => (ctx as { caller: string }).caller);
    const Q = 'subscription($from: Int) { ticks(from: $from) { n at } }';
    const streams = await Promise.all([1, 2, 3].map((from) => subscribeAs(subscribe, f.schema, 'a', Q, { from })));
    const at = new Date(Date.UTC(2025, 0, 1));
    f.emit({ n: 1, at });
    f.emit({ n: 2, at });
    for (const s of streams) {
      const first = await s.next();
      const second = await s.next();
      expect(first.value).toEqual({ data: { ticks: { n: 1, at } } });
      expect(second.value.data.ticks.n).toBe(2);
    }
    expect(f.resolved).toBe(2);
    await Promise.all(streams.map((s) => s.return!()));
  });

  it('does not share between callers or between selections', async () => {
    const f = feed();
    const subscribe = createSharedSubscribe((ctx) => (ctx as { caller: string }).caller);
    const a = await subscribeAs(subscribe, f.schema, 'a', 'subscription { ticks { n } }');
    const b = await subscribeAs(subscribe, f.schema, 'b', 'subscription { ticks { n } }');
    const c = await subscribeAs(subscribe, f.schema, 'a', 'subscription($t: Int!) { ticks { n doubled(times: $t) } }', { t: 3 });
    f.emit({ n: 5, at: new Date(0) });
    expect((await a.next()).value).toEqual({ data: { ticks: { n: 5 } } });
    expect((await b.next()).value).toEqual({ data: { ticks: { n: 5 } } });
    expect((await c.next()).value).toEqual({ data: { ticks: { n: 5, doubled: 15 } } });
    expect(f.resolved).toBe(3);
    await Promise.all([a, b, c].map((s) => s.return!()));
  });

  it('passes results with errors through as graphql-js made them', async () => {
    const f = feed();
    const subscribe = createSharedSubscribe(() => 'a');
    const s = await subscribeAs(subscribe, f.schema, 'a', 'subscription { ticks { n fails } }');
    f.emit({ n: 1, at: new Date(0) });
    const { value } = await s.next();
    expect(value.data).toEqual({ ticks: { n: 1, fails: null } });
    expect(value.errors?.[0]?.message).toBe('boom');
    await s.return!();
  });

  it('ends the source at once when an idle subscription is completed', async () => {
    const f = feed();
    const subscribe = createSharedSubscribe(() => 'a');
    const s = await subscribeAs(subscribe, f.schema, 'a', 'subscription { ticks { n } }');
    const waiting = s.next();
    expect(f.open).toBe(1);
    await s.return!();
    expect(f.open).toBe(0);
    expect(await waiting).toEqual({ done: true, value: undefined });
  });

  it('writes results straight to a subscriber with a direct writer, serialized once per group, and yields only errors', async () => {
    const f = feed();
    const written = new Map<string, string[]>();
    const writers = new Map<string, (json: string) => undefined>();
    for (const who of ['x', 'y']) {
      written.set(who, []);
      writers.set(who, (json) => void written.get(who)!.push(json));
    }
    const subscribe = createSharedSubscribe(
      () => 'a',
      (ctx) => writers.get((ctx as { caller: string }).caller),
    );
    const x = await subscribeAs(subscribe, f.schema, 'x', 'subscription { ticks { n at } }');
    const y = await subscribeAs(subscribe, f.schema, 'y', 'subscription { ticks { n at } }');
    const xNext = x.next();
    const yNext = y.next();
    f.emit({ n: 1, at: new Date(0) });
    f.emit({ n: 2, at: new Date(0) });
    await until('both ticks written to both callers', () => written.get('x')!.length >= 2 && written.get('y')!.length >= 2, {
      intervalMs: 1,
    });
    const json = [
      '{"data":{"ticks":{"n":1,"at":"1970-01-01T00:00:00.000Z"}}}',
      '{"data":{"ticks":{"n":2,"at":"1970-01-01T00:00:00.000Z"}}}',
    ];
    expect(written.get('x')).toEqual(json);
    expect(written.get('y')).toEqual(json);
    expect(written.get('x')![0]).toBe(written.get('y')![0]);
    expect(f.resolved).toBe(2);
    const failing = await subscribeAs(subscribe, f.schema, 'x', 'subscription { ticks { n fails } }');
    const failingNext = failing.next();
    f.emit({ n: 3, at: new Date(0) });
    const { value } = await failingNext;
    expect(value.errors?.[0]?.message).toBe('boom');
    await Promise.all([x, y, failing].map((s) => s.return!()));
    expect(await xNext).toEqual({ done: true, value: undefined });
    expect(await yNext).toEqual({ done: true, value: undefined });
  });

  it('closes the source when a direct write fails', async () => {
    const f = feed();
    const subscribe = createSharedSubscribe(
      () => 'a',
      () => () => Promise.reject(new Error('socket gone')),
    );
    const s = await subscribeAs(subscribe, f.schema, 'a', 'subscription { ticks { n } }');
    const pending = s.next();
    f.emit({ n: 1, at: new Date(0) });
    await expect(pending).rejects.toThrow('socket gone');
    expect(f.open).toBe(0);
  });

  it('returns the errors of a subscription that cannot start', async () => {
    const f = feed();
    const subscribe = createSharedSubscribe(() => 'a');
    const result = await subscribe({ schema: f.schema, document: parse('subscription { ticks { n } }'), operationName: 'Nope' });
    expect(Symbol.asyncIterator in result).toBe(false);
    expect((result as ExecutionResult).errors?.[0]?.message).toMatch(/Nope/);
  });
});

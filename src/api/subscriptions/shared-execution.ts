// Subscriptions as graphql-js runs them (source stream, then one execution per event), except that
// subscribers asking the same thing of the same event share one execution. Live events reach every
// listener as the same object, so 100 subscribers with one query execute each event once, not 100 times.
//
// "The same thing" is the document, the operation, the caller and the variables the selection uses.
// Variables used only in the root field's arguments (filter, after) choose the events, not what is
// executed for one: the root resolver hands the event itself to the selection.
//
// Where the transport offers it (graphql-ws here), a result is also serialized once per group and
// written straight to each subscriber as a `next` message; results with errors still go through
// graphql-ws, which formats them.
import {
  createSourceEventStream,
  execute,
  getOperationAST,
  Kind,
  print,
  visit,
  type ASTNode,
  type ExecutionArgs,
  type ExecutionResult,
} from 'graphql';

/** One event's execution for a group; `json` is the result as sent, serialized on first use. */
interface Executed {
  readonly result: ExecutionResult;
  json: string | null;
}

/** Writes one `next` message carrying this payload JSON to the subscriber; a promise while it must wait. */
export type DeliverNext = (payloadJson: string) => Promise<void> | undefined;

/** Most (query, caller) groups remembered; a forgotten group only loses sharing. */
const MAX_GROUPS = 1_000;

export type SharedSubscribe = (args: ExecutionArgs) => Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult>;

/**
 * `callerOf` names whose view an execution is (e.g. the API key); results are shared only within it.
 * `deliveryOf` gives an operation's direct `next` writer, if its transport has one.
 */
export function createSharedSubscribe(
  callerOf: (contextValue: unknown) => string,
  deliveryOf: (contextValue: unknown) => DeliverNext | undefined = () => undefined,
): SharedSubscribe {
  const groups = new Map<string, WeakMap<object, Executed | Promise<Executed>>>();

  const groupOf = (key: string): WeakMap<object, Executed | Promise<Executed>> => {
    let group = groups.get(key);
    if (group) {
      groups.delete(key); // re-inserted last: the map's order is least recently used first
    } else {
      group = new WeakMap();
      if (groups.size >= MAX_GROUPS) groups.delete(groups.keys().next().value!);
    }
    groups.set(key, group);
    return group;
  };

  return async (args) => {
    const source = await createSourceEventStream(args);
    if (!isAsyncIterable(source)) return source;
    const key = executionKey(args, callerOf(args.contextValue));
    const group = key === null ? null : groupOf(key);
    const executeFor = (payload: unknown): Executed | Promise<Executed> => {
      const result = execute({ ...args, rootValue: payload });
      return isPromise(result) ? result.then(executed) : executed(result);
    };
    const run = (payload: unknown): Executed | Promise<Executed> => {
      if (group === null || typeof payload !== 'object' || payload === null) return executeFor(payload);
      let shared = group.get(payload);
      if (shared === undefined) {
        shared = executeFor(payload);
        group.set(payload, shared);
      }
      return shared;
    };
    return resultStream(source[Symbol.asyncIterator](), run, deliveryOf(args.contextValue));
  };
}

/**
 * The sharing key of an operation, or null when it cannot be shared safely (no single operation).
 * Includes the values of every variable used outside the root field's arguments.
 */
export function executionKey(
  args: Pick<ExecutionArgs, 'document' | 'operationName' | 'variableValues'>,
  caller: string,
): string | null {
  const operation = getOperationAST(args.document, args.operationName);
  if (!operation) return null;
  const rootArguments = new Set<ASTNode>();
  for (const selection of operation.selectionSet.selections) {
    if (selection.kind === Kind.FIELD) for (const arg of selection.arguments ?? []) rootArguments.add(arg);
  }
  const used = new Set<string>();
  visit(args.document, {
    Argument: (node) => (rootArguments.has(node) ? false : undefined),
    Variable: (node) => {
      used.add(node.name.value);
    },
    VariableDefinition: () => false,
  });
  const values = args.variableValues ?? {};
  const selected = [...used].sort().map((name) => [name, values[name] ?? null]);
  return JSON.stringify([caller, args.operationName ?? null, print(args.document), selected]);
}

/**
 * graphql-js's mapAsyncIterator, plus direct delivery: with `deliver`, results without errors are written
 * by next() itself, which returns only a result graphql-ws must format (one with errors) or the end.
 * Not an async generator: return() must reach the source at once, even while a next() waits on it, so
 * that an idle subscription ends when the client completes it.
 */
function resultStream(
  iterator: AsyncIterator<unknown>,
  run: (payload: unknown) => Executed | Promise<Executed>,
  deliver: DeliverNext | undefined,
): AsyncIterableIterator<ExecutionResult> {
  const close = async () => {
    try {
      await iterator.return?.();
    } catch {
      // Keep the original error when closing the source also fails.
    }
  };
  return {
    async next() {
      for (;;) {
        const next = await iterator.next();
        if (next.done) return { done: true, value: undefined };
        try {
          const shared = await run(next.value);
          if (!deliver || shared.result.errors) return { done: false, value: shared.result };
          shared.json ??= JSON.stringify(shared.result);
          const waiting = deliver(shared.json);
          if (waiting) await waiting;
        } catch (err) {
          await close();
          throw err;
        }
      }
    },
    async return() {
      await iterator.return?.();
      return { done: true, value: undefined };
    },
    async throw(err: unknown) {
      await close();
      throw err;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** The result as graphql-js made it; serialized on first direct delivery. */
const executed = (result: ExecutionResult): Executed => ({ result, json: null });

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | null)?.then === 'function';
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof (Object(value) as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === 'function';
}

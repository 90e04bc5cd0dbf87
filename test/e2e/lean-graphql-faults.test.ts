// The lean POST /graphql route (src/api/graphql/lean-graphql.ts) answers what its own execution meets as
// Apollo answers it: an unexpected error in a resolver (masked in production), a storage that does not
// answer (UNAVAILABLE, Retry-After from extensions.retryAfterMs), and a write over the rate limit
// (429, Retry-After and the time left in the message). The service runs in this process, on the suite's
// engine, with a rate-limit clock the test holds still, so that the time left is the same in both answers;
// its storage fails chosen calls before they reach the engine. Each request is sent in the lean form and
// in a form the lean route leaves to Express and Apollo, and the answers compared byte for byte.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StartOptions } from '../../src/app.js';
import { StorageUnavailableError } from '../../src/storage/types.js';
import { e2eEngineEnv } from '../support/e2e-engine.js';
import { ManualClock, startInProcess, type InProcessService } from '../support/in-process.js';

/** Logs whose storage calls fail: with an unexpected error, and as an unreachable database. */
const BROKEN = 'lean-fault-broken';
const UNREACHABLE = 'lean-fault-unreachable';
const APP = 'lean-fault-ok';
const LOG_EVENT = 'mutation($input: LogEventInput!) { logEvent(input: $input) { id seq } }';
const LEAN = 'application/json';
/** Served by Express: the lean route takes no Content-Type parameter but charset=utf-8. */
const EXPRESS = 'application/json; profile=x';

/** Whether a storage call is about `app` (its first argument, or the log of the events it appends). */
const about = (args: readonly unknown[], app: string): boolean => {
  const first = args[0];
  if (first === app) return true;
  return Array.isArray(first) && first.some((e) => (e as { sourceAppId?: unknown } | null)?.sourceAppId === app);
};

/** The storage, failing every call about BROKEN with a plain Error and every call about UNREACHABLE as unavailable. */
const faulty: NonNullable<StartOptions['wrapStorage']> = (storage) =>
  new Proxy(storage, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (about(args, BROKEN)) return Promise.reject(new Error(`injected failure of ${String(property)}`));
        if (about(args, UNREACHABLE))
          return Promise.reject(new StorageUnavailableError('injected: the database does not answer'));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });

const clock = new ManualClock();
let svc: InProcessService;

interface Answer {
  status: number;
  headers: Record<string, string | null>;
  text: string;
}

async function post(contentType: string, body: string): Promise<Answer> {
  const res = await fetch(`${svc.url}/graphql`, { method: 'POST', headers: { 'content-type': contentType }, body });
  const headers: Record<string, string | null> = {};
  for (const name of ['content-type', 'cache-control', 'retry-after', 'content-length']) headers[name] = res.headers.get(name);
  return { status: res.status, headers, text: await res.text() };
}

const both = async (body: string): Promise<[Answer, Answer]> => [await post(LEAN, body), await post(EXPRESS, body)];

const event = (sourceAppId: string) => ({
  sourceAppId,
  eventType: 'lean.fault',
  timestamp: '2025-01-01T00:00:00.000Z',
  payload: { n: 1 },
});
const logEvent = (sourceAppId: string) => JSON.stringify({ query: LOG_EVENT, variables: { input: event(sourceAppId) } });

beforeAll(async () => {
  svc = await startInProcess(
    {
      AUTH: 'off',
      NODE_ENV: 'production',
      // A write window of 60 s holding 60 events (rate-limit.ts), on a clock that does not move.
      RATE_LIMIT_WRITES_PER_SEC: '1',
      MAX_BATCH_SIZE: '60',
      ...e2eEngineEnv('leanfault'),
    },
    clock,
    { wrapStorage: faulty },
  );
});
afterAll(async () => svc?.stop());

describe('POST /graphql: failures met while executing are answered alike by the lean route and by Apollo', () => {
  it('masks an unexpected error of a resolver alike', async () => {
    clock.advance(60_000);
    const [lean, express] = await both(JSON.stringify({ query: `{ log(sourceAppId: "${BROKEN}") { size } }` }));
    expect(lean).toEqual(express);
    expect(JSON.parse(lean.text).errors[0]).toMatchObject({
      message: 'Internal server error',
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
  });

  it('answers a storage that does not answer with UNAVAILABLE and Retry-After from retryAfterMs alike', async () => {
    clock.advance(60_000);
    const [lean, express] = await both(logEvent(UNREACHABLE));
    expect(lean).toEqual(express);
    expect(lean.headers['retry-after']).toBe('1');
    expect(JSON.parse(lean.text).errors[0].extensions).toMatchObject({ code: 'UNAVAILABLE', retryAfterMs: 1000 });
  });

  it('refuses a write over the rate limit with 429, Retry-After and the time left alike', async () => {
    clock.advance(60_000);
    const fill = await post(
      LEAN,
      JSON.stringify({
        query: 'mutation($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }',
        variables: { inputs: Array.from({ length: 60 }, () => event(APP)) },
      }),
    );
    expect(fill.status).toBe(200);
    clock.advance(1_500);
    const [lean, express] = await both(logEvent(APP));
    expect(lean).toEqual(express);
    expect(lean.status).toBe(429);
    expect(lean.headers['retry-after']).toBe('59');
    expect(JSON.parse(lean.text).errors[0].extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 58_500 });
  });
});

// A stream whose API key cannot be looked up (the key store does not answer) is told to try again, on
// the suites' engine: the WebSocket closes with 1013 (Try Again Later, which graphql-ws's client retries)
// instead of 4500 and an internal error, and GraphQL over SSE answers 503 UNAVAILABLE with Retry-After in
// the GraphQL shape of its other refusals. Once the store answers, the same key is served.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { LogStorage } from '../../src/storage/types.js';
import { StorageUnavailableError } from '../../src/storage/types.js';
import { e2eEngineEnv } from '../support/e2e-engine.js';
import { ManualClock, startInProcess, type InProcessService } from '../support/in-process.js';
import { metric } from '../support/metrics.js';
import { openSse } from '../support/sse.js';

const ADMIN = 'clk_e2e-admin-key-for-tests-only-0123456789';
let svc: InProcessService;
let down = false;
/** A READER key per test, never looked up before it: the service caches the keys it has found. */
const readers: string[] = [];

/** Storage whose key lookups fail while `down`. */
function keyStoreOutage(storage: LogStorage): LogStorage {
  const keys = storage.apiKeys!;
  const apiKeys = new Proxy(keys, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === 'findBySecretHash')
        return (...args: unknown[]) =>
          down
            ? Promise.reject(new StorageUnavailableError('the key store does not answer'))
            : (value as (...a: unknown[]) => unknown).apply(target, args);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return new Proxy(storage, {
    get(target, prop, receiver) {
      if (prop === 'apiKeys') return apiKeys;
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

beforeAll(async () => {
  svc = await startInProcess({ ...e2eEngineEnv('stream_auth'), AUTH: 'on', ADMIN_API_KEY: ADMIN }, new ManualClock(), {
    wrapStorage: keyStoreOutage,
  });
  for (const name of ['ws', 'sse']) {
    const res = await fetch(`${svc.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': ADMIN },
      body: JSON.stringify({ query: `mutation { createApiKey(role: READER, name: "${name}") { secret } }` }),
    });
    readers.push(((await res.json()) as any).data.createApiKey.secret);
  }
}, 120_000);
afterAll(async () => svc?.stop());

/** connection_init with `key`: the close code and reason, or 'ack'. */
async function connect(key: string): Promise<{ code: number; reason: string } | 'ack'> {
  const socket = new WebSocket(`${svc.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
  await new Promise((resolve) => socket.once('open', resolve));
  socket.send(JSON.stringify({ type: 'connection_init', payload: { 'x-api-key': key } }));
  return new Promise((resolve) => {
    socket.once('message', (data: Buffer) => {
      if ((JSON.parse(data.toString('utf8')) as { type?: unknown }).type === 'connection_ack') {
        socket.close();
        resolve('ack');
      }
    });
    socket.once('close', (code, reason) => resolve({ code, reason: String(reason) }));
  });
}

describe('a stream whose key cannot be looked up', () => {
  it('closes the WebSocket with 1013 UNAVAILABLE, counted, and serves the key once the store answers', async () => {
    const before = await metric({ url: svc.url, authHeaders: () => ({ 'x-api-key': ADMIN }) }, 'chainlog_api_errors_total', {
      code: 'UNAVAILABLE',
      transport: 'ws',
    });
    down = true;
    try {
      expect(await connect(readers[0]!)).toEqual({ code: 1013, reason: 'UNAVAILABLE: the key store does not answer' });
    } finally {
      down = false;
    }
    const after = await metric({ url: svc.url, authHeaders: () => ({ 'x-api-key': ADMIN }) }, 'chainlog_api_errors_total', {
      code: 'UNAVAILABLE',
      transport: 'ws',
    });
    expect(after).toBe(before + 1);
    expect(await connect(readers[0]!)).toBe('ack');
  });

  it('answers GraphQL over SSE 503 UNAVAILABLE with Retry-After, in the GraphQL shape', async () => {
    const query = 'subscription { eventLogged { id } }';
    down = true;
    let refused;
    try {
      const url = new URL('/graphql/stream', svc.url);
      url.searchParams.set('query', query);
      refused = await fetch(url, { headers: { accept: 'text/event-stream', 'x-api-key': readers[1]! } });
    } finally {
      down = false;
    }
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as any).errors[0].extensions).toMatchObject({
      code: 'UNAVAILABLE',
      rule: 'storageUnavailable',
      retryAfterMs: 1000,
    });
    const served = await openSse(svc.url, { query, key: readers[1]! });
    expect(served.status).toBe(200);
    served.abort();
  });
});

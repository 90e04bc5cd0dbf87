// client.subscribe('eventLogged') through a storage outage on the server, on WebSocket and on SSE: a
// replay read fails, the server ends the subscription with UNAVAILABLE (retryable), the client
// subscribes again after the last event it delivered, and delivers every event once, in order. The
// service runs in process on the suites' engine, its storage failing the reads the test arms.
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createChainlogClient, type ChainlogClient, type ChainlogEvent } from '../../src/client/index.js';
import { StorageUnavailableError, type LogStorage } from '../../src/storage/types.js';
import { e2eEngineEnv } from '../support/e2e-engine.js';
import { ManualClock, startInProcess, type InProcessService } from '../support/in-process.js';
import { eventFor } from './support.js';

const ADMIN = 'clk_client-admin-key-for-tests-only-0123456789';
/** Replay reads of the test's logs that fail before the next one passes. */
let failing = 0;

function replayOutage(storage: LogStorage): LogStorage {
  return new Proxy(storage, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === 'readCommitted')
        return (...args: Parameters<LogStorage['readCommitted']>) => {
          if (failing > 0 && args[1].sourceAppIds?.some((app) => app.startsWith('client-outage-'))) {
            failing--;
            return Promise.reject(new StorageUnavailableError('the store does not answer'));
          }
          return target.readCommitted(...args);
        };
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

let svc: InProcessService;
let client: ChainlogClient;
beforeAll(async () => {
  svc = await startInProcess({ ...e2eEngineEnv('client_outage'), AUTH: 'on', ADMIN_API_KEY: ADMIN }, new ManualClock(), {
    wrapStorage: replayOutage,
  });
  client = createChainlogClient({ url: svc.url, apiKey: ADMIN, webSocketImpl: WebSocket });
}, 120_000);
afterAll(async () => svc?.stop());

const EVENTS = 30;

for (const transport of ['ws', 'sse'] as const) {
  it(`${transport}: a replay read the storage fails ends in UNAVAILABLE; the client resumes, every event once`, async () => {
    const app = `client-outage-${transport}`;
    await client.logEvents(Array.from({ length: EVENTS }, () => eventFor(app)));
    failing = 1;
    const reconnects: string[] = [];
    const sub = client.subscribe('eventLogged', {
      transport,
      filter: { sourceAppIds: [app] },
      after: `${app}/-1`,
      reconnectAttempts: 5,
      reconnectDelayMs: 50,
      onReconnect: (err) => reconnects.push(err.message),
    });
    const got: ChainlogEvent[] = [];
    for await (const e of sub) {
      got.push(e);
      if (got.length === EVENTS) break;
    }
    expect(failing).toBe(0);
    expect(reconnects).toHaveLength(1);
    expect(reconnects[0]).toBe('the store does not answer [UNAVAILABLE]');
    expect(got.map((e) => e.seq)).toEqual([...Array(EVENTS).keys()]);
  });
}

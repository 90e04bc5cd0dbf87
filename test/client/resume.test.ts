// client.subscribe('eventLogged') across a server killed (SIGKILL) and started again in the middle of the
// stream, on WebSocket and on SSE: the client reconnects, resumes after the last event it delivered, and
// the sequence it delivers is gapless and has no duplicate.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ChainlogClient, ChainlogEvent } from '../../src/client/index.js';
import { eventFor, startClientService, type ClientService } from './support.js';

let svc: ClientService;
let client: ChainlogClient;
beforeAll(async () => {
  svc = await startClientService();
  client = svc.client();
});
afterAll(async () => {
  await svc?.stop();
});

const BEFORE = 20;
const AFTER = 20;
/** The consumer stops (and the server is killed) after this many events. */
const KILL_AT = 5;
/** A kill and a start of the service from its sources take 10-20 s on a loaded 2-core machine. */
const RESTART_TEST_TIMEOUT_MS = 120_000;

for (const transport of ['ws', 'sse'] as const) {
  it(
    `${transport}: the server killed and restarted mid-stream: every event once, in order`,
    async () => {
      const app = `client-resume-${transport}`;
      await client.logEvents(Array.from({ length: BEFORE }, () => eventFor(app)));
      const reconnects: string[] = [];
      const sub = client.subscribe('eventLogged', {
        transport,
        filter: { sourceAppIds: [app] },
        after: `${app}/-1`,
        reconnectAttempts: 50,
        reconnectDelayMs: 100,
        onReconnect: (err) => reconnects.push(err.message),
      });
      const got: ChainlogEvent[] = [];
      for await (const e of sub) {
        got.push(e);
        if (got.length === KILL_AT) {
          // The consumer is in the middle of the replay: the server dies under it, and comes back.
          await svc.proc.kill();
          await svc.proc.start();
          await client.logEvents(Array.from({ length: AFTER }, () => eventFor(app)));
        }
        if (got.length === BEFORE + AFTER) break;
      }
      expect(reconnects.length).toBeGreaterThan(0);
      expect(got.map((e) => e.seq)).toEqual(Array.from({ length: BEFORE + AFTER }, (_, i) => i));
      expect(new Set(got.map((e) => e.id)).size).toBe(BEFORE + AFTER);
    },
    RESTART_TEST_TIMEOUT_MS,
  );
}

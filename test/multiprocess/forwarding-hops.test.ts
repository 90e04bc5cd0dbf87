// Three API processes on one MongoDB database (FerretDB here) with ADVERTISE_URL and PROCESS_SECRET: a
// forward sent to a process that no longer holds the log's lease (the forwarding process trusts the
// holder it read until that lease expires) is answered with where the lease is now (HTTP 421), and the
// forward follows it there: the append is stored once, by the new holder. Forwarding exists only where
// processes share a database: the SQLite engine is one process and has no leases.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forwards, HotLog } from '../support/hot-log.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { until } from '../support/wait.js';

const TTL_MS = 2000;

let hot: HotLog;
const procs: ServiceProcess[] = [];

beforeAll(async () => {
  hot = await HotLog.start({ eventType: 'fwd.hop', secret: 'forwarding-hops-secret-0123456789abcdef', leaseTtlMs: TTL_MS });
  // A keeps the true time. B's clock runs a minute ahead: A's lease is over by B's clock, so B takes
  // the log's lease while A still has it in hand. C's clock runs a minute behind, with long leases: the
  // holder it read (A) stays trusted, so C forwards to A after the lease moved.
  const clocks: Array<Record<string, string>> = [
    {},
    { TEST_CLOCK_OFFSET_MS: '60000' },
    { TEST_CLOCK_OFFSET_MS: '-60000', LEASE_TTL_MS: '60000' },
  ];
  for (const clock of clocks) {
    const port = await freePort();
    const p = new ServiceProcess(port, hot.dataDir(), { ...hot.env, ADVERTISE_URL: `http://127.0.0.1:${port}`, ...clock });
    procs.push(p);
    await p.start();
  }
}, 180_000);

afterAll(async () => {
  for (const p of procs) await p.stop();
  await hot?.stop();
});

describe('a forward that reaches a former holder (MongoDB, three processes)', () => {
  it('is answered with where the lease is now, and follows it there: stored once, by the new holder', async () => {
    const [a, b, c] = procs as [ServiceProcess, ServiceProcess, ServiceProcess];
    expect(await hot.append(a, 'hop-1')).toBe(0); // A takes the lease
    expect((await hot.newestLease()).address).toBe(a.url);
    expect(await hot.append(c, 'hop-2')).toBe(1); // C reads that A holds it and forwards there
    expect(await forwards(c, 'forwarded')).toBe(1);

    // B sees A's lease as expired (its clock) and takes the next fence itself.
    expect(await hot.append(b, 'hop-3')).toBe(2);
    const moved = await hot.newestLease();
    expect(moved.address).toBe(b.url);
    expect(await forwards(b, 'forwarded')).toBe(0);

    // Once A's own lease is due for renewal by A's clock, A's next turn reads the lease and finds B's.
    const held = await hot.lease(moved.fence - 1);
    await until("A's lease to be due for renewal", async () => held.expiresAt - Date.now() < TTL_MS / 2 - 200);

    // C still trusts A: its forward goes to A, which answers where the lease is (421), and C follows to B.
    expect(await hot.append(c, 'hop-4')).toBe(3);
    expect(await forwards(c, 'followed')).toBe(1);
    expect(await forwards(c, 'forwarded')).toBe(2);
    expect(await hot.newestLease()).toMatchObject({ fence: moved.fence, address: b.url });

    // Every event once, in order, whichever process is asked.
    expect(await hot.events(a)).toEqual(HotLog.stored(['hop-1', 'hop-2', 'hop-3', 'hop-4']));
  }, 180_000);
});

// The hop limit of a forward (MAX_HOPS in src/log/forwarding.ts), on five API processes sharing one
// MongoDB database (FerretDB here). A forward that reaches a process no longer holding the log's lease
// is answered with where the lease is now (HTTP 421), and the forwarding process follows; after three
// such answers in a row it stops following and waits for its own turn at the lease: the append is
// acknowledged once, stored once, by the forwarding process.
//
// How the lease moves, by real means: each forward is held on its way (a TCP gate in front of the
// address the holder advertises) while the next process takes the lease. The takers' clocks run a
// minute apart (A true time, B +1 min, C +2 min, D +3 min), so each sees the lease before it as
// expired and takes the next fence at once, while the processes behind it still see that new lease
// as live: the process a held forward then reaches cannot take the lease, and names the new holder.
// Forwarding exists only where processes share a database: the SQLite engine is one process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forwards, HotLog, type LeaseDoc } from '../support/hot-log.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { startTcpGate, type TcpGate } from '../support/tcp-gate.js';
import { until } from '../support/wait.js';

const TTL_MS = 1000;
const MINUTE = 60_000;
/** The first bytes of a forward, as the forwarding process sends them. */
const FORWARD = 'POST /internal/v1/append ';

let hot: HotLog;
/** F forwards; A, B, C, D take the lease in turn (clock offsets 0, +1, +2, +3 minutes). */
const procs: Record<'f' | 'a' | 'b' | 'c' | 'd', ServiceProcess> = {} as never;
const offsets = { f: 0, a: 0, b: MINUTE, c: 2 * MINUTE, d: 3 * MINUTE };
/** In front of the addresses A, B and C advertise. */
const gates: Record<'a' | 'b' | 'c', TcpGate> = {} as never;

/**
 * Wait until the holder of `lease` (its clock `offset` ahead) no longer takes it as held without
 * asking the database (its commit gate renews a lease in the second half of its term): a forward
 * that reaches it then finds that the lease moved on.
 */
async function dueForRenewal(lease: LeaseDoc, offset: number): Promise<void> {
  await until(`lease fence ${lease.fence} to be due for renewal by its holder's clock`, async () => {
    return lease.expiresAt - (Date.now() + offset) < TTL_MS / 2 - 100;
  });
}

beforeAll(async () => {
  hot = await HotLog.start({ eventType: 'fwd.limit', secret: 'forwarding-hop-limit-secret-0123456789', leaseTtlMs: TTL_MS });
  for (const name of ['f', 'a', 'b', 'c', 'd'] as const) {
    const port = await freePort();
    let advertised = port;
    if (name === 'a' || name === 'b' || name === 'c') {
      gates[name] = await startTcpGate(port);
      advertised = gates[name].port;
    }
    procs[name] = new ServiceProcess(port, hot.dataDir(), {
      ...hot.env,
      ADVERTISE_URL: `http://127.0.0.1:${advertised}`,
      TEST_CLOCK_OFFSET_MS: String(offsets[name]),
    });
  }
  await Promise.all(Object.values(procs).map((p) => p.start()));
}, 240_000);

afterAll(async () => {
  for (const p of Object.values(procs)) await p?.stop();
  for (const g of Object.values(gates)) await g?.close();
  await hot?.stop();
});

describe('the hop limit of a forward (MongoDB, five processes)', () => {
  it('follows three 421s in a row, then appends in its own turn: acknowledged once, stored once', async () => {
    const { f, a, b, c, d } = procs;
    const advertised = (name: 'a' | 'b' | 'c') => `http://127.0.0.1:${gates[name].port}`;

    expect(await hot.append(a, 'h-1')).toBe(0); // A takes the lease
    const first = await hot.newestLease();
    expect(first.address).toBe(advertised('a'));

    // F reads that A holds the lease and forwards there; the forward waits at A's gate.
    const atA = gates.a.hold(FORWARD);
    const pending = hot.send(f, 'h-2');
    await until('the forward to reach A', () => atA.held === 1);

    // B takes the lease (A's is over by B's clock); the forward then reaches A: 421, B holds it.
    expect(await hot.append(b, 'h-3')).toBe(1);
    const second = await hot.newestLease();
    expect(second.address).toBe(advertised('b'));
    await dueForRenewal(first, offsets.a);
    const atB = gates.b.hold(FORWARD);
    atA.release();
    await until('the forward to follow to B', () => atB.held === 1);
    expect(await forwards(f, 'followed')).toBe(1);

    // C takes it from B: the forward reaches B, which answers 421 naming C.
    expect(await hot.append(c, 'h-4')).toBe(2);
    const third = await hot.newestLease();
    expect(third.address).toBe(advertised('c'));
    await dueForRenewal(second, offsets.b);
    const atC = gates.c.hold(FORWARD);
    atB.release();
    await until('the forward to follow to C', () => atC.held === 1);
    expect(await forwards(f, 'followed')).toBe(2);

    // D takes it from C: C answers 421 naming D, the third in a row. F follows no further: it waits for
    // its own turn (asks for the lease, D hands it over) and appends the event itself.
    expect(await hot.append(d, 'h-5')).toBe(3);
    expect((await hot.newestLease()).address).toBe(d.url);
    await dueForRenewal(third, offsets.c);
    atC.release();
    const answer = await pending;
    expect(answer.errors, JSON.stringify(answer.errors)).toBeUndefined();
    expect(answer.data!.logEvents[0]!.seq).toBe(4);
    expect(await forwards(f, 'followed')).toBe(3);
    expect(await forwards(f, 'forwarded')).toBe(0); // no forward was appended by its receiver
    for (const outcome of ['timeout', 'lost', 'unreachable', 'in_flight']) expect(await forwards(f, outcome)).toBe(0);
    expect((await hot.newestLease()).address).toBe(f.url); // F appended in its own turn of the lease

    // Every event once, in order, whichever process is asked; the held forward was appended nowhere.
    expect(await hot.events(d)).toEqual(HotLog.stored(['h-1', 'h-3', 'h-4', 'h-5', 'h-2']));
    // A retry of the acknowledged append is a replay: still stored once.
    expect(await hot.append(b, 'h-2')).toBe(4);
  }, 240_000);
});

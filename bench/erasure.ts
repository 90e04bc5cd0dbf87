// Leaf version 2 and erasure, measured on the log pipeline itself (ChainlogService over the SQLite
// engine, in this process): no HTTP in between, so the cost of the salt and the extra hash is not
// diluted by the API's own work.
//
//   npx tsx bench/erasure.ts            quick: 3 rounds of 20,000 events per version; erasure on 50,000 events
//   npx tsx bench/erasure.ts --full     10 rounds of 100,000 events per version; erasure on 1,000,000 events
//   npx tsx bench/erasure.ts --erase-only [--erase-events N]   the erasure part alone (N events, default as above)
//
// Ingest: the same batches (1,000 events, one log per round) into a version 1 and a version 2 log,
// alternating rounds so that both see the same machine state; figure: events/s per version and the
// version 2 cost (1 - v2/v1). Erasure: a log where 1 event in 20 has `userId: "target"`, erased with
// eraseEvents by payload field until `more` is false; figure: events erased per second. Then two starts
// of a new service on that store; figure: ms to ready (what a start does about the erasures before it).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { canonicalJson } from '../src/core/canonical-json.js';
import { eventLeafHash, payloadCommitment } from '../src/core/leaf.js';
import { ChainlogService } from '../src/log/chainlog-service.js';
import { loadSigningKey } from '../src/log/signing-key.js';
import type { AppendRequest } from '../src/log/service.js';
import { SqliteStorage } from '../src/storage/sqlite/sqlite-storage.js';

const full = process.argv.includes('--full');
const eraseOnly = process.argv.includes('--erase-only');
const ROUNDS = full ? 10 : Number(process.env.BENCH_ROUNDS ?? 3);
const PER_ROUND = full ? 100_000 : 20_000;
const eraseEventsArg = process.argv.indexOf('--erase-events');
const ERASE_LOG_EVENTS = eraseEventsArg > 0 ? Number(process.argv[eraseEventsArg + 1]) : full ? 1_000_000 : 50_000;
if (!Number.isSafeInteger(ERASE_LOG_EVENTS) || ERASE_LOG_EVENTS < 1000 || ERASE_LOG_EVENTS > 10_000_000) {
  throw new Error('--erase-events: an integer from 1000 to 10000000');
}
const BATCH = 1000;
const T0 = Date.UTC(2026, 0, 1);

async function open(dir: string, leafVersion: 1 | 2) {
  const storage = new SqliteStorage({ path: join(dir, `v${leafVersion}.db`) });
  await storage.init();
  const service = new ChainlogService({
    storage,
    key: loadSigningKey({ dataDir: dir }),
    keyName: 'bench.chainlog',
    originPrefix: 'bench.chainlog',
    checkpointIntervalMs: 3_600_000,
    version: 'bench',
    logger: pino({ level: 'silent' }),
    leafVersion,
  });
  await service.start();
  return { storage, service, close: async () => (await service.stop(), await storage.close()) };
}

function batch(app: string, from: number, n: number, userOf: (i: number) => string): AppendRequest[] {
  return Array.from({ length: n }, (_, j) => {
    const i = from + j;
    return {
      sourceAppId: app,
      eventType: 'order.placed',
      timestamp: T0 + i,
      payload: {
        userId: userOf(i),
        orderId: `o-${i}`,
        amount: (i % 997) + 0.5,
        items: [{ sku: `s-${i % 50}`, qty: 1 + (i % 3) }],
      },
    };
  });
}

/** Ingest `n` events into `app` in batches of BATCH, 4 batches in flight (group commit); returns events/s. */
async function ingest(service: ChainlogService, app: string, from: number, n: number): Promise<number> {
  const start = performance.now();
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < n; i += BATCH) {
    inFlight.push(service.append(batch(app, from + i, Math.min(BATCH, n - i), (k) => `u${k % 1000}`)));
    if (inFlight.length >= 4) await inFlight.shift();
  }
  await Promise.all(inFlight);
  return n / ((performance.now() - start) / 1000);
}

/**
 * The per-event work that version 2 adds, on one thread and without I/O: the leaf hash of a version 1
 * event against salt + commitment + leaf hash of a version 2 one, over the same payloads (steadier than
 * the ingest figures on a busy machine).
 */
function hashingCost(n: number): { v1: number; v2: number } {
  const events = batch('cpu', 0, n, (i) => `u${i % 1000}`).map((r, i) => ({
    sourceAppId: r.sourceAppId,
    seq: i,
    prevHash: 'ab'.repeat(32),
    eventType: r.eventType,
    timestamp: r.timestamp,
    receivedAt: r.timestamp + 1,
    payload: r.payload,
    text: canonicalJson(r.payload),
    payloadHash: undefined as string | undefined,
  }));
  const time = (f: () => void) => {
    const t = performance.now();
    f();
    return (performance.now() - t) / n;
  };
  const plain = events.map(({ payloadHash: _, ...e }) => e);
  const v1 = () => {
    for (const e of plain) eventLeafHash(e, e.text);
  };
  const v2 = () => {
    const salts = randomBytes(32 * events.length);
    events.forEach((e, i) => {
      const salt = salts.subarray(32 * i, 32 * i + 32);
      salts.toString('hex', 32 * i, 32 * i + 32);
      e.payloadHash = payloadCommitment(salt, e.text);
      eventLeafHash(e as typeof e & { payloadHash: string });
    });
  };
  v1();
  v2();
  let best = { v1: Infinity, v2: Infinity };
  for (let r = 0; r < 5; r++) best = { v1: Math.min(best.v1, time(v1)), v2: Math.min(best.v2, time(v2)) };
  return { v1: best.v1 * 1000, v2: best.v2 * 1000 };
}

/** Leaf version 2 against version 1: hashing cost and ingest rounds, alternating versions. */
async function ingestFigures(dir: string) {
  const cpu = hashingCost(full ? 200_000 : 50_000);
  console.log(
    `hashing per event (best of 5, µs): leaf version 1 ${cpu.v1.toFixed(2)}, version 2 (salt, commitment, leaf) ${cpu.v2.toFixed(2)}`,
  );
  const v1 = await open(dir, 1);
  const v2 = await open(dir, 2);
  const rates: Record<1 | 2, number[]> = { 1: [], 2: [] };
  // A warm-up round each, not counted.
  await ingest(v1.service, 'warm', 0, PER_ROUND / 4);
  await ingest(v2.service, 'warm', 0, PER_ROUND / 4);
  for (let r = 0; r < ROUNDS; r++) {
    const order: Array<1 | 2> = r % 2 === 0 ? [1, 2] : [2, 1];
    for (const v of order) rates[v].push(await ingest((v === 1 ? v1 : v2).service, `round-${r}`, 0, PER_ROUND));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const m1 = median(rates[1]);
  const m2 = median(rates[2]);
  console.log(`ingest, ${ROUNDS} rounds of ${PER_ROUND} events (batches of ${BATCH}), median events/s:`);
  console.log(`  leaf version 1  ${Math.round(m1)}  (rounds: ${rates[1].map(Math.round).join(', ')})`);
  console.log(`  leaf version 2  ${Math.round(m2)}  (rounds: ${rates[2].map(Math.round).join(', ')})`);
  console.log(`  version 2 cost  ${((1 - m2 / m1) * 100).toFixed(1)} %  (target < 10 %)`);
  await v1.close();
  await v2.close();
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'chainlog-bench-erasure-'));
  try {
    if (!eraseOnly) await ingestFigures(dir);
    const v2 = await open(dir, 2);

    // Erasure by payload field.
    for (let i = 0; i < ERASE_LOG_EVENTS; i += BATCH * 10) {
      const part: Promise<unknown>[] = [];
      for (let k = i; k < Math.min(ERASE_LOG_EVENTS, i + BATCH * 10); k += BATCH)
        part.push(
          v2.service.append(batch('erase', k, Math.min(BATCH, ERASE_LOG_EVENTS - k), (x) => (x % 20 === 0 ? 'target' : `u${x}`))),
        );
      await Promise.all(part);
    }
    const start = performance.now();
    let erased = 0;
    let calls = 0;
    const callMs: number[] = [];
    for (let more = true; more; calls++) {
      const t = performance.now();
      const r = await v2.service.eraseEvents({
        selection: { kind: 'payloadField', sourceAppId: 'erase', path: ['userId'], equals: 'target' },
        reason: 'bench',
        by: 'bench',
      });
      callMs.push(performance.now() - t);
      erased += r.erased;
      more = r.more;
    }
    const s = (performance.now() - start) / 1000;
    console.log(
      `erasure by payload field on ${ERASE_LOG_EVENTS} events (1 in 20 matches): ${erased} erased in ${calls} calls, ` +
        `${s.toFixed(2)} s, ${Math.round(erased / s)} events erased/s`,
    );
    // A call that re-reads the log from its start grows with the calls before it: first against last.
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const tenth = Math.max(1, Math.floor(callMs.length / 10));
    console.log(
      `  ms per call: first tenth of the calls ${mean(callMs.slice(0, tenth)).toFixed(0)}, ` +
        `last tenth ${mean(callMs.slice(-tenth)).toFixed(0)}`,
    );
    const verifyStart = performance.now();
    const report = await v2.service.verifyLog('erase');
    console.log(
      `  verifyLog after: ok=${report.ok}, eventsErased=${report.eventsErased}, ${(performance.now() - verifyStart).toFixed(0)} ms`,
    );
    // An audit of a log reads the erasure records that list it (erasureRecords): for a log with none,
    // what the reads cost where the erasures log holds many records of another log.
    await v2.service.append(batch('quiet', 0, 10, (x) => `u${x}`));
    await v2.service.publishCheckpoints();
    const walkStart = performance.now();
    let reads = 0;
    for (let from: number | null = 0; from !== null; reads++) {
      from = (await v2.service.erasureRecordsOf('quiet', from, undefined, () => true)).next;
    }
    console.log(
      `  erasureRecords of a log none of the ${calls} records lists: ${reads} read(s), ${(performance.now() - walkStart).toFixed(1)} ms`,
    );
    await v2.close();
    // A start applies the recorded erasures that a stop may have interrupted: what that costs once many
    // are recorded, against a start on the same store with none left to look at (the second start).
    for (const label of ['first start after the erasures', 'second start']) {
      const t = performance.now();
      const again = await open(dir, 2);
      console.log(`  ${label}: ${(performance.now() - t).toFixed(0)} ms to ready`);
      await again.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The SQLite writer thread does not hold the process open while it closes: this timer does, until the end.
const keepAlive = setInterval(() => undefined, 60_000);
try {
  await main();
} finally {
  clearInterval(keepAlive);
}

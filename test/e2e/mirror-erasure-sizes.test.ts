// A mirror stores how far its copy of the primary's erasures log is applied, and below which size no
// record lists an event it has yet to copy (LogStorage.erasuresAppliedBelow, erasuresCopiedBelow): its
// start then reads only the records after, and rebuilds from them what its copy is owed. On the suite's
// engine: the primary is a process started as users start it; the mirror runs in this process so that
// its storage can be watched (which records a start reads) and held (a log's copy paused or failing, a
// raise of the sizes failing). Every wait is on a signal with a deadline.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChainlog, type Chainlog } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { ERASURES_LOG } from '../../src/log/erasure.js';
import type { LogStorage, NewEvent } from '../../src/storage/types.js';
import { e2eEngineEnv } from '../support/e2e-engine.js';
import { InjectedFault } from '../support/faulty-storage.js';
import { data, mirrorNodes, type MirrorNode } from '../support/mirror-nodes.js';
import { E2E_ADMIN_KEY } from '../support/service.js';
import { until } from '../support/wait.js';

const WAIT_MS = 120_000;
const { node } = mirrorNodes('mirror-erasure-sizes');

/** What the test does to the mirror's storage, switched as it goes. */
interface Watch {
  /** `from` of every read of the erasures log's events while set. */
  reads: number[] | null;
  /** Raises of the sizes to refuse (each one refused counts down). */
  failRaises: number;
  refusedRaises: number;
  /** Copies of "Archive" events: stored then held until released, or refused before they are stored. */
  archive: 'pass' | { hold: Promise<void>; held: () => void } | 'refuse';
}

function watched(storage: LogStorage, watch: Watch): LogStorage {
  return new Proxy(storage, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (prop === 'getEventRange') {
        return (app: string, from: number, ...rest: unknown[]) => {
          if (app === ERASURES_LOG) watch.reads?.push(from);
          return (value as (...a: unknown[]) => unknown).call(target, app, from, ...rest);
        };
      }
      if (prop === 'raiseErasuresAppliedBelow') {
        return async (...args: unknown[]) => {
          if (watch.failRaises > 0) {
            watch.failRaises--;
            watch.refusedRaises++;
            throw new InjectedFault('injected: raiseErasuresAppliedBelow failed');
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      if (prop === 'appendCopied') {
        return async (events: NewEvent[]) => {
          const archive = events[0]?.sourceAppId === 'Archive' ? watch.archive : 'pass';
          if (archive === 'refuse') throw new InjectedFault('injected: the copy of Archive failed');
          const stored = await (value as (e: NewEvent[]) => Promise<unknown>).call(target, events);
          if (archive !== 'pass') {
            archive.held();
            await archive.hold;
          }
          return stored;
        };
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

describe("a mirror's start after its erasures: only the records it has not settled", () => {
  let primary: MirrorNode;
  let env: Record<string, string>;
  const dataDir = mkdtempSync(join(tmpdir(), 'chainlog-mirror-erasure-sizes-'));
  const watch: Watch = { reads: null, failRaises: 0, refusedRaises: 0, archive: 'pass' };
  let mirror: Chainlog | null = null;
  let storage: LogStorage;

  /** The mirror, started as startChainlog starts it, on the same data each time; the reads its start made. */
  async function startMirror(): Promise<number[]> {
    watch.reads = [];
    mirror = await startChainlog(
      loadConfig({ ...env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'silent' }),
      undefined,
      {
        wrapStorage: (s) => (storage = watched(s, watch)),
      },
    );
    const reads = watch.reads;
    watch.reads = null;
    return reads;
  }

  const sizes = async () => [await storage.erasuresAppliedBelow(), await storage.erasuresCopiedBelow()];
  const ingest = (app: string, n: number) =>
    data(primary, 'mutation($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }', {
      inputs: Array.from({ length: n }, (_, i) => ({
        sourceAppId: app,
        eventType: 'person.updated',
        timestamp: new Date().toISOString(),
        payload: { userId: `u${i}` },
      })),
    });
  const erase = (id: string) =>
    data(primary, 'mutation($in: EraseEventsInput!) { eraseEvents(input: $in) { erased } }', {
      in: { reason: `ticket ${id}`, ids: [id] },
    });
  const mirrored = async (id: string) => {
    const [app, seq] = id.split('/') as [string, string];
    return storage.getEvent(app, Number(seq));
  };

  beforeAll(async () => {
    primary = await node('primary');
    const primaryKey = (await data(primary, '{ serverInfo { verifierKey } }')).serverInfo.verifierKey as string;
    const auditorKey = (await data(primary, 'mutation { createApiKey(role: AUDITOR, name: "mirror") { secret } }')).createApiKey
      .secret as string;
    env = {
      CHECKPOINT_INTERVAL_MS: '200',
      AUTH: 'on',
      ADMIN_API_KEY: E2E_ADMIN_KEY,
      FOLLOW_URL: primary.url,
      FOLLOW_VERIFIER_KEY: primaryKey,
      FOLLOW_API_KEY: auditorKey,
      ...e2eEngineEnv('mirror_erasure_sizes_mirror'),
    };
  }, 300_000);

  afterAll(async () => {
    watch.archive = 'refuse';
    await mirror?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('stores both sizes past the records it applied, raising them again after a raise failed', async () => {
    await ingest('people', 4);
    await erase('people/0');
    await erase('people/1');
    // The first raise fails: the sizes are stored at a later sync all the same.
    watch.failRaises = 1;
    await startMirror();
    await until('the mirror to store both sizes past the two records', async () => (await sizes()).join() === '2,2', {
      timeoutMs: WAIT_MS,
    });
    expect(watch.refusedRaises).toBe(1);
    expect((await mirrored('people/1'))?.erasedAt).not.toBeNull();
    expect((await mirrored('people/2'))?.payload).not.toBeNull();
  }, 300_000);

  it('keeps the copied size below a record whose event is not copied yet, and a start rebuilds what it owes from there', async () => {
    await ingest('Archive', 2);
    await until('the mirror to copy Archive', async () => (await mirrored('Archive/1')) !== null, { timeoutMs: WAIT_MS });
    // "Archive" sorts before "_erasures": the mirror copies Archive/2, then waits, while Archive/3 is
    // appended and erased; the same pass then meets the record before the event.
    let held!: () => void;
    const isHeld = new Promise<void>((r) => (held = r));
    let release!: () => void;
    watch.archive = { hold: new Promise<void>((r) => (release = r)), held };
    await ingest('Archive', 1);
    await isHeld;
    await ingest('Archive', 1);
    await erase('Archive/3');
    await until(
      "the primary's checkpoint of its erasures log to cover the record",
      async () =>
        (await data(primary, `{ log(sourceAppId: "${ERASURES_LOG}") { latestCheckpoint { treeSize } } }`)).log.latestCheckpoint
          ?.treeSize >= 3,
      { timeoutMs: WAIT_MS },
    );
    // Every later copy of Archive fails: the event stays owed.
    watch.archive = 'refuse';
    release();
    await until('the mirror to apply the record', async () => (await sizes())[0] === 3, { timeoutMs: WAIT_MS });
    expect(await sizes()).toEqual([3, 2]);
    expect(await mirrored('Archive/3')).toBeNull();

    await mirror!.close();
    watch.archive = 'pass';
    // The start reads the erasures log from the copied size on, not from 0: the record that owes Archive/3.
    const reads = await startMirror();
    expect(reads.length).toBeGreaterThan(0);
    expect(Math.min(...reads)).toBe(2);
    const copied = await until('the mirror to copy Archive/3', () => mirrored('Archive/3'), { timeoutMs: WAIT_MS });
    expect(copied).toMatchObject({ payload: null, payloadSalt: null, erasureReason: 'ticket Archive/3' });
    await until('the copied size to pass the record', async () => (await sizes()).join() === '3,3', { timeoutMs: WAIT_MS });
    const verified = await data({ url: mirror!.url }, '{ verifyLog(sourceAppId: "Archive") { ok eventsErased } }');
    expect(verified.verifyLog).toEqual({ ok: true, eventsErased: 1 });

    // With nothing owed and every record applied, a start reads no record.
    await mirror!.close();
    expect(await startMirror()).toEqual([]);
  }, 300_000);
});

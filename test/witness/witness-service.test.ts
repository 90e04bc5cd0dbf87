// The witness service on a real SQLite store (the endpoint on both engines is test/e2e/witness.test.ts):
// the per-origin rate limit on a clock of its own, a store that keeps losing the compare-and-swap, the
// witnessed-logs file refused at start and on reload, and the size-0 race on the first insert.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emptyRoot, formatAddCheckpointBody, signCheckpoint, createSigner } from '../../src/core/index.js';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';
import type { WitnessStore } from '../../src/storage/witness-store.js';
import { WitnessConfigError, WitnessService } from '../../src/witness/witness-service.js';
import { InconsistencyReporter } from '../../src/inconsistency/reporter.js';
import { ManualClock } from '../support/in-process.js';
import { TestLog } from '../support/witness-log.js';

let dir: string;
let storage: SqliteStorage;
const log = new TestLog('example.com/svc');
const other = new TestLog('example.com/other');

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chainlog-witness-svc-'));
  storage = new SqliteStorage({ path: join(dir, 'chainlog.db') });
  await storage.init();
});

afterEach(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

function witness(opts: { store?: WitnessStore; ratePerSec?: number; clock?: ManualClock; logs?: string } = {}) {
  const logsFile = join(dir, 'logs');
  writeFileSync(logsFile, opts.logs ?? `log ${log.vkey}\nlog ${other.vkey}\n`);
  return {
    logsFile,
    witness: new WitnessService({
      store: opts.store ?? storage.witness,
      inconsistencies: new InconsistencyReporter({ store: storage.inconsistencies, logger: pino({ level: 'silent' }) }),
      key: loadSigningKey({ dataDir: dir, fileName: 'witness-key.pem' }),
      name: 'witness.test/svc',
      logsFile,
      ratePerSec: opts.ratePerSec ?? 0,
      logger: pino({ level: 'silent' }),
      ...(opts.clock && { now: opts.clock.now }),
    }),
  };
}

describe('the per-origin rate limit', () => {
  it('refuses the request over WITNESS_RATE_LIMIT_PER_SEC with 429 and Retry-After, per origin, until the second ends', async () => {
    const clock = new ManualClock();
    const { witness: w } = witness({ ratePerSec: 2, clock });
    expect((await w.addCheckpoint(log.body(0, 4))).status).toBe(200);
    expect((await w.addCheckpoint(log.body(4, 5))).status).toBe(200);
    expect(await w.addCheckpoint(log.body(5, 6))).toMatchObject({ status: 429, retryAfter: 1 });
    // Another log has a window of its own.
    expect((await w.addCheckpoint(other.body(0, 3))).status).toBe(200);
    clock.advance(1000);
    expect((await w.addCheckpoint(log.body(5, 6))).status).toBe(200);
  });

  it('counts only requests signed by the log: unknown origins (404) and forged signatures (403) spend nothing', async () => {
    const clock = new ManualClock();
    const { witness: w } = witness({ ratePerSec: 1, clock });
    for (let i = 0; i < 3; i++) expect((await w.addCheckpoint(new TestLog('example.com/nobody').body(0, 2))).status).toBe(404);
    const forger = new TestLog(log.origin);
    for (let i = 0; i < 3; i++) expect((await w.addCheckpoint(forger.body(0, 2))).status).toBe(403);
    expect((await w.addCheckpoint(log.body(0, 2))).status).toBe(200);
    expect((await w.addCheckpoint(log.body(2, 3))).status).toBe(429);
  });
});

describe('compare-and-swap', () => {
  it('answers 503 when every attempt loses to another writer, having cosigned nothing', async () => {
    const losing: WitnessStore = { ...bind(storage.witness), compareAndSwap: async () => false };
    const { witness: w } = witness({ store: losing });
    expect(await w.addCheckpoint(log.body(0, 4))).toMatchObject({ status: 503, body: expect.stringContaining('retry') });
    expect(await storage.witness.latest(log.origin)).toBeNull();
  });

  it('a first insert lost to a size-0 checkpoint is decided again and cosigned from it', async () => {
    const empty = signCheckpoint({ origin: log.origin, size: 0, rootHash: emptyRoot() }, createSigner(log.origin, log.key));
    let raced = false;
    const racing: WitnessStore = {
      ...bind(storage.witness),
      async compareAndSwap(expected, next) {
        if (!raced) {
          raced = true;
          // Another process cosigns the empty tree between this one's read and its write.
          await storage.witness.compareAndSwap(null, {
            origin: log.origin,
            size: 0,
            rootHash: Buffer.from(emptyRoot()).toString('hex'),
            note: empty,
            updatedAt: 1,
          });
        }
        return storage.witness.compareAndSwap(expected, next);
      },
    };
    const { witness: w } = witness({ store: racing });
    expect((await w.addCheckpoint(formatAddCheckpointBody({ oldSize: 0, proof: [], note: log.note(4) }))).status).toBe(200);
    expect(await storage.witness.latest(log.origin)).toMatchObject({ size: 4 });
  });
});

describe('the witnessed-logs file', () => {
  it('that does not parse or cannot be read stops the start, naming the file and the line', () => {
    expect(() => witness({ logs: `log ${log.vkey}\nwitness\n` })).toThrow(WitnessConfigError);
    expect(() => witness({ logs: `log ${log.vkey}\nwitness\n` })).toThrow(
      /WITNESSED_LOGS_FILE .*logs: line 2: want "witness <name> <vkey> \[<url>\]"/,
    );
    expect(
      () =>
        new WitnessService({
          store: storage.witness,
          inconsistencies: new InconsistencyReporter({ store: storage.inconsistencies, logger: pino({ level: 'silent' }) }),
          key: loadSigningKey({ dataDir: dir, fileName: 'witness-key.pem' }),
          name: 'w',
          logsFile: join(dir, 'missing'),
          ratePerSec: 0,
          logger: pino({ level: 'silent' }),
        }),
    ).toThrow(/WITNESSED_LOGS_FILE .*missing: ENOENT/);
  });

  it('is swapped whole on reload, or not at all', async () => {
    const { witness: w, logsFile } = witness();
    expect(w.origins).toEqual([log.origin, other.origin]);
    writeFileSync(logsFile, `log ${log.vkey}\nlog ${log.vkey}\n`);
    expect(w.reload()).toBe(false);
    expect(w.origins).toEqual([log.origin, other.origin]);
    writeFileSync(logsFile, `log ${other.vkey}\n`);
    expect(w.reload()).toBe(true);
    expect(w.origins).toEqual([other.origin]);
    expect((await w.addCheckpoint(log.body(0, 2))).status).toBe(404);
  });
});

/** The store's methods bound to it, so a test can replace one and keep the others. */
function bind(store: WitnessStore): WitnessStore {
  return {
    init: () => store.init(),
    latest: (o) => store.latest(o),
    compareAndSwap: (e, n) => store.compareAndSwap(e, n),
    claimVerifierKey: (k) => store.claimVerifierKey(k),
  };
}

describe('starting a server with a witness', () => {
  it("refuses the log's signing key as witness key, and a witnessed-logs file that does not parse", async () => {
    const { startChainlog } = await import('../../src/app.js');
    const { loadConfig } = await import('../../src/config.js');
    const logsFile = join(dir, 'logs');
    writeFileSync(logsFile, `log ${log.vkey}\n`);
    const signingKey = loadSigningKey({ dataDir: join(dir, 'data') }).source;
    const config = (env: Record<string, string>) =>
      loadConfig({
        PORT: '0',
        DATA_DIR: join(dir, 'data'),
        LOG_LEVEL: 'silent',
        SIGNING_KEY_FILE: signingKey,
        WITNESSED_LOGS_FILE: logsFile,
        ...env,
      });
    await expect(startChainlog(config({ WITNESS_KEY_FILE: signingKey }))).rejects.toThrow(
      /holds the log's signing key; the witness needs a key of its own/,
    );
    writeFileSync(logsFile, 'log\n');
    await expect(startChainlog(config({}))).rejects.toThrow(/WITNESSED_LOGS_FILE .*line 1: want "log <vkey> \[<url>\]"/);
    // Neither left the data directory locked.
    writeFileSync(logsFile, `log ${log.vkey}\n`);
    const app = await startChainlog(config({ AUTH: 'off' }));
    try {
      expect(app.witness?.origins).toEqual([log.origin]);
      expect(await witnessKeyServed(app.url)).toBe(app.witness!.verifierKey);
      expect(app.witness!.verifierKey).toMatch(/^chainlog\.local\/witness\+[0-9a-f]{8}\+/);
    } finally {
      await app.close();
    }
  });

  it('without WITNESSED_LOGS_FILE has no witness: serverInfo.witnessVerifierKey is null and the endpoint is not there', async () => {
    const { startChainlog } = await import('../../src/app.js');
    const { loadConfig } = await import('../../src/config.js');
    const app = await startChainlog(loadConfig({ PORT: '0', DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'silent', AUTH: 'off' }));
    try {
      expect(app.witness).toBeNull();
      expect(await witnessKeyServed(app.url)).toBeNull();
      const res = await fetch(`${app.url}/witness/add-checkpoint`, { method: 'POST', body: log.body(0, 1) });
      expect(res.status).toBe(404);
    } finally {
      await app.close();
    }
  });
});

async function witnessKeyServed(url: string): Promise<string | null> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ serverInfo { witnessVerifierKey } }' }),
  });
  return ((await res.json()) as { data: { serverInfo: { witnessVerifierKey: string | null } } }).data.serverInfo
    .witnessVerifierKey;
}

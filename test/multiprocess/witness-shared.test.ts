// Two chainlog processes sharing one MongoDB database (FerretDB here) witness the same log: the
// compare-and-swap on the witness state holds across processes, so of concurrent add-checkpoint
// requests with the same old size spread over both, exactly one is cosigned, round after round, and
// every cosignature verifies under the one witness key they share. A process with another witness key
// does not start on that database, nor on a copy of a SQLite data directory: the store records the
// witness's verifier key at the first start.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { MongoStorage } from '../../src/storage/mongodb/mongo-storage.js';
import { MongoWitnessStore } from '../../src/storage/mongodb/witness-store.js';
import type { StoredWitnessState, WitnessState } from '../../src/storage/witness-store.js';
import { parseWitnessVerifierKey, verifyCosignatureLine, witnessVerifierKeyString } from '../../src/core/witness/index.js';
import { startChainlog } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';
import { freshDbName, startMongoTestServer } from '../support/mongo-test-server.js';
import { startService, type RunningService } from '../support/service.js';
import { addCheckpoint, TestLog } from '../support/witness-log.js';

const log = new TestLog('example.com/shared', { size: 200 });
let mongo: Awaited<ReturnType<typeof startMongoTestServer>>;
let dir: string;
let env: Record<string, string>;
const services: RunningService[] = [];

beforeAll(async () => {
  mongo = await startMongoTestServer();
  dir = mkdtempSync(join(tmpdir(), 'chainlog-witness-shared-'));
  const logsFile = join(dir, 'logs');
  writeFileSync(logsFile, `log ${log.vkey}\n`);
  // Processes sharing a database sign with one key; they witness with one key too.
  const keyFile = loadSigningKey({ dataDir: dir }).source;
  const witnessKeyFile = loadSigningKey({ dataDir: dir, fileName: 'witness-key.pem' }).source;
  env = {
    MONGODB_URI: mongo.uri,
    MONGODB_DB: freshDbName(),
    SIGNING_KEY_FILE: keyFile,
    WITNESS_KEY_FILE: witnessKeyFile,
    WITNESSED_LOGS_FILE: logsFile,
    WITNESS_RATE_LIMIT_PER_SEC: '0',
  };
  for (let i = 0; i < 2; i++) services.push(await startService({ env }));
}, 180_000);

afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()));
  await mongo?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('two processes witnessing one log through one database', () => {
  it('cosign exactly one of each round of racing submissions, and always from the state the other left', async () => {
    const keys = await Promise.all(
      services.map(
        async (s) => (await s.gql('{ serverInfo { witnessVerifierKey } }')).data.serverInfo.witnessVerifierKey as string,
      ),
    );
    expect(keys[0]).toBe(keys[1]);
    const verifier = parseWitnessVerifierKey(keys[0]!);

    let latest = 0;
    // More rounds than the versions the store keeps, so old ones are pruned on the way.
    for (let round = 0; round < 20; round++) {
      const sizes = Array.from({ length: 6 }, (_, i) => latest + 1 + i);
      const answers = await Promise.all(sizes.map((size, i) => addCheckpoint(services[i % 2]!.url, log.body(latest, size))));
      const won = answers.flatMap((a, i) => (a.status === 200 ? [{ size: sizes[i]!, body: a.body }] : []));
      expect(won, JSON.stringify(answers)).toHaveLength(1);
      const winner = won[0]!;
      for (const a of answers.filter((x) => x.status !== 200)) expect(a).toMatchObject({ status: 409, body: `${winner.size}\n` });
      const note = log.note(winner.size);
      expect(verifyCosignatureLine(winner.body, note.slice(0, note.lastIndexOf('\n\n') + 1), verifier)).not.toBeNull();
      latest = winner.size;
    }
    // Both processes now answer from the same state.
    for (const s of services)
      expect(await addCheckpoint(s.url, log.body(0, latest))).toMatchObject({ status: 409, body: `${latest}\n` });
  });
});

/** A witness state of `origin` at `size`, its other fields made from the size. */
function stateOf(origin: string, size: number): WitnessState {
  return { origin, size, rootHash: size.toString(16).padStart(64, '0'), note: `n${size}`, updatedAt: size };
}

describe('the MongoDB witness store', () => {
  it('never lets a writer that read a long-pruned version win the swap', async () => {
    const dbName = freshDbName();
    const storage = new MongoStorage({ uri: mongo.uri, dbName });
    await storage.init();
    try {
      const store = storage.witness;
      const origin = 'example.com/pruned';
      const state = (size: number) => stateOf(origin, size);
      let stale: StoredWitnessState | null = null;
      for (let size = 1; size <= 40; size++) {
        const current = await store.latest(origin);
        if (size === 3) stale = current;
        expect(await store.compareAndSwap(current, state(size))).toBe(true);
      }
      // The version after the stale one was pruned: its number is free again, yet the swap is lost.
      const client = await new MongoClient(mongo.uri).connect();
      const versions = () => client.db(dbName).collection('witness_checkpoints').distinct('version', { origin });
      try {
        expect(await versions()).not.toContain(3);
        expect(await store.compareAndSwap(stale, state(99))).toBe(false);
        expect(await versions()).toContain(3);
      } finally {
        await client.close();
      }
      expect(await store.latest(origin)).toMatchObject({ size: 40 });
      // A swap from a state that is no longer the latest loses too, pruned or not.
      const latest = (await store.latest(origin))!;
      expect(await store.compareAndSwap(latest, state(41))).toBe(true);
      expect(await store.compareAndSwap(latest, state(42))).toBe(false);
      expect(await store.compareAndSwap(null, state(43))).toBe(false);
    } finally {
      await storage.close();
    }
  });
});

describe('the MongoDB witness store, an insert retried after it had landed', () => {
  it("takes the duplicate of its own version for its win, and another writer's for a loss", async () => {
    const dbName = freshDbName();
    const storage = new MongoStorage({ uri: mongo.uri, dbName });
    await storage.init();
    const client = await new MongoClient(mongo.uri).connect();
    try {
      // Every insert into the states runs twice, as a driver retry after a lost reply would: the second
      // fails with a duplicate key on the writer's own document.
      const db = client.db(dbName);
      const retried = new Proxy(db, {
        get(target, key) {
          if (key !== 'collection') return Reflect.get(target, key, target) as unknown;
          return (...args: Parameters<typeof db.collection>) => {
            const collection = target.collection(...args);
            return new Proxy(collection, {
              get(c, k) {
                if (k !== 'insertOne') return Reflect.get(c, k, c) as unknown;
                return async (...a: Parameters<typeof collection.insertOne>) => {
                  await c.insertOne(...a);
                  return c.insertOne(...a);
                };
              },
            });
          };
        },
      });
      const store = new MongoWitnessStore(retried, () => ({ w: 1 }));
      const origin = 'example.com/retried';
      const state = (size: number) => stateOf(origin, size);
      expect(await store.compareAndSwap(null, state(1))).toBe(true);
      const first = (await store.latest(origin))!;
      expect(first).toMatchObject({ size: 1 });
      expect(await store.compareAndSwap(first, state(2))).toBe(true);
      expect(await store.latest(origin)).toMatchObject({ size: 2 });
      // The version another writer took is still a loss, whoever retries.
      expect(await store.compareAndSwap(first, state(3))).toBe(false);
      expect(await store.latest(origin)).toMatchObject({ size: 2 });
      expect(await db.collection('witness_checkpoints').countDocuments({ origin })).toBe(2);
    } finally {
      await client.close();
      await storage.close();
    }
  });
});

/** A witness key of its own in `dir` (another file than the shared one) and the vkey it makes under `name`. */
function otherWitnessKey(name: string): { file: string; vkey: string } {
  const other = loadSigningKey({ dataDir: mkdtempSync(join(dir, 'other-')), fileName: 'witness-key.pem' });
  return { file: other.source, vkey: witnessVerifierKeyString(name, other.publicKey) };
}

describe('one witness key per database', () => {
  it('MongoDB: a process with another WITNESS_KEY_FILE does not start, naming the file and both keys', async () => {
    const shared = (await services[0]!.gql('{ serverInfo { witnessVerifierKey } }')).data.serverInfo.witnessVerifierKey as string;
    const other = otherWitnessKey(shared.split('+')[0]!);
    const refused = startService({ env: { ...env, WITNESS_KEY_FILE: other.file } });
    await expect(refused).rejects.toThrow(`WITNESS_KEY_FILE ${other.file}: this database's witness is ${shared}`);
    await expect(refused).rejects.toThrow(`make ${other.vkey}`);
    // The running processes keep cosigning as the one witness.
    const served = await Promise.all(
      services.map(async (s) => (await s.gql('{ serverInfo { witnessVerifierKey } }')).data.serverInfo.witnessVerifierKey),
    );
    expect(served).toEqual([shared, shared]);
  });

  it('both engines: concurrent claims agree on the first key; a later claim gets it back', async () => {
    const dbName = freshDbName();
    const mongoStores = [new MongoStorage({ uri: mongo.uri, dbName }), new MongoStorage({ uri: mongo.uri, dbName })];
    const sqlite = new SqliteStorage({ path: join(mkdtempSync(join(dir, 'sqlite-')), 'chainlog.db') });
    for (const st of [...mongoStores, sqlite]) await st.init();
    try {
      const claims = await Promise.all([
        mongoStores[0]!.witness.claimVerifierKey('w+00000001+a'),
        mongoStores[1]!.witness.claimVerifierKey('w+00000002+b'),
      ]);
      expect(claims[0]).toBe(claims[1]);
      expect(['w+00000001+a', 'w+00000002+b']).toContain(claims[0]);
      expect(await mongoStores[0]!.witness.claimVerifierKey('w+00000003+c')).toBe(claims[0]);
      expect(await sqlite.witness.claimVerifierKey('w+00000001+a')).toBe('w+00000001+a');
      expect(await sqlite.witness.claimVerifierKey('w+00000002+b')).toBe('w+00000001+a');
    } finally {
      for (const st of [...mongoStores, sqlite]) await st.close();
    }
  });

  it('SQLite: a copy of the data directory does not start with another WITNESS_KEY_FILE', async () => {
    const original = mkdtempSync(join(dir, 'sqlite-data-'));
    const config = (dataDir: string, witnessKeyFile?: string) =>
      loadConfig({
        PORT: '0',
        DATA_DIR: dataDir,
        LOG_LEVEL: 'silent',
        AUTH: 'off',
        WITNESSED_LOGS_FILE: join(dir, 'logs'),
        ...(witnessKeyFile && { WITNESS_KEY_FILE: witnessKeyFile }),
      });
    const first = await startChainlog(config(original));
    const vkey = first.witness!.verifierKey;
    await first.close();
    const copy = mkdtempSync(join(dir, 'sqlite-copy-'));
    cpSync(original, copy, { recursive: true });
    const other = otherWitnessKey(vkey.split('+')[0]!);
    await expect(startChainlog(config(copy, other.file))).rejects.toThrow(
      `WITNESS_KEY_FILE ${other.file}: this database's witness is ${vkey}, this process's key and WITNESS_NAME make ${other.vkey}`,
    );
    // The witness's own key (generated into the copied DATA_DIR) still starts it: the refusal left nothing locked.
    const again = await startChainlog(config(copy));
    try {
      expect(again.witness!.verifierKey).toBe(vkey);
    } finally {
      await again.close();
    }
  });
});

// Two chainlog processes sharing one MongoDB database (FerretDB here) witness the same log: the
// compare-and-swap on the witness state holds across processes, so of concurrent add-checkpoint
// requests with the same old size spread over both, exactly one is cosigned, round after round, and
// every cosignature verifies under the one witness key they share.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { MongoStorage } from '../../src/storage/mongodb/mongo-storage.js';
import type { StoredWitnessState } from '../../src/storage/witness-store.js';
import { parseWitnessVerifierKey, verifyCosignatureLine } from '../../src/core/witness/index.js';
import { freshDbName, startMongoTestServer } from '../support/mongo-test-server.js';
import { startService, type RunningService } from '../support/service.js';
import { addCheckpoint, TestLog } from '../support/witness-log.js';

const log = new TestLog('example.com/shared', { size: 200 });
let mongo: Awaited<ReturnType<typeof startMongoTestServer>>;
let dir: string;
const services: RunningService[] = [];

beforeAll(async () => {
  mongo = await startMongoTestServer();
  dir = mkdtempSync(join(tmpdir(), 'chainlog-witness-shared-'));
  const logsFile = join(dir, 'logs');
  writeFileSync(logsFile, `log ${log.vkey}\n`);
  // Processes sharing a database sign with one key; they witness with one key too.
  const keyFile = loadSigningKey({ dataDir: dir }).source;
  const witnessKeyFile = loadSigningKey({ dataDir: dir, fileName: 'witness-key.pem' }).source;
  const env = {
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

describe('the MongoDB witness store', () => {
  it('never lets a writer that read a long-pruned version win the swap', async () => {
    const dbName = freshDbName();
    const storage = new MongoStorage({ uri: mongo.uri, dbName });
    await storage.init();
    try {
      const store = storage.witness;
      const origin = 'example.com/pruned';
      const state = (size: number) => ({
        origin,
        size,
        rootHash: size.toString(16).padStart(64, '0'),
        note: `n${size}`,
        updatedAt: size,
      });
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

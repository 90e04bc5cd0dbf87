// Coordination of the API processes sharing one MongoDB database, kept apart from the documents
// they store: the per-log sequencer leases and the publisher lease (leases.ts, used by the commit
// gate and the publisher), and the one verifier key every process must sign with.
//
// Contract: coordination is for throughput only. Nothing here decides whether an append commits or
// which positions it takes (the claim protocol in batch-log.ts does, by one unique insert), so a
// stale, doubled or skipped lease costs a position conflict and a retry, never an event. The
// verifier key is recorded by the first process to insert it (a unique `_id`), never overwritten.
import type { Db, WriteConcernSettings } from 'mongodb';
import type { Coordination } from '../types.js';
import { isDuplicateKey, type MongoCollections } from './collections.js';
import { MongoLeaseStore } from './leases.js';
import { reportUnreachableFrom } from './time-limits.js';

interface MetaDoc {
  _id: string;
  value: string;
}

/** Indexes of the coordination's collections; idempotent, run at every start. */
export async function ensureCoordinationIndexes(db: Db): Promise<void> {
  await MongoLeaseStore.ensureIndexes(db);
}

/** The coordination of processes sharing `db`; `now` is the clock of leases (nothing else reads one). */
export function mongoCoordination(
  db: Db,
  collections: MongoCollections,
  writeConcern: WriteConcernSettings,
  now?: () => number,
): Coordination {
  const meta = collections.collection<MetaDoc>('meta');
  const leases = new MongoLeaseStore(db, writeConcern, now);
  // The lease gate runs inside appends: a database out of reach fails them as StorageUnavailableError.
  reportUnreachableFrom<MongoLeaseStore>(leases, ['tryAcquire', 'renew', 'release', 'request', 'waitingFor', 'holder']);
  return {
    leases,
    async claimVerifierKey(verifierKey: string): Promise<string> {
      try {
        await meta.insertOne({ _id: 'verifierKey', value: verifierKey });
        return verifierKey;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
      const doc = await meta.findOne({ _id: 'verifierKey' });
      return doc!.value;
    },
  };
}

// WitnessStore on MongoDB: collection `witness_checkpoints` holds each origin's states as numbered
// versions, _id "<version> <origin>"; collection `witness_identity` holds the witness's verifier key,
// one document with _id "witness".
//
// A compare-and-swap inserts the next version: the unique _id makes exactly one winner per version
// across every process sharing the database, with no reliance on an atomic conditional update
// (FerretDB's are not atomic; see leases.ts). The newest KEEP_VERSIONS versions of an origin are kept.
// An insert can win a version number pruned long ago only when newer versions exist; each version
// records its predecessor's nonce, so the winner confirms that the next version, if any, was built on
// its own: otherwise it reports the swap as lost (never a false win). A duplicate _id whose nonce is
// the writer's own is its insert, retried after it had landed: a win, never a false loss.
import { randomUUID } from 'node:crypto';
import type { Collection, Db, WriteConcernSettings } from 'mongodb';
import { isDuplicateKey } from './collections.js';
import type { StoredWitnessState, WitnessState, WitnessStore } from '../witness-store.js';

interface StateDoc {
  _id: string;
  origin: string;
  version: number;
  nonce: string;
  /** The nonce of the version this one replaced (null for version 1). */
  prev: string | null;
  size: number;
  rootHash: string;
  note: string;
  updatedAt: number;
}

interface IdentityDoc {
  _id: 'witness';
  verifierKey: string;
}

export const WITNESS_COLLECTIONS = { checkpoints: 'witness_checkpoints', identity: 'witness_identity' } as const;
/** Versions of an origin kept; older ones are deleted now and then. */
const KEEP_VERSIONS = 16;

const revisionOf = (d: Pick<StateDoc, 'version' | 'nonce'>) => `${d.version}:${d.nonce}`;

function parseRevision(revision: string): { version: number; nonce: string } {
  const colon = revision.indexOf(':');
  const version = Number(revision.slice(0, colon));
  if (colon < 0 || !Number.isSafeInteger(version) || version < 1) throw new Error(`not a MongoDB witness revision: ${revision}`);
  return { version, nonce: revision.slice(colon + 1) };
}

export class MongoWitnessStore implements WitnessStore {
  /** `writeConcern` is asked for on every use: the engine knows it only after its init(). */
  constructor(
    private readonly db: Db,
    private readonly writeConcern: () => WriteConcernSettings,
  ) {}

  private get states(): Collection<StateDoc> {
    return this.db.collection<StateDoc>(WITNESS_COLLECTIONS.checkpoints, { writeConcern: this.writeConcern() });
  }

  async init(): Promise<void> {
    // One index per call (FerretDB; see schema.ts).
    await this.states.createIndex({ origin: 1, version: -1 }, { name: 'by_origin_version' });
  }

  async latest(origin: string): Promise<StoredWitnessState | null> {
    const [d] = await this.states.find({ origin }).sort({ version: -1 }).limit(1).toArray();
    return d
      ? { origin: d.origin, size: d.size, rootHash: d.rootHash, note: d.note, updatedAt: d.updatedAt, revision: revisionOf(d) }
      : null;
  }

  async compareAndSwap(expected: StoredWitnessState | null, next: WitnessState): Promise<boolean> {
    const prev = expected && parseRevision(expected.revision);
    const version = (prev?.version ?? 0) + 1;
    const nonce = randomUUID();
    try {
      await this.states.insertOne({
        _id: `${version} ${next.origin}`,
        origin: next.origin,
        version,
        nonce,
        prev: prev?.nonce ?? null,
        size: next.size,
        rootHash: next.rootHash,
        note: next.note,
        updatedAt: next.updatedAt,
      });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      // Another writer took the version first, unless the version is ours: an insert the driver
      // retried after a lost reply had landed the first time (the nonce is this call's alone).
      const holder = await this.states.findOne({ _id: `${version} ${next.origin}` }, { projection: { nonce: 1 } });
      if (holder?.nonce !== nonce) return false;
    }
    const [newer] = await this.states
      .find({ origin: next.origin, version: { $gt: version } })
      .sort({ version: 1 })
      .limit(1)
      .toArray();
    if (newer && !(newer.version === version + 1 && newer.prev === nonce)) return false;
    if (version % KEEP_VERSIONS === 0)
      await this.states.deleteMany({ origin: next.origin, version: { $lte: version - KEEP_VERSIONS } });
    return true;
  }

  async claimVerifierKey(verifierKey: string): Promise<string> {
    const identity = this.db.collection<IdentityDoc>(WITNESS_COLLECTIONS.identity, { writeConcern: this.writeConcern() });
    // The unique _id makes the first insert the only one, across every process sharing the database.
    try {
      await identity.insertOne({ _id: 'witness', verifierKey });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
    const recorded = await identity.findOne({ _id: 'witness' });
    if (!recorded) throw new Error(`the witness's verifier key is missing from ${WITNESS_COLLECTIONS.identity} after its insert`);
    return recorded.verifierKey;
  }
}

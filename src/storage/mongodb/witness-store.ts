// WitnessStore on MongoDB: collection `witness_checkpoints` (_id = origin, one document per log) and
// `witness_evidence` (_id = the evidence id). A compare-and-swap is one single-document conditional
// update, or an insert under the unique _id: atomic across every process sharing the database.
import { MongoServerError, type Collection, type Db, type WriteConcernSettings } from 'mongodb';
import type { WitnessEvidence, WitnessState, WitnessStore } from '../witness-store.js';

interface StateDoc {
  _id: string;
  size: number;
  rootHash: string;
  note: string;
  updatedAt: number;
}

type EvidenceDoc = Omit<WitnessEvidence, 'id'> & { _id: string };

export const WITNESS_COLLECTIONS = { checkpoints: 'witness_checkpoints', evidence: 'witness_evidence' } as const;

const isDuplicateKey = (err: unknown) => err instanceof MongoServerError && err.code === 11000;

export class MongoWitnessStore implements WitnessStore {
  /** `writeConcern` is asked for on every use: the engine knows it only after its init(). */
  constructor(
    private readonly db: Db,
    private readonly writeConcern: () => WriteConcernSettings,
  ) {}

  private get states(): Collection<StateDoc> {
    return this.db.collection<StateDoc>(WITNESS_COLLECTIONS.checkpoints, { writeConcern: this.writeConcern() });
  }
  private get evidence(): Collection<EvidenceDoc> {
    return this.db.collection<EvidenceDoc>(WITNESS_COLLECTIONS.evidence, { writeConcern: this.writeConcern() });
  }

  async init(): Promise<void> {
    await this.evidence.createIndex({ origin: 1, recordedAt: 1 }, { name: 'by_origin' });
  }

  async latest(origin: string): Promise<WitnessState | null> {
    const d = await this.states.findOne({ _id: origin });
    return d ? { origin: d._id, size: d.size, rootHash: d.rootHash, note: d.note, updatedAt: d.updatedAt } : null;
  }

  async compareAndSwap(expected: Pick<WitnessState, 'size' | 'rootHash'> | null, next: WitnessState): Promise<boolean> {
    const fields = { size: next.size, rootHash: next.rootHash, note: next.note, updatedAt: next.updatedAt };
    if (expected === null) {
      try {
        await this.states.insertOne({ _id: next.origin, ...fields });
        return true;
      } catch (err) {
        if (isDuplicateKey(err)) return false;
        throw err;
      }
    }
    const result = await this.states.updateOne({ _id: next.origin, size: expected.size, rootHash: expected.rootHash }, { $set: fields });
    return result.matchedCount === 1;
  }

  async recordEvidence(e: WitnessEvidence): Promise<void> {
    const { id, ...rest } = e;
    try {
      await this.evidence.insertOne({ _id: id, ...rest });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
  }

  async listEvidence(origin?: string): Promise<WitnessEvidence[]> {
    const docs = await this.evidence
      .find(origin === undefined ? {} : { origin })
      .sort({ recordedAt: 1, _id: 1 })
      .toArray();
    return docs.map(({ _id, ...rest }) => ({ id: _id, ...rest }));
  }
}

// InconsistencyStore on MongoDB: collection `inconsistencies`, _id = the evidence id. An insert that
// meets an existing _id keeps the stored record (duplicate key), so a record is never replaced.
import type { Collection, Db, Filter, WriteConcernSettings } from 'mongodb';
import { isDuplicateKey } from './collections.js';
import type { InconsistencyQuery, InconsistencyRecord, InconsistencyStore } from '../inconsistency-store.js';

type Doc = Omit<InconsistencyRecord, 'id'> & { _id: string };

export const INCONSISTENCY_COLLECTION = 'inconsistencies';

export class MongoInconsistencyStore implements InconsistencyStore {
  /** `writeConcern` is asked for on every use: the engine knows it only after its init(). */
  constructor(
    private readonly db: Db,
    private readonly writeConcern: () => WriteConcernSettings,
  ) {}

  private get docs(): Collection<Doc> {
    return this.db.collection<Doc>(INCONSISTENCY_COLLECTION, { writeConcern: this.writeConcern() });
  }

  async init(): Promise<void> {
    // One index per call (FerretDB; see schema.ts).
    await this.docs.createIndex({ detectedAt: -1, _id: -1 }, { name: 'by_time' });
    await this.docs.createIndex({ origin: 1, detectedAt: -1, _id: -1 }, { name: 'by_origin' });
    await this.docs.createIndex({ sourceAppId: 1, detectedAt: -1, _id: -1 }, { name: 'by_app' });
  }

  async record(r: InconsistencyRecord): Promise<boolean> {
    const { id, ...rest } = r;
    try {
      await this.docs.insertOne({ _id: id, ...rest });
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  async list(q: InconsistencyQuery): Promise<InconsistencyRecord[]> {
    const filter: Filter<Doc> = {};
    if (q.origin !== undefined) filter.origin = q.origin;
    if (q.sourceAppIds) filter.sourceAppId = { $in: [...q.sourceAppIds] };
    if (q.after) {
      filter.$or = [{ detectedAt: { $lt: q.after.detectedAt } }, { detectedAt: q.after.detectedAt, _id: { $lt: q.after.id } }];
    }
    const docs = await this.docs.find(filter).sort({ detectedAt: -1, _id: -1 }).limit(q.limit).toArray();
    return docs.map(({ _id, ...rest }) => ({ id: _id, ...rest }));
  }
}

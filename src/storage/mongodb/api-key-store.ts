// ApiKeyStore on MongoDB: collection `api_keys`, _id = key id, unique index on the secret hash.
import type { Collection, Db, WriteConcernSettings } from 'mongodb';
import { isDuplicateKey } from './collections.js';
import { ApiKeyConflictError, type ApiKeyInfo, type ApiKeyStore, type NewApiKey } from '../api-key-store.js';

interface ApiKeyDoc {
  _id: string;
  secretHash: string;
  role: ApiKeyInfo['role'];
  sourceAppIds: string[] | null;
  name: string | null;
  createdAt: number;
  /** Absent on keys stored before the creator was recorded. */
  createdBy?: string | null;
  revokedAt: number | null;
}

export const API_KEYS_COLLECTION = 'api_keys';

const PROJECTION = { secretHash: 0 } as const;

const fromDoc = (d: Omit<ApiKeyDoc, 'secretHash'>): ApiKeyInfo => ({
  id: d._id,
  role: d.role,
  sourceAppIds: d.sourceAppIds ?? null,
  name: d.name ?? null,
  createdAt: d.createdAt,
  createdBy: d.createdBy ?? null,
  revokedAt: d.revokedAt ?? null,
});

export class MongoApiKeyStore implements ApiKeyStore {
  /** `writeConcern` is asked for on every use: the engine knows it only after its init(). */
  constructor(
    private readonly db: Db,
    private readonly writeConcern: () => WriteConcernSettings,
  ) {}

  private get keys(): Collection<ApiKeyDoc> {
    return this.db.collection<ApiKeyDoc>(API_KEYS_COLLECTION, { writeConcern: this.writeConcern() });
  }

  async init(): Promise<void> {
    // One index per call (FerretDB; see schema.ts).
    await this.keys.createIndex({ secretHash: 1 }, { name: 'secret_hash', unique: true });
    await this.keys.createIndex({ createdAt: 1, _id: 1 }, { name: 'created' });
  }

  async create(key: NewApiKey): Promise<ApiKeyInfo> {
    const doc: ApiKeyDoc = {
      _id: key.id,
      secretHash: key.secretHash,
      role: key.role,
      sourceAppIds: key.sourceAppIds && [...key.sourceAppIds],
      name: key.name,
      createdAt: key.createdAt,
      createdBy: key.createdBy,
      revokedAt: null,
    };
    try {
      await this.keys.insertOne(doc);
    } catch (err) {
      if (isDuplicateKey(err)) throw new ApiKeyConflictError('an API key with that id or secret exists');
      throw err;
    }
    return fromDoc(doc);
  }

  async findBySecretHash(secretHash: string): Promise<ApiKeyInfo | null> {
    const doc = await this.keys.findOne({ secretHash }, { projection: PROJECTION });
    return doc ? fromDoc(doc) : null;
  }

  async list(options: { includeRevoked?: boolean } = {}): Promise<ApiKeyInfo[]> {
    const filter = options.includeRevoked ? {} : { revokedAt: null };
    const docs = await this.keys.find(filter, { projection: PROJECTION }).sort({ createdAt: 1, _id: 1 }).toArray();
    return docs.map(fromDoc);
  }

  async revoke(id: string, at: number): Promise<ApiKeyInfo | null> {
    await this.keys.updateOne({ _id: id, revokedAt: null }, { $set: { revokedAt: at } });
    const doc = await this.keys.findOne({ _id: id }, { projection: PROJECTION });
    return doc ? fromDoc(doc) : null;
  }
}

// Leases for API processes sharing one database. Acquisition inserts the next fence's document:
// the unique _id makes exactly one winner per fence, with no reliance on atomic read-modify-write
// (FerretDB's findAndModify is not atomic). A lease is the newest fence's document, unless released
// or expired.
import { MongoServerError, type Collection, type Db, type WriteConcernSettings } from 'mongodb';
import type { Lease, LeaseHolder, LeaseStore } from '../types.js';

interface LeaseDoc {
  _id: string;
  name: string;
  fence: number;
  owner: string;
  expiresAt: number;
  released: boolean;
  /** Where the other processes reach the owner (ADVERTISE_URL), if it said. */
  address?: string;
}

interface LeaseRequestDoc {
  _id: string;
  owner: string;
  /** The newest fence of the lease when the owner asked: the turn it waits to follow. */
  fence: number;
}

export const LEASES = 'leases';
export const LEASE_REQUESTS = 'lease_requests';
/** Older fences than this many behind the newest are deleted now and then. */
const KEEP_FENCES = 16;

const isDuplicateKey = (err: unknown) => err instanceof MongoServerError && err.code === 11000;

export class MongoLeaseStore implements LeaseStore {
  private readonly leases: Collection<LeaseDoc>;
  private readonly requests: Collection<LeaseRequestDoc>;

  constructor(
    db: Db,
    writeConcern: WriteConcernSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.leases = db.collection<LeaseDoc>(LEASES, { writeConcern });
    this.requests = db.collection<LeaseRequestDoc>(LEASE_REQUESTS, { writeConcern });
  }

  static async ensureIndexes(db: Db): Promise<void> {
    const existing: Array<{ name?: string }> = await db
      .collection(LEASES)
      .listIndexes()
      .toArray()
      .catch(() => []);
    if (!existing.some((i) => i.name === 'name_fence')) {
      await db.collection(LEASES).createIndexes([{ key: { name: 1, fence: -1 }, name: 'name_fence' }]);
    }
  }

  async tryAcquire(name: string, owner: string, ttlMs: number, address?: string): Promise<Lease | null> {
    const current = await this.newest(name);
    const now = this.now();
    if (current && !current.released && current.expiresAt > now) {
      if (current.owner !== owner) return null;
      const lease = toLease(current);
      return (await this.renew(lease, ttlMs)) ? { ...lease, expiresAt: now + ttlMs } : null;
    }
    const fence = (current?.fence ?? 0) + 1;
    try {
      await this.leases.insertOne({
        _id: `${name}#${fence}`,
        name,
        fence,
        owner,
        expiresAt: now + ttlMs,
        released: false,
        ...(address !== undefined && { address }),
      });
    } catch (err) {
      if (isDuplicateKey(err)) return null; // another process took this fence first
      throw err;
    }
    if (fence % KEEP_FENCES === 0) await this.leases.deleteMany({ name, fence: { $lt: fence - KEEP_FENCES } });
    return { name, owner, fence, expiresAt: now + ttlMs };
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    const [updated, newer] = await Promise.all([
      this.leases.updateOne(
        { _id: `${lease.name}#${lease.fence}`, owner: lease.owner, released: false },
        { $set: { expiresAt: this.now() + ttlMs } },
      ),
      this.leases.findOne({ name: lease.name, fence: { $gt: lease.fence } }, { projection: { _id: 1 } }),
    ]);
    return updated.matchedCount === 1 && newer === null;
  }

  async release(lease: Lease): Promise<void> {
    await this.leases.updateOne({ _id: `${lease.name}#${lease.fence}`, owner: lease.owner }, { $set: { released: true } });
  }

  async request(name: string, owner: string): Promise<void> {
    const fence = (await this.newest(name))?.fence ?? 0;
    try {
      // A lost update (FerretDB) keeps an older request: the waiting owner asks again on its next try.
      await this.requests.updateOne({ _id: name }, { $set: { owner, fence } }, { upsert: true });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err; // two first requests raced; either one says enough
    }
  }

  async waitingFor(names: string[], holder: string): Promise<Map<string, number>> {
    const asked = new Map<string, number>();
    if (names.length === 0) return asked;
    const docs = await this.requests.find({ _id: { $in: names }, owner: { $ne: holder } }).toArray();
    for (const d of docs) if (typeof d.fence === 'number') asked.set(d._id, d.fence);
    return asked;
  }

  async holder(name: string): Promise<LeaseHolder | null> {
    const doc = await this.newest(name);
    if (!doc) return null;
    return { ...toLease(doc), released: doc.released, ...(typeof doc.address === 'string' && { address: doc.address }) };
  }

  private async newest(name: string): Promise<LeaseDoc | null> {
    return this.leases.find({ name }, { sort: { fence: -1 }, limit: 1 }).next();
  }
}

function toLease(doc: LeaseDoc): Lease {
  return { name: doc.name, owner: doc.owner, fence: doc.fence, expiresAt: doc.expiresAt };
}

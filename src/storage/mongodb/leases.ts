// Leases for API processes sharing one database. Acquisition inserts the next fence's document:
// the unique _id makes exactly one winner per fence, with no reliance on atomic read-modify-write
// (FerretDB's findAndModify is not atomic). A lease is the newest fence's document, unless released
// or expired.
import type { Collection, Db, WriteConcernSettings } from 'mongodb';
import { isDuplicateKey, perDocumentErrors } from './collections.js';
import { Coalescer, type Waiter } from './coalesce.js';
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

interface Acquisition {
  name: string;
  owner: string;
  ttlMs: number;
  address: string | undefined;
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
/**
 * Updates per bulk of renewals: the test server holds every statement of an update command open
 * until the command ends, on a pool of 100 connections per database (docs/design/many-processes.md,
 * "The test server's deadlock"), as batch-log.ts's HINT_BULK.
 */
const RENEW_BULK = 16;

type Step = { kind: 'held' } | { kind: 'renew'; lease: Lease } | { kind: 'insert'; doc: LeaseDoc };

/**
 * What an acquisition does, given the lease's newest fence: nothing when another owner holds it, renew
 * when we do, otherwise insert the next fence (which wins or loses on its unique `_id`).
 */
function stepFor(current: LeaseDoc | null | undefined, { name, owner, ttlMs, address }: Acquisition, now: number): Step {
  if (current && !current.released && current.expiresAt > now) {
    return current.owner === owner ? { kind: 'renew', lease: toLease(current) } : { kind: 'held' };
  }
  const fence = (current?.fence ?? 0) + 1;
  const doc: LeaseDoc = {
    _id: `${name}#${fence}`,
    name,
    fence,
    owner,
    expiresAt: now + ttlMs,
    released: false,
    ...(address !== undefined && { address }),
  };
  return { kind: 'insert', doc };
}

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

  /** Acquisitions asked for in one turn (a commit gate entering many logs at once) go together: acquireMany. */
  private readonly acquisitions = new Coalescer<Acquisition, Lease | null>((waiters) => this.acquireMany(waiters));

  tryAcquire(name: string, owner: string, ttlMs: number, address?: string): Promise<Lease | null> {
    return this.acquisitions.get({ name, owner, ttlMs, address });
  }

  /**
   * One read of the newest fences of every lease asked for, then one unordered insert of the next
   * fence of each that is free: each insert still wins or loses on its own unique `_id`, and a lost
   * or failed one answers only its own waiter.
   */
  private async acquireMany(waiters: ReadonlyArray<Waiter<Acquisition, Lease | null>>): Promise<void> {
    const names = [...new Set(waiters.map((w) => w.key.name))];
    const docs = await this.leases
      .find(names.length === 1 ? { name: names[0]! } : { name: { $in: names } }, { sort: { name: 1, fence: -1 } })
      .toArray();
    const newest = new Map<string, LeaseDoc>();
    for (const d of docs) {
      const known = newest.get(d.name);
      if (!known || d.fence > known.fence) newest.set(d.name, d);
    }
    const now = this.now();
    const inserts: Array<{ waiter: Waiter<Acquisition, Lease | null>; doc: LeaseDoc }> = [];
    const asked = new Set<string>();
    /** Waiters served on their own, settled before the run ends. */
    const apart: Array<Promise<void>> = [];
    for (const w of waiters) {
      const { name } = w.key;
      if (asked.has(name)) {
        // Asked twice in one turn: the first ask takes the fence, this one is served on its own.
        apart.push(this.acquireOne(w.key).then(w.resolve, w.reject));
        continue;
      }
      asked.add(name);
      const step = stepFor(newest.get(name), w.key, now);
      if (step.kind === 'held') w.resolve(null);
      else if (step.kind === 'renew') apart.push(this.renewed(step.lease, w.key.ttlMs, now).then(w.resolve, w.reject));
      else inserts.push({ waiter: w, doc: step.doc });
    }
    await Promise.all([this.insertFences(inserts), ...apart]);
  }

  /** The next fences, in one unordered insert: each wins or loses on its own unique `_id`. */
  private async insertFences(inserts: Array<{ waiter: Waiter<Acquisition, Lease | null>; doc: LeaseDoc }>): Promise<void> {
    if (inserts.length === 0) return;
    let failed = new Map<number, unknown>();
    try {
      await this.leases.insertMany(
        inserts.map((i) => i.doc),
        { ordered: false },
      );
    } catch (err) {
      const perDoc = perDocumentErrors(err);
      // Anything but per-document failures (a lost connection, a write concern) leaves every insert in doubt.
      if (!perDoc) throw err;
      failed = new Map(perDoc.map((e) => [e.index, e.code === 11000 ? null : err]));
    }
    await Promise.all(
      inserts.map(async ({ waiter, doc }, i) => {
        if (failed.has(i)) {
          const err = failed.get(i);
          // A duplicate: another acquisition took this fence first.
          return err === null ? this.afterLostFence(waiter.key).then(waiter.resolve, waiter.reject) : waiter.reject(err);
        }
        await this.pruneFences(doc).then(() => waiter.resolve(toLease(doc)), waiter.reject);
      }),
    );
  }

  /** One acquisition on its own: read the newest fence, renew our own, or insert the next. */
  private async acquireOne(acquisition: Acquisition): Promise<Lease | null> {
    const current = await this.newest(acquisition.name);
    const now = this.now();
    const step = stepFor(current, acquisition, now);
    if (step.kind === 'held') return null;
    if (step.kind === 'renew') return this.renewed(step.lease, acquisition.ttlMs, now);
    try {
      await this.leases.insertOne(step.doc);
    } catch (err) {
      if (isDuplicateKey(err)) return this.afterLostFence(acquisition);
      throw err;
    }
    await this.pruneFences(step.doc);
    return toLease(step.doc);
  }

  /**
   * After an insert of the next fence lost on its `_id`: the lease, renewed, when the fence went to
   * this owner's other ask of the same lease (in this turn, or in one whose insert was in flight when
   * this one read); null when another owner took it. The fence's `_id` decided who holds it; this read
   * only tells the owner that it does.
   */
  private async afterLostFence(acquisition: Acquisition): Promise<Lease | null> {
    const current = await this.newest(acquisition.name);
    const now = this.now();
    const step = stepFor(current, acquisition, now);
    return step.kind === 'renew' ? this.renewed(step.lease, acquisition.ttlMs, now) : null;
  }

  /** Our own live lease renewed for `ttlMs` from `now`, or null when it was lost meanwhile. */
  private async renewed(lease: Lease, ttlMs: number, now: number): Promise<Lease | null> {
    return (await this.renew(lease, ttlMs)) ? { ...lease, expiresAt: now + ttlMs } : null;
  }

  /** Every KEEP_FENCES fences, the fences older than KEEP_FENCES behind the one just taken are deleted. */
  private async pruneFences(taken: LeaseDoc): Promise<void> {
    if (taken.fence % KEEP_FENCES === 0) {
      await this.leases.deleteMany({ name: taken.name, fence: { $lt: taken.fence - KEEP_FENCES } });
    }
  }

  /** Renewals asked for in one turn (a commit gate renewing the leases of many logs at once) go together: renewMany. */
  private readonly renewals = new Coalescer<{ lease: Lease; ttlMs: number }, boolean>((waiters) => this.renewMany(waiters));

  renew(lease: Lease, ttlMs: number): Promise<boolean> {
    return this.renewals.get({ lease, ttlMs });
  }

  /**
   * Several renewals: each lease's update by its fence's `_id` alone, in unordered bulks of
   * RENEW_BULK, then one read of the documents of their names. A lease is renewed when its document is
   * still ours and not released and no newer fence of its name exists: what renewOne's update count and
   * read tell, in two commands per bulk instead of two per lease. A fence document's owner never changes
   * and `released` only ever turns true, so a document ours and unreleased at the read was so at the
   * update, which moved its expiry when the bulk was applied whole. The update does not repeat those
   * conditions: a released fence whose expiry moves is still released (stepFor takes it as free), and
   * the test server finds a document by a filter of `_id` alone without reading every lease, where any
   * other field in the filter makes it read and decode the whole collection (on MongoDB both are one
   * lookup of `_id`). Its expiry is then not compared: another renewal of the same fence by this
   * process (asked twice in a turn, or in the next turn) may land after this one with an expiry computed
   * a moment earlier. In a bulk the server refused documents of, a renewal also needs its document to
   * carry at least its expiry. A bulk that failed as a whole rejects its waiters (each update may or may
   * not have been applied), as a failed update rejects renewOne.
   */
  private async renewMany(all: ReadonlyArray<Waiter<{ lease: Lease; ttlMs: number }, boolean>>): Promise<void> {
    // A fence asked for twice in one turn: the first ask goes in the bulk, the others on their own.
    const seen = new Set<string>();
    const waiters: Array<Waiter<{ lease: Lease; ttlMs: number }, boolean>> = [];
    const apart: Array<Promise<void>> = [];
    for (const w of all) {
      const id = `${w.key.lease.name}#${w.key.lease.fence}`;
      if (seen.has(id) || all.length === 1) apart.push(this.renewOne(w.key.lease, w.key.ttlMs).then(w.resolve, w.reject));
      else waiters.push(w);
      seen.add(id);
    }
    await Promise.all([this.renewBulk(waiters), ...apart]);
  }

  private async renewBulk(waiters: ReadonlyArray<Waiter<{ lease: Lease; ttlMs: number }, boolean>>): Promise<void> {
    if (waiters.length === 0) return;
    const now = this.now();
    const expiry = waiters.map((w) => now + w.key.ttlMs);
    const sent: number[] = [];
    // Renewals of a bulk the server refused documents of (a validator, say): the errors' indexes are
    // not to be trusted (the test server numbers them wrongly and skips the updates after the first
    // refusal), so each of these is renewed only if its document carries its expiry.
    const doubtful = new Set<number>();
    for (let i = 0; i < waiters.length; i += RENEW_BULK) {
      const slice = waiters.slice(i, i + RENEW_BULK);
      try {
        await this.leases.bulkWrite(
          slice.map(({ key: { lease } }, j) => ({
            updateOne: {
              filter: { _id: `${lease.name}#${lease.fence}` },
              update: { $set: { expiresAt: expiry[i + j]! } },
            },
          })),
          { ordered: false },
        );
      } catch (err) {
        if (!perDocumentErrors(err)) {
          for (const w of slice) w.reject(err);
          continue;
        }
        for (let j = 0; j < slice.length; j++) doubtful.add(i + j);
      }
      for (let j = 0; j < slice.length; j++) sent.push(i + j);
    }
    if (sent.length === 0) return;
    const names = [...new Set(sent.map((i) => waiters[i]!.key.lease.name))];
    const docs = await this.leases
      .find(names.length === 1 ? { name: names[0]! } : { name: { $in: names } }, {
        projection: { _id: 1, name: 1, fence: 1, owner: 1, released: 1, expiresAt: 1 },
      })
      .toArray();
    const byId = new Map(docs.map((d) => [d._id, d]));
    const newest = new Map<string, number>();
    for (const d of docs) newest.set(d.name, Math.max(newest.get(d.name) ?? 0, d.fence));
    for (const i of sent) {
      const { lease } = waiters[i]!.key;
      const doc = byId.get(`${lease.name}#${lease.fence}`);
      waiters[i]!.resolve(
        doc !== undefined &&
          doc.owner === lease.owner &&
          !doc.released &&
          newest.get(lease.name) === lease.fence &&
          (!doubtful.has(i) || doc.expiresAt >= expiry[i]!),
      );
    }
  }

  private async renewOne(lease: Lease, ttlMs: number): Promise<boolean> {
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

// The MongoDB engine: the storage interface over three parts, each with one job.
// - batch-log.ts, the claim protocol and commit horizon: which append commits at which global
//   commit number g (one unique insert decides it), deriving committed batches, and up to where a
//   reader may read without passing a commit still to come.
// - coordination.ts, the coordination of processes sharing the database (leases, the verifier key):
//   for throughput only, never deciding what commits.
// - collections.ts, document access: every collection with the deployment's read and write concerns.
// This file opens the database, and serves reads of events, tree nodes and checkpoints from the
// documents, first asking the batch log to derive what a read needs to be complete.
import { randomUUID } from 'node:crypto';
import { Binary, MongoClient, type Db } from 'mongodb';
import {
  MalformedEventError,
  MissingTreeNodeError,
  type EventFilter,
  type EventId,
  type EventQuery,
  type LogHead,
  type LogStorage,
  type CommittedPage,
  type Coordination,
  DEFAULT_READ_BUDGET_ROWS,
  LOG_STORAGE_CALLS,
  type EventPage,
  type NewEvent,
  type NodeId,
  type ReadCommittedOptions,
  decodeCommitted,
  type StoredCheckpoint,
  type StoredEvent,
  type TreeNode,
  type EventsWithText,
} from '../types.js';
import { appendCopiedEvents } from '../copied-events.js';
import { HASH_HEX_RE, storedLeafHash } from '../stored-event.js';
import { BatchLog, DEFAULT_MAX_APPEND_BYTES, type BatchLogHooks, type KnownHead } from './batch-log.js';
import { Coalescer, runsWithin, type Waiter } from './coalesce.js';
import { isDuplicateKey, MongoCollections, onlyDuplicates } from './collections.js';
import { ensureCoordinationIndexes, mongoCoordination } from './coordination.js';
import { detectDeployment, type Deployment } from './deployment.js';
import {
  binaryToBytes,
  bytesToBinary,
  checkpointNoteKey,
  collectionNames as C,
  checkpointProjection,
  type CheckpointDoc,
  type CheckpointNoteDoc,
  type EventDoc,
  eventProjection,
  fromCheckpointDoc,
  fromEventDoc,
  nodeKey,
  POS_PER_BATCH,
} from './documents.js';
import { committedIsIndexed, committedPlan, eventQueryPlan } from './event-query.js';
import { ensureSchema, refuseFormerLayout } from './schema.js';
import { DEFAULT_MONGODB_TIMEOUT_MS, isUnreachable, reportUnreachableFrom, timeLimitOptions } from './time-limits.js';
import { MongoApiKeyStore } from './api-key-store.js';
import { MongoWitnessStore } from './witness-store.js';
import { MongoInconsistencyStore } from './inconsistency-store.js';
import { checkpointMismatch, integrationGap, nodeHashMismatch } from '../integration-rules.js';

export { DEFAULT_MAX_APPEND_BYTES, MAX_EVENTS_PER_BATCH } from './batch-log.js';
export { DEFAULT_MONGODB_TIMEOUT_MS } from './time-limits.js';

/** Test-only: where a test holds an append to stage a pause or a crash. */
export type MongoStorageHooks = BatchLogHooks;

export interface MongoStorageOptions {
  uri: string;
  dbName: string;
  /** The byte budget of one append (appendBytes of its events); default DEFAULT_MAX_APPEND_BYTES. */
  maxAppendBytes?: number;
  hooks?: MongoStorageHooks;
  /** The clock of leases (for throughput only); nothing else of the engine reads a clock. */
  now?: () => number;
  /**
   * The time limit of each step of a database call (time-limits.ts); default DEFAULT_MONGODB_TIMEOUT_MS.
   * A call that runs into it rejects with StorageUnavailableError (an append in doubt with
   * AppendOutcomeUnknownError), and init() with an error naming the database.
   */
  timeoutMs?: number;
  /** Most events one readCommitted call examines beyond its matches (default DEFAULT_READ_BUDGET_ROWS). */
  readBudgetRows?: number;
  /** LogStorage.writeConcurrency (MONGODB_WRITE_CONCURRENCY); default by server, see writeConcurrency. */
  writeConcurrency?: number;
  /**
   * Test-only: the deployment to act as, instead of the one the server describes (a test server
   * that is a standalone stands in for a replica set, to see the concerns the engine then asks for).
   */
  deployment?: Deployment;
}

/** A connection string without its credentials, for messages. */
export function redactUri(uri: string): string {
  return uri.replace(/\/\/[^@/]*@/, '//***@');
}

/** Default writeConcurrency against FerretDB (measured: docs/performance.md, session 29) and against MongoDB. */
const FERRETDB_WRITE_CONCURRENCY = 4;
const MONGODB_WRITE_CONCURRENCY = 32;

/** Integrated sizes raised per bulk: well below the test server's pool of 100 connections (batch-log.ts, HINT_BULK). */
const INTEGRATED_BULK = 16;

/** Node ids one coalesced read asks for at most (a proof's are about 2 log2 n, a tile's 256). */
const NODE_READ_IDS = 1024;

/** Events one coalesced read of whole ranges asks for at most (a recovery's chunk of logs behind, a second or so of each). */
const RANGE_READ_EVENTS = 20_000;

/** Logs one read of getLatestCheckpoints asks for at most. */
const LATEST_READ_LOGS = 500;
/** Checkpoints per log a read of getLatestCheckpoints takes at most (one, or a few stored meanwhile) before it reads each alone. */
const LATEST_READ_SLACK = 4;

/** One LogStorage.integrate call, as integrateMany takes it. */
interface Integration {
  sourceAppId: string;
  fromSize: number;
  toSize: number;
  nodes: TreeNode[];
  checkpoint: StoredCheckpoint | undefined;
}

/**
 * The integrated document's fields an integration that grows the tree raises (with `$max`): sealed to 0
 * without a checkpoint, so that only documents stored before sealed sizes lack one.
 */
const integratedTo = (i: Integration) => ({ size: i.toSize, sealed: i.checkpoint?.treeSize ?? 0 });

/** A checkpoint's document as stored. */
const checkpointDoc = (c: StoredCheckpoint) => ({
  sourceAppId: c.sourceAppId,
  treeSize: c.treeSize,
  rootHash: c.rootHash,
  note: c.note,
  publishedAt: c.publishedAt,
});

/** Events per find/update of an erasure. */
const ERASE_SLICE = 100;
/** Versions of a checkpoint's note kept (replaceCheckpointNote): the older ones are pruned. */
const NOTE_VERSIONS_KEPT = 16;

export class MongoStorage implements LogStorage {
  private readonly client: MongoClient;
  private readonly db: Db;
  readonly apiKeys: MongoApiKeyStore;
  readonly witness: MongoWitnessStore;
  readonly inconsistencies: MongoInconsistencyStore;
  readonly maxAppendBytes: number;
  private parts: { c: MongoCollections; batchLog: BatchLog } | null = null;

  constructor(private readonly options: MongoStorageOptions) {
    this.client = new MongoClient(options.uri, timeLimitOptions(this.timeoutMs));
    this.db = this.client.db(options.dbName);
    this.apiKeys = new MongoApiKeyStore(this.db, () => this.c.deployment.writeConcern);
    this.witness = new MongoWitnessStore(this.db, () => this.c.deployment.writeConcern);
    this.inconsistencies = new MongoInconsistencyStore(this.db, () => this.c.deployment.writeConcern);
    this.maxAppendBytes = options.maxAppendBytes ?? DEFAULT_MAX_APPEND_BYTES;
    reportUnreachableFrom<MongoStorage>(this, LOG_STORAGE_CALLS);
    reportUnreachableFrom(this.apiKeys, ['create', 'findBySecretHash', 'list', 'revoke']);
    reportUnreachableFrom(this.witness, ['latest', 'compareAndSwap']);
    reportUnreachableFrom(this.inconsistencies, ['record', 'list']);
  }

  /**
   * Independent writes worth keeping in flight at once: as configured, else 4 on FerretDB (one SQLite
   * write lock: more writers at once only wait for it, each up to its busy timeout, and the appends
   * queue behind them) and 32 on MongoDB (document-level concurrency).
   */
  get writeConcurrency(): number {
    return (
      this.options.writeConcurrency ??
      (this.parts?.c.deployment.ferretdb ? FERRETDB_WRITE_CONCURRENCY : MONGODB_WRITE_CONCURRENCY)
    );
  }

  private get timeoutMs(): number {
    return this.options.timeoutMs ?? DEFAULT_MONGODB_TIMEOUT_MS;
  }

  private get c(): MongoCollections {
    if (!this.parts) throw new Error('MongoStorage used before init()');
    return this.parts.c;
  }
  private get batchLog(): BatchLog {
    if (!this.parts) throw new Error('MongoStorage used before init()');
    return this.parts.batchLog;
  }

  /** Connects and prepares the database; a database out of reach fails it with a message naming it. */
  async init(): Promise<void> {
    try {
      await this.open();
    } catch (err) {
      if (!isUnreachable(err)) throw err;
      throw new Error(
        `cannot reach the MongoDB database ${this.options.dbName} at ${redactUri(this.options.uri)}: no answer within ` +
          `${this.timeoutMs} ms (MONGODB_URI, MONGODB_TIMEOUT_MS): ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  private async open(): Promise<void> {
    await this.client.connect();
    const deployment = this.parts?.c.deployment ?? this.options.deployment ?? (await detectDeployment(this.db));
    await refuseFormerLayout(this.db);
    await ensureSchema(this.db, deployment);
    const c = new MongoCollections(this.db, deployment);
    const readBudget = Math.max(1, this.options.readBudgetRows ?? DEFAULT_READ_BUDGET_ROWS);
    this.parts ??= { c, batchLog: new BatchLog(c, this.maxAppendBytes, readBudget, this.options.hooks) };
    await this.apiKeys.init();
    await this.witness.init();
    await this.inconsistencies.init();
    await ensureCoordinationIndexes(this.db);
    // The one document erasuresAppliedBelow reads, inserted by the first start (a later one finds it).
    await c.erasuresApplied.insertOne({ _id: 'erasures', below: 0 }).catch((err: unknown) => {
      if (!isDuplicateKey(err)) throw err;
    });
    // Whatever a writer that died after its claim left pending is derived before anything is read.
    await this.batchLog.ensureDerived();
    this.coordination = mongoCoordination(this.db, c, deployment.writeConcern, this.options.now);
    // Bodies left behind (by writers that died, or deletes that failed) that no derivation will read:
    // housekeeping, so it does not hold up the start, and a failure only leaves them for the next start.
    this.collecting = this.batchLog.collectBodies().catch(() => 0);
  }

  private collecting: Promise<number> = Promise.resolve(0);

  /**
   * Delete the bodies no derivation will read (see BatchLog.collectBodies); runs at every start.
   * Returns how many it deleted.
   */
  async collectBodies(): Promise<number> {
    await this.collecting;
    return this.batchLog.collectBodies();
  }

  /** Resolves once the writes a derivation leaves for later (hints, deletes of derived bodies) are done. */
  async settled(): Promise<void> {
    await this.parts?.batchLog.settled();
  }

  /** Several API processes may share this database; they coordinate through leases (for throughput only). */
  coordination?: Coordination;

  /** How the store is deployed, known after init(); for logs and diagnostics. */
  get topology(): Deployment['topology'] | null {
    return this.parts?.c.deployment.topology ?? null;
  }

  async close(): Promise<void> {
    await this.collecting;
    await this.parts?.batchLog.stopLater();
    await this.client.close();
  }

  appendEvents(events: NewEvent[]): Promise<StoredEvent[]> {
    return this.batchLog.append(events);
  }

  appendCopied(events: NewEvent[]): Promise<StoredEvent[]> {
    return appendCopiedEvents(this, events);
  }

  /** Kept commits may hold the payloads another process erases: reads read the documents until the next commit. */
  erasedElsewhere(): void {
    this.batchLog.forgetOwn();
  }

  async erasuresAppliedBelow(): Promise<number> {
    return (await this.erasureSizes()).below;
  }

  async erasuresCopiedBelow(): Promise<number> {
    return (await this.erasureSizes()).copiedBelow;
  }

  /** Both sizes: the highest of the `erasures` document's and of the marks beside it (raiseErasuresAppliedBelow). */
  private async erasureSizes(): Promise<{ below: number; copiedBelow: number }> {
    const sizes = { below: 0, copiedBelow: 0 };
    for (const d of await this.c.erasuresApplied.find({}).toArray()) {
      sizes.below = Math.max(sizes.below, d.below);
      sizes.copiedBelow = Math.max(sizes.copiedBelow, d.copiedBelow ?? 0);
    }
    return sizes;
  }

  async raiseErasuresAppliedBelow(
    size: number,
    listings: ReadonlyArray<readonly [string, number]> = [],
    copiedBelow = 0,
  ): Promise<void> {
    // The listings first (a unique index: one stored before is a duplicate, ignored), then the size, so
    // that erasureListings is complete below any size a reader sees.
    if (listings.length > 0) {
      const docs = listings.map(([sourceAppId, record]) => ({ sourceAppId, record }));
      await this.c.erasureListings.insertMany(docs, { ordered: false }).catch((err: unknown) => {
        if (!onlyDuplicates(err)) throw err;
      });
    }
    // $max never lowers either size on MongoDB, where one update of one document is atomic. The test
    // server reads and writes the document apart, so two raises at once can lose the higher: each raise
    // also inserts a mark of its own sizes (an insert is atomic on both), and the reads take the
    // highest. A raise then deletes the marks its own mark dominates in both sizes, so the highest of
    // each stays stored, and the marks stay few.
    const { matchedCount } = await this.c.erasuresApplied.updateOne({ _id: 'erasures' }, { $max: { below: size, copiedBelow } });
    if (matchedCount === 0) throw new Error(`the ${C.erasuresApplied} document is missing (init inserts it)`);
    const mark = `mark:${randomUUID()}`;
    await this.c.erasuresApplied.insertOne({ _id: mark, below: size, copiedBelow });
    await this.c.erasuresApplied.deleteMany({
      _id: { $nin: ['erasures', mark] },
      below: { $lte: size },
      copiedBelow: { $lte: copiedBelow },
    });
  }

  async erasureListings(sourceAppId: string, from: number, below: number, limit: number): Promise<number[]> {
    if (limit <= 0 || from >= below) return [];
    const docs = await this.c.erasureListings
      .find({ sourceAppId, record: { $gte: from, $lt: below } }, { projection: { _id: 0, record: 1 } })
      .sort({ record: 1 })
      .limit(limit)
      .toArray();
    return docs.map((d) => d.record);
  }

  /**
   * Unsets payload and salt and sets erasedAt and erasureReason on each version 2 event of the events
   * collection where they are not erased yet, then deletes the bodies of the derived batches that held
   * them (a body keeps every event its batch appended). Without multi-document transactions these are
   * separate writes: a call that fails midway has erased some of the events, and calling it again
   * erases the rest (the log layer records an erasure before applying it, and applies the records not known
   * applied again at start and in its sweeps).
   */
  async eraseEvents(ids: EventId[], erasedAt: number, reason: string): Promise<number> {
    if (ids.length === 0) return 0;
    // Kept commits hold their payloads: a read after an erasure reads the documents.
    this.batchLog.forgetOwn();
    await this.batchLog.ensureDerived();
    const byApp = new Map<string, number[]>();
    for (const id of ids) {
      let seqs = byApp.get(id.sourceAppId);
      if (!seqs) byApp.set(id.sourceAppId, (seqs = []));
      seqs.push(id.seq);
    }
    const erase = { $unset: { payload: '', payloadSalt: '' }, $set: { erasedAt, erasureReason: reason } } as const;
    let erased = 0;
    const positions: number[] = [];
    for (const [app, all] of byApp) {
      // In slices: each call stays small whatever the erasure's size (a server evaluating `$in` row by row).
      for (let i = 0; i < all.length; i += ERASE_SLICE) {
        const seqs = all.slice(i, i + ERASE_SLICE);
        const docs = await this.c.events
          .find({ sourceAppId: app, seq: { $in: seqs }, payloadHash: { $exists: true } }, { projection: { pos: 1 } })
          .toArray();
        for (const d of docs) positions.push(d.pos);
        const res = await this.c.events.updateMany(
          { sourceAppId: app, seq: { $in: seqs }, payloadHash: { $exists: true }, erasedAt: { $exists: false } },
          erase,
        );
        erased += res.modifiedCount;
      }
    }
    // The bodies of the erased events' batches, where they are still there: no derivation reads the body
    // of a derived batch, so it goes rather than keep a payload. (A batch still pending, committed after
    // the derivation above, keeps its body until it is derived: its deriver deletes it.)
    const gs = [...new Set(positions.map((pos) => Math.floor(pos / POS_PER_BATCH)))];
    for (let i = 0; i < gs.length; i += ERASE_SLICE) {
      const batches = await this.c.batches
        .find({ _id: { $in: gs.slice(i, i + ERASE_SLICE) }, pending: { $ne: true } }, { projection: { token: 1 } })
        .toArray();
      if (batches.length > 0) await this.c.batchBodies.deleteMany({ _id: { $in: batches.map((b) => b.token) } });
    }
    return erased;
  }

  /** Heads asked for in one turn are read together (readHeads): a group commit over many logs asks for all of them at once. */
  private readonly headReads = new Coalescer<string, LogHead | null>((waiters) => this.readHeads(waiters));

  getLogHead(sourceAppId: string): Promise<LogHead | null> {
    return this.headReads.get(sourceAppId);
  }

  /** The heads of the waiters' logs, in a few reads whatever their number; a damaged head fails only its waiters. */
  private async readHeads(waiters: ReadonlyArray<Waiter<string, LogHead | null>>): Promise<void> {
    const apps = [...new Set(waiters.map((w) => w.key))];
    const [top, integrated] = await Promise.all([
      this.batchLog.readTop(),
      this.c.integrated.find(apps.length === 1 ? { _id: apps[0]! } : { _id: { $in: apps } }).toArray(),
    ]);
    const g = top?._id ?? 0;
    const integratedSize = new Map(integrated.map((d) => [d._id, d.size]));
    const heads = new Map<string, KnownHead>();
    (await this.batchLog.headsAsOf(apps, g)).forEach((head, i) => heads.set(apps[i]!, head));
    // Known from batches after its first: the first is derived by now (or here), and with it the hint.
    const noCreatedAt = apps.filter((app) => heads.get(app)!.size > 0 && heads.get(app)!.createdAt === null);
    const createdAt = new Map<string, number>();
    if (noCreatedAt.length > 0) {
      await this.batchLog.deriveThrough(g);
      const hints = await this.c.logs.find({ _id: { $in: noCreatedAt } }, { projection: { createdAt: 1 } }).toArray();
      for (const hint of hints) {
        createdAt.set(hint._id, hint.createdAt);
        this.batchLog.remember(hint._id, { ...heads.get(hint._id)!, createdAt: hint.createdAt });
      }
    }
    for (const w of waiters) {
      const sourceAppId = w.key;
      const head = heads.get(sourceAppId)!;
      if (head.size === 0) {
        w.resolve(null);
        continue;
      }
      if (!HASH_HEX_RE.test(String(head.headHash))) {
        // A batch or hint whose head hash was damaged cannot give the head: say so rather than link to it.
        w.reject(
          new MalformedEventError(
            sourceAppId,
            head.size - 1,
            'hash',
            'lowercaseHex64',
            'must be 64 lowercase hex characters (the log head)',
          ),
        );
        continue;
      }
      const created = head.createdAt ?? createdAt.get(sourceAppId);
      if (created === undefined) {
        // Damage, named as such: the log's creation time (its first event's receivedAt) is kept in its
        // hint and its first batch, and both lack it.
        w.reject(
          new MalformedEventError(
            sourceAppId,
            0,
            'receivedAt',
            'logCreationTime',
            "as the log's creation time is in neither its hint nor its first batch",
          ),
        );
        continue;
      }
      w.resolve({
        sourceAppId,
        size: head.size,
        headHash: head.headHash,
        integratedSize: Math.min(integratedSize.get(sourceAppId) ?? 0, head.size),
        createdAt: created,
      });
    }
  }

  async listLogHeads(afterSourceAppId: string | null, limit: number): Promise<LogHead[]> {
    if (limit <= 0) return [];
    // A log's hint exists once its first batch is derived: derive what is pending so none is missed.
    await this.batchLog.derivePending();
    const docs = await this.c.logs
      .find(afterSourceAppId === null ? {} : { _id: { $gt: afterSourceAppId } }, {
        projection: { _id: 1 },
        sort: { _id: 1 },
        limit,
      })
      .toArray();
    const heads = await Promise.all(docs.map((d) => this.getLogHead(d._id)));
    return heads.filter((h): h is LogHead => h !== null);
  }

  async findByIdempotencyKeys(sourceAppId: string, keys: string[]): Promise<StoredEvent[]> {
    if (keys.length === 0) return [];
    // Keys are mostly new (the sequencer asks before every append): derive first rather than after a miss.
    await this.batchLog.derivePending();
    const docs = await this.c.events
      .find({ sourceAppId, idempotencySlot: { $in: keys } }, { projection: eventProjection, sort: { seq: 1 } })
      .toArray();
    return docs.map(fromEventDoc);
  }

  // --- reading ----------------------------------------------------------------------------

  async getEvent(sourceAppId: string, seq: number): Promise<StoredEvent | null> {
    const find = () => this.c.events.findOne({ sourceAppId, seq }, { projection: eventProjection });
    let doc = await find();
    if (!doc) {
      await this.batchLog.derivePending();
      doc = await find();
    }
    return doc ? fromEventDoc(doc) : null;
  }

  async getEventRange(sourceAppId: string, start: number, end: number, limit: number): Promise<StoredEvent[]> {
    return (await this.rangeDocs(sourceAppId, start, end, limit)).map(fromEventDoc);
  }

  async getEventRangeWithText(sourceAppId: string, start: number, end: number, limit: number): Promise<EventsWithText> {
    const docs = await this.rangeDocs(sourceAppId, start, end, limit);
    const events = docs.map(fromEventDoc);
    // A document's payload is the text fromEventDoc parsed, wherever a payload is.
    return { events, payloadTexts: events.map((e, i) => (e.payload === null ? null : (docs[i]!.payload as string))) };
  }

  private async rangeDocs(sourceAppId: string, start: number, end: number, limit: number): Promise<EventDoc[]> {
    if (limit <= 0 || start >= end) return [];
    // A range no longer than its limit is all of it: such ranges asked for in one turn go together.
    let docs =
      end - start <= limit
        ? await this.rangeReads.get({ sourceAppId, start, end })
        : await this.findRange(sourceAppId, start, end, limit);
    if (docs.length < Math.min(limit, end - start)) {
      await this.batchLog.derivePending();
      docs = await this.findRange(sourceAppId, start, end, limit);
    }
    return docs;
  }

  private findRange(sourceAppId: string, start: number, end: number, limit: number): Promise<EventDoc[]> {
    return this.c.events
      .find({ sourceAppId, seq: { $gte: start, $lt: end } }, { projection: eventProjection, sort: { seq: 1 }, limit })
      .toArray();
  }

  /** Whole ranges of events asked for in one turn (a recovery's logs behind, proofs' leaves): readRanges. */
  private readonly rangeReads = new Coalescer<{ sourceAppId: string; start: number; end: number }, EventDoc[]>((waiters) =>
    this.readRanges(waiters),
  );

  /**
   * The waiters' ranges in one query per RANGE_READ_EVENTS events asked for, whatever the logs: each
   * range is whole (at most its length in documents), so the query's limit is their sum.
   */
  private async readRanges(
    waiters: ReadonlyArray<Waiter<{ sourceAppId: string; start: number; end: number }, EventDoc[]>>,
  ): Promise<void> {
    const groups = runsWithin(waiters, (w) => w.key.end - w.key.start, RANGE_READ_EVENTS);
    await Promise.all(
      groups.map(async (group) => {
        if (group.length === 1) {
          const { sourceAppId, start, end } = group[0]!.key;
          group[0]!.resolve(await this.findRange(sourceAppId, start, end, end - start));
          return;
        }
        const clauses = group.map(({ key }) => ({ sourceAppId: key.sourceAppId, seq: { $gte: key.start, $lt: key.end } }));
        const limit = group.reduce((n, { key }) => n + key.end - key.start, 0);
        const docs = await this.c.events.find({ $or: clauses }, { projection: eventProjection, limit }).toArray();
        const byLog = new Map<string, EventDoc[]>();
        for (const d of docs) {
          let some = byLog.get(d.sourceAppId);
          if (!some) byLog.set(d.sourceAppId, (some = []));
          some.push(d);
        }
        for (const some of byLog.values()) some.sort((a, b) => a.seq - b.seq);
        for (const { key, resolve } of group) {
          resolve((byLog.get(key.sourceAppId) ?? []).filter((d) => d.seq >= key.start && d.seq < key.end));
        }
      }),
    );
  }

  /**
   * Every filter of a query is a range of one of the keyset indexes (time, log_time, type_time,
   * log_type_time), so the scan examines the events it returns and never needs to stop short.
   */
  async queryEvents(query: EventQuery): Promise<EventPage> {
    if (query.limit <= 0) return { events: [] }; // limit 0 means "no limit" to MongoDB
    await this.batchLog.derivePending();
    const { filter, sort } = eventQueryPlan(query);
    const docs = await this.c.events.find(filter, { projection: eventProjection, sort, limit: query.limit }).toArray();
    return { events: docs.map(fromEventDoc) };
  }

  async readCommitted(
    afterPos: number,
    filter: EventFilter,
    limit: number,
    options: ReadCommittedOptions = {},
  ): Promise<CommittedPage> {
    if (limit <= 0) return { events: [], through: afterPos, atHorizon: false };
    const { g: top, lastPos } = await this.batchLog.horizon();
    // Nothing committed past afterPos: no events are read (a follower's idle poll costs the horizon only).
    if (lastPos <= afterPos) return { events: [], through: afterPos, atHorizon: true };
    const horizon = lastPos;
    // Where the index walk would examine events that do not match, it covers at most the budget's
    // worth of events (counted from the batches' sizes, without reading the events).
    const upTo = committedIsIndexed(filter) ? horizon : await this.batchLog.budgetedUpTo(afterPos, top, horizon);
    // This process's own commits, as its appends returned them, are not read back (the commit
    // tailer reads every commit, its own included): the same page, without a read of `events`.
    const own = isEmptyFilter(filter) ? this.batchLog.ownCommitted(afterPos, upTo, limit) : undefined;
    if (own) {
      const full = own.length >= limit;
      return { events: own, through: full ? own.at(-1)!.pos : upTo, atHorizon: !full && upTo === horizon };
    }
    const plan = committedPlan(afterPos, filter, upTo);
    const docs = await this.c.events.find(plan.filter, { projection: eventProjection, sort: plan.sort, limit }).toArray();
    const full = docs.length >= limit;
    const { events, malformed } = decodeCommitted(docs, fromEventDoc, options);
    const page = { events, through: full ? docs.at(-1)!.pos : upTo, atHorizon: !full && upTo === horizon };
    return malformed.length > 0 ? { ...page, malformed } : page;
  }

  async lastPos(): Promise<number> {
    return (await this.batchLog.horizon()).lastPos;
  }

  // --- tree -------------------------------------------------------------------------------

  async integrate(
    sourceAppId: string,
    fromSize: number,
    toSize: number,
    nodes: TreeNode[],
    checkpoint?: StoredCheckpoint,
  ): Promise<void> {
    // The rules in the order both engines check them: the nodes, then the checkpoint.
    const refused =
      nodeHashMismatch(nodes) ??
      (checkpoint && checkpointMismatch(sourceAppId, toSize, checkpoint.sourceAppId, checkpoint.treeSize));
    if (refused) throw refused;
    return this.integrations.get({ sourceAppId, fromSize, toSize, nodes, checkpoint });
  }

  /** Integrations asked for in one turn (a publish cycle's logs in flight together) go together: integrateMany. */
  private readonly integrations = new Coalescer<Integration, void>((waiters) => this.integrateMany(waiters));

  /**
   * Several logs' integrations in a few commands whatever their number: one read of their integrated
   * sizes, one unordered insert of every node, the sizes raised in bulks of INTEGRATED_BULK, then one
   * unordered insert of the checkpoints. Each integration keeps the order and the checks of one alone:
   * refused on a gap, only its checkpoint stored when its tree is already (another publisher got there
   * first), its checkpoint stored after its nodes and size. Nodes are inserted once: a node is a
   * perfect subtree's hash, so one already stored (another publisher's, or ours before a crash) has
   * this value, and nothing rewrites it. Inserts, not upserts: the test server answers a bulk of 100 or
   * more updates that match stored documents by waiting forever for a connection of its own pool, and
   * every later command on the database with it; two publishers integrating one range would send
   * exactly that. A bulk that fails otherwise than by duplicates fails the integrations in it (each
   * is retried by its publisher, and every write here may be repeated); one log asked for twice in a
   * turn has its second integration done after the first.
   */
  private async integrateMany(all: ReadonlyArray<Waiter<Integration, void>>): Promise<void> {
    const seen = new Set<string>();
    const waiters: Array<Waiter<Integration, void>> = [];
    const again: Array<Waiter<Integration, void>> = [];
    for (const w of all) {
      (seen.has(w.key.sourceAppId) ? again : waiters).push(w);
      seen.add(w.key.sourceAppId);
    }
    const apps = waiters.map((w) => w.key.sourceAppId);
    const sizes = new Map(
      (await this.c.integrated.find(apps.length === 1 ? { _id: apps[0]! } : { _id: { $in: apps } }).toArray()).map((d) => [
        d._id,
        d.size,
      ]),
    );
    const growing: Array<Waiter<Integration, void>> = [];
    const sealing: Array<Waiter<Integration, void>> = [];
    for (const w of waiters) {
      const { sourceAppId, fromSize, toSize } = w.key;
      const integrated = sizes.get(sourceAppId) ?? 0;
      if (integrated >= toSize)
        sealing.push(w); // the tree up to toSize is stored already
      else if (integrated < fromSize) w.reject(integrationGap(sourceAppId, integrated, fromSize));
      else growing.push(w);
    }
    let grown = growing;
    const nodes = growing.flatMap((w) =>
      w.key.nodes.map((n) => ({ _id: nodeKey(w.key.sourceAppId, n), hash: bytesToBinary(n.hash) })),
    );
    if (nodes.length > 0) {
      try {
        await this.c.treeNodes.insertMany(nodes, { ordered: false });
      } catch (err) {
        if (!onlyDuplicates(err)) {
          for (const w of growing) w.reject(err);
          grown = [];
        }
      }
    }
    for (let i = 0; i < grown.length; i += INTEGRATED_BULK) {
      const slice = grown.slice(i, i + INTEGRATED_BULK);
      try {
        await this.c.integrated.bulkWrite(
          slice.map((w) => ({
            updateOne: { filter: { _id: w.key.sourceAppId }, update: { $max: integratedTo(w.key) }, upsert: true },
          })),
          { ordered: false },
        );
        sealing.push(...slice);
      } catch {
        // Two first upserts raced, or anything else: each size raised on its own (a $max repeats safely).
        await Promise.all(
          slice.map((w) =>
            this.raiseIntegrated(w.key).then(
              () => sealing.push(w),
              (err: unknown) => w.reject(err),
            ),
          ),
        );
      }
    }
    // No transaction spans collections here: the checkpoints go last, so none is stored over a tree
    // that is not. A failure before it leaves the tree integrated and the checkpoint to store.
    const sealed = sealing.filter((w) => w.key.checkpoint !== undefined);
    if (sealed.length > 0) {
      try {
        await this.c.checkpoints.insertMany(
          sealed.map((w) => checkpointDoc(w.key.checkpoint!)),
          { ordered: false },
        );
      } catch (err) {
        // Duplicates are sizes stored already; anything else: each stored on its own.
        if (!onlyDuplicates(err)) {
          await Promise.all(sealed.map((w) => this.putCheckpoint(w.key.checkpoint!).catch((e: unknown) => w.reject(e))));
        }
      }
    }
    for (const w of sealing) w.resolve();
    for (const w of again) {
      await this.integrateMany([w]).catch((err: unknown) => w.reject(err));
    }
  }

  /** Raise the log's integrated size (and sealed size) to the integration's at least; two first upserts that race are retried as an update. */
  private async raiseIntegrated(integration: Integration): Promise<void> {
    const filter = { _id: integration.sourceAppId };
    try {
      await this.c.integrated.updateOne(filter, { $max: integratedTo(integration) }, { upsert: true });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      await this.c.integrated.updateOne(filter, { $max: integratedTo(integration) });
    }
  }

  /**
   * Node reads asked for in one turn (a recovery's logs, proofs of concurrent requests) go together:
   * readNodes.
   */
  private readonly nodeReads = new Coalescer<{ sourceAppId: string; ids: NodeId[] }, Uint8Array[]>((waiters) =>
    this.readNodes(waiters),
  );

  getTreeNodes(sourceAppId: string, ids: NodeId[]): Promise<Uint8Array[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.nodeReads.get({ sourceAppId, ids });
  }

  /**
   * The waiters' nodes in two queries per NODE_READ_IDS of them, however many logs they are of: the
   * leaves from `events` (one clause per log), the inner nodes by key. A node missing or damaged fails
   * only the waiters that asked for it.
   */
  private async readNodes(waiters: ReadonlyArray<Waiter<{ sourceAppId: string; ids: NodeId[] }, Uint8Array[]>>): Promise<void> {
    const groups = runsWithin(waiters, (w) => w.key.ids.length, NODE_READ_IDS);
    await Promise.all(groups.map((g) => this.readNodeGroup(g)));
  }

  private async readNodeGroup(
    waiters: ReadonlyArray<Waiter<{ sourceAppId: string; ids: NodeId[] }, Uint8Array[]>>,
  ): Promise<void> {
    const leafSeqs = new Map<string, Set<number>>();
    const innerKeys = new Set<string>();
    for (const { key } of waiters) {
      for (const id of key.ids) {
        if (id.level > 0) innerKeys.add(nodeKey(key.sourceAppId, id));
        else {
          let seqs = leafSeqs.get(key.sourceAppId);
          if (!seqs) leafSeqs.set(key.sourceAppId, (seqs = new Set()));
          seqs.add(id.index);
        }
      }
    }
    const clauses = [...leafSeqs].map(([sourceAppId, seqs]) => ({ sourceAppId, seq: { $in: [...seqs] } }));
    const [leaves, inner] = await Promise.all([
      clauses.length === 0
        ? []
        : this.c.events
            .find(clauses.length === 1 ? clauses[0]! : { $or: clauses }, {
              projection: { _id: 0, sourceAppId: 1, seq: 1, hash: 1 },
            })
            .toArray(),
      innerKeys.size === 0 ? [] : this.c.treeNodes.find({ _id: { $in: [...innerKeys] } }).toArray(),
    ]);
    // Decoded when a waiter takes it: a damaged one fails its waiters, not the others.
    const byKey = new Map<string, () => Uint8Array | null>();
    for (const l of leaves)
      byKey.set(nodeKey(l.sourceAppId, { level: 0, index: l.seq }), () => storedLeafHash(l.sourceAppId, l.seq, l.hash));
    // A node stored as something other than bytes decodes to null: not stored, as far as a read goes.
    for (const n of inner) byKey.set(n._id, () => ((n.hash as unknown) instanceof Binary ? binaryToBytes(n.hash) : null));
    for (const w of waiters) {
      const { sourceAppId, ids } = w.key;
      try {
        w.resolve(
          ids.map((id) => {
            const decode = byKey.get(nodeKey(sourceAppId, id));
            const hash = decode?.();
            if (!hash)
              throw new MissingTreeNodeError(sourceAppId, id.level, id.index, decode ? 'is not stored as bytes' : undefined);
            return hash;
          }),
        );
      } catch (err) {
        w.reject(err);
      }
    }
  }

  // --- checkpoints ------------------------------------------------------------------------

  /**
   * An insert under the unique (sourceAppId, treeSize): the first put of a size stores it, and a later
   * one (another publisher's, or a retry of a put whose answer was lost) changes nothing. An insert,
   * not an upsert: a server answers it with the unique index alone, where an upsert first finds the
   * document by its filter (on the test server, a scan of every checkpoint of every log).
   */
  async putCheckpoint(c: StoredCheckpoint): Promise<void> {
    try {
      await this.c.checkpoints.insertOne(checkpointDoc(c));
    } catch (err) {
      if (!isDuplicateKey(err)) throw err; // that size is stored already
    }
  }

  async getCheckpoint(sourceAppId: string, treeSize?: number): Promise<StoredCheckpoint | null> {
    const notes = this.c.checkpointNotes;
    const [doc, [newest]] = await Promise.all([
      treeSize === undefined
        ? this.c.checkpoints.findOne({ sourceAppId }, { projection: checkpointProjection, sort: { treeSize: -1 } })
        : this.c.checkpoints.findOne({ sourceAppId, treeSize }, { projection: checkpointProjection }),
      // Read beside the checkpoint, not after it: notes exist only of stored checkpoints, so the log's
      // newest note version belongs to its latest checkpoint exactly when its treeSize is that one's.
      (treeSize === undefined ? notes.find({ sourceAppId }) : notes.find({ sourceAppId, treeSize }))
        .sort({ treeSize: -1, version: -1 })
        .limit(1)
        .toArray(),
    ]);
    if (!doc) return null;
    const checkpoint = fromCheckpointDoc(doc);
    return newest && newest.treeSize === checkpoint.treeSize ? { ...checkpoint, note: newest.note } : checkpoint;
  }

  /**
   * Three queries per LATEST_READ_LOGS logs: their sealed sizes (IntegratedDoc.sealed), their
   * checkpoints of at least that size, and those checkpoints' newest notes. Sealed sizes only grow and
   * are raised just before the checkpoint of that size is stored (integrateMany), so a log's latest
   * checkpoint is nearly always among those found; where none is (that checkpoint's store failed, or a
   * document written before sealed sizes, whose integrated size stands in, is integrated past it), the
   * log is read alone (getCheckpoint), as is every log of a read that meets more documents than it may
   * (damage, or a flood of checkpoints).
   */
  async getLatestCheckpoints(sourceAppIds: readonly string[]): Promise<Array<StoredCheckpoint | null>> {
    const apps = [...new Set(sourceAppIds)];
    const latest = new Map<string, StoredCheckpoint | null>();
    for (let i = 0; i < apps.length; i += LATEST_READ_LOGS) {
      const slice = apps.slice(i, i + LATEST_READ_LOGS);
      const found = slice.length === 1 ? null : await this.latestAtLeastIntegrated(slice);
      await Promise.all(
        slice.map(async (app) => {
          const known = found?.get(app);
          latest.set(app, known !== undefined ? known : await this.getCheckpoint(app));
        }),
      );
    }
    return sourceAppIds.map((app) => latest.get(app)!);
  }

  /**
   * The logs' latest checkpoints of at least their sealed size (see getLatestCheckpoints), and null for
   * a log with none at all (nothing sealed, none found); null when a read met too many.
   */
  private async latestAtLeastIntegrated(apps: string[]): Promise<Map<string, StoredCheckpoint | null> | null> {
    const integrated = await this.c.integrated.find({ _id: { $in: apps } }).toArray();
    const floor = new Map(integrated.map((d) => [d._id, d.sealed ?? d.size]));
    const limit = apps.length * LATEST_READ_SLACK;
    const docs = await this.c.checkpoints
      .find(
        { $or: apps.map((app) => ({ sourceAppId: app, treeSize: { $gte: floor.get(app) ?? 0 } })) },
        { projection: checkpointProjection, limit },
      )
      .toArray();
    if (docs.length >= limit) return null;
    const top = new Map<string, CheckpointDoc>();
    for (const d of docs) if ((top.get(d.sourceAppId)?.treeSize ?? -1) < d.treeSize) top.set(d.sourceAppId, d);
    const latest = new Map<string, StoredCheckpoint | null>();
    for (const app of apps) if (!floor.get(app) && !top.has(app)) latest.set(app, null);
    if (top.size === 0) return latest;
    const noteLimit = top.size * 2 * NOTE_VERSIONS_KEPT;
    const notes = await this.c.checkpointNotes
      .find({ $or: [...top.values()].map((d) => ({ sourceAppId: d.sourceAppId, treeSize: d.treeSize })) }, { limit: noteLimit })
      .toArray();
    if (notes.length >= noteLimit) return null;
    const newest = new Map<string, CheckpointNoteDoc>();
    for (const n of notes) if ((newest.get(n.sourceAppId)?.version ?? -1) < n.version) newest.set(n.sourceAppId, n);
    for (const [app, d] of top) {
      const checkpoint = fromCheckpointDoc(d);
      const note = newest.get(app);
      latest.set(app, note && note.treeSize === d.treeSize ? { ...checkpoint, note: note.note } : checkpoint);
    }
    return latest;
  }

  async listCheckpoints(
    sourceAppId: string,
    afterTreeSize: number | null,
    limit: number,
    direction: 'asc' | 'desc',
  ): Promise<StoredCheckpoint[]> {
    if (limit <= 0) return [];
    const beyond =
      afterTreeSize === null ? {} : { treeSize: direction === 'asc' ? { $gt: afterTreeSize } : { $lt: afterTreeSize } };
    const docs = await this.c.checkpoints
      .find(
        { sourceAppId, ...beyond },
        { projection: checkpointProjection, sort: { treeSize: direction === 'asc' ? 1 : -1 }, limit },
      )
      .toArray();
    if (docs.length === 0) return [];
    const versions = await this.c.checkpointNotes
      .find({ sourceAppId, treeSize: { $in: docs.map((d) => d.treeSize) } })
      .sort({ treeSize: -1, version: -1 })
      .toArray();
    const newest = new Map<number, string>();
    for (const v of versions) if (!newest.has(v.treeSize)) newest.set(v.treeSize, v.note);
    return docs.map((d) => {
      const checkpoint = fromCheckpointDoc(d);
      const note = newest.get(checkpoint.treeSize);
      return note === undefined ? checkpoint : { ...checkpoint, note };
    });
  }

  /**
   * A compare-and-swap by insertion: the note's next version is inserted under a unique _id
   * (checkpointNoteKey), so of writers that read the same version exactly one wins, on every server
   * (a filtered update is not atomic on all of them: FerretDB's is not). Versions are never changed;
   * the newest is the checkpoint's note, and the oldest beyond NOTE_VERSIONS_KEPT are pruned.
   */
  async replaceCheckpointNote(sourceAppId: string, treeSize: number, expected: string, note: string): Promise<boolean> {
    const [doc, [newest]] = await Promise.all([
      this.c.checkpoints.findOne({ sourceAppId, treeSize }, { projection: { note: 1 } }),
      this.c.checkpointNotes.find({ sourceAppId, treeSize }).sort({ version: -1 }).limit(1).toArray(),
    ]);
    if (!doc || (newest?.note ?? doc.note) !== expected) return false;
    const version = (newest?.version ?? 0) + 1;
    try {
      await this.c.checkpointNotes.insertOne({
        _id: checkpointNoteKey(sourceAppId, treeSize, version),
        sourceAppId,
        treeSize,
        version,
        note,
        replaced: expected,
      });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      // Another writer replaced that version first, unless the version is ours: an insert the driver
      // retried after a lost reply had landed the first time.
      const holder = await this.c.checkpointNotes.findOne({ _id: checkpointNoteKey(sourceAppId, treeSize, version) });
      if (holder?.note !== note || holder.replaced !== expected) return false;
    }
    // A writer that read a version long since pruned wins its number again: a newer version not built
    // on this one shows it lost (the newest is read as the note, so its insert was never seen as one).
    // The next version built on ours (it replaced our note) shows ours was read: it won.
    const [later] = await this.c.checkpointNotes
      .find({ sourceAppId, treeSize, version: { $gt: version } })
      .sort({ version: 1 })
      .limit(1)
      .toArray();
    if (later && !(later.version === version + 1 && later.replaced === note)) {
      await this.c.checkpointNotes.deleteOne({ _id: checkpointNoteKey(sourceAppId, treeSize, version), note });
      return false;
    }
    if (version % NOTE_VERSIONS_KEPT === 0) {
      await this.c.checkpointNotes.deleteMany({ sourceAppId, treeSize, version: { $lte: version - NOTE_VERSIONS_KEPT } });
    }
    return true;
  }
}

const isEmptyFilter = (f: EventFilter) =>
  f.sourceAppIds === undefined && f.eventTypes === undefined && f.from === undefined && f.to === undefined;

// The MongoDB engine. No transactions (FerretDB has none, and one log's writes never need them):
// appends are all-or-nothing by undoing their own documents, found by a per-call write token.
//
// An append inserts its events, then commits each log by raising the log's committed size in its
// `logs` document (fenced by the log's sequencer-lease turn where processes share the database).
// Commit positions (pos) come from one counter; each writer announces in `writers` the lowest pos
// it may still commit, and readers of committed events (subscriptions, tailing) stop below every
// live writer's announcement, so they never pass a pos that may still commit. Writers to different
// logs thus never wait for each other.
import { randomBytes } from 'node:crypto';
import { MongoClient, MongoServerError, type Collection, type Db } from 'mongodb';
import {
  AppendConflictError,
  MalformedEventError,
  type EventFilter,
  type EventQuery,
  type LogHead,
  type LogStorage,
  type CommitTurn,
  type CommittedPage,
  type Coordination,
  DEFAULT_READ_BUDGET_ROWS,
  type EventPage,
  TurnLostError,
  type NewEvent,
  type NodeId,
  type StoredCheckpoint,
  type StoredEvent,
  type TreeNode,
  storedEvent,
} from '../types.js';
import { HASH_HEX_RE, storedLeafHash } from '../stored-event.js';
import { CommitPositions } from './commit-positions.js';
import { detectDeployment, type Deployment } from './deployment.js';
import {
  binaryToBytes,
  bytesToBinary,
  checkpointProjection,
  collectionNames as C,
  eventProjection,
  fromCheckpointDoc,
  fromEventDoc,
  nodeKey,
  toEventDoc,
  type CheckpointDoc,
  type CounterDoc,
  type EventDoc,
  type IntegratedDoc,
  type LogDoc,
  type TreeNodeDoc,
  type WriterDoc,
} from './documents.js';
import { committedIsIndexed, committedPlan, eventQueryPlan } from './event-query.js';
import { MongoLeaseStore } from './leases.js';
import { ensureSchema } from './schema.js';
import { MongoApiKeyStore } from './api-key-store.js';

export interface MongoStorageOptions {
  uri: string;
  dbName: string;
  /** How long a writer's announcement holds readers back if the writer goes silent (default 10 s). */
  writerTtlMs?: number;
  now?: () => number;
  /** Most events one readCommitted call examines beyond its matches (default DEFAULT_READ_BUDGET_ROWS). */
  readBudgetRows?: number;
}

const ZERO_HASH = '0'.repeat(64);
const DEFAULT_WRITER_TTL_MS = 10_000;
/** Announcements of writers dead this long are deleted at start. */
const FORGET_WRITERS_MS = 3_600_000;
/** Retries when a non-atomic counter (FerretDB) hands out a pos twice; never reached on MongoDB. */
const MAX_POS_RETRIES = 20;

const isDuplicateKey = (err: unknown) => err instanceof MongoServerError && err.code === 11000;

interface LogBatch {
  sourceAppId: string;
  events: NewEvent[];
}

export class MongoStorage implements LogStorage {
  private readonly client: MongoClient;
  private readonly db: Db;
  readonly apiKeys: MongoApiKeyStore;
  private deployment: Deployment | null = null;
  /** Appends of this store run one at a time; `pending` counts those queued or running. */
  private appendQueue: Promise<unknown> = Promise.resolve();
  private pending = 0;
  /** This store as a writer: its announcement document, and what it last announced. */
  private readonly writerId = randomBytes(12).toString('hex');
  private readonly writerTtlMs: number;
  private readonly now: () => number;
  private readonly readBudget: number;
  /** No pos this writer allocates from now on is below this. */
  private lowBound = 1;
  private announcedLow: number | null = null;
  private announcedUntil = 0;
  /** Keeps an announcement alive through a long append, so the TTL (how long a dead writer holds readers back) stays short. */
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(private readonly options: MongoStorageOptions) {
    this.client = new MongoClient(options.uri);
    this.db = this.client.db(options.dbName);
    this.apiKeys = new MongoApiKeyStore(this.db, () => this.writeConcern());
    this.writerTtlMs = options.writerTtlMs ?? DEFAULT_WRITER_TTL_MS;
    this.now = options.now ?? Date.now;
    this.readBudget = Math.max(1, options.readBudgetRows ?? DEFAULT_READ_BUDGET_ROWS);
  }

  private get events(): Collection<EventDoc> {
    return this.db.collection<EventDoc>(C.events, { writeConcern: this.writeConcern() });
  }
  private get logs(): Collection<LogDoc> {
    return this.db.collection<LogDoc>(C.logs, { writeConcern: this.writeConcern() });
  }
  private get treeNodes(): Collection<TreeNodeDoc> {
    return this.db.collection<TreeNodeDoc>(C.treeNodes, { writeConcern: this.writeConcern() });
  }
  private get checkpoints(): Collection<CheckpointDoc> {
    return this.db.collection<CheckpointDoc>(C.checkpoints, { writeConcern: this.writeConcern() });
  }
  private get integrated(): Collection<IntegratedDoc> {
    return this.db.collection<IntegratedDoc>(C.integrated, { writeConcern: this.writeConcern() });
  }
  private get writers(): Collection<WriterDoc> {
    return this.db.collection<WriterDoc>(C.writers, { writeConcern: this.writeConcern() });
  }
  private get positions(): CommitPositions {
    return new CommitPositions(this.db.collection<CounterDoc>(C.counters, { writeConcern: this.writeConcern() }), this.events);
  }

  private writeConcern() {
    if (!this.deployment) throw new Error('MongoStorage used before init()');
    return this.deployment.writeConcern;
  }

  async init(): Promise<void> {
    await this.client.connect();
    this.deployment ??= await detectDeployment(this.db);
    await ensureSchema(this.db, this.deployment);
    await this.apiKeys.init();
    await MongoLeaseStore.ensureIndexes(this.db);
    await this.positions.catchUp();
    this.lowBound = (await this.positions.current()) + 1;
    await this.writers.deleteMany({ expiresAt: { $lt: this.now() - FORGET_WRITERS_MS } });
    if (this.writerTtlMs >= 1000 && !this.heartbeat) {
      this.heartbeat = setInterval(() => void this.renewAnnouncement().catch(() => undefined), this.writerTtlMs / 4);
      this.heartbeat.unref();
    }
    this.coordination = {
      leases: new MongoLeaseStore(this.db, this.writeConcern()),
      beginLogTurn: (sourceAppId, fence) => this.beginLogTurn(sourceAppId, fence),
      claimVerifierKey: (key) => this.claimVerifierKey(key),
      watchCommits: (onCommit, onError) => this.watchCommits(onCommit, onError),
    };
  }

  /** Several API processes may share this database; they coordinate through leases. */
  coordination?: Coordination;

  /**
   * The commit horizon: the highest pos allocated, but below every live writer's announcement. The
   * counter is read before the announcements: a writer announces before it allocates, so a pos
   * counted here is either covered by an announcement read next, or its append has finished.
   */
  private async horizon(): Promise<number> {
    const top = await this.positions.current();
    const live = await this.writers
      .find({ low: { $ne: null }, expiresAt: { $gt: this.now() } }, { projection: { _id: 0, low: 1 } })
      .toArray();
    return live.reduce((h, w) => Math.min(h, w.low! - 1), top);
  }

  /** Tell readers the lowest pos this writer may still commit (null: none, it is idle). */
  private async announce(low: number | null): Promise<void> {
    const until = this.now() + this.writerTtlMs;
    await this.writers.updateOne({ _id: this.writerId }, { $set: { low, expiresAt: until } }, { upsert: true });
    this.announcedLow = low;
    this.announcedUntil = until;
  }

  /** A writer commits only with this much of its announcement left, so readers never give up on it first. */
  private get writerSafetyMs(): number {
    return this.writerTtlMs / 2;
  }

  /**
   * While an append runs. Touches only expiresAt; on FerretDB (read-modify-write) it can still restore
   * a `low` that a concurrent announce just changed, which only holds readers back longer, never less.
   */
  private async renewAnnouncement(): Promise<void> {
    if (this.announcedLow === null) return;
    // Never revive a lapsed announcement (after a pause): readers may already have passed it, so the
    // append in flight must fail its check before commit instead.
    if (this.now() > this.announcedUntil - this.writerSafetyMs) return;
    const until = this.now() + this.writerTtlMs;
    const { matchedCount } = await this.writers.updateOne({ _id: this.writerId, low: { $ne: null } }, { $set: { expiresAt: until } });
    if (matchedCount === 1 && this.announcedLow !== null) this.announcedUntil = Math.max(this.announcedUntil, until);
  }

  /** Change streams exist only on replica sets and sharded clusters; FerretDB reports standalone. */
  private watchCommits(onCommit: () => void, onError: (err: unknown) => void): (() => Promise<void>) | null {
    if (this.deployment?.topology === 'standalone') return null;
    // The horizon moves when a writer's announcement does: that is when new commits become readable.
    const stream = this.writers.watch();
    stream.on('change', () => onCommit());
    stream.on('error', onError);
    return () => stream.close();
  }

  private async claimVerifierKey(verifierKey: string): Promise<string> {
    const meta = this.db.collection<{ _id: string; value: string }>('meta', { writeConcern: this.writeConcern() });
    try {
      await meta.insertOne({ _id: 'verifierKey', value: verifierKey });
      return verifierKey;
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
    const doc = await meta.findOne({ _id: 'verifierKey' });
    return doc!.value;
  }

  private async beginLogTurn(sourceAppId: string, fence: number): Promise<number> {
    await this.ensureLogDoc(sourceAppId);
    await this.logs.updateOne({ _id: sourceAppId }, { $max: { fence } });
    const doc = await this.logs.findOne({ _id: sourceAppId }, { projection: { size: 1 } });
    const { deletedCount } = await this.events.deleteMany({ sourceAppId, seq: { $gte: doc?.size ?? 0 } });
    return deletedCount;
  }

  /** How the store is deployed, known after init(); for logs and diagnostics. */
  get topology(): Deployment['topology'] | null {
    return this.deployment?.topology ?? null;
  }

  async close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.client.close();
  }

  // --- sequencing -------------------------------------------------------------------------

  appendEvents(events: NewEvent[], turn?: CommitTurn): Promise<StoredEvent[]> {
    if (events.length === 0) return Promise.resolve([]);
    let batches: LogBatch[];
    try {
      batches = groupByLog(events);
    } catch (err) {
      return Promise.reject(err);
    }
    this.pending++;
    const run = this.appendQueue.then(() => this.appendSerialized(events, batches, turn));
    this.appendQueue = run.catch(() => undefined);
    return run;
  }

  private async appendSerialized(events: NewEvent[], batches: LogBatch[], turn?: CommitTurn): Promise<StoredEvent[]> {
    try {
      // One round trip for all three: the announcement must be in before positions are allocated.
      await Promise.all([
        this.announcedLow === null ? this.announce(this.lowBound) : undefined,
        this.checkAppendable(batches),
        turn ? undefined : this.ensureLogDocs(batches), // a turn's beginLogTurn made them
      ]);
      for (let attempt = 0; ; attempt++) {
        const first = await this.positions.allocate(events.length);
        // A non-atomic counter (FerretDB) can hand out a pos below an earlier one: announce it first.
        if (first < this.announcedLow!) await this.announce(first);
        this.lowBound = Math.max(this.lowBound, first + events.length);
        const writeToken = randomBytes(12).toString('hex');
        const docs = events.map((e, i) => toEventDoc(e, first + i, writeToken));
        try {
          await this.events.insertMany(docs, { ordered: true });
        } catch (err) {
          await this.undo(batches, writeToken);
          if (!isDuplicateKey(err)) throw err;
          // A committed event or key took our place since the check, or a dead writer left events
          // there (the turn's tidy removes them), else the pos was handed out twice.
          await this.checkAppendable(batches);
          if (await this.othersUncommitted(batches)) {
            throw new AppendConflictError('uncommitted events of another writer hold these positions', 'position');
          }
          if (attempt >= MAX_POS_RETRIES) {
            throw new AppendConflictError(`positions stayed taken after ${attempt + 1} attempts`, 'position');
          }
          await this.positions.catchUp();
          continue;
        }
        if (this.now() > this.announcedUntil - this.writerSafetyMs) {
          // Readers are about to presume this writer dead and pass its positions: do not commit now.
          await this.undo(batches, writeToken);
          throw new TurnLostError('this writer stalled past its announcement; nothing was committed');
        }
        await this.commitLogs(batches, writeToken, turn);
        return events.map((e, i) => storedEvent(e, first + i));
      }
    } finally {
      // After the commit, never before: raise the announcement past this append, or withdraw it when idle.
      this.pending--;
      await this.announce(this.pending > 0 ? this.lowBound : null).catch(() => undefined);
    }
  }

  /** Commit each log by raising its committed size from where the append started (fenced by the turn). */
  private async commitLogs(batches: LogBatch[], writeToken: string, turn?: CommitTurn): Promise<void> {
    const committed = await Promise.all(
      batches.map(async ({ sourceAppId, events }) => {
        const first = events[0]!;
        const last = events.at(-1)!;
        const fence = turn?.fences.get(sourceAppId);
        if (turn && fence === undefined) throw new Error(`the turn holds no fence for log ${sourceAppId}`);
        const { matchedCount } = await this.logs.updateOne(
          { _id: sourceAppId, size: first.seq, ...(turn ? { fence } : {}) },
          { $set: { size: last.seq + 1, headHash: last.hash, ...(first.seq === 0 ? { createdAt: first.receivedAt } : {}) } },
        );
        return matchedCount === 1;
      }),
    );
    const failed = batches.filter((_, i) => !committed[i]);
    if (failed.length === 0) return;
    await this.undo(failed, writeToken);
    const names = (bs: LogBatch[]) => bs.map((b) => b.sourceAppId).join(', ');
    if (failed.length < batches.length) {
      // Only if a turn was taken over between two logs' commits: the committed logs stay committed.
      throw new Error(`append committed to ${names(batches.filter((_, i) => committed[i]))} but not to ${names(failed)}`);
    }
    if (turn) throw new TurnLostError(`the turn of ${names(failed)} was taken over before this append committed`);
    throw new AppendConflictError(`log ${failed[0]!.sourceAppId} moved before this append committed`, 'position');
  }

  /** Whether events of another writer sit at or beyond the positions these batches start at. */
  private async othersUncommitted(batches: LogBatch[]): Promise<boolean> {
    const found = await this.events.findOne(
      { $or: batches.map(({ sourceAppId, events }) => ({ sourceAppId, seq: { $gte: events[0]!.seq } })) },
      { projection: { _id: 1 } },
    );
    return found !== null;
  }

  /** Throws AppendConflictError unless each log's events start at its committed size and no key is taken. */
  private async checkAppendable(batches: LogBatch[]): Promise<void> {
    const sizes = await this.committedSizes(batches.map((b) => b.sourceAppId));
    await Promise.all(
      batches.map(async ({ sourceAppId, events }) => {
        const size = sizes.get(sourceAppId) ?? 0;
        if (events[0]!.seq !== size) {
          throw new AppendConflictError(`log ${sourceAppId} is at size ${size}, not ${events[0]!.seq}`, 'position');
        }
        const keys = events.map((e) => e.idempotencyKey).filter((k): k is string => k !== null);
        if (keys.length === 0) return;
        const taken = await this.events.findOne(
          { sourceAppId, idempotencySlot: { $in: keys } },
          { projection: { _id: 0, idempotencySlot: 1 } },
        );
        if (taken) throw new AppendConflictError(`idempotency key already used in log ${sourceAppId}`, 'idempotencyKey');
      }),
    );
  }

  private async committedSizes(sourceAppIds: string[]): Promise<Map<string, number>> {
    const docs = await this.logs.find({ _id: { $in: sourceAppIds } }, { projection: { size: 1 } }).toArray();
    return new Map(docs.map((d) => [d._id, d.size]));
  }

  /** Removes only this call's documents: another writer's could sit at the same positions. */
  private async undo(batches: LogBatch[], writeToken: string): Promise<void> {
    for (const { sourceAppId, events } of batches) {
      await this.events.deleteMany({ sourceAppId, seq: { $gte: events[0]!.seq }, writeToken });
    }
  }

  /** A log document exists before its first event, so listLogHeads can never miss a log. */
  private async ensureLogDocs(batches: LogBatch[]): Promise<void> {
    const fresh = batches.filter((b) => b.events[0]!.seq === 0);
    await Promise.all(fresh.map(({ sourceAppId }) => this.ensureLogDoc(sourceAppId)));
  }

  /** Inserts, never updates: an upsert would rewrite a document another writer may be updating (FerretDB). */
  private async ensureLogDoc(sourceAppId: string): Promise<void> {
    try {
      await this.logs.insertOne({ _id: sourceAppId, size: 0, headHash: ZERO_HASH, createdAt: null });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err; // it exists
    }
  }

  async getLogHead(sourceAppId: string): Promise<LogHead | null> {
    const [doc, integrated] = await Promise.all([
      this.logs.findOne({ _id: sourceAppId }),
      this.integrated.findOne({ _id: sourceAppId }),
    ]);
    if (!doc || doc.size === 0) return null;
    const integratedSize = Math.min(integrated?.size ?? 0, doc.size);
    const head = await this.events.findOne({ sourceAppId, seq: doc.size - 1 }, { projection: { _id: 0, hash: 1 } });
    if (head && head.hash === doc.headHash && doc.createdAt !== null) {
      return { sourceAppId, size: doc.size, headHash: doc.headHash, integratedSize, createdAt: doc.createdAt };
    }
    return this.deriveHead(sourceAppId, doc, integratedSize);
  }

  /** The head from the committed events themselves, where the record disagrees with them (damage). */
  private async deriveHead(sourceAppId: string, doc: LogDoc, integratedSize: number): Promise<LogHead | null> {
    const [last, first] = await Promise.all([
      this.events
        .find({ sourceAppId, seq: { $lt: doc.size } }, { projection: { _id: 0, seq: 1, hash: 1 }, sort: { seq: -1 }, limit: 1 })
        .next(),
      this.events.findOne({ sourceAppId, seq: 0 }, { projection: { _id: 0, receivedAt: 1 } }),
    ]);
    if (!last || !first) return null;
    // A head event whose hash is malformed cannot give the head; at the committed size the record can.
    // Reads of that event report it (MalformedEventError); appends link to what was committed.
    const headHash = HASH_HEX_RE.test(String(last.hash)) ? last.hash : last.seq === doc.size - 1 && HASH_HEX_RE.test(doc.headHash) ? doc.headHash : null;
    if (headHash === null) {
      throw new MalformedEventError(sourceAppId, last.seq, 'hash', 'lowercaseHex64', 'must be 64 lowercase hex characters (the log head)');
    }
    return {
      sourceAppId,
      size: last.seq + 1,
      headHash,
      integratedSize: Math.min(integratedSize, last.seq + 1),
      createdAt: first.receivedAt,
    };
  }

  async listLogHeads(afterSourceAppId: string | null, limit: number): Promise<LogHead[]> {
    const heads: LogHead[] = [];
    let after = afterSourceAppId;
    // Summaries of logs whose first append failed have no events; skip them and read on.
    while (heads.length < limit) {
      const want = limit - heads.length;
      const docs = await this.logs
        .find(after === null ? {} : { _id: { $gt: after } }, { projection: { _id: 1 }, sort: { _id: 1 }, limit: want })
        .toArray();
      const found = await Promise.all(docs.map((d) => this.getLogHead(d._id)));
      for (const h of found) if (h) heads.push(h);
      if (docs.length < want) break;
      after = docs.at(-1)!._id;
    }
    return heads;
  }

  async findByIdempotencyKeys(sourceAppId: string, keys: string[]): Promise<StoredEvent[]> {
    if (keys.length === 0) return [];
    const docs = await this.events
      .find({ sourceAppId, idempotencySlot: { $in: keys } }, { projection: eventProjection, sort: { seq: 1 } })
      .toArray();
    return docs.map(fromEventDoc);
  }

  // --- reading ----------------------------------------------------------------------------

  async getEvent(sourceAppId: string, seq: number): Promise<StoredEvent | null> {
    const doc = await this.events.findOne({ sourceAppId, seq }, { projection: eventProjection });
    return doc ? fromEventDoc(doc) : null;
  }

  async getEventRange(sourceAppId: string, start: number, end: number, limit: number): Promise<StoredEvent[]> {
    if (limit <= 0 || start >= end) return [];
    const docs = await this.events
      .find({ sourceAppId, seq: { $gte: start, $lt: end } }, { projection: eventProjection, sort: { seq: 1 }, limit })
      .toArray();
    return docs.map(fromEventDoc);
  }

  /**
   * Every filter of a query is a range of one of the keyset indexes (time, log_time, type_time,
   * log_type_time), so the scan examines the events it returns and never needs to stop short.
   */
  async queryEvents(query: EventQuery): Promise<EventPage> {
    if (query.limit <= 0) return { events: [] }; // limit 0 means "no limit" to MongoDB
    const { filter, sort } = eventQueryPlan(query);
    const docs = await this.events.find(filter, { projection: eventProjection, sort, limit: query.limit }).toArray();
    return { events: docs.map(fromEventDoc) };
  }

  async readCommitted(afterPos: number, filter: EventFilter, limit: number): Promise<CommittedPage> {
    if (limit <= 0) return { events: [], through: afterPos, atHorizon: false };
    const horizon = Math.max(afterPos, await this.horizon());
    // Where the index walk would examine events that do not match, it covers at most the budget's
    // worth of positions (positions are dense: at most one event each).
    const upTo = committedIsIndexed(filter) ? horizon : Math.min(horizon, afterPos + this.readBudget);
    const plan = committedPlan(afterPos, filter, upTo);
    const docs = await this.events.find(plan.filter, { projection: eventProjection, sort: plan.sort, limit }).toArray();
    const full = docs.length >= limit;
    const through = full ? docs.at(-1)!.pos : upTo;
    const page = { through, atHorizon: !full && upTo === horizon };
    if (docs.length === 0) return { events: [], ...page };
    // Below the horizon, only a writer presumed dead can have left events past its log's committed size.
    const sizes = await this.committedSizes([...new Set(docs.map((d) => d.sourceAppId))]);
    return { events: docs.filter((d) => d.seq < (sizes.get(d.sourceAppId) ?? 0)).map(fromEventDoc), ...page };
  }

  lastPos(): Promise<number> {
    return this.horizon();
  }

  // --- tree -------------------------------------------------------------------------------

  async integrate(sourceAppId: string, fromSize: number, toSize: number, nodes: TreeNode[]): Promise<void> {
    const doc = await this.integrated.findOne({ _id: sourceAppId });
    const integrated = doc?.size ?? 0;
    if (integrated >= toSize) return;
    if (integrated < fromSize) {
      throw new Error(`log ${sourceAppId} is integrated up to ${integrated}; integrating from ${fromSize} would leave a gap`);
    }
    // Nodes first: they are deterministic, so a rewrite after a crash is harmless.
    if (nodes.length > 0) {
      await this.treeNodes.bulkWrite(
        nodes.map((n) => ({
          replaceOne: { filter: { _id: nodeKey(sourceAppId, n) }, replacement: { hash: bytesToBinary(n.hash) }, upsert: true },
        })),
        { ordered: false },
      );
    }
    try {
      await this.integrated.updateOne({ _id: sourceAppId }, { $max: { size: toSize } }, { upsert: true });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err; // two first upserts raced: retry as an update
      await this.integrated.updateOne({ _id: sourceAppId }, { $max: { size: toSize } });
    }
  }

  async getTreeNodes(sourceAppId: string, ids: NodeId[]): Promise<Uint8Array[]> {
    if (ids.length === 0) return [];
    const leafSeqs = [...new Set(ids.filter((id) => id.level === 0).map((id) => id.index))];
    const innerKeys = [...new Set(ids.filter((id) => id.level > 0).map((id) => nodeKey(sourceAppId, id)))];
    const [leaves, inner] = await Promise.all([
      leafSeqs.length === 0
        ? []
        : this.events.find({ sourceAppId, seq: { $in: leafSeqs } }, { projection: { _id: 0, seq: 1, hash: 1 } }).toArray(),
      innerKeys.length === 0 ? [] : this.treeNodes.find({ _id: { $in: innerKeys } }).toArray(),
    ]);
    const byKey = new Map<string, Uint8Array>();
    for (const l of leaves) byKey.set(nodeKey(sourceAppId, { level: 0, index: l.seq }), storedLeafHash(sourceAppId, l.seq, l.hash));
    for (const n of inner) byKey.set(n._id, binaryToBytes(n.hash));
    return ids.map((id) => {
      const hash = byKey.get(nodeKey(sourceAppId, id));
      if (!hash) throw new Error(`tree node (${id.level}, ${id.index}) of log ${sourceAppId} is not stored`);
      return hash;
    });
  }

  // --- checkpoints ------------------------------------------------------------------------

  async putCheckpoint(c: StoredCheckpoint): Promise<void> {
    try {
      await this.checkpoints.updateOne(
        { sourceAppId: c.sourceAppId, treeSize: c.treeSize },
        { $setOnInsert: { rootHash: c.rootHash, note: c.note, publishedAt: c.publishedAt } },
        { upsert: true },
      );
    } catch (err) {
      if (!isDuplicateKey(err)) throw err; // a concurrent put of the same size won the insert
    }
  }

  async getCheckpoint(sourceAppId: string, treeSize?: number): Promise<StoredCheckpoint | null> {
    const doc =
      treeSize === undefined
        ? await this.checkpoints.findOne({ sourceAppId }, { projection: checkpointProjection, sort: { treeSize: -1 } })
        : await this.checkpoints.findOne({ sourceAppId, treeSize }, { projection: checkpointProjection });
    return doc ? fromCheckpointDoc(doc) : null;
  }

  async listCheckpoints(
    sourceAppId: string,
    afterTreeSize: number | null,
    limit: number,
    direction: 'asc' | 'desc',
  ): Promise<StoredCheckpoint[]> {
    if (limit <= 0) return [];
    const beyond = afterTreeSize === null ? {} : { treeSize: direction === 'asc' ? { $gt: afterTreeSize } : { $lt: afterTreeSize } };
    const docs = await this.checkpoints
      .find({ sourceAppId, ...beyond }, { projection: checkpointProjection, sort: { treeSize: direction === 'asc' ? 1 : -1 }, limit })
      .toArray();
    return docs.map(fromCheckpointDoc);
  }
}

/**
 * Groups events by log, in input order, and checks what needs no database: each log's events are
 * consecutive and no idempotency key repeats within a log.
 */
function groupByLog(events: NewEvent[]): LogBatch[] {
  const byLog = new Map<string, { events: NewEvent[]; keys: Set<string> }>();
  for (const e of events) {
    const log = byLog.get(e.sourceAppId) ?? { events: [], keys: new Set<string>() };
    const prev = log.events.at(-1);
    if (prev && e.seq !== prev.seq + 1) {
      throw new AppendConflictError(`events of log ${e.sourceAppId} are not consecutive at seq ${e.seq}`, 'position');
    }
    if (e.idempotencyKey !== null) {
      if (log.keys.has(e.idempotencyKey)) {
        throw new AppendConflictError(`idempotency key repeated in the batch for log ${e.sourceAppId}`, 'idempotencyKey');
      }
      log.keys.add(e.idempotencyKey);
    }
    log.events.push(e);
    byLog.set(e.sourceAppId, log);
  }
  return [...byLog].map(([sourceAppId, log]) => ({ sourceAppId, events: log.events }));
}

// The MongoDB engine. Safety rests on one atomic operation: inserting a document with a unique
// `_id`. No transactions, no read-modify-write update decides anything, no clock is compared.
//
// An append is one insert into `batches` with `_id` = g, the global commit number: the insert that
// wins g has committed its whole batch; a writer that loses it (duplicate key) reads the batches it
// missed and, if none of them touched its logs, tries g + 1. A writer only ever inserts at the
// largest g it has read, plus one, so g has no gaps and a reader that has seen g has seen every
// batch below it. Each log's events must start at the log's head as of that g, so no two batches
// ever take one position of a log.
//
// A batch's events are in its body document, inserted before the claim; the batch itself stays
// small. From a committed batch, per-event documents (`events`, for queries) and a head hint per log
// (`logs`) are derived by idempotent inserts and hint updates, then its `pending` flag is removed.
// A writer that dies in between leaves the batch pending; any reader that needs completeness
// derives pending batches first. Nothing ever deletes or rewrites an event or a batch.
import { randomBytes } from 'node:crypto';
import { MongoBulkWriteError, MongoClient, MongoServerError, type Collection, type Db } from 'mongodb';
import {
  AppendConflictError,
  AppendOutcomeUnknownError,
  MalformedEventError,
  appendBytes,
  type EventFilter,
  type EventQuery,
  type LogHead,
  type LogStorage,
  type CommittedPage,
  type Coordination,
  DEFAULT_READ_BUDGET_ROWS,
  type EventPage,
  type NewEvent,
  type NodeId,
  type StoredCheckpoint,
  type StoredEvent,
  type TreeNode,
  storedEvent,
} from '../types.js';
import { HASH_HEX_RE, storedLeafHash } from '../stored-event.js';
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
  POS_PER_BATCH,
  toEventDoc,
  type BatchBodyDoc,
  type BatchDoc,
  type BatchLogDoc,
  type CheckpointDoc,
  type EventDoc,
  type IntegratedDoc,
  type LogDoc,
  type TreeNodeDoc,
} from './documents.js';
import { committedIsIndexed, committedPlan, eventQueryPlan } from './event-query.js';
import { MongoLeaseStore } from './leases.js';
import { ensureSchema, refuseFormerLayout } from './schema.js';
import { MongoApiKeyStore } from './api-key-store.js';
import { MongoWitnessStore } from './witness-store.js';

/** Test-only: where a test holds an append to stage a pause or a crash. */
export interface MongoStorageHooks {
  /** Before each insert of a batch at `g`. */
  beforeClaim?: (g: number) => Promise<void>;
  /** After the batch at `g` won its insert, before anything is derived from it; throwing stops the append there. */
  afterClaim?: (g: number) => Promise<void>;
  /** Runs the claim's insert (`insert`), or not, and may throw in its place, as a lost connection would. */
  claimInsert?: (insert: () => Promise<void>) => Promise<void>;
}

export interface MongoStorageOptions {
  uri: string;
  dbName: string;
  /** The byte budget of one append (appendBytes of its events); default DEFAULT_MAX_APPEND_BYTES. */
  maxAppendBytes?: number;
  hooks?: MongoStorageHooks;
  /** The clock of leases (for throughput only); nothing else of the engine reads a clock. */
  now?: () => number;
  /** Most events one readCommitted call examines beyond its matches (default DEFAULT_READ_BUDGET_ROWS). */
  readBudgetRows?: number;
}

const ZERO_HASH = '0'.repeat(64);
/** A batch is one BSON document (16 MiB at most): its events' text stays well below that. */
export const DEFAULT_MAX_APPEND_BYTES = 12 * 1024 * 1024;
/** Events per batch at most: their index within the batch must fit below POS_PER_BATCH. */
export const MAX_EVENTS_PER_BATCH = 10_000;
/** Attempts to settle an append of unknown outcome, with backoff between them. */
const RESOLVE_ATTEMPTS = 5;

const isDuplicateKey = (err: unknown) => err instanceof MongoServerError && err.code === 11000;
/** An insertMany whose every failure was a duplicate key: the documents were there already. */
const onlyDuplicates = (err: unknown) =>
  err instanceof MongoBulkWriteError &&
  (Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors]).every((w) => w.code === 11000) &&
  !err.writeConcernError;

interface LogBatch {
  sourceAppId: string;
  events: NewEvent[];
}

/** A log's head as of batch `asOf`: every batch up to it is accounted for. */
interface KnownHead {
  size: number;
  headHash: string;
  createdAt: number | null;
  asOf: number;
}

export class MongoStorage implements LogStorage {
  private readonly client: MongoClient;
  private readonly db: Db;
  readonly apiKeys: MongoApiKeyStore;
  readonly witness: MongoWitnessStore;
  readonly maxAppendBytes: number;
  private deployment: Deployment | null = null;
  /** Appends of this store run one at a time. */
  private appendQueue: Promise<unknown> = Promise.resolve();
  /** The largest g read: every batch up to it exists. */
  private knownMax = 0;
  /** Every batch up to it is derived. */
  private derivedThrough = 0;
  /** Heads of the logs this store has looked at, each correct as of its own `asOf`. */
  private readonly heads = new Map<string, KnownHead>();
  private readonly hooks: MongoStorageHooks;
  private readonly readBudget: number;

  constructor(private readonly options: MongoStorageOptions) {
    this.client = new MongoClient(options.uri);
    this.db = this.client.db(options.dbName);
    this.apiKeys = new MongoApiKeyStore(this.db, () => this.writeConcern());
    this.witness = new MongoWitnessStore(this.db, () => this.writeConcern());
    this.maxAppendBytes = options.maxAppendBytes ?? DEFAULT_MAX_APPEND_BYTES;
    this.hooks = options.hooks ?? {};
    this.readBudget = Math.max(1, options.readBudgetRows ?? DEFAULT_READ_BUDGET_ROWS);
  }

  private collection<T extends object>(name: string): Collection<T> {
    if (!this.deployment) throw new Error('MongoStorage used before init()');
    const { writeConcern, readConcern } = this.deployment;
    return this.db.collection<T>(name, { writeConcern, readConcern: { level: readConcern } });
  }
  private get events(): Collection<EventDoc> {
    return this.collection<EventDoc>(C.events);
  }
  private get batches(): Collection<BatchDoc> {
    return this.collection<BatchDoc>(C.batches);
  }
  private get batchBodies(): Collection<BatchBodyDoc> {
    return this.collection<BatchBodyDoc>(C.batchBodies);
  }
  private get logs(): Collection<LogDoc> {
    return this.collection<LogDoc>(C.logs);
  }
  private get treeNodes(): Collection<TreeNodeDoc> {
    return this.collection<TreeNodeDoc>(C.treeNodes);
  }
  private get checkpoints(): Collection<CheckpointDoc> {
    return this.collection<CheckpointDoc>(C.checkpoints);
  }
  private get integrated(): Collection<IntegratedDoc> {
    return this.collection<IntegratedDoc>(C.integrated);
  }

  private writeConcern() {
    if (!this.deployment) throw new Error('MongoStorage used before init()');
    return this.deployment.writeConcern;
  }

  async init(): Promise<void> {
    await this.client.connect();
    this.deployment ??= await detectDeployment(this.db);
    await refuseFormerLayout(this.db);
    await ensureSchema(this.db, this.deployment);
    await this.apiKeys.init();
    await this.witness.init();
    await MongoLeaseStore.ensureIndexes(this.db);
    // Whatever a writer that died after its claim left pending is derived before anything is read.
    await this.ensureDerived();
    this.coordination = {
      leases: new MongoLeaseStore(this.db, this.writeConcern(), this.options.now),
      claimVerifierKey: (key) => this.claimVerifierKey(key),
    };
  }

  /** Several API processes may share this database; they coordinate through leases (for throughput only). */
  coordination?: Coordination;

  private async claimVerifierKey(verifierKey: string): Promise<string> {
    const meta = this.collection<{ _id: string; value: string }>('meta');
    try {
      await meta.insertOne({ _id: 'verifierKey', value: verifierKey });
      return verifierKey;
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
    const doc = await meta.findOne({ _id: 'verifierKey' });
    return doc!.value;
  }

  /** How the store is deployed, known after init(); for logs and diagnostics. */
  get topology(): Deployment['topology'] | null {
    return this.deployment?.topology ?? null;
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  // --- the batch log ------------------------------------------------------------------------

  /** The batch with the largest g (null when none); raises knownMax to it. */
  private async readTop(): Promise<Pick<BatchDoc, '_id' | 'count'> | null> {
    const top = await this.batches.find({}, { projection: { _id: 1, count: 1 }, sort: { _id: -1 }, limit: 1 }).next();
    if (top && top._id > this.knownMax) this.knownMax = top._id;
    return top;
  }

  /** Derive every pending batch up to `g` (which exists), so every event committed up to it is readable. */
  private async deriveThrough(g: number): Promise<void> {
    const from = this.derivedThrough;
    if (from >= g) return;
    const pending = await this.batches.find({ _id: { $gt: from, $lte: g }, pending: true }, { sort: { _id: 1 } }).toArray();
    await Promise.all(pending.map((b) => this.derive(b)));
    if (g > this.derivedThrough) this.derivedThrough = g;
  }

  /** Derive every batch pending now: every event committed before this call is readable after it. */
  private async derivePending(): Promise<void> {
    const pending = await this.batches.find({ _id: { $gt: this.derivedThrough }, pending: true }, { sort: { _id: 1 } }).toArray();
    await Promise.all(pending.map((b) => this.derive(b)));
  }

  /** Everything committed before this call is readable afterwards; returns the largest g it covers (0: none). */
  private async ensureDerived(): Promise<number> {
    const g = (await this.readTop())?._id ?? 0;
    await this.deriveThrough(g);
    return g;
  }

  /**
   * Insert a committed batch's events (each at its deterministic position, so a second insert fails
   * on the unique indexes and is ignored), advance its logs' hints, then clear `pending`.
   */
  private async derive(batch: BatchDoc, body?: BatchBodyDoc['events']): Promise<void> {
    if (batch.void || batch.count === 0) return;
    const g = batch._id;
    let events = body;
    if (!events) {
      const found = await this.batchBodies.findOne({ _id: batch.token });
      if (!found) throw new Error(`batch ${g} has no body ${batch.token}`);
      events = found.events;
    }
    const docs: EventDoc[] = events.map((e, i) => ({ ...e, pos: g * POS_PER_BATCH + i }));
    try {
      await this.events.insertMany(docs, { ordered: false });
    } catch (err) {
      if (!onlyDuplicates(err)) throw err;
    }
    const unset = () => this.batches.updateOne({ _id: g }, { $unset: { pending: '' } });
    if (batch.logs.some((l) => l.firstSeq === 0)) {
      // A log's hint exists before its first batch stops being pending: listLogHeads relies on it.
      await Promise.all(batch.logs.map((l) => this.advanceHint(l, g)));
      await unset();
    } else {
      // Hints of existing logs only ever help: they may land after the flag is gone.
      await Promise.all([...batch.logs.map((l) => this.advanceHint(l, g)), unset()]);
    }
  }

  /** Move a log's hint forward to its head after batch g; a hint never moves back (but may stay behind). */
  private async advanceHint(l: BatchLogDoc, g: number): Promise<void> {
    const size = l.firstSeq + l.count;
    if (l.firstSeq === 0) {
      try {
        await this.logs.insertOne({ _id: l.app, size, headHash: l.headHash, g, createdAt: l.createdAt! });
        return;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err; // derived before: the update below is a no-op or moves it on
      }
    }
    await this.logs.updateOne({ _id: l.app, g: { $lt: g } }, { $set: { size, headHash: l.headHash, g } });
  }

  /** Apply a batch (read in g order, with nothing missed since `asOf`) to a known head. */
  private static applyBatch(head: KnownHead, app: string, batch: Pick<BatchDoc, '_id' | 'logs'>): void {
    const part = batch.logs.find((l) => l.app === app);
    if (part) {
      head.size = part.firstSeq + part.count;
      head.headHash = part.headHash;
      if (part.firstSeq === 0) head.createdAt = part.createdAt;
    }
    head.asOf = batch._id;
  }

  /**
   * The head of a log as of batch `upTo` (which exists) or later: from what is known, else its hint,
   * then forward through the batches that touch it.
   */
  private async headAsOf(app: string, upTo: number): Promise<KnownHead> {
    let head = this.heads.get(app);
    if (!head) {
      const hint = await this.logs.findOne({ _id: app });
      head = hint
        ? { size: hint.size, headHash: hint.headHash, createdAt: hint.createdAt, asOf: hint.g }
        : { size: 0, headHash: ZERO_HASH, createdAt: null, asOf: 0 };
    }
    if (head.asOf < upTo) {
      const from = head.asOf;
      const later = await this.batches
        .find({ _id: { $gt: from, $lte: upTo }, apps: app }, { projection: { _id: 1, logs: 1 }, sort: { _id: 1 } })
        .toArray();
      const next = { ...head };
      for (const b of later) MongoStorage.applyBatch(next, app, b);
      next.asOf = upTo;
      head = next;
      this.remember(app, head);
    }
    return head;
  }

  /** Keep the newest knowledge of a head (concurrent readers may bring older news). */
  private remember(app: string, head: KnownHead): void {
    const known = this.heads.get(app);
    if (!known || known.asOf <= head.asOf) this.heads.set(app, head);
  }

  /**
   * Read the batches after knownMax, in g order: knownMax moves to the last, and the known heads
   * that were current as of knownMax move with it. Returns the token of batch `tokenAt`.
   */
  private async catchUp(tokenAt?: number): Promise<string | undefined> {
    const from = this.knownMax;
    // Batch `tokenAt` is read even if a concurrent read already moved knownMax past it.
    const low = tokenAt === undefined ? from : Math.min(from, tokenAt - 1);
    const read = await this.batches
      .find({ _id: { $gt: low } }, { projection: { _id: 1, logs: 1, token: 1 }, sort: { _id: 1 } })
      .toArray();
    const token = read.find((b) => b._id === tokenAt)?.token;
    const missed = read.filter((b) => b._id > from);
    if (missed.length === 0) return token;
    const to = missed.at(-1)!._id;
    for (const [app, head] of this.heads) {
      if (head.asOf !== from) continue;
      const next = { ...head };
      for (const b of missed) MongoStorage.applyBatch(next, app, b);
      next.asOf = to;
      this.heads.set(app, next);
    }
    if (to > this.knownMax) this.knownMax = to;
    return token;
  }

  // --- sequencing -------------------------------------------------------------------------

  appendEvents(events: NewEvent[]): Promise<StoredEvent[]> {
    if (events.length === 0) return Promise.resolve([]);
    let batches: LogBatch[];
    try {
      if (events.length > MAX_EVENTS_PER_BATCH) {
        throw new RangeError(`one append holds at most ${MAX_EVENTS_PER_BATCH} events on MongoDB, not ${events.length}`);
      }
      batches = groupByLog(events);
      const bytes = events.reduce((n, e) => n + appendBytes({ ...e, payloadText: e.payloadText ?? JSON.stringify(e.payload) }), 0);
      if (bytes > this.maxAppendBytes) {
        throw new RangeError(`one append holds at most ${this.maxAppendBytes} bytes of events on MongoDB, not ${bytes}`);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const run = this.appendQueue.then(() => this.appendSerialized(events, batches));
    this.appendQueue = run.catch(() => undefined);
    return run;
  }

  private async appendSerialized(events: NewEvent[], batches: LogBatch[]): Promise<StoredEvent[]> {
    const token = randomBytes(12).toString('hex');
    const batch: Omit<BatchDoc, '_id'> = {
      token,
      logs: batches.map(({ sourceAppId, events: es }) => ({
        app: sourceAppId,
        firstSeq: es[0]!.seq,
        count: es.length,
        headHash: es.at(-1)!.hash,
        createdAt: es[0]!.seq === 0 ? es[0]!.receivedAt : null,
      })),
      apps: batches.map((b) => b.sourceAppId),
      count: events.length,
      pending: true,
    };
    const body = events.map((e) => {
      const { pos: _pos, ...doc } = toEventDoc(e, 0);
      return doc;
    });
    for (let attempt = 0; ; attempt++) {
      // Reads may raise knownMax at any time: check against the heads as of one g, and claim the next.
      const upTo = this.knownMax;
      await this.checkAppendable(batches, upTo, attempt === 0);
      // The body first, so a claimed batch's events always exist. The body of an append that ends
      // in a conflict stays, unread: nothing is deleted.
      if (attempt === 0) await this.batchBodies.insertOne({ _id: token, events: body });
      const g = upTo + 1;
      await this.hooks.beforeClaim?.(g);
      const claimed = await this.claim({ _id: g, ...batch });
      // Another batch holds g, unless it is ours (a retried insert that had landed): the catch-up,
      // which reads it anyway, tells by its token.
      if (claimed === 'taken' && (await this.catchUp(g)) !== token) continue;
      if (g > this.knownMax) this.knownMax = g;
      for (const part of batch.logs) {
        const known = this.heads.get(part.app);
        this.remember(part.app, {
          size: part.firstSeq + part.count,
          headHash: part.headHash,
          createdAt: part.firstSeq === 0 ? part.createdAt : (known?.createdAt ?? null),
          asOf: g,
        });
      }
      await this.hooks.afterClaim?.(g);
      try {
        await this.derive({ _id: g, ...batch }, body);
        if (this.derivedThrough === g - 1) this.derivedThrough = g;
      } catch {
        // Committed all the same (the claim decided it): the batch stays pending, and every reader
        // that needs its events derives it first.
      }
      return events.map((e, i) => storedEvent(e, g * POS_PER_BATCH + i));
    }
  }

  /**
   * Insert the batch at its g: 'won', or 'taken' when a batch holds g (another's, or ours if the
   * driver retried an insert that had landed: the caller tells by the token). If the insert's
   * outcome is unknown (a network error, a timeout), it is settled by a race for the same g: a void
   * batch that wins proves ours never will; one that loses finds the winner's token.
   */
  private async claim(batch: BatchDoc): Promise<'won' | 'taken'> {
    let failure: unknown;
    const insert = async () => {
      await this.batches.insertOne(batch);
    };
    try {
      await (this.hooks.claimInsert ? this.hooks.claimInsert(insert) : insert());
      return 'won';
    } catch (err) {
      if (isDuplicateKey(err)) return 'taken';
      failure = err;
    }
    for (let attempt = 0; attempt < RESOLVE_ATTEMPTS; attempt++) {
      try {
        await this.batches.insertOne({ _id: batch._id, token: 'void', logs: [], apps: [], count: 0, void: true });
        // The void took g: our insert did not commit, and never will. Nothing was written.
        this.knownMax = Math.max(this.knownMax, batch._id);
        throw failure;
      } catch (err) {
        if (err === failure) throw err;
        if (isDuplicateKey(err)) {
          try {
            return (await this.wonBy(batch)) ? 'won' : 'taken';
          } catch {
            // could not read who won: try again
          }
        }
      }
      await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
    }
    throw new AppendOutcomeUnknownError(
      `the append at commit ${batch._id} may or may not have committed (${failure instanceof Error ? failure.message : String(failure)}); ` +
        'retry it with the same idempotency keys',
      { cause: failure },
    );
  }

  /** Whether the batch at `batch._id` is ours (by its token); false when another writer's or void. */
  private async wonBy(batch: BatchDoc): Promise<boolean> {
    const holder = await this.batches.findOne({ _id: batch._id }, { projection: { token: 1 } });
    if (!holder) throw new Error(`batch ${batch._id} reported taken but not found`);
    return holder.token === batch.token;
  }

  /**
   * Throws AppendConflictError unless each log's events continue its head as of batch `upTo` and
   * (with `keys`) no idempotency key is taken. Keys need no unique index to be safe: a log's
   * positions are serialized by the claim, and a batch that touches the log after `upTo` makes the
   * claim fail and this check refuse the append.
   */
  private async checkAppendable(batches: LogBatch[], upTo: number, keys: boolean): Promise<void> {
    const withKeys = keys ? batches.filter((b) => b.events.some((e) => e.idempotencyKey !== null)) : [];
    const [heads] = await Promise.all([
      Promise.all(batches.map((b) => this.headAsOf(b.sourceAppId, upTo))),
      withKeys.length > 0 ? this.deriveThrough(upTo) : undefined,
    ]);
    batches.forEach(({ sourceAppId, events }, i) => {
      const head = heads[i]!;
      const first = events[0]!;
      if (first.seq !== head.size) {
        throw new AppendConflictError(`log ${sourceAppId} is at size ${head.size}, not ${first.seq}`, 'position');
      }
      if (first.prevHash !== '' && first.prevHash !== head.headHash) {
        throw new AppendConflictError(`log ${sourceAppId}: seq ${first.seq} does not link to the head ${head.headHash}`, 'position');
      }
    });
    await Promise.all(
      withKeys.map(async ({ sourceAppId, events }) => {
        const keys = events.map((e) => e.idempotencyKey).filter((k): k is string => k !== null);
        const taken = await this.events.findOne(
          { sourceAppId, idempotencySlot: { $in: keys } },
          { projection: { _id: 0, idempotencySlot: 1 } },
        );
        if (taken) throw new AppendConflictError(`idempotency key already used in log ${sourceAppId}`, 'idempotencyKey');
      }),
    );
  }

  async getLogHead(sourceAppId: string): Promise<LogHead | null> {
    const [top, integrated] = await Promise.all([this.readTop(), this.integrated.findOne({ _id: sourceAppId })]);
    const g = top?._id ?? 0;
    const head = await this.headAsOf(sourceAppId, g);
    if (head.size === 0) return null;
    if (!HASH_HEX_RE.test(String(head.headHash))) {
      // A batch or hint whose head hash was damaged cannot give the head: say so rather than link to it.
      throw new MalformedEventError(sourceAppId, head.size - 1, 'hash', 'lowercaseHex64', 'must be 64 lowercase hex characters (the log head)');
    }
    let createdAt = head.createdAt;
    if (createdAt === null) {
      // Known from batches after its first: the first is derived by now (or here), and with it the hint.
      await this.deriveThrough(g);
      const hint = await this.logs.findOne({ _id: sourceAppId }, { projection: { createdAt: 1 } });
      if (!hint) throw new Error(`log ${sourceAppId} has events but no hint after derivation`);
      createdAt = hint.createdAt;
      this.remember(sourceAppId, { ...head, createdAt });
    }
    return {
      sourceAppId,
      size: head.size,
      headHash: head.headHash,
      integratedSize: Math.min(integrated?.size ?? 0, head.size),
      createdAt,
    };
  }

  async listLogHeads(afterSourceAppId: string | null, limit: number): Promise<LogHead[]> {
    if (limit <= 0) return [];
    // A log's hint exists once its first batch is derived: derive what is pending so none is missed.
    await this.derivePending();
    const docs = await this.logs
      .find(afterSourceAppId === null ? {} : { _id: { $gt: afterSourceAppId } }, { projection: { _id: 1 }, sort: { _id: 1 }, limit })
      .toArray();
    const heads = await Promise.all(docs.map((d) => this.getLogHead(d._id)));
    return heads.filter((h): h is LogHead => h !== null);
  }

  async findByIdempotencyKeys(sourceAppId: string, keys: string[]): Promise<StoredEvent[]> {
    if (keys.length === 0) return [];
    // Keys are mostly new (the sequencer asks before every append): derive first rather than after a miss.
    await this.derivePending();
    const docs = await this.events
      .find({ sourceAppId, idempotencySlot: { $in: keys } }, { projection: eventProjection, sort: { seq: 1 } })
      .toArray();
    return docs.map(fromEventDoc);
  }

  // --- reading ----------------------------------------------------------------------------

  async getEvent(sourceAppId: string, seq: number): Promise<StoredEvent | null> {
    const find = () => this.events.findOne({ sourceAppId, seq }, { projection: eventProjection });
    let doc = await find();
    if (!doc) {
      await this.derivePending();
      doc = await find();
    }
    return doc ? fromEventDoc(doc) : null;
  }

  async getEventRange(sourceAppId: string, start: number, end: number, limit: number): Promise<StoredEvent[]> {
    if (limit <= 0 || start >= end) return [];
    const find = () =>
      this.events.find({ sourceAppId, seq: { $gte: start, $lt: end } }, { projection: eventProjection, sort: { seq: 1 }, limit }).toArray();
    let docs = await find();
    if (docs.length < Math.min(limit, end - start)) {
      await this.derivePending();
      docs = await find();
    }
    return docs.map(fromEventDoc);
  }

  /**
   * Every filter of a query is a range of one of the keyset indexes (time, log_time, type_time,
   * log_type_time), so the scan examines the events it returns and never needs to stop short.
   */
  async queryEvents(query: EventQuery): Promise<EventPage> {
    if (query.limit <= 0) return { events: [] }; // limit 0 means "no limit" to MongoDB
    await this.derivePending();
    const { filter, sort } = eventQueryPlan(query);
    const docs = await this.events.find(filter, { projection: eventProjection, sort, limit: query.limit }).toArray();
    return { events: docs.map(fromEventDoc) };
  }

  async readCommitted(afterPos: number, filter: EventFilter, limit: number): Promise<CommittedPage> {
    if (limit <= 0) return { events: [], through: afterPos, atHorizon: false };
    const { g: top, lastPos } = await this.horizon();
    const horizon = Math.max(afterPos, lastPos);
    // Where the index walk would examine events that do not match, it covers at most the budget's
    // worth of events (counted from the batches' sizes, without reading the events).
    const upTo = committedIsIndexed(filter) ? horizon : await this.budgetedUpTo(afterPos, top, horizon);
    const plan = committedPlan(afterPos, filter, upTo);
    const docs = await this.events.find(plan.filter, { projection: eventProjection, sort: plan.sort, limit }).toArray();
    const full = docs.length >= limit;
    return { events: docs.map(fromEventDoc), through: full ? docs.at(-1)!.pos : upTo, atHorizon: !full && upTo === horizon };
  }

  /** The pos up to which the events after `afterPos` (in batches up to g `top`) number the read budget. */
  private async budgetedUpTo(afterPos: number, top: number, horizon: number): Promise<number> {
    const from = Math.floor(afterPos / POS_PER_BATCH);
    if (from > top) return horizon;
    const sizes = await this.batches
      // Every batch holds at least one event (or is void): the budget's worth of batches is enough.
      .find({ _id: { $gte: from, $lte: top } }, { projection: { _id: 1, count: 1 }, sort: { _id: 1 }, limit: this.readBudget + 1 })
      .toArray();
    let remaining = this.readBudget;
    for (const b of sizes) {
      // Positions within a batch are dense: g * POS_PER_BATCH + index.
      const first = b._id === from ? (afterPos % POS_PER_BATCH) + 1 : 0;
      const available = Math.max(0, b.count - first);
      if (available >= remaining) return Math.min(horizon, b._id * POS_PER_BATCH + first + remaining - 1);
      remaining -= available;
    }
    return horizon;
  }

  /**
   * The largest g and the last pos of its events (of the last batch with events, when void ones are
   * on top), after deriving every batch up to it: every event with pos <= lastPos is readable.
   */
  private async horizon(): Promise<{ g: number; lastPos: number }> {
    let top = await this.readTop();
    if (!top) return { g: 0, lastPos: 0 };
    const g = top._id;
    await this.deriveThrough(g);
    if (top.count === 0) {
      // A void batch on top (an append settled as not committed): the last real one is below it.
      top = await this.batches.find({ _id: { $lt: g }, count: { $gt: 0 } }, { projection: { _id: 1, count: 1 }, sort: { _id: -1 }, limit: 1 }).next();
      if (!top) return { g, lastPos: 0 };
    }
    return { g, lastPos: top._id * POS_PER_BATCH + top.count - 1 };
  }

  async lastPos(): Promise<number> {
    return (await this.horizon()).lastPos;
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

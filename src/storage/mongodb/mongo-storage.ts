// The MongoDB engine. No transactions (FerretDB has none, and one log's writes never need them):
// appends are all-or-nothing by undoing their own documents, found by a per-call write token.
import { randomBytes } from 'node:crypto';
import { MongoClient, MongoServerError, type Collection, type Db } from 'mongodb';
import {
  AppendConflictError,
  type EventFilter,
  type EventQuery,
  type LogHead,
  type LogStorage,
  type CommitTurn,
  type Coordination,
  TurnLostError,
  type NewEvent,
  type NodeId,
  type StoredCheckpoint,
  type StoredEvent,
  type TreeNode,
} from '../types.js';
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
  hexToBytes,
  nodeKey,
  toEventDoc,
  type CheckpointDoc,
  type CounterDoc,
  type EventDoc,
  type LogDoc,
  type TreeNodeDoc,
} from './documents.js';
import { committedPlan, eventQueryPlan } from './event-query.js';
import { MongoLeaseStore } from './leases.js';
import { ensureSchema } from './schema.js';
import { MongoApiKeyStore } from './api-key-store.js';

export interface MongoStorageOptions {
  uri: string;
  dbName: string;
}

const ZERO_HASH = '0'.repeat(64);
/**
 * The commit watermark: every event with pos <= value is committed. An append raises it after its
 * documents are all in, and before its log summaries, so readers bounded by it (subscriptions, heads,
 * integration) never see an append that may still be undone.
 */
const COMMITTED_ID = 'committed';
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
  /** Appends of this process commit one at a time, so pos order is commit order. */
  private appendQueue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: MongoStorageOptions) {
    this.client = new MongoClient(options.uri);
    this.db = this.client.db(options.dbName);
    this.apiKeys = new MongoApiKeyStore(this.db, () => this.writeConcern());
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
    // First start on this database: everything already stored counts as committed.
    const top = await this.positions.highestCommitted();
    await this.counters.updateOne({ _id: COMMITTED_ID }, { $setOnInsert: { value: top } }, { upsert: true }).catch((err) => {
      if (!isDuplicateKey(err)) throw err;
    });
    this.coordination = {
      leases: new MongoLeaseStore(this.db, this.writeConcern()),
      beginTurn: (fence) => this.beginTurn(fence),
      claimVerifierKey: (key) => this.claimVerifierKey(key),
      watchCommits: (onCommit, onError) => this.watchCommits(onCommit, onError),
    };
  }

  /** Several API processes may share this database; they coordinate through leases. */
  coordination?: Coordination;

  private get counters(): Collection<CounterDoc> {
    return this.db.collection<CounterDoc>(C.counters, { writeConcern: this.writeConcern() });
  }

  private async committedPos(): Promise<number> {
    const doc = await this.counters.findOne({ _id: COMMITTED_ID });
    return doc?.value ?? 0;
  }

  /** Change streams exist only on replica sets and sharded clusters; FerretDB reports standalone. */
  private watchCommits(onCommit: () => void, onError: (err: unknown) => void): (() => Promise<void>) | null {
    if (this.deployment?.topology === 'standalone') return null;
    const stream = this.counters.watch([{ $match: { 'documentKey._id': COMMITTED_ID } }]);
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

  private async beginTurn(fence: number): Promise<number> {
    await this.counters.updateOne({ _id: COMMITTED_ID }, { $max: { fence } });
    const committed = await this.committedPos();
    const leftovers = await this.events
      .find({ pos: { $gt: committed } }, { projection: { _id: 0, sourceAppId: 1 } })
      .toArray();
    if (leftovers.length === 0) return 0;
    const { deletedCount } = await this.events.deleteMany({ pos: { $gt: committed } });
    for (const sourceAppId of new Set(leftovers.map((d) => d.sourceAppId))) {
      const head = await this.deriveHead(sourceAppId, null);
      // Lower the summary too: the dead writer may have raised it past what is committed.
      await this.logs.updateOne(
        { _id: sourceAppId },
        { $set: { size: head?.size ?? 0, headHash: head?.headHash ?? ZERO_HASH } },
      );
    }
    return deletedCount;
  }

  /** How the store is deployed, known after init(); for logs and diagnostics. */
  get topology(): Deployment['topology'] | null {
    return this.deployment?.topology ?? null;
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  // --- sequencing -------------------------------------------------------------------------

  appendEvents(events: NewEvent[], turn?: CommitTurn): Promise<StoredEvent[]> {
    if (events.length === 0) return Promise.resolve([]);
    const run = this.appendQueue.then(() => this.appendSerialized(events, groupByLog(events), turn));
    this.appendQueue = run.catch(() => undefined);
    return run;
  }

  private async appendSerialized(events: NewEvent[], batches: LogBatch[], turn?: CommitTurn): Promise<StoredEvent[]> {
    // One round trip for all three: positions burnt by a failed check are harmless gaps.
    let [, , first] = await Promise.all([
      this.checkAppendable(batches),
      this.ensureLogDocs(batches),
      this.positions.allocate(events.length),
    ]);
    for (let attempt = 0; ; attempt++) {
      const writeToken = randomBytes(12).toString('hex');
      if (attempt > 0) first = await this.positions.allocate(events.length);
      const docs = events.map((e, i) => toEventDoc(e, first + i, writeToken));
      try {
        await this.events.insertMany(docs, { ordered: true });
      } catch (err) {
        await this.undo(batches, writeToken);
        if (!isDuplicateKey(err)) throw err;
        // Another writer took a position or key since our check, else the pos was handed out twice.
        await this.checkAppendable(batches);
        if (attempt >= MAX_POS_RETRIES) {
          throw new AppendConflictError(`positions stayed taken after ${attempt + 1} attempts`, 'position');
        }
        await this.positions.catchUp();
        continue;
      }
      // Commit: raise the watermark, but only while our turn lasts (fenced), so a writer whose lease
      // was taken over can never acknowledge events the new holder has discarded.
      const marked = await this.counters.updateOne(
        turn ? { _id: COMMITTED_ID, fence: turn.fence } : { _id: COMMITTED_ID },
        { $max: { value: first + events.length - 1 } },
        { upsert: !turn },
      );
      if (turn && marked.matchedCount === 0) {
        await this.undo(batches, writeToken);
        throw new TurnLostError(`sequencer turn ${turn.fence} was taken over before this append committed`);
      }
      await this.recordHeads(batches);
      return events.map((e, i) => ({ ...e, pos: first + i }));
    }
  }

  /** Throws AppendConflictError unless each log's events start at its size and no key is taken. */
  private async checkAppendable(batches: LogBatch[]): Promise<void> {
    await Promise.all(
      batches.map(async ({ sourceAppId, events }) => {
        const size = await this.currentSize(sourceAppId);
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

  private async ensureLogDoc(sourceAppId: string): Promise<void> {
    try {
      await this.logs.updateOne(
        { _id: sourceAppId },
        { $setOnInsert: { size: 0, headHash: ZERO_HASH, integratedSize: 0, createdAt: null } },
        { upsert: true },
      );
    } catch (err) {
      // Two upserts of one new _id race; the loser's duplicate-key error means the document exists.
      if (!isDuplicateKey(err)) throw err;
    }
  }

  private async recordHeads(batches: LogBatch[]): Promise<void> {
    await Promise.all(
      batches.map(({ sourceAppId, events }) => {
        const last = events.at(-1)!;
        const first = events[0]!;
        return this.logs.updateOne(
          { _id: sourceAppId, size: { $lt: last.seq + 1 } },
          { $set: { size: last.seq + 1, headHash: last.hash, ...(first.seq === 0 ? { createdAt: first.receivedAt } : {}) } },
        );
      }),
    );
  }

  private async currentSize(sourceAppId: string): Promise<number> {
    const last = await this.events
      .find({ sourceAppId }, { projection: { _id: 0, seq: 1 }, sort: { seq: -1 }, limit: 1 })
      .next();
    return last ? last.seq + 1 : 0;
  }

  async getLogHead(sourceAppId: string): Promise<LogHead | null> {
    const doc = await this.logs.findOne({ _id: sourceAppId });
    if (doc && doc.size > 0 && doc.createdAt !== null) {
      // Trust the summary only if its head is the last event.
      const [around, committed] = await Promise.all([
        this.events
          .find({ sourceAppId, seq: { $gte: doc.size - 1 } }, { projection: { _id: 0, seq: 1, hash: 1, pos: 1 }, sort: { seq: 1 }, limit: 2 })
          .toArray(),
        this.committedPos(),
      ]);
      const [head] = around;
      if (around.length === 1 && head!.seq === doc.size - 1 && head!.hash === doc.headHash && head!.pos <= committed) {
        return { sourceAppId, size: doc.size, headHash: doc.headHash, integratedSize: doc.integratedSize, createdAt: doc.createdAt };
      }
    }
    return this.deriveHead(sourceAppId, doc);
  }

  /** The head from the events themselves, repairing the summary (a writer died before updating it). */
  private async deriveHead(sourceAppId: string, doc: LogDoc | null): Promise<LogHead | null> {
    const committed = await this.committedPos();
    const [last, first] = await Promise.all([
      this.events
        .find({ sourceAppId, pos: { $lte: committed } }, { projection: { _id: 0, seq: 1, hash: 1 }, sort: { seq: -1 }, limit: 1 })
        .next(),
      this.events.findOne({ sourceAppId, seq: 0 }, { projection: { _id: 0, receivedAt: 1 } }),
    ]);
    if (!last || !first) return null;
    const head: LogHead = {
      sourceAppId,
      size: last.seq + 1,
      headHash: last.hash,
      integratedSize: Math.min(doc?.integratedSize ?? 0, last.seq + 1),
      createdAt: first.receivedAt,
    };
    await this.ensureLogDoc(sourceAppId);
    await this.logs.updateOne(
      { _id: sourceAppId, size: { $lt: head.size } },
      { $set: { size: head.size, headHash: head.headHash, createdAt: head.createdAt } },
    );
    return head;
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

  async queryEvents(query: EventQuery): Promise<StoredEvent[]> {
    if (query.limit <= 0) return []; // limit 0 means "no limit" to MongoDB
    const { filter, sort } = eventQueryPlan(query);
    const docs = await this.events.find(filter, { projection: eventProjection, sort, limit: query.limit }).toArray();
    return docs.map(fromEventDoc);
  }

  async readCommitted(afterPos: number, filter: EventFilter, limit: number): Promise<StoredEvent[]> {
    if (limit <= 0) return [];
    const plan = committedPlan(afterPos, filter, await this.committedPos());
    const docs = await this.events.find(plan.filter, { projection: eventProjection, sort: plan.sort, limit }).toArray();
    return docs.map(fromEventDoc);
  }

  lastPos(): Promise<number> {
    return this.committedPos();
  }

  // --- tree -------------------------------------------------------------------------------

  async integrate(sourceAppId: string, fromSize: number, toSize: number, nodes: TreeNode[]): Promise<void> {
    const doc = await this.logs.findOne({ _id: sourceAppId }, { projection: { integratedSize: 1 } });
    const integrated = doc?.integratedSize ?? 0;
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
    await this.logs.updateOne(
      { _id: sourceAppId },
      { $max: { integratedSize: toSize }, $setOnInsert: { size: 0, headHash: ZERO_HASH, createdAt: null } },
      { upsert: true },
    );
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
    for (const l of leaves) byKey.set(nodeKey(sourceAppId, { level: 0, index: l.seq }), hexToBytes(l.hash));
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

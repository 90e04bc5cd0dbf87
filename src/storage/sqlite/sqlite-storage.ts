// LogStorage on SQLite (better-sqlite3). Reads run on this thread's connection; writes on a writer
// thread's connection (./writer.ts, ./writer-worker.ts, ./write-thread.ts). Schema and durability
// settings: see ./schema.ts.
//
// A read on this thread holds the event loop while it runs, so the reads whose work a caller's filter
// decides (queryEvents, readCommitted) examine at most `readBudgetRows` rows each and take turns: each
// starts in an event-loop turn of its own (see ReadTurns), so I/O and timers run between two of them.
import Database from 'better-sqlite3';
import {
  AppendConflictError,
  type CommittedPage,
  DEFAULT_READ_BUDGET_ROWS,
  MissingTreeNodeError,
  type EventFilter,
  type EventId,
  type EventPage,
  type EventQuery,
  type LogHead,
  type LogStorage,
  type NewEvent,
  type NodeId,
  type ReadCommittedOptions,
  decodeCommitted,
  type StoredCheckpoint,
  type StoredEvent,
  type TreeNode,
  storedEvent,
  type EventsWithText,
} from '../types.js';
import { appendCopiedEvents } from '../copied-events.js';
import { storedLeafHash } from '../stored-event.js';
import { EVENT_COLUMNS, rawRowToEvent, rowToEvent, type EventRow } from './event-rows.js';
import { planEventQuery, planReadCommitted, type IndexWalk } from './event-query-plan.js';
import { CONNECTION_PRAGMAS, configureConnection, migrate } from './schema.js';
import { SqliteApiKeyStore } from './api-key-store.js';
import { SqliteWitnessStore } from './witness-store.js';
import { SqliteInconsistencyStore } from './inconsistency-store.js';
import { createLagReader, TIME_INDEX_DEFAULTS, type TimeIndexOptions } from './time-index.js';
import { inProcessWriter, threadWriter, type AsyncWriter } from './write-thread.js';
import type { AppendRow, CheckpointRow } from './writer.js';
import { nodeHashMismatch } from '../integration-rules.js';

export interface SqliteStorageOptions {
  /** File path, or ':memory:' for tests. */
  path: string;
  /** Most rows one queryEvents or readCommitted call examines (default DEFAULT_READ_BUDGET_ROWS). */
  readBudgetRows?: number;
  /** When the writer adds the time index's keys (time-index.ts; default TIME_INDEX_DEFAULTS). */
  timeIndex?: Partial<TimeIndexOptions>;
}

/** A key in a walk's order: (ts, pos) for queryEvents, pos for readCommitted. */
interface WalkKey {
  ts: number;
  pos: number;
}

/** What one arm's walks found: matches (rows, or keys of rows to fetch) and, if the budget ran out, the last key examined. */
interface ArmResult {
  found: Array<EventRow | WalkKey>;
  stop: WalkKey | null;
  examined: number;
}

/**
 * Runs reads one per event-loop turn: each waits for a setImmediate queued after the previous read
 * finished, so the poll phase (sockets, other requests) runs between any two of them, however many
 * arrive together (e.g. 30 aliases of one request, resolved in one tick).
 */
class ReadTurns {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(read: () => T): Promise<T> {
    const turn = this.tail.then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(read);
    this.tail = turn.catch(() => undefined);
    return turn;
  }
}

interface LogRow {
  source_app_id: string;
  size: number;
  head_hash: string;
  integrated_size: number;
  created_at: number;
}

/** A row of the checkpoints table as read (the writer's CheckpointRow is the tuple it inserts). */
interface CheckpointRecord {
  source_app_id: string;
  tree_size: number;
  root_hash: string;
  note: string;
  published_at: number;
}

const LOG_COLUMNS = 'source_app_id, size, head_hash, integrated_size, created_at';
const CHECKPOINT_COLUMNS = 'source_app_id, tree_size, root_hash, note, published_at';

const rowToHead = (r: LogRow): LogHead => ({
  sourceAppId: r.source_app_id,
  size: r.size,
  headHash: r.head_hash,
  integratedSize: r.integrated_size,
  createdAt: r.created_at,
});

const rowToCheckpoint = (r: CheckpointRecord): StoredCheckpoint => ({
  sourceAppId: r.source_app_id,
  treeSize: r.tree_size,
  rootHash: r.root_hash,
  note: r.note,
  publishedAt: r.published_at,
});

/** Consecutive inner nodes of one level from which getTreeNodes reads them in one range read. */
const RUN_READ_MIN_NODES = 4;

export class SqliteStorage implements LogStorage {
  readonly db: Database.Database;
  readonly apiKeys: SqliteApiKeyStore;
  readonly witness: SqliteWitnessStore;
  readonly inconsistencies: SqliteInconsistencyStore;
  /** One writer (thread or connection) applies appends in the order they are sent, each checking continuity. */
  readonly orderedAppends = true;
  /** better-sqlite3 reads on the calling thread. */
  readonly synchronousReads = true;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly writer: AsyncWriter;
  private readonly readBudget: number;
  private readonly turns = new ReadTurns();
  private readListener: ((rowsExamined: number) => void) | null = null;
  private lagReader: (() => number) | null = null;

  observeReads(listener: (rowsExamined: number) => void): void {
    this.readListener = listener;
  }

  constructor(options: SqliteStorageOptions) {
    this.readBudget = Math.max(1, options.readBudgetRows ?? DEFAULT_READ_BUDGET_ROWS);
    this.db = new Database(options.path);
    configureConnection(this.db);
    this.apiKeys = new SqliteApiKeyStore(this.db);
    this.witness = new SqliteWitnessStore(this.db);
    this.inconsistencies = new SqliteInconsistencyStore(this.db);
    // A ':memory:' database (or any unnamed one) exists only on this connection.
    const timeIndex = { ...TIME_INDEX_DEFAULTS, ...options.timeIndex };
    this.writer = this.db.memory
      ? inProcessWriter(this.db, timeIndex)
      : threadWriter(this.db.name, CONNECTION_PRAGMAS, timeIndex);
  }

  async init(): Promise<void> {
    migrate(this.db);
    await this.apiKeys.init();
    await this.witness.init();
    await this.inconsistencies.init();
  }

  async close(): Promise<void> {
    await this.writer.close();
    this.statements.clear();
    if (this.db.open) this.db.close();
  }

  /** Prepared statements are cached by their SQL text (a small, fixed set). */
  /** A statement that returns rows as arrays of its columns (better-sqlite3's raw mode), cached apart. */
  private rawStmt(sql: string): Database.Statement {
    const key = `raw:${sql}`;
    let s = this.statements.get(key);
    if (!s) {
      s = this.db.prepare(sql).raw(true);
      this.statements.set(key, s);
    }
    return s;
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  // --- sequencing -------------------------------------------------------------------------

  async appendEvents(events: NewEvent[]): Promise<StoredEvent[]> {
    if (events.length === 0) return [];
    const rows = new Array<AppendRow>(events.length);
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (e.erasedAt != null && e.payloadHash) {
        // A copy of an event erased already: no payload nor salt ever reaches the store (as eraseEvents leaves it).
        rows[i] = [
          e.sourceAppId,
          e.seq,
          e.eventType,
          e.timestamp,
          e.receivedAt,
          '',
          e.prevHash,
          e.hash,
          e.idempotencyKey,
          null,
          e.payloadHash,
          e.erasedAt,
          e.erasureReason ?? '',
        ];
        continue;
      }
      const payload = e.payloadText ?? JSON.stringify(e.payload);
      rows[i] = [
        e.sourceAppId,
        e.seq,
        e.eventType,
        e.timestamp,
        e.receivedAt,
        payload,
        e.prevHash,
        e.hash,
        e.idempotencyKey,
        typeof e.payloadHash === 'string' ? (e.payloadSalt ?? null) : null,
        e.payloadHash ?? null,
      ];
    }
    let first: number;
    try {
      first = await this.writer.append(rows);
    } catch (err) {
      throw toAppendConflict(err);
    }
    const stored = new Array<StoredEvent>(events.length);
    for (let i = 0; i < events.length; i++) stored[i] = storedEvent(events[i]!, first + i);
    return stored;
  }

  appendCopied(events: NewEvent[]): Promise<StoredEvent[]> {
    return appendCopiedEvents(this, events);
  }

  async eraseEvents(ids: EventId[], erasedAt: number, reason: string): Promise<number> {
    if (ids.length === 0) return 0;
    return this.writer.erase(
      ids.map((id) => [id.sourceAppId, id.seq]),
      erasedAt,
      reason,
    );
  }

  async erasuresAppliedBelow(): Promise<number> {
    return (this.stmt('SELECT below FROM erasures_applied').pluck().get() as number | undefined) ?? 0;
  }

  async raiseErasuresAppliedBelow(
    size: number,
    listings: ReadonlyArray<readonly [string, number]> = [],
    copiedBelow = 0,
  ): Promise<void> {
    await this.writer.raiseErasuresApplied(size, listings, copiedBelow);
  }

  async erasuresCopiedBelow(): Promise<number> {
    return (this.stmt('SELECT copied_below FROM erasures_applied').pluck().get() as number | undefined) ?? 0;
  }

  async erasureListings(sourceAppId: string, from: number, below: number, limit: number): Promise<number[]> {
    if (limit <= 0 || from >= below) return [];
    return this.stmt(
      'SELECT record FROM erasure_listings WHERE source_app_id = ? AND record >= ? AND record < ? ORDER BY record LIMIT ?',
    )
      .pluck()
      .all(sourceAppId, from, below, limit) as number[];
  }

  async getLogHead(sourceAppId: string): Promise<LogHead | null> {
    const row = this.stmt(`SELECT ${LOG_COLUMNS} FROM logs WHERE source_app_id = ?`).get(sourceAppId) as LogRow | undefined;
    return row ? rowToHead(row) : null;
  }

  async listLogHeads(afterSourceAppId: string | null, limit: number): Promise<LogHead[]> {
    if (limit <= 0) return [];
    const rows = (
      afterSourceAppId === null
        ? this.stmt(`SELECT ${LOG_COLUMNS} FROM logs ORDER BY source_app_id LIMIT ?`).all(limit)
        : this.stmt(`SELECT ${LOG_COLUMNS} FROM logs WHERE source_app_id > ? ORDER BY source_app_id LIMIT ?`).all(
            afterSourceAppId,
            limit,
          )
    ) as LogRow[];
    return rows.map(rowToHead);
  }

  async findByIdempotencyKeys(sourceAppId: string, keys: string[]): Promise<StoredEvent[]> {
    if (keys.length === 0) return [];
    const rows = this.stmt(
      `SELECT ${EVENT_COLUMNS} FROM events
       WHERE source_app_id = ? AND idempotency_key IN (SELECT value FROM json_each(?)) ORDER BY pos`,
    ).all(sourceAppId, JSON.stringify(keys)) as EventRow[];
    return rows.map(rowToEvent);
  }

  // --- reading ----------------------------------------------------------------------------

  async getEvent(sourceAppId: string, seq: number): Promise<StoredEvent | null> {
    const row = this.stmt(`SELECT ${EVENT_COLUMNS} FROM events WHERE source_app_id = ? AND seq = ?`).get(sourceAppId, seq) as
      EventRow | undefined;
    return row ? rowToEvent(row) : null;
  }

  async getEventRange(sourceAppId: string, start: number, end: number, limit: number): Promise<StoredEvent[]> {
    if (limit <= 0 || end <= start) return [];
    return this.rangeRows(sourceAppId, start, end, limit).map(rawRowToEvent);
  }

  async getEventRangeWithText(sourceAppId: string, start: number, end: number, limit: number): Promise<EventsWithText> {
    if (limit <= 0 || end <= start) return { events: [], payloadTexts: [] };
    const rows = this.rangeRows(sourceAppId, start, end, limit);
    const events = rows.map(rawRowToEvent);
    // The payload column (EVENT_COLUMNS' seventh) is the text rawRowToEvent parsed, wherever a payload is.
    return { events, payloadTexts: events.map((e, i) => (e.payload === null ? null : (rows[i]![6] as string))) };
  }

  /** Rows of EVENT_COLUMNS as arrays (raw mode: this statement's text is used nowhere else), the audit's and the tiles' read. */
  private rangeRows(sourceAppId: string, start: number, end: number, limit: number): unknown[][] {
    return this.rawStmt(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE source_app_id = ? AND seq >= ? AND seq < ? ORDER BY seq LIMIT ?`,
    ).all(sourceAppId, start, end, limit) as unknown[][];
  }

  queryEvents(query: EventQuery): Promise<EventPage> {
    const plan = planEventQuery(query);
    if (!plan) return Promise.resolve({ events: [] });
    const sign = query.direction === 'asc' ? 1 : -1;
    const cmp = (a: WalkKey, b: WalkKey) => sign * (a.ts - b.ts || a.pos - b.pos);
    return this.turns.run(() => {
      // One read transaction: all walks (the time index's and the tail's, which meet at the same
      // `through`), and the fetch of their matches, see the same snapshot.
      const { rows, stop } = this.db.transaction(() => this.runArms(plan.arms, query.limit, cmp, plan.tail))();
      const events = rows.map(rowToEvent);
      return stop && events.length < query.limit ? { events, resumeAfter: { timestamp: stop.ts, pos: stop.pos } } : { events };
    });
  }

  readCommitted(
    afterPos: number,
    filter: EventFilter,
    limit: number,
    options: ReadCommittedOptions = {},
  ): Promise<CommittedPage> {
    const plan = planReadCommitted(afterPos, filter, limit);
    const arms = plan.arms.map((walk) => [walk]);
    const horizon = () => Math.max(afterPos, (this.stmt('SELECT max(pos) FROM events').pluck().get() as number | null) ?? 0);
    if (arms.length === 0) return Promise.resolve({ events: [], through: afterPos, atHorizon: limit > 0 });
    return this.turns.run(() =>
      // One read transaction: the type positions' walks and the tail meet at the same `through`.
      this.db.transaction((): CommittedPage => {
        const { rows, stop } = this.runArms(arms, limit, (a, b) => a.pos - b.pos, plan.tail);
        const { events, malformed } = decodeCommitted(rows, rowToEvent, options);
        const page = (through: number, atHorizon: boolean): CommittedPage =>
          malformed.length > 0 ? { events, through, atHorizon, malformed } : { events, through, atHorizon };
        if (rows.length >= limit) return page(rows.at(-1)!.pos, false);
        if (stop) return page(stop.pos, false);
        return page(horizon(), true);
      })(),
    );
  }

  /**
   * Runs each arm's walks within a share of the read budget and merges their matches in `cmp` order,
   * with the `tail` walk's, if any (its work is bounded by the tail's length, not by the budget).
   * Where an arm ran out of budget, the merge stops at the key it reached (`stop`, the earliest such
   * key over all arms): beyond it, that arm may hold matches not yet examined.
   */
  private runArms(
    arms: IndexWalk[][],
    limit: number,
    cmp: (a: WalkKey, b: WalkKey) => number,
    tail?: IndexWalk,
  ): { rows: EventRow[]; stop: WalkKey | null } {
    const share = Math.max(1, Math.floor(this.readBudget / arms.length));
    const results = arms.map((walks) => this.walkArm(walks, limit, share));
    if (tail) {
      const rows = this.stmt(tail.sql).all(tail.params) as EventRow[];
      results.push({ found: rows, stop: null, examined: rows.length });
    }
    this.readListener?.(results.reduce((n, r) => n + r.examined, 0));
    let stop: WalkKey | null = null;
    for (const r of results) if (r.stop && (stop === null || cmp(r.stop, stop) < 0)) stop = r.stop;
    let found = results.length === 1 ? results[0]!.found : results.flatMap((r) => r.found).sort(cmp);
    if (stop) found = found.filter((k) => cmp(k, stop) <= 0);
    found = found.slice(0, limit);
    const keysOnly = found.filter((k): k is WalkKey => !('payload' in k));
    if (keysOnly.length === 0) return { rows: found as EventRow[], stop };
    const fetched = this.stmt(`SELECT ${EVENT_COLUMNS} FROM events WHERE pos IN (SELECT value FROM json_each(?))`).all(
      JSON.stringify(keysOnly.map((k) => k.pos)),
    ) as EventRow[];
    const byPos = new Map(fetched.map((r) => [r.pos, r]));
    return { rows: found.map((k) => ('payload' in k ? k : byPos.get(k.pos)!)), stop };
  }

  /** One arm's walks in order, until `limit` matches or `budget` rows examined. */
  private walkArm(walks: IndexWalk[], limit: number, budget: number): ArmResult {
    const found: ArmResult['found'] = [];
    let examined = 0;
    let last: WalkKey | null = null;
    for (const w of walks) {
      if (found.length >= limit) break;
      const room = budget - examined;
      if (room <= 0) return { found, stop: last, examined };
      if (!w.residual) {
        // Every row walked matches: the walk examines exactly what it returns.
        const rows = this.stmt(w.sql).all({ ...w.params, limit: Math.min(limit - found.length, room) }) as EventRow[];
        examined += rows.length;
        for (const r of rows) found.push(r);
        if (rows.length > 0) last = rows.at(-1)!;
      } else {
        const rows = this.stmt(w.sql)
          .raw()
          .iterate({ ...w.params, limit: room }) as IterableIterator<[number, number, number | null]>;
        for (const [ts, pos, hit] of rows) {
          examined++;
          last = { ts, pos };
          if (hit === 1 && found.push(last) >= limit) break;
        }
      }
      if (examined >= budget && found.length < limit) return { found, stop: last, examined };
    }
    return { found, stop: null, examined };
  }

  indexLag(): number {
    this.lagReader ??= createLagReader(this.db);
    return this.lagReader();
  }

  async lastPos(): Promise<number> {
    return (this.stmt('SELECT max(pos) FROM events').pluck().get() as number | null) ?? 0;
  }

  // --- tree -------------------------------------------------------------------------------

  async integrate(
    sourceAppId: string,
    fromSize: number,
    toSize: number,
    nodes: TreeNode[],
    checkpoint?: StoredCheckpoint,
  ): Promise<void> {
    // The nodes are checked here, before they are packed for the writer thread, which checks the rest.
    const badNode = nodeHashMismatch(nodes);
    if (badNode) throw badNode;
    const ids = new Array<number>(nodes.length * 2);
    const hashes = new Uint8Array(nodes.length * 32);
    nodes.forEach((n, i) => {
      ids[2 * i] = n.level;
      ids[2 * i + 1] = n.index;
      hashes.set(n.hash, 32 * i);
    });
    await this.writer.integrate(sourceAppId, fromSize, toSize, { ids, hashes }, checkpoint && checkpointRow(checkpoint));
  }

  /**
   * Point reads, but a run of consecutive inner nodes of one level (an audit page's nodes come in such
   * runs, RangeProofResult.nodes) is one range read: a fifth of the time of as many point reads. A run
   * the range read does not find whole (a node missing or not bytes) is read point by point, which
   * names the node.
   */
  async getTreeNodes(sourceAppId: string, ids: NodeId[]): Promise<Uint8Array[]> {
    const leaf = this.stmt('SELECT hash FROM events WHERE source_app_id = ? AND seq = ?').pluck();
    const node = this.stmt('SELECT hash FROM tree_nodes WHERE source_app_id = ? AND level = ? AND idx = ?').pluck();
    const run = this.stmt(
      'SELECT hash FROM tree_nodes WHERE source_app_id = ? AND level = ? AND idx >= ? AND idx < ? ORDER BY idx',
    ).pluck();
    const one = ({ level, index }: NodeId): Uint8Array => {
      const found =
        level === 0
          ? (leaf.get(sourceAppId, index) as string | undefined)
          : (node.get(sourceAppId, level, index) as Buffer | undefined);
      if (found === undefined) throw new MissingTreeNodeError(sourceAppId, level, index);
      if (level === 0) return storedLeafHash(sourceAppId, index, found);
      if (!(found instanceof Uint8Array)) throw new MissingTreeNodeError(sourceAppId, level, index, 'is not stored as bytes');
      return found;
    };
    const out = new Array<Uint8Array>(ids.length);
    for (let i = 0; i < ids.length;) {
      const { level, index } = ids[i]!;
      let end = i + 1;
      if (level > 0) while (end < ids.length && ids[end]!.level === level && ids[end]!.index === index + (end - i)) end++;
      if (end - i >= RUN_READ_MIN_NODES) {
        const rows = run.all(sourceAppId, level, index, index + (end - i));
        if (rows.length === end - i && rows.every((h) => h instanceof Uint8Array)) {
          for (let k = 0; k < rows.length; k++) out[i + k] = rows[k] as Uint8Array;
          i = end;
          continue;
        }
      }
      for (; i < end; i++) out[i] = one(ids[i]!);
    }
    return out;
  }

  // --- checkpoints ------------------------------------------------------------------------

  async putCheckpoint(c: StoredCheckpoint): Promise<void> {
    await this.writer.putCheckpoint(checkpointRow(c));
  }

  async getCheckpoint(sourceAppId: string, treeSize?: number): Promise<StoredCheckpoint | null> {
    const row = (
      treeSize === undefined
        ? this.stmt(`SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints WHERE source_app_id = ? ORDER BY tree_size DESC LIMIT 1`).get(
            sourceAppId,
          )
        : this.stmt(`SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints WHERE source_app_id = ? AND tree_size = ?`).get(
            sourceAppId,
            treeSize,
          )
    ) as CheckpointRecord | undefined;
    return row ? rowToCheckpoint(row) : null;
  }

  async getLatestCheckpoints(sourceAppIds: readonly string[]): Promise<Array<StoredCheckpoint | null>> {
    // Each an indexed lookup in this process: nothing to gain from asking for them together.
    return Promise.all(sourceAppIds.map((app) => this.getCheckpoint(app)));
  }

  async listCheckpoints(
    sourceAppId: string,
    afterTreeSize: number | null,
    limit: number,
    direction: 'asc' | 'desc',
  ): Promise<StoredCheckpoint[]> {
    if (limit <= 0) return [];
    const [cmp, order] = direction === 'asc' ? ['>', 'ASC'] : ['<', 'DESC'];
    const beyond = afterTreeSize === null ? '' : ` AND tree_size ${cmp} @after`;
    const rows = this.stmt(
      `SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints WHERE source_app_id = @sourceAppId${beyond} ORDER BY tree_size ${order} LIMIT @limit`,
    ).all({ sourceAppId, limit, ...(afterTreeSize === null ? {} : { after: afterTreeSize }) }) as CheckpointRecord[];
    return rows.map(rowToCheckpoint);
  }

  // One conditional UPDATE on the main connection: SQLite runs it whole, and WAL serializes it with the writer's.
  async replaceCheckpointNote(sourceAppId: string, treeSize: number, expected: string, note: string): Promise<boolean> {
    const result = this.stmt('UPDATE checkpoints SET note = ? WHERE source_app_id = ? AND tree_size = ? AND note = ?').run(
      note,
      sourceAppId,
      treeSize,
      expected,
    );
    return result.changes === 1;
  }
}

/** A UNIQUE violation means another writer took the position or key: report it as a conflict. */
function toAppendConflict(err: unknown): unknown {
  if (err instanceof AppendConflictError) return err;
  const e = err as { code?: string; message?: string; conflict?: AppendConflictError['kind'] };
  if (e.conflict) return new AppendConflictError(e.message ?? 'append conflict', e.conflict);
  if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    const kind = e.message?.includes('idempotency_key') ? 'idempotencyKey' : 'position';
    return new AppendConflictError(`append conflict: ${e.message}`, kind);
  }
  return err;
}

function checkpointRow(c: StoredCheckpoint): CheckpointRow {
  return [c.sourceAppId, c.treeSize, c.rootHash, c.note, c.publishedAt];
}

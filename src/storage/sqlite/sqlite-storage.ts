// LogStorage on SQLite (better-sqlite3, synchronous; results wrapped in promises).
// Schema and durability settings: see ./schema.ts.
import Database from 'better-sqlite3';
import {
  AppendConflictError,
  type EventFilter,
  type EventQuery,
  type LogHead,
  type LogStorage,
  type NewEvent,
  type NodeId,
  type StoredCheckpoint,
  type StoredEvent,
  type TreeNode,
} from '../types.js';
import { EVENT_COLUMNS, rowToEvent, type EventRow } from './event-rows.js';
import { planEventQuery, planReadCommitted, type IndexWalk } from './event-query-plan.js';
import { configureConnection, migrate } from './schema.js';
import { SqliteApiKeyStore } from './api-key-store.js';

export interface SqliteStorageOptions {
  /** File path, or ':memory:' for tests. */
  path: string;
}

interface LogRow {
  source_app_id: string;
  size: number;
  head_hash: string;
  integrated_size: number;
  created_at: number;
}

interface CheckpointRow {
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

const rowToCheckpoint = (r: CheckpointRow): StoredCheckpoint => ({
  sourceAppId: r.source_app_id,
  treeSize: r.tree_size,
  rootHash: r.root_hash,
  note: r.note,
  publishedAt: r.published_at,
});

/** The next position of each log touched by a batch, and how its logs row changes. */
interface LogAdvance {
  next: number;
  headHash: string;
  createdAt: number;
}

export class SqliteStorage implements LogStorage {
  readonly db: Database.Database;
  readonly apiKeys: SqliteApiKeyStore;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly appendTransaction: Database.Transaction<(events: NewEvent[]) => StoredEvent[]>;
  private readonly integrateTransaction: Database.Transaction<
    (sourceAppId: string, fromSize: number, toSize: number, nodes: TreeNode[]) => void
  >;

  constructor(options: SqliteStorageOptions) {
    this.db = new Database(options.path);
    configureConnection(this.db);
    this.apiKeys = new SqliteApiKeyStore(this.db);
    this.appendTransaction = this.db.transaction((events: NewEvent[]) => this.appendInTransaction(events));
    this.integrateTransaction = this.db.transaction(
      (sourceAppId: string, fromSize: number, toSize: number, nodes: TreeNode[]) =>
        this.integrateInTransaction(sourceAppId, fromSize, toSize, nodes),
    );
  }

  async init(): Promise<void> {
    migrate(this.db);
    await this.apiKeys.init();
  }

  async close(): Promise<void> {
    this.statements.clear();
    if (this.db.open) this.db.close();
  }

  /** Prepared statements are cached by their SQL text (a small, fixed set). */
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
    try {
      return this.appendTransaction.immediate(events);
    } catch (err) {
      throw toAppendConflict(err);
    }
  }

  private appendInTransaction(events: NewEvent[]): StoredEvent[] {
    const advances = this.checkPositions(events);
    const insert = this.stmt(
      `INSERT INTO events (${EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    let pos = ((this.stmt('SELECT max(pos) FROM events').pluck().get() as number | null) ?? 0) + 1;
    const stored: StoredEvent[] = new Array(events.length);
    for (let i = 0; i < events.length; i++, pos++) {
      const e = events[i]!;
      insert.run(pos, e.sourceAppId, e.seq, e.eventType, e.timestamp, e.receivedAt, JSON.stringify(e.payload), e.prevHash, e.hash, e.idempotencyKey);
      stored[i] = { ...e, pos };
    }
    const upsertLog = this.stmt(
      `INSERT INTO logs (${LOG_COLUMNS}) VALUES (?, ?, ?, 0, ?)
       ON CONFLICT (source_app_id) DO UPDATE SET size = excluded.size, head_hash = excluded.head_hash`,
    );
    for (const [sourceAppId, a] of advances) upsertLog.run(sourceAppId, a.next, a.headHash, a.createdAt);
    return stored;
  }

  /** Each log's events must continue it exactly: start at its size, consecutive, in order. */
  private checkPositions(events: NewEvent[]): Map<string, LogAdvance> {
    const advances = new Map<string, LogAdvance>();
    const sizeOf = this.stmt('SELECT size FROM logs WHERE source_app_id = ?').pluck();
    for (const e of events) {
      let a = advances.get(e.sourceAppId);
      if (!a) {
        a = { next: (sizeOf.get(e.sourceAppId) as number | undefined) ?? 0, headHash: '', createdAt: e.receivedAt };
        advances.set(e.sourceAppId, a);
      }
      if (e.seq !== a.next) {
        throw new AppendConflictError(`log ${e.sourceAppId}: expected seq ${a.next}, got ${e.seq}`, 'position');
      }
      a.next++;
      a.headHash = e.hash;
    }
    return advances;
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
        : this.stmt(`SELECT ${LOG_COLUMNS} FROM logs WHERE source_app_id > ? ORDER BY source_app_id LIMIT ?`).all(afterSourceAppId, limit)
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
      | EventRow
      | undefined;
    return row ? rowToEvent(row) : null;
  }

  async getEventRange(sourceAppId: string, start: number, end: number, limit: number): Promise<StoredEvent[]> {
    if (limit <= 0 || end <= start) return [];
    const rows = this.stmt(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE source_app_id = ? AND seq >= ? AND seq < ? ORDER BY seq LIMIT ?`,
    ).all(sourceAppId, start, end, limit) as EventRow[];
    return rows.map(rowToEvent);
  }

  async queryEvents(query: EventQuery): Promise<StoredEvent[]> {
    const arms = planEventQuery(query);
    if (arms.length === 0) return [];
    // One read transaction: all walks see the same snapshot.
    const rows = this.db.transaction(() => arms.map((walks) => this.walkArm(walks, query.limit)))();
    if (rows.length === 1) return rows[0]!.map(rowToEvent);
    const sign = query.direction === 'asc' ? 1 : -1;
    return rows
      .flat()
      .sort((a, b) => sign * (a.ts - b.ts || a.pos - b.pos))
      .slice(0, query.limit)
      .map(rowToEvent);
  }

  private walkArm(walks: IndexWalk[], limit: number): EventRow[] {
    const rows: EventRow[] = [];
    for (const w of walks) {
      if (rows.length >= limit) break;
      rows.push(...(this.stmt(w.sql).all({ ...w.params, limit: limit - rows.length }) as EventRow[]));
    }
    return rows;
  }

  async readCommitted(afterPos: number, filter: EventFilter, limit: number): Promise<StoredEvent[]> {
    const walk = planReadCommitted(afterPos, filter, limit);
    if (!walk) return [];
    return (this.stmt(walk.sql).all(walk.params) as EventRow[]).map(rowToEvent);
  }

  async lastPos(): Promise<number> {
    return (this.stmt('SELECT max(pos) FROM events').pluck().get() as number | null) ?? 0;
  }

  // --- tree -------------------------------------------------------------------------------

  async integrate(sourceAppId: string, fromSize: number, toSize: number, nodes: TreeNode[]): Promise<void> {
    this.integrateTransaction.immediate(sourceAppId, fromSize, toSize, nodes);
  }

  private integrateInTransaction(sourceAppId: string, fromSize: number, toSize: number, nodes: TreeNode[]): void {
    const log = this.stmt('SELECT size, integrated_size FROM logs WHERE source_app_id = ?').get(sourceAppId) as
      | Pick<LogRow, 'size' | 'integrated_size'>
      | undefined;
    const integrated = log?.integrated_size ?? 0;
    if (integrated >= toSize) return;
    if (!log) throw new Error(`integrate: log ${sourceAppId} has no events`);
    if (integrated < fromSize) {
      throw new Error(`integrate: log ${sourceAppId} is integrated to ${integrated}, below ${fromSize}; a gap would be left`);
    }
    if (toSize > log.size) throw new Error(`integrate: log ${sourceAppId} has ${log.size} events, fewer than ${toSize}`);
    // Nodes are a function of the leaves, so rewriting one is harmless.
    const put = this.stmt('INSERT OR REPLACE INTO tree_nodes (source_app_id, level, idx, hash) VALUES (?, ?, ?, ?)');
    for (const n of nodes) {
      if (n.level < 1) throw new Error(`integrate: node level ${n.level} is not stored (level 0 is the event hash)`);
      if (n.hash.length !== 32) throw new Error(`integrate: node hash must be 32 bytes, got ${n.hash.length}`);
      put.run(sourceAppId, n.level, n.index, Buffer.from(n.hash.buffer, n.hash.byteOffset, n.hash.byteLength));
    }
    this.stmt('UPDATE logs SET integrated_size = ? WHERE source_app_id = ?').run(toSize, sourceAppId);
  }

  async getTreeNodes(sourceAppId: string, ids: NodeId[]): Promise<Uint8Array[]> {
    const leaf = this.stmt('SELECT hash FROM events WHERE source_app_id = ? AND seq = ?').pluck();
    const node = this.stmt('SELECT hash FROM tree_nodes WHERE source_app_id = ? AND level = ? AND idx = ?').pluck();
    return ids.map(({ level, index }) => {
      const found =
        level === 0
          ? (leaf.get(sourceAppId, index) as string | undefined)
          : (node.get(sourceAppId, level, index) as Buffer | undefined);
      if (found === undefined) throw new Error(`tree node missing: log ${sourceAppId} level ${level} index ${index}`);
      return typeof found === 'string' ? Buffer.from(found, 'hex') : found;
    });
  }

  // --- checkpoints ------------------------------------------------------------------------

  async putCheckpoint(c: StoredCheckpoint): Promise<void> {
    this.stmt(`INSERT OR IGNORE INTO checkpoints (${CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?)`).run(
      c.sourceAppId,
      c.treeSize,
      c.rootHash,
      c.note,
      c.publishedAt,
    );
  }

  async getCheckpoint(sourceAppId: string, treeSize?: number): Promise<StoredCheckpoint | null> {
    const row = (
      treeSize === undefined
        ? this.stmt(`SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints WHERE source_app_id = ? ORDER BY tree_size DESC LIMIT 1`).get(sourceAppId)
        : this.stmt(`SELECT ${CHECKPOINT_COLUMNS} FROM checkpoints WHERE source_app_id = ? AND tree_size = ?`).get(sourceAppId, treeSize)
    ) as CheckpointRow | undefined;
    return row ? rowToCheckpoint(row) : null;
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
    ).all({ sourceAppId, limit, ...(afterTreeSize === null ? {} : { after: afterTreeSize }) }) as CheckpointRow[];
    return rows.map(rowToCheckpoint);
  }
}

/** A UNIQUE violation means another writer took the position or key: report it as a conflict. */
function toAppendConflict(err: unknown): unknown {
  if (err instanceof AppendConflictError) return err;
  const e = err as { code?: string; message?: string };
  if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    const kind = e.message?.includes('idempotency_key') ? 'idempotencyKey' : 'position';
    return new AppendConflictError(`append conflict: ${e.message}`, kind);
  }
  return err;
}

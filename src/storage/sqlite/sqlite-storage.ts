// LogStorage on SQLite (better-sqlite3). Reads run on this thread's connection; writes on a writer
// thread's connection (./writer.mjs, ./write-thread.ts). Schema and durability settings: see ./schema.ts.
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
  storedEvent,
} from '../types.js';
import { storedLeafHash } from '../stored-event.js';
import { EVENT_COLUMNS, rowToEvent, type EventRow } from './event-rows.js';
import { planEventQuery, planReadCommitted, type IndexWalk } from './event-query-plan.js';
import { canonicalJson } from '../../core/canonical-json.js';
import { CONNECTION_PRAGMAS, configureConnection, migrate } from './schema.js';
import { SqliteApiKeyStore } from './api-key-store.js';
import { inProcessWriter, threadWriter, type AsyncWriter } from './write-thread.js';
import type { AppendResult, AppendRow } from './writer.mjs';

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

export class SqliteStorage implements LogStorage {
  readonly db: Database.Database;
  readonly apiKeys: SqliteApiKeyStore;
  /** One writer (thread or connection) applies appends in the order they are sent, each checking continuity. */
  readonly orderedAppends = true;
  /** The writer (thread) links and hashes events sequenced without their hashes. */
  readonly chainsAppends = true;
  /** better-sqlite3 reads on the calling thread. */
  readonly synchronousReads = true;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly writer: AsyncWriter;

  constructor(options: SqliteStorageOptions) {
    this.db = new Database(options.path);
    configureConnection(this.db);
    this.apiKeys = new SqliteApiKeyStore(this.db);
    // A ':memory:' database (or any unnamed one) exists only on this connection.
    this.writer = this.db.memory ? inProcessWriter(this.db) : threadWriter(this.db.name, CONNECTION_PRAGMAS);
  }

  async init(): Promise<void> {
    migrate(this.db);
    await this.apiKeys.init();
  }

  async close(): Promise<void> {
    await this.writer.close();
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
    const rows: AppendRow[] = new Array(events.length);
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      // An event the writer hashes needs the leaf's payload text; one hashed already is stored as it came.
      const payload = e.payloadText ?? (e.hash === '' ? canonicalJson(e.payload) : JSON.stringify(e.payload));
      rows[i] = [e.sourceAppId, e.seq, e.eventType, e.timestamp, e.receivedAt, payload, e.prevHash, e.hash, e.idempotencyKey];
    }
    let result: AppendResult;
    try {
      result = await this.writer.append(rows);
    } catch (err) {
      throw toAppendConflict(err);
    }
    const { first, chain } = result;
    const stored: StoredEvent[] = new Array(events.length);
    for (let i = 0; i < events.length; i++) {
      const e = (stored[i] = storedEvent(events[i]!, first + i));
      if (chain !== null) {
        e.prevHash = chain.slice(128 * i, 128 * i + 64);
        e.hash = chain.slice(128 * i + 64, 128 * i + 128);
      }
    }
    return stored;
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
    const ids = new Array<number>(nodes.length * 2);
    const hashes = new Uint8Array(nodes.length * 32);
    nodes.forEach((n, i) => {
      if (n.hash.length !== 32) throw new Error(`integrate: node hash must be 32 bytes, got ${n.hash.length}`);
      ids[2 * i] = n.level;
      ids[2 * i + 1] = n.index;
      hashes.set(n.hash, 32 * i);
    });
    await this.writer.integrate(sourceAppId, fromSize, toSize, { ids, hashes });
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
      return level === 0 ? storedLeafHash(sourceAppId, index, found) : (found as Buffer);
    });
  }

  // --- checkpoints ------------------------------------------------------------------------

  async putCheckpoint(c: StoredCheckpoint): Promise<void> {
    await this.writer.putCheckpoint([c.sourceAppId, c.treeSize, c.rootHash, c.note, c.publishedAt]);
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
  const e = err as { code?: string; message?: string; conflict?: AppendConflictError['kind'] };
  if (e.conflict) return new AppendConflictError(e.message ?? 'append conflict', e.conflict);
  if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    const kind = e.message?.includes('idempotency_key') ? 'idempotencyKey' : 'position';
    return new AppendConflictError(`append conflict: ${e.message}`, kind);
  }
  return err;
}

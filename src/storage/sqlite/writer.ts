// The SQLite log store's writes (appends, integration, checkpoints), on a connection of their own.
//
// SqliteStorage runs them in a worker thread (writer-worker.ts), so that SQLite's share of
// ingest (B-tree inserts, WAL writes, fsync, checkpoints) runs on another core than HTTP, GraphQL,
// validation and leaf hashing; reads stay on the main thread's connection (WAL readers never wait for
// the writer). For ':memory:' databases, which one connection must own, the same functions run
// in-process (write-thread.ts).
import type Database from 'better-sqlite3';
import { ZERO_HASH_HEX } from '../../core/leaf.js';
import { checkpointMismatch, integrationGap } from '../integration-rules.js';
import { TIME_INDEX } from './schema.js';

/**
 * sourceAppId, seq, eventType, ts, receivedAt, payload JSON, prevHash, hash, idempotencyKey, and for
 * leaf version 2 payloadSalt and payloadHash (null, null for version 1), stored as given. A version 2
 * event copied already erased (a mirror's copy, src/mirror) adds erasedAt and erasureReason, with payload
 * '' and payloadSalt null.
 */
export type AppendRow =
  | [string, number, string, number, number, string, string, string, string | null, string | null, string | null]
  | [string, number, string, number, number, string, string, string, string | null, string | null, string | null, number, string];

/**
 * Tree nodes, packed: node i is at level ids[2i], index ids[2i+1], and its hash is bytes 32i..32i+32
 * of `hashes`. One buffer crosses to the writer thread instead of one per node (~20x cheaper to post).
 */
export interface PackedNodes {
  ids: number[];
  hashes: Uint8Array;
}

/** sourceAppId, treeSize, rootHash, note, publishedAt. */
export type CheckpointRow = [string, number, string, string, number];

/** What a write answers: an append the first row's pos (the others follow it), an erasure its count, the others null. */
export type WriteValue = number | null;

export type Outcome = { ok: true; value: WriteValue } | { ok: false; error: unknown };

export interface Writer {
  /** Appends in one IMMEDIATE transaction; returns the first row's pos (the others follow it). */
  append(rows: AppendRow[]): number;
  /** With `checkpoint` (tree size toSize), stores it after the nodes, in the same transaction. */
  integrate(sourceAppId: string, fromSize: number, toSize: number, nodes: PackedNodes, checkpoint?: CheckpointRow | null): void;
  putCheckpoint(checkpoint: CheckpointRow): void;
  /** Erase version 2 payloads in one transaction (LogStorage.eraseEvents); returns how many it erased. */
  erase(ids: Array<[string, number]>, erasedAt: number, reason: string): number;
  /**
   * Stores the listings, then raises `erasures_applied.below` to `size` and `copied_below` to `copied`
   * where they are lower, in one transaction (LogStorage.raiseErasuresAppliedBelow).
   */
  raiseErasuresApplied(size: number, listings: ReadonlyArray<readonly [string, number]>, copied: number): void;
  /**
   * The requests in order, in one transaction (one commit), each in a savepoint of its own: a failed
   * one leaves no trace and the others still apply. If the commit fails, every one fails.
   */
  applyAll(reqs: WriteRequest[]): Outcome[];
  /**
   * The requests that waited together for the writer thread (one turn of writer-worker.ts). The
   * publisher's writes among them (integrations, checkpoints) that `publisherWritesFirst` lets pass
   * go first, applyAll'd in a transaction (one commit) of their own, and `settle` gets them and their
   * outcomes before the others are written; the others follow in a second applyAll, then `settle`
   * again. So a publish waits for the commit in progress and its own, not for the append groups
   * queued before it. With none to pass, one applyAll and one `settle`, as before.
   */
  applyTurn(reqs: WriteRequest[], settle: (reqs: WriteRequest[], outcomes: Outcome[]) => void): void;
}

/**
 * Which of the requests of one writer turn go ahead of the others (their indexes, in request order):
 * the integrations and checkpoints whose outcome cannot depend on any write queued before them.
 *
 * - An integration reads its log's sizes (`logs.size`, `integrated_size`), its tree nodes and its
 *   checkpoints; appends write only events and `logs.size`/`head_hash`, erasures only payloads. So an
 *   integration passes the appends before it only if it covers committed events alone: `toSize` at
 *   most the log's committed size (`committedSize`, read before the turn's first transaction). One
 *   that needs a queued append stays behind it, as do the later integrations and checkpoints of its
 *   log (their order among themselves is kept).
 * - A checkpoint (`putCheckpoint`) touches only the checkpoints table: it passes unless an earlier
 *   write of its log stays behind.
 *
 * The bound: only writes that arrived in the same turn are passed, and the turn applies them right
 * after, before the writer reads another request, so an append is passed at most once, by at most
 * the publisher writes that waited with it (one publish cycle: up to 32 logs). An append is answered
 * only after its own commit, as before: an acknowledged append is durable whatever the order.
 */
export function publisherWritesFirst(reqs: readonly WriteRequest[], committedSize: (sourceAppId: string) => number): number[] {
  const ahead: number[] = [];
  const heldBack = new Set<string>();
  let others = false;
  reqs.forEach((req, i) => {
    if (req.op === 'append' || req.op === 'erase' || req.op === 'raiseErasuresApplied') {
      others = true;
      return;
    }
    const app = req.op === 'integrate' ? req.sourceAppId : req.checkpoint[0];
    if (heldBack.has(app)) return;
    if (req.op === 'integrate' && req.toSize > committedSize(app)) heldBack.add(app);
    else ahead.push(i);
  });
  // With nothing to pass (no append before or beside them), one transaction does it all.
  return others ? ahead : [];
}

export type WriteRequest =
  | { id: number; op: 'append'; rows: AppendRow[] }
  | {
      id: number;
      op: 'integrate';
      sourceAppId: string;
      fromSize: number;
      toSize: number;
      nodes: PackedNodes;
      checkpoint?: CheckpointRow | null;
    }
  | { id: number; op: 'putCheckpoint'; checkpoint: CheckpointRow }
  | { id: number; op: 'erase'; ids: Array<[string, number]>; erasedAt: number; reason: string }
  | {
      id: number;
      op: 'raiseErasuresApplied';
      size: number;
      listings: ReadonlyArray<readonly [string, number]>;
      copied: number;
    };

export type WriterRequest = WriteRequest | { id: number; op: 'close' };

export interface ErrorMessage {
  message: string;
  code?: string | undefined;
  conflict?: 'position' | 'idempotencyKey' | undefined;
  stack?: string | undefined;
}

export type WriterResponse = { id: number; value: WriteValue } | { id: number; error: ErrorMessage };

/** Columns of one appended row (AppendRow), pos left out; EVENT_COLUMNS (event-rows.ts) is pos and these. */
export const ROW_COLUMNS =
  'source_app_id, seq, event_type, ts, received_at, payload, prev_hash, hash, idempotency_key, payload_salt, payload_hash';
/** The columns an erasure sets (schema version 3), read with every event. */
export const ERASURE_COLUMNS = 'erased_at, erasure_reason';

/** The write statements of one connection. */
export function createWriter(db: Database.Database): Writer {
  const insert = db.prepare(`INSERT INTO events (pos, ${ROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const insertErased = db.prepare(
    `INSERT INTO events (pos, ${ROW_COLUMNS}, ${ERASURE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  // An erased payload is '' (the column predates erasure and stays NOT NULL); secure_delete (schema.ts)
  // zeroes the bytes the old text leaves behind in the page.
  const eraseOne = db.prepare(
    `UPDATE events SET payload = '', payload_salt = NULL, erased_at = ?, erasure_reason = ?
     WHERE source_app_id = ? AND seq = ? AND payload_hash IS NOT NULL AND erased_at IS NULL`,
  );
  const raiseApplied = db.prepare('UPDATE erasures_applied SET below = max(below, ?), copied_below = max(copied_below, ?)');
  const putListing = db.prepare('INSERT OR IGNORE INTO erasure_listings (source_app_id, record) VALUES (?, ?)');
  // Past the time index's `through` too: an event at a position it covers would never get its keys
  // (time-index.ts). Positions are never reused in the service's own writes; this holds after rows were
  // deleted behind its back too.
  const lastPos = db
    .prepare<[], number>(
      `SELECT max(coalesce((SELECT max(pos) FROM events), 0), coalesce((SELECT through FROM ${TIME_INDEX.state}), 0))`,
    )
    .pluck();
  const headOf = db.prepare<[string], { size: number; head_hash: string }>(
    'SELECT size, head_hash FROM logs WHERE source_app_id = ?',
  );
  const upsertLog = db.prepare(
    `INSERT INTO logs (source_app_id, size, head_hash, integrated_size, created_at) VALUES (?, ?, ?, 0, ?)
     ON CONFLICT (source_app_id) DO UPDATE SET size = excluded.size, head_hash = excluded.head_hash`,
  );
  const logSizes = db.prepare<[string], { size: number; integrated_size: number }>(
    'SELECT size, integrated_size FROM logs WHERE source_app_id = ?',
  );
  const putNode = db.prepare('INSERT OR REPLACE INTO tree_nodes (source_app_id, level, idx, hash) VALUES (?, ?, ?, ?)');
  const setIntegrated = db.prepare('UPDATE logs SET integrated_size = ? WHERE source_app_id = ?');
  const putCheckpoint = db.prepare(
    'INSERT OR IGNORE INTO checkpoints (source_app_id, tree_size, root_hash, note, published_at) VALUES (?, ?, ?, ?, ?)',
  );

  const append = (rows: AppendRow[]): number => {
    // Each log's events must continue it exactly: start at its size, consecutive, in order, each
    // linked to the one before it (the first to the log's head hash, zero for a new log).
    const advances = new Map<string, { next: number; headHash: string; createdAt: number }>();
    for (const r of rows) {
      let a = advances.get(r[0]);
      if (!a) {
        const head = headOf.get(r[0]);
        a = { next: head?.size ?? 0, headHash: head?.head_hash ?? ZERO_HASH_HEX, createdAt: r[4] };
        advances.set(r[0], a);
      }
      if (r[1] !== a.next) throw conflict(`log ${r[0]}: expected seq ${a.next}, got ${r[1]}`, 'position');
      if (r[7] === '' || r[10] === '') throw new Error(`append: log ${r[0]} seq ${r[1]} comes without its hashes`);
      if (r[6] !== a.headHash) throw conflict(`log ${r[0]}: seq ${r[1]} does not link to ${a.headHash}`, 'position');
      a.next++;
      a.headHash = r[7];
    }
    const first = lastPos.get()! + 1;
    let pos = first;
    for (const r of rows) {
      if (r.length === 11) insert.run(pos++, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10]);
      else insertErased.run(pos++, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12]);
    }
    for (const [sourceAppId, a] of advances) upsertLog.run(sourceAppId, a.next, a.headHash, a.createdAt);
    return first;
  };

  const integrate = (
    sourceAppId: string,
    fromSize: number,
    toSize: number,
    nodes: PackedNodes,
    checkpoint?: CheckpointRow | null,
  ): void => {
    const mismatch = checkpoint && checkpointMismatch(sourceAppId, toSize, checkpoint[0], checkpoint[1]);
    if (mismatch) throw mismatch;
    const log = logSizes.get(sourceAppId);
    const integrated = log?.integrated_size ?? 0;
    if (integrated >= toSize) {
      // The tree up to toSize is stored already (another integration got there first).
      if (checkpoint) putCheckpoint.run(...checkpoint);
      return;
    }
    if (!log) throw new Error(`integrate: log ${sourceAppId} has no events`);
    if (integrated < fromSize) throw integrationGap(sourceAppId, integrated, fromSize);
    if (toSize > log.size) throw new Error(`integrate: log ${sourceAppId} has ${log.size} events, fewer than ${toSize}`);
    // Nodes are a function of the leaves, so rewriting one is harmless.
    const { ids, hashes } = nodes;
    if (ids.length % 2 !== 0 || hashes.length !== ids.length * 16) {
      throw new Error(`integrate: ${ids.length / 2} node ids for ${hashes.length} hash bytes (32 per node)`);
    }
    for (let i = 0; i < ids.length; i += 2) {
      const level = ids[i]!;
      if (level < 1) throw new Error(`integrate: node level ${level} is not stored (level 0 is the event hash)`);
      putNode.run(sourceAppId, level, ids[i + 1], Buffer.from(hashes.buffer, hashes.byteOffset + i * 16, 32));
    }
    setIntegrated.run(toSize, sourceAppId);
    // After the nodes, in the same transaction: one commit stores the tree and the checkpoint over it.
    if (checkpoint) putCheckpoint.run(...checkpoint);
  };

  const erase = (ids: Array<[string, number]>, erasedAt: number, reason: string): number => {
    let n = 0;
    for (const [app, seq] of ids) n += eraseOne.run(erasedAt, reason, app, seq).changes;
    return n;
  };

  // Called inside another transaction (applyAll), each of these runs in a savepoint instead.
  const appendTx = db.transaction(append);
  const integrateTx = db.transaction(integrate);
  const putCheckpointTx = db.transaction((c: CheckpointRow) => {
    putCheckpoint.run(...c);
  });
  const eraseTx = db.transaction(erase);
  const raiseAppliedTx = db.transaction((size: number, listings: ReadonlyArray<readonly [string, number]>, copied: number) => {
    for (const [app, record] of listings) putListing.run(app, record);
    raiseApplied.run(size, copied);
  });
  const apply = (req: WriteRequest): number | void =>
    req.op === 'append'
      ? appendTx.immediate(req.rows)
      : req.op === 'integrate'
        ? integrateTx.immediate(req.sourceAppId, req.fromSize, req.toSize, req.nodes, req.checkpoint)
        : req.op === 'erase'
          ? eraseTx.immediate(req.ids, req.erasedAt, req.reason)
          : req.op === 'raiseErasuresApplied'
            ? raiseAppliedTx.immediate(req.size, req.listings, req.copied)
            : putCheckpointTx.immediate(req.checkpoint);
  const applyTogether = db.transaction((reqs: WriteRequest[]) =>
    reqs.map((req): Outcome => {
      try {
        return { ok: true, value: apply(req) ?? null };
      } catch (error) {
        return { ok: false, error };
      }
    }),
  );
  const applyAll = (reqs: WriteRequest[]): Outcome[] => {
    try {
      return applyTogether.immediate(reqs);
    } catch (error) {
      // The commit itself failed: nothing of any of them is written.
      return reqs.map((): Outcome => ({ ok: false, error }));
    }
  };
  const committedSize = (sourceAppId: string): number => logSizes.get(sourceAppId)?.size ?? 0;
  const applyTurn = (reqs: WriteRequest[], settle: (reqs: WriteRequest[], outcomes: Outcome[]) => void): void => {
    const ahead = publisherWritesFirst(reqs, committedSize);
    if (ahead.length === 0) {
      settle(reqs, applyAll(reqs));
      return;
    }
    const first = ahead.map((i) => reqs[i]!);
    settle(first, applyAll(first));
    const passed = new Set(ahead);
    const rest = reqs.filter((_, i) => !passed.has(i));
    settle(rest, applyAll(rest));
  };
  return {
    append: (rows) => appendTx.immediate(rows),
    integrate: (sourceAppId, fromSize, toSize, nodes, checkpoint) =>
      integrateTx.immediate(sourceAppId, fromSize, toSize, nodes, checkpoint),
    putCheckpoint: (c) => putCheckpointTx.immediate(c),
    erase: (ids, erasedAt, reason) => eraseTx.immediate(ids, erasedAt, reason),
    raiseErasuresApplied: (size, listings, copied) => raiseAppliedTx.immediate(size, listings, copied),
    applyAll,
    applyTurn,
  };
}

/**
 * Copy the WAL into the database file and truncate it: the frames of an erased payload's pages (the
 * insert's, and the pages before the erasure) leave the WAL file. Best effort while readers hold old
 * snapshots (SQLite then copies what it can); the next erasure or checkpoint finishes it.
 */
export function truncateWal(db: Database.Database): void {
  db.pragma('wal_checkpoint(TRUNCATE)');
}

function conflict(message: string, kind: 'position' | 'idempotencyKey'): Error {
  return Object.assign(new Error(message), { conflict: kind });
}

/** What crosses the thread boundary for a failure: enough to rebuild the error's meaning. */
export function errorToMessage(err: unknown): ErrorMessage {
  const e = (err ?? {}) as { message?: unknown; code?: unknown; conflict?: unknown; stack?: unknown };
  return {
    message: String(e.message ?? err),
    code: typeof e.code === 'string' ? e.code : undefined,
    conflict: e.conflict === 'position' || e.conflict === 'idempotencyKey' ? e.conflict : undefined,
    stack: typeof e.stack === 'string' ? e.stack : undefined,
  };
}

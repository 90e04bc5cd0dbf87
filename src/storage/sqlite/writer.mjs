// The SQLite log store's writes (appends, integration, checkpoints), on a connection of their own.
//
// SqliteStorage runs them in a worker thread (this file is also the worker's entry point), so that
// SQLite's share of ingest (B-tree inserts, WAL writes, fsync, checkpoints) runs on another core
// than HTTP, GraphQL, validation and leaf hashing; reads stay on the main thread's connection (WAL
// readers never wait for the writer). For ':memory:' databases, which one connection must own, the
// same functions run in-process.
//
// Plain JavaScript (with types in writer.d.mts): a worker thread is started by Node itself, without
// the TypeScript loader of the main thread (tsx, vitest).
import { isMainThread, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/** Columns of one appended row (AppendRow), pos left out; EVENT_COLUMNS (event-rows.ts) is pos and these. */
export const ROW_COLUMNS = 'source_app_id, seq, event_type, ts, received_at, payload, prev_hash, hash, idempotency_key';

/**
 * The write statements of one connection. With `chainer`, rows may come without their hashes (''):
 * the writer links each to its log's head as it stands at that row and computes its leaf hash, so
 * the sequencer never waits for a group to be hashed (spec/log-format.md: the leaf, prevHash).
 * @param {import('better-sqlite3').Database} db
 * @param {import('./writer.mjs').Chainer} [chainer]
 */
export function createWriter(db, chainer) {
  const insert = db.prepare(`INSERT INTO events (pos, ${ROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const maxPos = db.prepare('SELECT max(pos) FROM events').pluck();
  const headOf = db.prepare('SELECT size, head_hash FROM logs WHERE source_app_id = ?');
  const upsertLog = db.prepare(
    `INSERT INTO logs (source_app_id, size, head_hash, integrated_size, created_at) VALUES (?, ?, ?, 0, ?)
     ON CONFLICT (source_app_id) DO UPDATE SET size = excluded.size, head_hash = excluded.head_hash`,
  );
  const logSizes = db.prepare('SELECT size, integrated_size FROM logs WHERE source_app_id = ?');
  const putNode = db.prepare('INSERT OR REPLACE INTO tree_nodes (source_app_id, level, idx, hash) VALUES (?, ?, ?, ?)');
  const setIntegrated = db.prepare('UPDATE logs SET integrated_size = ? WHERE source_app_id = ?');
  const putCheckpoint = db.prepare(
    'INSERT OR IGNORE INTO checkpoints (source_app_id, tree_size, root_hash, note, published_at) VALUES (?, ?, ?, ?, ?)',
  );

  /**
   * @param {import('./writer.mjs').AppendRow[]} rows
   * @returns {import('./writer.mjs').AppendResult}
   */
  const append = (rows) => {
    // Each log's events must continue it exactly: start at its size, consecutive, in order.
    /** @type {Map<string, { next: number, headHash: string, createdAt: number }>} */
    const advances = new Map();
    let chained = false;
    for (const r of rows) {
      let a = advances.get(r[0]);
      if (!a) {
        const head = /** @type {{ size: number, head_hash: string } | undefined} */ (headOf.get(r[0]));
        a = { next: head?.size ?? 0, headHash: head?.head_hash ?? chainer?.zeroHash ?? '', createdAt: r[4] };
        advances.set(r[0], a);
      }
      if (r[1] !== a.next) throw conflict(`log ${r[0]}: expected seq ${a.next}, got ${r[1]}`, 'position');
      if (r[7] === '') {
        if (!chainer) throw new Error(`append: log ${r[0]} seq ${r[1]} comes without its hash, and this writer does not chain`);
        r[6] = a.headHash;
        r[7] = chainer.leafHash({ sourceAppId: r[0], seq: r[1], prevHash: r[6], eventType: r[2], timestamp: r[3], receivedAt: r[4] }, r[5]);
        chained = true;
      }
      a.next++;
      a.headHash = r[7];
    }
    const first = (/** @type {number | null} */ (maxPos.get()) ?? 0) + 1;
    let pos = first;
    for (const r of rows) insert.run(pos++, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]);
    for (const [sourceAppId, a] of advances) upsertLog.run(sourceAppId, a.next, a.headHash, a.createdAt);
    // One string crosses back, not two per row.
    let chain = null;
    if (chained) {
      chain = '';
      for (const r of rows) chain += r[6] + r[7];
    }
    return { first, chain };
  };

  /** @type {(sourceAppId: string, fromSize: number, toSize: number, nodes: import('./writer.mjs').PackedNodes) => void} */
  const integrate = (sourceAppId, fromSize, toSize, nodes) => {
    const log = /** @type {{ size: number, integrated_size: number } | undefined} */ (logSizes.get(sourceAppId));
    const integrated = log?.integrated_size ?? 0;
    if (integrated >= toSize) return;
    if (!log) throw new Error(`integrate: log ${sourceAppId} has no events`);
    if (integrated < fromSize) {
      throw new Error(`integrate: log ${sourceAppId} is integrated to ${integrated}, below ${fromSize}; a gap would be left`);
    }
    if (toSize > log.size) throw new Error(`integrate: log ${sourceAppId} has ${log.size} events, fewer than ${toSize}`);
    // Nodes are a function of the leaves, so rewriting one is harmless.
    const { ids, hashes } = nodes;
    if (ids.length % 2 !== 0 || hashes.length !== ids.length * 16) {
      throw new Error(`integrate: ${ids.length / 2} node ids for ${hashes.length} hash bytes (32 per node)`);
    }
    for (let i = 0; i < ids.length; i += 2) {
      const level = ids[i];
      if (level < 1) throw new Error(`integrate: node level ${level} is not stored (level 0 is the event hash)`);
      putNode.run(sourceAppId, level, ids[i + 1], Buffer.from(hashes.buffer, hashes.byteOffset + i * 16, 32));
    }
    setIntegrated.run(toSize, sourceAppId);
  };

  // Called inside another transaction (applyAll), each of these runs in a savepoint instead.
  const appendTx = db.transaction(append);
  const integrateTx = db.transaction(integrate);
  const putCheckpointTx = db.transaction((/** @type {import('./writer.mjs').CheckpointRow} */ c) => {
    putCheckpoint.run(...c);
  });
  /** @param {import('./writer.mjs').WriteRequest} req */
  const apply = (req) =>
    req.op === 'append'
      ? appendTx.immediate(req.rows)
      : req.op === 'integrate'
        ? integrateTx.immediate(req.sourceAppId, req.fromSize, req.toSize, req.nodes)
        : putCheckpointTx.immediate(req.checkpoint);
  const applyTogether = db.transaction((/** @type {import('./writer.mjs').WriteRequest[]} */ reqs) =>
    reqs.map((req) => {
      try {
        return { ok: true, value: apply(req) ?? null };
      } catch (error) {
        return { ok: false, error };
      }
    }),
  );
  return {
    /** @param {import('./writer.mjs').AppendRow[]} rows */
    append: (rows) => appendTx.immediate(rows),
    /** @type {typeof integrate} */
    integrate: (sourceAppId, fromSize, toSize, nodes) => integrateTx.immediate(sourceAppId, fromSize, toSize, nodes),
    /** @param {import('./writer.mjs').CheckpointRow} c */
    putCheckpoint: (c) => putCheckpointTx.immediate(c),
    /** @param {import('./writer.mjs').WriteRequest[]} reqs */
    applyAll: (reqs) => {
      try {
        return applyTogether.immediate(reqs);
      } catch (error) {
        // The commit itself failed: nothing of any of them is written.
        return reqs.map(() => ({ ok: false, error }));
      }
    },
  };
}

/**
 * @param {string} message
 * @param {'position' | 'idempotencyKey'} kind
 */
function conflict(message, kind) {
  return Object.assign(new Error(message), { conflict: kind });
}

/**
 * What crosses the thread boundary for a failure: enough to rebuild the error's meaning.
 * @param {unknown} err
 */
export function errorToMessage(err) {
  const e = /** @type {{ message?: unknown, code?: unknown, conflict?: unknown, stack?: unknown }} */ (err ?? {});
  return {
    message: String(e.message ?? err),
    code: typeof e.code === 'string' ? e.code : undefined,
    conflict: e.conflict === 'position' || e.conflict === 'idempotencyKey' ? e.conflict : undefined,
    stack: typeof e.stack === 'string' ? e.stack : undefined,
  };
}

// Worker entry point: one connection, requests applied in the order they arrive. Requests that
// arrived while the previous ones were being written share one transaction, so one commit (one fsync
// of the WAL) makes them all durable; each still succeeds or fails alone (applyAll). None is answered
// before that commit.
if (!isMainThread && parentPort && workerData?.chainlogSqliteWriter) {
  const port = parentPort;
  const { path, pragmas } = workerData.chainlogSqliteWriter;
  const db = new Database(path);
  for (const p of pragmas) db.pragma(p);
  // The leaf is defined once, in the TypeScript core; this thread runs without the main thread's
  // loader, so it imports the core through tsx's scoped import (messages queue until it is ready).
  const { tsImport } = await import('tsx/esm/api');
  /** @type {typeof import('../../core/leaf.js')} */
  const leaf = await tsImport('../../core/leaf.ts', import.meta.url);
  const writer = createWriter(db, { leafHash: leaf.eventLeafHash, zeroHash: leaf.ZERO_HASH_HEX });
  port.on('message', (/** @type {import('./writer.mjs').WriterRequest} */ first) => {
    /** @type {import('./writer.mjs').WriterRequest[]} */
    const waiting = [first];
    for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) waiting.push(m.message);
    const closeAt = waiting.findIndex((req) => req.op === 'close');
    const writes = /** @type {import('./writer.mjs').WriteRequest[]} */ (closeAt === -1 ? waiting : waiting.slice(0, closeAt));
    if (writes.length > 0) {
      const outcomes = writer.applyAll(writes);
      writes.forEach((req, i) => {
        const o = outcomes[i];
        port.postMessage(o.ok ? { id: req.id, value: o.value } : { id: req.id, error: errorToMessage(o.error) });
      });
    }
    if (closeAt !== -1) {
      db.close();
      port.postMessage({ id: waiting[closeAt].id, value: null });
      port.close();
    }
  });
}

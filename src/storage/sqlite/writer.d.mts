// Types of writer.mjs (plain JavaScript so that it can start a worker thread without a TypeScript loader).
import type Database from 'better-sqlite3';

/** sourceAppId, seq, eventType, ts, receivedAt, payload JSON, prevHash, hash, idempotencyKey. */
export type AppendRow = [string, number, string, number, number, string, string, string, string | null];

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

/** How a writer links and hashes rows that come without their hashes (core/leaf.ts). */
export interface Chainer {
  leafHash(
    fields: { sourceAppId: string; seq: number; prevHash: string; eventType: string; timestamp: number; receivedAt: number },
    payloadText: string,
  ): string;
  /** prevHash of seq 0. */
  zeroHash: string;
}

/**
 * The first row's pos (the others follow it), and if the writer hashed any row, every row's
 * prevHash and hash (64 hex chars each) in row order, concatenated; else null.
 */
export interface AppendResult {
  first: number;
  chain: string | null;
}

export interface Writer {
  /** Appends in one IMMEDIATE transaction. Rows with hash '' are linked and hashed (needs a Chainer). */
  append(rows: AppendRow[]): AppendResult;
  integrate(sourceAppId: string, fromSize: number, toSize: number, nodes: PackedNodes): void;
  putCheckpoint(checkpoint: CheckpointRow): void;
  /**
   * The requests in order, in one transaction (one commit), each in a savepoint of its own: a failed
   * one leaves no trace and the others still apply. If the commit fails, every one fails.
   */
  applyAll(reqs: WriteRequest[]): Array<{ ok: true; value: AppendResult | null } | { ok: false; error: unknown }>;
}

export type WriteRequest =
  | { id: number; op: 'append'; rows: AppendRow[] }
  | { id: number; op: 'integrate'; sourceAppId: string; fromSize: number; toSize: number; nodes: PackedNodes }
  | { id: number; op: 'putCheckpoint'; checkpoint: CheckpointRow };

export type WriterRequest = WriteRequest | { id: number; op: 'close' };

export interface ErrorMessage {
  message: string;
  code?: string;
  conflict?: 'position' | 'idempotencyKey';
  stack?: string;
}

export type WriterResponse = { id: number; value: AppendResult | null } | { id: number; error: ErrorMessage };

export const ROW_COLUMNS: string;
export function createWriter(db: Database.Database, chainer?: Chainer): Writer;
export function errorToMessage(err: unknown): ErrorMessage;

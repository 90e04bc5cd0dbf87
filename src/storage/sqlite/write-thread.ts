// Where SqliteStorage's writes run: a worker thread with its own connection (files), or in-process on
// the main connection (':memory:'). See writer.ts and writer-worker.ts.
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { createTimeIndexer, timeIndexKeeper, type TimeIndexKeeper, type TimeIndexOptions } from './time-index.js';
import {
  createWriter,
  type AppendRow,
  type CheckpointRow,
  type ErrorMessage,
  type PackedNodes,
  type Writer,
  type WriterRequest,
  type WriterResponse,
  type WriteValue,
  truncateWal,
} from './writer.js';

import type { WriterThreadData } from './writer-worker.js';

export interface AsyncWriter {
  /** Appends the rows as given (Writer.append); resolves to the first row's pos, the others following it. */
  append(rows: AppendRow[]): Promise<number>;
  /** With `checkpoint`, stored after the nodes in the same transaction (Writer.integrate). */
  integrate(sourceAppId: string, fromSize: number, toSize: number, nodes: PackedNodes, checkpoint?: CheckpointRow): Promise<void>;
  putCheckpoint(checkpoint: CheckpointRow): Promise<void>;
  /** Writer.erase, then the WAL checkpointed and truncated so no frame keeps an erased payload. */
  erase(ids: Array<[string, number]>, erasedAt: number, reason: string): Promise<number>;
  raiseErasuresApplied(size: number, listings: ReadonlyArray<readonly [string, number]>, copied: number): Promise<void>;
  close(): Promise<void>;
}

/** A failure of the writer, with the SQLite `code` and the conflict kind it carried. */
export class WriterError extends Error {
  readonly code: string | undefined;
  readonly conflict: 'position' | 'idempotencyKey' | undefined;
  constructor(m: ErrorMessage) {
    super(m.message);
    this.name = 'WriterError';
    this.code = m.code;
    this.conflict = m.conflict;
    if (m.stack)
      this.stack = `${this.name}: ${m.message}\n    (in the SQLite writer thread)\n${m.stack.split('\n').slice(1).join('\n')}`;
  }
}

/**
 * The writer on the caller's connection, for databases no other connection can open. Each call writes
 * at once, in a transaction of its own: there is no queue, so nothing for the publisher's writes to pass
 * (Writer.applyTurn is the writer thread's).
 */
export function inProcessWriter(db: Database.Database, timeIndex: TimeIndexOptions): AsyncWriter {
  let writer: Writer | undefined;
  let keeper: TimeIndexKeeper | undefined;
  const w = () => (writer ??= createWriter(db));
  const keep = () => (keeper ??= timeIndexKeeper(createTimeIndexer(db), timeIndex));
  return {
    append: async (rows) => {
      const result = w().append(rows);
      keep().afterWrites();
      return result;
    },
    integrate: async (sourceAppId, fromSize, toSize, nodes, checkpoint) =>
      w().integrate(sourceAppId, fromSize, toSize, nodes, checkpoint),
    putCheckpoint: async (c) => w().putCheckpoint(c),
    erase: async (ids, erasedAt, reason) => {
      const n = w().erase(ids, erasedAt, reason);
      if (n > 0) truncateWal(db);
      return n;
    },
    raiseErasuresApplied: async (size, listings, copied) => w().raiseErasuresApplied(size, listings, copied),
    close: async () => keeper?.close(),
  };
}

type Request = WriterRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/**
 * The writer thread's young generation (Worker resourceLimits). Its garbage is each turn's messages
 * (the rows as they arrive) and their statements' bindings, its survivors the rows of the transaction
 * in hand: a turn commits every group waiting for it, thousands of rows under batch ingest, and a
 * young generation those rows outlast promotes each of them and fills old space (docs/performance.md,
 * "The writer thread's young generation"). V8's `--max-semi-space-size`, which sizes the main thread's
 * (`npm start`), would override resourceLimits: the service clears it before this thread starts
 * (src/young-generation.ts).
 */
const WRITER_YOUNG_GENERATION_MB = 16;

/**
 * The thread's entry point, next to this module and as this module runs: built JavaScript (dist/:
 * `npm start`, the image), which Node runs as it is, or TypeScript sources (tsx, vitest). A worker
 * thread gets none of its parent's module hooks (Node 20), so from sources the thread starts with a
 * two-line module that loads the entry through tsx's scoped import (tsx is a dev dependency, as the
 * sources are; resolved from here, not from the working directory).
 */
function writerThreadEntry(): URL {
  const built = new URL('./writer-worker.js', import.meta.url);
  if (!import.meta.url.endsWith('.ts')) return built;
  const entry = new URL('./writer-worker.ts', import.meta.url).href;
  const api = import.meta.resolve('tsx/esm/api');
  const loader = `const { tsImport } = await import(${JSON.stringify(api)});\nawait tsImport(${JSON.stringify(entry)}, ${JSON.stringify(entry)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(loader)}`);
}

/**
 * The writer in a worker thread, started at the first write. The thread keeps the process alive only
 * while a request is in flight. If it dies, the requests in flight fail and the next write starts
 * another.
 */
export function threadWriter(path: string, pragmas: readonly string[], timeIndex: TimeIndexOptions): AsyncWriter {
  let worker: Worker | null = null;
  let closing: Promise<void> | null = null;
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: WriteValue) => void; reject: (e: unknown) => void }>();

  const failAll = (err: unknown) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };

  const start = (): Worker => {
    const w = new Worker(writerThreadEntry(), {
      workerData: { path, pragmas, timeIndex } satisfies WriterThreadData,
      resourceLimits: { maxYoungGenerationSizeMb: WRITER_YOUNG_GENERATION_MB },
    });
    w.unref();
    w.on('message', (res: WriterResponse) => {
      const p = pending.get(res.id);
      if (!p) return;
      pending.delete(res.id);
      if (pending.size === 0) w.unref();
      if ('error' in res) p.reject(new WriterError(res.error));
      else p.resolve(res.value);
    });
    w.on('error', (err) => {
      if (worker === w) worker = null;
      failAll(err);
    });
    w.on('exit', (code) => {
      if (worker === w) worker = null;
      failAll(new Error(`SQLite writer thread exited (code ${code})`));
    });
    return w;
  };

  const call = (req: Request): Promise<WriteValue> => {
    const w = (worker ??= start());
    const id = nextId++;
    return new Promise((resolve, reject) => {
      if (pending.size === 0) w.ref();
      pending.set(id, { resolve, reject });
      w.postMessage({ ...req, id });
    });
  };

  return {
    append: async (rows) => (await call({ op: 'append', rows })) as number,
    erase: async (ids, erasedAt, reason) => (await call({ op: 'erase', ids, erasedAt, reason })) as number,
    raiseErasuresApplied: async (size, listings, copied) => {
      await call({ op: 'raiseErasuresApplied', size, listings, copied });
    },
    integrate: async (sourceAppId, fromSize, toSize, nodes, checkpoint) => {
      await call({ op: 'integrate', sourceAppId, fromSize, toSize, nodes, checkpoint: checkpoint ?? null });
    },
    putCheckpoint: async (checkpoint) => {
      await call({ op: 'putCheckpoint', checkpoint });
    },
    close() {
      const w = worker;
      if (!w) return Promise.resolve();
      closing ??= (async () => {
        const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
        // Answered after every request sent before it, then the thread's connection closes.
        await call({ op: 'close' }).catch(() => undefined);
        if (worker === w) worker = null;
        // The thread is unreferenced once nothing is pending; the wait for its exit must keep this
        // process alive, or a script whose last work is this close would end with close unsettled.
        w.ref();
        await exited;
      })().finally(() => {
        closing = null;
      });
      return closing;
    },
  };
}

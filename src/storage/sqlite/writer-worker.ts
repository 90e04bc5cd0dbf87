// The SQLite writer thread's entry point (started by threadWriter, write-thread.ts): one connection.
// Requests that arrived while the previous ones were being written make one turn and share one
// transaction, so one commit (one fsync of the WAL) makes them all durable; each still succeeds or
// fails alone (Writer.applyAll). None is answered before its commit. In a turn, the publisher's writes
// that cover committed events only go first, in a commit of their own, answered before the turn's
// other writes start (Writer.applyTurn, publisherWritesFirst: the rule and its bound); otherwise
// requests apply in the order they arrive. After its writes, the thread keeps the time index up
// (time-index.ts), in transactions of its own between turns.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { createTimeIndexer, timeIndexKeeper, type TimeIndexOptions } from './time-index.js';
import {
  createWriter,
  errorToMessage,
  truncateWal,
  type WriteRequest,
  type WriterRequest,
  type WriterResponse,
} from './writer.js';

/** What threadWriter passes as workerData. */
export interface WriterThreadData {
  path: string;
  pragmas: readonly string[];
  timeIndex: TimeIndexOptions;
}

const port = parentPort;
if (!port) throw new Error('writer-worker is the entry point of a worker thread (threadWriter), not a module to import');
const { path, pragmas, timeIndex } = workerData as WriterThreadData;
const db = new Database(path);
for (const p of pragmas) db.pragma(p);
const writer = createWriter(db);
const timeKeeper = timeIndexKeeper(createTimeIndexer(db), timeIndex);
const answer = (res: WriterResponse) => port.postMessage(res);

port.on('message', (first: WriterRequest) => {
  const waiting = [first];
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port))
    waiting.push(m.message as WriterRequest);
  const closeAt = waiting.findIndex((req) => req.op === 'close');
  const writes = (closeAt === -1 ? waiting : waiting.slice(0, closeAt)) as WriteRequest[];
  if (writes.length > 0) {
    writer.applyTurn(writes, (applied, outcomes) => {
      // An erasure is answered once the WAL no longer holds the erased payloads (write-thread.ts).
      if (applied.some((req, i) => req.op === 'erase' && outcomes[i]!.ok && outcomes[i]!.value !== 0)) {
        try {
          truncateWal(db);
        } catch {
          // The erasure is committed; the next checkpoint copies and recycles the WAL.
        }
      }
      applied.forEach((req, i) => {
        const o = outcomes[i]!;
        answer(o.ok ? { id: req.id, value: o.value } : { id: req.id, error: errorToMessage(o.error) });
      });
    });
    timeKeeper.afterWrites();
  }
  if (closeAt !== -1) {
    timeKeeper.close();
    db.close();
    answer({ id: waiting[closeAt]!.id, value: null });
    port.close();
  }
});

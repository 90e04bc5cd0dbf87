// The keys behind the appends: the time index (schema.ts, version 4) and the type positions (version 5).
//
// An append writes the event's row (and its log's head) only. The keys that order events by timestamp
// ((ts, pos), per event type and per source application) and by position per event type go into their
// tables later, on the writer's connection, for thousands of events in one transaction: each such key
// lands a little behind the newest one of its kind (a timestamp's, or its type's), on a page of its own,
// and a transaction writes every page it dirtied to the WAL whole, so a page shared by many new keys is
// written once instead of once per event. `time_index.through` is the position up to which every
// event's keys are in the tables; reads take the events after it (the tail, at most about `batchRows`
// plus one writer turn of them) from the events table itself, so what a read returns never depends on
// how far the keys have got.
import type Database from 'better-sqlite3';
import { KEYS_BEHIND, TIME_INDEX } from './schema.js';

export interface TimeIndexOptions {
  /** The keys are added once this many events wait for them. Default 2,048. */
  batchRows: number;
  /** Or this many ms after a write that left fewer waiting. Default 100. */
  delayMs: number;
}

export const TIME_INDEX_DEFAULTS: TimeIndexOptions = { batchRows: 2048, delayMs: 100 };

export interface TimeIndexer {
  /** Positions after `through` up to the last event's: the events whose keys are not in the tables. */
  lag(): number;
  /** Adds the keys of the events after `through`, up to `maxRows` of them, in one transaction; returns how many positions it covered. */
  add(maxRows: number): number;
}

/** The last event's position and `through`, on `db`. */
const keysState = (db: Database.Database) =>
  db.prepare<[], { last: number; through: number }>(
    `SELECT coalesce((SELECT max(pos) FROM events), 0) AS last, through FROM ${TIME_INDEX.state} WHERE id = 1`,
  );

/** TimeIndexer.lag on any connection to the store (the gauge's, LogStorage.indexLag). */
export function createLagReader(db: Database.Database): () => number {
  const state = keysState(db);
  return () => {
    const s = state.get()!;
    return Math.max(0, s.last - s.through);
  };
}

export function createTimeIndexer(db: Database.Database): TimeIndexer {
  const state = keysState(db);
  // In key order, so consecutive inserts land on the same page. OR IGNORE: a key already there (put by
  // the triggers, schema.ts) is the same key.
  const range = 'FROM events WHERE pos > @from AND pos <= @to';
  const inserts = KEYS_BEHIND.map(({ table, columns }) => {
    const key = columns.join(', ');
    return db.prepare(`INSERT OR IGNORE INTO ${table} (${key}) SELECT ${key} ${range} ORDER BY ${key}`);
  });
  const setThrough = db.prepare(`UPDATE ${TIME_INDEX.state} SET through = ? WHERE id = 1`);
  const lag = createLagReader(db);
  const add = db.transaction((maxRows: number): number => {
    const s = state.get()!;
    const to = Math.min(s.last, s.through + maxRows);
    if (to <= s.through) return 0;
    for (const insert of inserts) insert.run({ from: s.through, to });
    setThrough.run(to);
    return to - s.through;
  });
  return { lag, add: (maxRows) => add.immediate(maxRows) };
}

export interface TimeIndexKeeper {
  /** After the writer's writes: adds the keys now if `batchRows` events wait, else arms the delay. */
  afterWrites(): void;
  /** Stops the delay and adds every key still missing (best effort: the next start's writes add the rest). */
  close(): void;
}

/**
 * Most positions one transaction of the keeper covers (four default batches, or four batches if
 * larger), so a long lag (after failures) is caught up in steps between the writer's turns.
 */
const addBound = (o: TimeIndexOptions) => 4 * Math.max(o.batchRows, TIME_INDEX_DEFAULTS.batchRows);

/**
 * When the writer adds the keys. A failure to add them (a full disk) fails no append: the events stay
 * readable from the tail, and the next write or delay tries again.
 */
export function timeIndexKeeper(indexer: TimeIndexer, options: TimeIndexOptions): TimeIndexKeeper {
  let timer: NodeJS.Timeout | null = null;
  const clear = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  const arm = (ms: number) => {
    timer ??= setTimeout(run, ms);
    timer.unref();
  };
  function run(): void {
    clear();
    try {
      indexer.add(addBound(options));
      if (indexer.lag() > 0) arm(0);
    } catch {
      // Retried at the next write, or after the delay if none comes.
      arm(options.delayMs);
    }
  }
  return {
    afterWrites() {
      let lag: number;
      try {
        lag = indexer.lag();
      } catch {
        return;
      }
      if (lag >= options.batchRows) run();
      else if (lag > 0) arm(options.delayMs);
    },
    close() {
      clear();
      try {
        while (indexer.add(addBound(options)) > 0);
      } catch {
        // Left for the next start's writes.
      }
    },
  };
}

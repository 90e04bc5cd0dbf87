// The claim protocol and commit horizon of the MongoDB engine: which append commits, at which
// global commit number g, and up to where a reader may read without passing a commit still to come.
//
// Contract:
// - An append is one insert into `batches` with `_id` = g. The insert that wins g has committed the
//   whole append; any other fails on the duplicate `_id`. A writer inserts only at the largest g it
//   has read, plus one, after checking that each log's events start at that log's head as of that
//   g; so g has no gaps, a reader that has read g has seen every batch below it, and no two batches
//   ever take one position of a log.
// - A batch's events are in its body document, inserted before the claim, so a pending batch's
//   events always exist. The per-event documents (`events`) and each log's head hint (`logs`) are
//   derived from committed batches by idempotent inserts and forward-only hint updates; anyone may
//   derive a batch left `pending` by a writer that died. Once a batch is derived (no longer
//   `pending`, which it never becomes again) nothing reads its body, and the body is deleted.
// - Nothing here deletes or rewrites a document another writer may still need, and no clock is read.
// - An append whose insert had an unknown outcome is settled by racing a void batch for the same g,
//   never by waiting; if that cannot be done it fails with AppendOutcomeUnknownError.
// Document access is collections.ts's; coordination (leases) is coordination.ts's and only spares
// writers from contending.
import { ZERO_HASH_HEX } from '../../core/leaf.js';
import { randomBytes } from 'node:crypto';
import {
  AppendConflictError,
  AppendOutcomeUnknownError,
  appendBytes,
  type NewEvent,
  type StoredEvent,
  storedEvent,
} from '../types.js';
import { isDuplicateKey, onlyDuplicates, writeErrorsOf, type MongoCollections } from './collections.js';
import {
  batchLogs,
  POS_PER_BATCH,
  toEventDoc,
  type BatchBodyDoc,
  type BatchDoc,
  type BatchLogDoc,
  type BodyEvent,
  type EventDoc,
} from './documents.js';

/** Test-only: where a test holds an append to stage a pause or a crash. */
export interface BatchLogHooks {
  /** Before each insert of a batch at `g`. */
  beforeClaim?: (g: number) => Promise<void>;
  /** After the batch at `g` won its insert, before anything is derived from it; throwing stops the append there. */
  afterClaim?: (g: number) => Promise<void>;
  /** Runs the claim's insert (`insert`), or not, and may throw in its place, as a lost connection would. */
  claimInsert?: (insert: () => Promise<void>) => Promise<void>;
  /** Runs one bulk delete of derived batches' bodies (`remove`), or not, and may throw in its place. */
  bodyDelete?: (remove: () => Promise<void>) => Promise<void>;
}

/** A batch is one BSON document (16 MiB at most): its events' text stays well below that. */
export const DEFAULT_MAX_APPEND_BYTES = 12 * 1024 * 1024;
/** Events per batch at most: their index within the batch must fit below POS_PER_BATCH. */
export const MAX_EVENTS_PER_BATCH = 10_000;
/**
 * Updates per bulk of hint updates: the test server holds every statement of an update command open
 * until the command ends, on a pool of 100 connections per database (docs/design/many-processes.md,
 * "The test server's deadlock"); a few processes' bulks together stay well below it.
 */
const HINT_BULK = 16;
/**
 * A log's hint is moved only once it is this many commits (g) behind the batch that moves it: a log
 * written by every batch costs one hint update per HINT_STRIDE batches, not one per batch, and a reader
 * that starts from its hint reads the batches after it that touch the log (fewer than HINT_STRIDE
 * more than from a hint moved by every batch).
 */
export const HINT_STRIDE = 16;
/** Logs whose last hint this process remembers (hintedAt), at most; forgetting costs an early update, nothing else. */
const HINTED_KEPT = 100_000;
/** Deletes per bulk of derived batches' bodies, for the same reason as HINT_BULK. */
const BODY_BULK = 16;
/** Bodies collectBodies looks at together: one read of `events` per log and one of `batches` per page. */
const BODY_PAGE = 1000;
/**
 * Events of this process's own commits kept in memory for readCommitted (ownCommitted), at most: a
 * process that follows commits (the commit tailer) reads its own back from here instead of from
 * `events`; one that does not only holds this many events' objects, which it handed out anyway.
 */
export const OWN_EVENTS_KEPT = 20_000;
/** Ends of batches the horizon read, kept for ownCommitted. */
const ENDS_KEPT = 16;
/** Attempts to settle an append of unknown outcome, with backoff between them. */
const RESOLVE_ATTEMPTS = 5;

/** A batch as this process handles it: its logs read (BatchDoc holds them as JSON text). */
type Batch = Omit<BatchDoc, 'logsJson' | 'logs'> & { logs: BatchLogDoc[] };

const readBatch = (d: BatchDoc): Batch => {
  const { logsJson: _json, logs: _docs, ...rest } = d;
  return { ...rest, logs: batchLogs(d) };
};

interface LogBatch {
  sourceAppId: string;
  events: NewEvent[];
}

/** A log's head as of batch `asOf`: every batch up to it is accounted for. */
export interface KnownHead {
  size: number;
  headHash: string;
  createdAt: number | null;
  asOf: number;
}

export class BatchLog {
  /** Appends of this store run one at a time. */
  private appendQueue: Promise<unknown> = Promise.resolve();
  /** The largest g read: every batch up to it exists. */
  private knownMax = 0;
  /** Every batch up to it is derived. */
  private derivedThrough = 0;
  /** Derivations under way in this process, by g. */
  private readonly deriving = new Map<number, Promise<void>>();
  /** Heads of the logs this store has looked at, each correct as of its own `asOf`. */
  private readonly heads = new Map<string, KnownHead>();
  /** The g of the hint this process last wrote (or inserted) per log: it moves again HINT_STRIDE later. */
  private readonly hintedAt = new Map<string, number>();
  /** Hints to move forward (the newest head per log). */
  private readonly hintsDue = new Map<string, { size: number; headHash: string; g: number }>();
  /** Tokens of derived batches whose bodies are still to delete. */
  private readonly bodiesDue = new Set<string>();
  /** The run writing what is due (hints, then bodies), off the appends' path; one at a time. */
  private laterRun: Promise<void> | null = null;
  /**
   * The batches this process committed (their events as append returned them; [] for a void batch
   * it inserted), by g in increasing order, OWN_EVENTS_KEPT events at most: the oldest go first.
   */
  private readonly own = new Map<number, StoredEvent[]>();
  private ownEvents = 0;
  /**
   * The last pos of the latest batches with events the horizon read (ENDS_KEPT at most), by g: a
   * reader at that pos needs nothing more of the batch.
   */
  private readonly ends = new Map<number, number>();

  constructor(
    private readonly c: MongoCollections,
    private readonly maxAppendBytes: number,
    private readonly readBudget: number,
    private readonly hooks: BatchLogHooks = {},
  ) {}

  /** The batch with the largest g (null when none); raises knownMax to it. */
  async readTop(): Promise<Pick<BatchDoc, '_id' | 'count'> | null> {
    const top = await this.c.batches.find({}, { projection: { _id: 1, count: 1 }, sort: { _id: -1 }, limit: 1 }).next();
    if (top && top._id > this.knownMax) this.knownMax = top._id;
    return top;
  }

  /** Derive every pending batch up to `g` (which exists), so every event committed up to it is readable. */
  async deriveThrough(g: number): Promise<void> {
    const from = this.derivedThrough;
    if (from >= g) return;
    const pending = await this.c.batches.find({ _id: { $gt: from, $lte: g }, pending: true }, { sort: { _id: 1 } }).toArray();
    await Promise.all(pending.map((b) => this.derive(readBatch(b))));
    if (g > this.derivedThrough) this.derivedThrough = g;
  }

  /** Derive every batch pending now: every event committed before this call is readable after it. */
  async derivePending(): Promise<void> {
    const pending = await this.c.batches
      .find({ _id: { $gt: this.derivedThrough }, pending: true }, { sort: { _id: 1 } })
      .toArray();
    await Promise.all(pending.map((b) => this.derive(readBatch(b))));
  }

  /** Everything committed before this call is readable afterwards; returns the largest g it covers (0: none). */
  async ensureDerived(): Promise<number> {
    const g = (await this.readTop())?._id ?? 0;
    await this.deriveThrough(g);
    return g;
  }

  /**
   * Derive a committed batch, once per process at a time: a reader that finds the batch pending while
   * this process derives it (its writer, or another reader) waits for that derivation instead of
   * inserting every event again. Another process may still derive it beside us; that is harmless.
   */
  private derive(batch: Batch, body?: readonly BodyEvent[]): Promise<void> {
    const running = this.deriving.get(batch._id);
    if (running) return running;
    const run = this.deriveOnce(batch, body).finally(() => this.deriving.delete(batch._id));
    this.deriving.set(batch._id, run);
    return run;
  }

  /**
   * Insert a committed batch's events (each at its deterministic position, so a second insert fails
   * on the unique indexes and is ignored), insert the hints of the logs it creates, clear `pending`,
   * then have the other logs' hints moved on in the background.
   */
  private async deriveOnce(batch: Batch, body?: readonly BodyEvent[]): Promise<void> {
    if (batch.void || batch.count === 0) return;
    const g = batch._id;
    let events = body;
    if (!events) {
      const found = await this.c.batchBodies.findOne({ _id: batch.token });
      if (!found) {
        // Derived meanwhile, and its body deleted: a body goes only once its batch is no longer pending.
        if (!(await this.c.batches.findOne({ _id: g }, { projection: { pending: 1 } }))?.pending) return;
        throw new Error(`batch ${g} has no body ${batch.token}`);
      }
      events = bodyEvents(found, g);
    }
    const docs: EventDoc[] = events.map((e, i) => ({ ...e, pos: g * POS_PER_BATCH + i }));
    try {
      await this.c.events.insertMany(docs, { ordered: false });
    } catch (err) {
      if (!onlyDuplicates(err)) throw err;
    }
    const unset = () => this.c.batches.updateOne({ _id: g }, { $unset: { pending: '' } });
    // A log's hint exists before its first batch stops being pending: listLogHeads relies on it.
    await this.createHints(batch.logs, g);
    await unset();
    // Hints of existing logs only ever help: they are moved on later, off the append's path, and the
    // body, which nothing reads once the batch is derived, is deleted then too.
    this.bodiesDue.add(batch.token);
    this.hintLater(
      batch.logs.filter((l) => l.firstSeq !== 0),
      g,
    );
  }

  /**
   * Insert the hints of the logs a batch creates, in one unordered insert; a log derived before
   * (its hint exists) has its hint moved on later instead.
   */
  private async createHints(logs: readonly BatchLogDoc[], g: number): Promise<void> {
    const created = logs.filter((l) => l.firstSeq === 0);
    if (created.length === 0) return;
    try {
      await this.c.logs.insertMany(
        created.map((l) => ({ _id: l.app, size: l.count, headHash: l.headHash, g, createdAt: l.createdAt! })),
        { ordered: false },
      );
    } catch (err) {
      if (!onlyDuplicates(err)) throw err;
      // Derived before: moved on later, as the others.
      const before = new Set(writeErrorsOf(err).map((w) => w.index));
      created.forEach((l, i) => before.has(i) || this.hinted(l.app, g));
      this.hintLater(
        created.filter((_, i) => before.has(i)),
        g,
      );
      return;
    }
    for (const l of created) this.hinted(l.app, g);
  }

  /**
   * Have the hints of a batch's logs moved forward to their heads after batch g, in the background,
   * those HINT_STRIDE or more commits behind g by what this process last wrote: one run at a time,
   * each writing the newest head known per log (a log written by many batches meanwhile costs one
   * update). On the test server an update command waits seconds for its connections while the
   * publisher writes (docs/performance.md, session 28), so appends do not wait for hints; a hint that
   * stays behind costs a reader a longer look through `batches`, nothing else.
   */
  private hintLater(logs: readonly BatchLogDoc[], g: number): void {
    for (const l of logs) {
      const due = this.hintsDue.get(l.app);
      if (due ? due.g >= g : g - (this.hintedAt.get(l.app) ?? -Infinity) < HINT_STRIDE) continue;
      this.hintsDue.set(l.app, { size: l.firstSeq + l.count, headHash: l.headHash, g });
      this.hinted(l.app, g);
    }
    this.writeLater();
  }

  /** Remember that log `app`'s hint was written at g (or is about to be). */
  private hinted(app: string, g: number): void {
    if (this.hintedAt.size >= HINTED_KEPT && !this.hintedAt.has(app)) this.hintedAt.clear();
    if ((this.hintedAt.get(app) ?? -Infinity) < g) this.hintedAt.set(app, g);
  }

  private writeLater(): void {
    this.laterRun ??= this.writeDue().finally(() => {
      this.laterRun = null;
      // Due after the run's last look (its end and this callback are not one step): another run.
      if (this.hintsDue.size > 0 || this.bodiesDue.size > 0) this.writeLater();
    });
  }

  /**
   * Write what is due until nothing is: the hints, in unordered bulks of HINT_BULK updates, then the
   * deletes of derived batches' bodies, in unordered bulks of BODY_BULK (each by its string `_id`, a
   * point delete on every server). A hint never moves back (but may stay behind) and a body kept
   * is only space; nothing here decides anything, so a failed write is dropped (a body left behind is
   * collected at the next start: collectBodies).
   */
  private async writeDue(): Promise<void> {
    while (this.hintsDue.size > 0 || this.bodiesDue.size > 0) {
      const hints = [...this.hintsDue];
      this.hintsDue.clear();
      for (let i = 0; i < hints.length; i += HINT_BULK) {
        await this.c.logs
          .bulkWrite(
            hints.slice(i, i + HINT_BULK).map(([app, { size, headHash, g }]) => ({
              updateOne: { filter: { _id: app, g: { $lt: g } }, update: { $set: { size, headHash, g } } },
            })),
            { ordered: false },
          )
          .catch(() => undefined);
      }
      const bodies = [...this.bodiesDue];
      this.bodiesDue.clear();
      for (let i = 0; i < bodies.length; i += BODY_BULK) {
        const remove = async () => {
          await this.c.batchBodies.bulkWrite(
            bodies.slice(i, i + BODY_BULK).map((token) => ({ deleteOne: { filter: { _id: token } } })),
            { ordered: false },
          );
        };
        await (this.hooks.bodyDelete ? this.hooks.bodyDelete(remove) : remove()).catch(() => undefined);
      }
    }
  }

  /** Resolves once nothing is due and no write of it is under way: what a derivation left to do is done. */
  async settled(): Promise<void> {
    while (this.laterRun) await this.laterRun;
  }

  /** Drops what is still due and resolves once the bulk under way (if any) is done: before the client closes. */
  async stopLater(): Promise<void> {
    this.hintsDue.clear();
    this.bodiesDue.clear();
    await this.laterRun;
  }

  /** Apply a batch (read in g order, with nothing missed since `asOf`) to a known head. */
  private static applyBatch(head: KnownHead, app: string, batch: Pick<Batch, '_id' | 'logs'>): void {
    const part = batch.logs.find((l) => l.app === app);
    if (part) {
      head.size = part.firstSeq + part.count;
      head.headHash = part.headHash;
      if (part.firstSeq === 0) head.createdAt = part.createdAt;
    }
    head.asOf = batch._id;
  }

  /**
   * The head of a log as of batch `upTo` (which exists) or later: from what is known, else its hint,
   * then forward through the batches that touch it.
   */
  async headAsOf(app: string, upTo: number): Promise<KnownHead> {
    return (await this.headsAsOf([app], upTo))[0]!;
  }

  /**
   * The heads of logs as of batch `upTo` (which exists) or later, in the order of `apps`, in at most
   * two reads whatever their number: the hints of the logs not known here, then the batches after
   * each head's `asOf` that touch them.
   */
  async headsAsOf(apps: readonly string[], upTo: number): Promise<KnownHead[]> {
    const start = new Map<string, KnownHead>();
    for (const app of apps) {
      const known = this.heads.get(app);
      if (known) start.set(app, known);
    }
    const unknown = [...new Set(apps.filter((app) => !start.has(app)))];
    if (unknown.length > 0) {
      const hints = await this.c.logs.find(unknown.length === 1 ? { _id: unknown[0]! } : { _id: { $in: unknown } }).toArray();
      const byApp = new Map(hints.map((h) => [h._id, h]));
      for (const app of unknown) {
        const hint = byApp.get(app);
        start.set(
          app,
          hint
            ? { size: hint.size, headHash: hint.headHash, createdAt: hint.createdAt, asOf: hint.g }
            : { size: 0, headHash: ZERO_HASH_HEX, createdAt: null, asOf: 0 },
        );
      }
    }
    // The logs behind `upTo`, grouped by how far they are known: one clause per group.
    const behind = new Map<number, string[]>();
    for (const [app, head] of start) {
      if (head.asOf >= upTo) continue;
      const group = behind.get(head.asOf) ?? [];
      group.push(app);
      behind.set(head.asOf, group);
    }
    if (behind.size > 0) {
      const clauses = [...behind].map(([from, group]) => ({
        _id: { $gt: from, $lte: upTo },
        apps: group.length === 1 ? group[0]! : { $in: group },
      }));
      const later = await this.c.batches
        .find(clauses.length === 1 ? clauses[0]! : { $or: clauses }, {
          projection: { _id: 1, logsJson: 1, logs: 1 },
          sort: { _id: 1 },
        })
        .toArray()
        .then((docs) => docs.map((d) => ({ _id: d._id, logs: batchLogs(d) })));
      for (const [from, group] of behind) {
        for (const app of group) {
          const next = { ...start.get(app)! };
          for (const b of later) if (b._id > from) BatchLog.applyBatch(next, app, b);
          next.asOf = upTo;
          start.set(app, next);
          this.remember(app, next);
        }
      }
    }
    return apps.map((app) => start.get(app)!);
  }

  /** Keep the newest knowledge of a head (concurrent readers may bring older news). */
  remember(app: string, head: KnownHead): void {
    const known = this.heads.get(app);
    if (!known || known.asOf <= head.asOf) this.heads.set(app, head);
  }

  /**
   * Read the batches after knownMax, in g order: knownMax moves to the last, and the known heads
   * that were current as of knownMax move with it. Returns the token of batch `tokenAt`.
   */
  private async catchUp(tokenAt?: number): Promise<string | undefined> {
    const from = this.knownMax;
    // Batch `tokenAt` is read even if a concurrent read already moved knownMax past it.
    const low = tokenAt === undefined ? from : Math.min(from, tokenAt - 1);
    const read = (
      await this.c.batches
        .find({ _id: { $gt: low } }, { projection: { _id: 1, logsJson: 1, logs: 1, token: 1 }, sort: { _id: 1 } })
        .toArray()
    ).map((d) => ({ _id: d._id, token: d.token, logs: batchLogs(d) }));
    const token = read.find((b) => b._id === tokenAt)?.token;
    const missed = read.filter((b) => b._id > from);
    if (missed.length === 0) return token;
    const to = missed.at(-1)!._id;
    for (const [app, head] of this.heads) {
      if (head.asOf !== from) continue;
      const next = { ...head };
      for (const b of missed) BatchLog.applyBatch(next, app, b);
      next.asOf = to;
      this.heads.set(app, next);
    }
    if (to > this.knownMax) this.knownMax = to;
    return token;
  }

  // --- appending ---------------------------------------------------------------------------

  append(events: NewEvent[]): Promise<StoredEvent[]> {
    if (events.length === 0) return Promise.resolve([]);
    let batches: LogBatch[];
    try {
      if (events.length > MAX_EVENTS_PER_BATCH) {
        throw new RangeError(`one append holds at most ${MAX_EVENTS_PER_BATCH} events on MongoDB, not ${events.length}`);
      }
      batches = groupByLog(events);
      const bytes = events.reduce(
        (n, e) => n + appendBytes({ ...e, payloadText: e.payloadText ?? JSON.stringify(e.payload) }),
        0,
      );
      if (bytes > this.maxAppendBytes) {
        throw new RangeError(`one append holds at most ${this.maxAppendBytes} bytes of events on MongoDB, not ${bytes}`);
      }
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const run = this.appendQueue.then(() => this.appendSerialized(events, batches));
    this.appendQueue = run.catch(() => undefined);
    return run;
  }

  private async appendSerialized(events: NewEvent[], batches: LogBatch[]): Promise<StoredEvent[]> {
    const token = randomBytes(12).toString('hex');
    const batch: Omit<Batch, '_id'> = {
      token,
      logs: batches.map(({ sourceAppId, events: es }) => ({
        app: sourceAppId,
        firstSeq: es[0]!.seq,
        count: es.length,
        headHash: es.at(-1)!.hash,
        createdAt: es[0]!.seq === 0 ? es[0]!.receivedAt : null,
      })),
      apps: batches.map((b) => b.sourceAppId),
      count: events.length,
      pending: true,
    };
    const body = events.map((e) => {
      const { pos: _pos, ...doc } = toEventDoc(e, 0);
      return doc;
    });
    // The body is ours (its id is our random token). It may be deleted once no batch can ever name
    // it: every claim it went into lost to another batch or to a void, and none is left in doubt.
    let bodyInserted = false;
    let claimInDoubt = false;
    try {
      for (let attempt = 0; ; attempt++) {
        // Reads may raise knownMax at any time: check against the heads as of one g, and claim the next.
        const upTo = this.knownMax;
        await this.checkAppendable(batches, upTo, attempt === 0);
        // The body first, so a claimed batch's events always exist.
        if (attempt === 0) {
          bodyInserted = true; // an insert whose reply was lost may have landed
          await this.c.batchBodies.insertOne({
            _id: token,
            first: { app: events[0]!.sourceAppId, seq: events[0]!.seq },
            eventsJson: JSON.stringify(body),
          });
        }
        const g = upTo + 1;
        await this.hooks.beforeClaim?.(g);
        claimInDoubt = true;
        let claimed: 'won' | 'taken';
        try {
          claimed = await this.claim({ _id: g, ...batch });
        } catch (err) {
          // Only an AppendOutcomeUnknownError leaves the claim in doubt; any other error means a void took g.
          claimInDoubt = err instanceof AppendOutcomeUnknownError;
          throw err;
        }
        // Another batch holds g, unless it is ours (a retried insert that had landed): the catch-up,
        // which reads it anyway, tells by its token.
        if (claimed === 'taken' && (await this.holderToken(g)) !== token) {
          claimInDoubt = false;
          continue;
        }
        if (g > this.knownMax) this.knownMax = g;
        // Nothing committed between upTo and our g: every head known as of upTo holds as of g too.
        for (const [app, head] of this.heads) if (head.asOf === upTo) this.heads.set(app, { ...head, asOf: g });
        for (const part of batch.logs) {
          const known = this.heads.get(part.app);
          this.remember(part.app, {
            size: part.firstSeq + part.count,
            headHash: part.headHash,
            createdAt: part.firstSeq === 0 ? part.createdAt : (known?.createdAt ?? null),
            asOf: g,
          });
        }
        await this.hooks.afterClaim?.(g);
        try {
          await this.derive({ _id: g, ...batch }, body);
          if (this.derivedThrough === g - 1) this.derivedThrough = g;
        } catch {
          // Committed all the same (the claim decided it): the batch stays pending, and every reader
          // that needs its events derives it first.
        }
        const stored = events.map((e, i) => storedEvent(e, g * POS_PER_BATCH + i));
        this.keepOwn(g, stored);
        return stored;
      }
    } catch (err) {
      if (bodyInserted && !claimInDoubt) {
        // A body left behind (this delete failing, or a writer dying first) is collected by
        // collectBodies once another append holds the position it was written for.
        await this.c.batchBodies.deleteOne({ _id: token }).catch(() => undefined);
      }
      throw err;
    }
  }

  /**
   * Delete the bodies no derivation will ever read, and only those: a body whose first event's
   * position (log, seq) is held by a committed batch that is either another append's or this body's
   * own and derived (no longer `pending`). Another append's: this one cannot commit at any later g
   * (its log's head as of g - 1 is past that seq, so its writer's check refuses it), nor at an
   * earlier one (every g up to the holder's is taken: g has no gaps), and no batch names it. Its own,
   * derived: its events are in `events` and it never becomes pending again. These are what a writer
   * that died (or whose delete failed) left behind. Bodies of pending batches and of appends whose
   * position is still open are kept, as are bodies without `first`. Reads every body's `first`, a
   * page of BODY_PAGE at a time. Returns how many bodies it deleted.
   */
  async collectBodies(): Promise<number> {
    // Every position committed up to the top is then in `events`, with the pos that names its batch.
    await this.ensureDerived();
    const cursor = this.c.batchBodies.find({ first: { $exists: true } }, { projection: { _id: 1, first: 1 } });
    let deleted = 0;
    let page: Array<Pick<BatchBodyDoc, '_id' | 'first'>> = [];
    for await (const body of cursor) {
      page.push(body);
      if (page.length === BODY_PAGE) {
        deleted += await this.collectPage(page);
        page = [];
      }
    }
    if (page.length > 0) deleted += await this.collectPage(page);
    return deleted;
  }

  /** collectBodies for one page of bodies. */
  private async collectPage(bodies: ReadonlyArray<Pick<BatchBodyDoc, '_id' | 'first'>>): Promise<number> {
    const byLog = new Map<string, Array<{ token: string; seq: number }>>();
    for (const b of bodies) {
      const list = byLog.get(b.first!.app) ?? [];
      list.push({ token: b._id, seq: b.first!.seq });
      byLog.set(b.first!.app, list);
    }
    const holders = new Map<string, number>(); // body token -> g of the batch holding its first position
    for (const [app, list] of byLog) {
      const held = await this.c.events
        .find(
          { sourceAppId: app, seq: { $in: [...new Set(list.map((l) => l.seq))] } },
          { projection: { _id: 0, seq: 1, pos: 1 } },
        )
        .toArray();
      const gOf = new Map(held.map((e) => [e.seq, Math.floor(e.pos / POS_PER_BATCH)]));
      for (const l of list) {
        const g = gOf.get(l.seq);
        if (g !== undefined) holders.set(l.token, g);
      }
    }
    if (holders.size === 0) return 0;
    const batches = await this.c.batches
      .find({ _id: { $in: [...new Set(holders.values())] } }, { projection: { _id: 1, token: 1, pending: 1 } })
      .toArray();
    const holder = new Map(batches.map((b) => [b._id, b]));
    const done = [...holders]
      .filter(([token, g]) => {
        const b = holder.get(g);
        return b !== undefined && (b.token !== token || b.pending !== true);
      })
      .map(([token]) => token);
    if (done.length === 0) return 0;
    const { deletedCount } = await this.c.batchBodies.deleteMany({ _id: { $in: done } });
    return deletedCount;
  }

  /**
   * Insert the batch at its g: 'won', or 'taken' when a batch holds g (another's, or ours if the
   * driver retried an insert that had landed: the caller tells by the token). If the insert's
   * outcome is unknown (a network error, a timeout), it is settled by a race for the same g: a void
   * batch that wins proves ours never will; one that loses finds the winner's token.
   */
  private async claim(batch: Batch): Promise<'won' | 'taken'> {
    let failure: unknown;
    const { logs, ...rest } = batch;
    const insert = async () => {
      await this.c.batches.insertOne({ ...rest, logsJson: JSON.stringify(logs) });
    };
    try {
      await (this.hooks.claimInsert ? this.hooks.claimInsert(insert) : insert());
      return 'won';
    } catch (err) {
      if (isDuplicateKey(err)) return 'taken';
      failure = err;
    }
    for (let attempt = 0; attempt < RESOLVE_ATTEMPTS; attempt++) {
      try {
        await this.c.batches.insertOne({ _id: batch._id, token: 'void', logsJson: '[]', apps: [], count: 0, void: true });
        // The void took g: our insert did not commit, and never will. Nothing was written.
        this.knownMax = Math.max(this.knownMax, batch._id);
        this.keepOwn(batch._id, []);
        throw failure;
      } catch (err) {
        if (err === failure) throw err;
        if (isDuplicateKey(err)) {
          try {
            return (await this.wonBy(batch)) ? 'won' : 'taken';
          } catch {
            // could not read who won: try again
          }
        }
      }
      await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
    }
    throw new AppendOutcomeUnknownError(
      `the append at commit ${batch._id} may or may not have committed (${failure instanceof Error ? failure.message : String(failure)}); ` +
        'retry it with the same idempotency keys',
      { cause: failure },
    );
  }

  /**
   * The token of the batch that holds g, read by the catch-up. Failing to read it leaves the claim
   * in doubt (the batch may be ours): AppendOutcomeUnknownError.
   */
  private async holderToken(g: number): Promise<string | undefined> {
    try {
      return await this.catchUp(g);
    } catch (err) {
      throw new AppendOutcomeUnknownError(
        `the append at commit ${g} may or may not have committed (${err instanceof Error ? err.message : String(err)}); ` +
          'retry it with the same idempotency keys',
        { cause: err },
      );
    }
  }

  /** Whether the batch at `batch._id` is ours (by its token); false when another writer's or void. */
  private async wonBy(batch: Batch): Promise<boolean> {
    const holder = await this.c.batches.findOne({ _id: batch._id }, { projection: { token: 1 } });
    if (!holder) throw new Error(`batch ${batch._id} reported taken but not found`);
    return holder.token === batch.token;
  }

  /**
   * Throws AppendConflictError unless each log's events continue its head as of batch `upTo` and
   * (with `keys`) no idempotency key is taken. Keys need no unique index to be safe: a log's
   * positions are serialized by the claim, and a batch that touches the log after `upTo` makes the
   * claim fail and this check refuse the append.
   */
  private async checkAppendable(batches: LogBatch[], upTo: number, keys: boolean): Promise<void> {
    const withKeys = keys ? batches.filter((b) => b.events.some((e) => e.idempotencyKey !== null)) : [];
    const [heads] = await Promise.all([
      this.headsAsOf(
        batches.map((b) => b.sourceAppId),
        upTo,
      ),
      withKeys.length > 0 ? this.deriveThrough(upTo) : undefined,
    ]);
    batches.forEach(({ sourceAppId, events }, i) => {
      const head = heads[i]!;
      const first = events[0]!;
      if (first.seq !== head.size) {
        throw new AppendConflictError(`log ${sourceAppId} is at size ${head.size}, not ${first.seq}`, 'position');
      }
      if (first.prevHash !== head.headHash) {
        throw new AppendConflictError(
          `log ${sourceAppId}: seq ${first.seq} does not link to the head ${head.headHash}`,
          'position',
        );
      }
    });
    await Promise.all(
      withKeys.map(async ({ sourceAppId, events }) => {
        const keys = events.map((e) => e.idempotencyKey).filter((k): k is string => k !== null);
        const taken = await this.c.events.findOne(
          { sourceAppId, idempotencySlot: { $in: keys } },
          { projection: { _id: 0, idempotencySlot: 1 } },
        );
        if (taken) throw new AppendConflictError(`idempotency key already used in log ${sourceAppId}`, 'idempotencyKey');
      }),
    );
  }

  /** The pos up to which the events after `afterPos` (in batches up to g `top`) number the read budget. */
  async budgetedUpTo(afterPos: number, top: number, horizon: number): Promise<number> {
    const from = Math.floor(afterPos / POS_PER_BATCH);
    if (from > top) return horizon;
    const sizes = await this.c.batches
      // Every batch holds at least one event (or is void): the budget's worth of batches is enough.
      .find(
        { _id: { $gte: from, $lte: top } },
        { projection: { _id: 1, count: 1 }, sort: { _id: 1 }, limit: this.readBudget + 1 },
      )
      .toArray();
    let remaining = this.readBudget;
    for (const b of sizes) {
      // Positions within a batch are dense: g * POS_PER_BATCH + index.
      const first = b._id === from ? (afterPos % POS_PER_BATCH) + 1 : 0;
      const available = Math.max(0, b.count - first);
      if (available >= remaining) return Math.min(horizon, b._id * POS_PER_BATCH + first + remaining - 1);
      remaining -= available;
    }
    return horizon;
  }

  /**
   * The largest g and the last pos of its events (of the last batch with events, when void ones are
   * on top), after deriving every batch up to it: every event with pos <= lastPos is readable.
   */
  async horizon(): Promise<{ g: number; lastPos: number }> {
    let top = await this.readTop();
    if (!top) return { g: 0, lastPos: 0 };
    const g = top._id;
    await this.deriveThrough(g);
    if (top.count === 0) {
      // A void batch on top (an append settled as not committed): the last real one is below it.
      top = await this.c.batches
        .find({ _id: { $lt: g }, count: { $gt: 0 } }, { projection: { _id: 1, count: 1 }, sort: { _id: -1 }, limit: 1 })
        .next();
      if (!top) return { g, lastPos: 0 };
    }
    const lastPos = top._id * POS_PER_BATCH + top.count - 1;
    if (!this.ends.has(top._id)) {
      this.ends.set(top._id, lastPos);
      for (const g of this.ends.keys()) if (this.ends.size > ENDS_KEPT) this.ends.delete(g);
    }
    return { g, lastPos };
  }

  /** Drop the kept commits: readers read every batch from the documents until this process commits again. */
  forgetOwn(): void {
    this.own.clear();
    this.ownEvents = 0;
  }

  /** Remember the events of a batch this process committed at g (none: a void it inserted). */
  private keepOwn(g: number, events: StoredEvent[]): void {
    this.own.set(g, events);
    this.ownEvents += events.length;
    for (const [old, es] of this.own) {
      if (this.ownEvents <= OWN_EVENTS_KEPT) break;
      this.own.delete(old);
      this.ownEvents -= es.length;
    }
  }

  /**
   * The committed events with afterPos < pos <= upTo in pos order (at most `limit`), from memory,
   * when every batch they can be in is one this process committed, or the one the horizon last read
   * and `afterPos` is at its end; undefined when any other batch may hold some (another process's,
   * or one no longer kept), and the caller reads them. Batch g holds pos g * POS_PER_BATCH + i only,
   * and g has no gaps, so the batches from afterPos's to upTo's are all there is to account for.
   * Also forgets the kept batches wholly at or below afterPos: a reader moves forward.
   */
  ownCommitted(afterPos: number, upTo: number, limit: number): StoredEvent[] | undefined {
    const first = Math.floor(afterPos / POS_PER_BATCH);
    const last = Math.floor(upTo / POS_PER_BATCH);
    const out: StoredEvent[] = [];
    for (let g = first; g <= last && out.length < limit; g++) {
      const events = this.own.get(g);
      if (!events) {
        // Nothing of batch `first` lies after afterPos: there is no batch 0, or the horizon's top ends there.
        if (g === first && (g === 0 || this.ends.get(g) === afterPos)) continue;
        return undefined;
      }
      for (const e of events) {
        if (e.pos > afterPos && e.pos <= upTo) out.push(e);
        if (out.length >= limit) break;
      }
    }
    for (const [g, es] of this.own) {
      if (g >= first) break;
      this.own.delete(g);
      this.ownEvents -= es.length;
    }
    return out;
  }
}

/** A body's events, of either form; throws for a body that holds neither (damage: its batch stays pending). */
function bodyEvents(body: BatchBodyDoc, g: number): readonly BodyEvent[] {
  if (typeof body.eventsJson === 'string') {
    let events: unknown;
    try {
      events = JSON.parse(body.eventsJson);
    } catch {
      throw new Error(`the body ${body._id} of batch ${g} is not JSON`);
    }
    if (Array.isArray(events)) return events as BodyEvent[];
  } else if (Array.isArray(body.events)) return body.events;
  throw new Error(`the body ${body._id} of batch ${g} holds no list of events`);
}

/**
 * Groups events by log, in input order, and checks what needs no database: each log's events are
 * consecutive, each links to the one before it, and no idempotency key repeats within a log.
 */
function groupByLog(events: NewEvent[]): LogBatch[] {
  const byLog = new Map<string, { events: NewEvent[]; keys: Set<string> }>();
  for (const e of events) {
    const log = byLog.get(e.sourceAppId) ?? { events: [], keys: new Set<string>() };
    const prev = log.events.at(-1);
    if (prev && e.seq !== prev.seq + 1) {
      throw new AppendConflictError(`events of log ${e.sourceAppId} are not consecutive at seq ${e.seq}`, 'position');
    }
    if (prev && e.prevHash !== prev.hash) {
      throw new AppendConflictError(`log ${e.sourceAppId}: seq ${e.seq} does not link to ${prev.hash}`, 'position');
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

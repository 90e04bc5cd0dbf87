// Erasure of payloads (leaf version 2) and the erasures log (docs/erasure.md).
//
// An erasure deletes the payload and salt of version 2 events and keeps their payloadHash, so every
// leaf, proof and checkpoint stays as it was. Each erasure is first recorded as an event of the
// reserved log ERASURES_LOG (hash-linked, in a Merkle tree and checkpointed like any log), then
// applied to the events. A crash between the two leaves a record whose events are not (all) erased
// yet: `recover` applies every record again at start, so an erasure is done wholly once recorded, and
// not at all before. An auditor tells an erasure (listed there) from a deletion (not listed).
import { createHmac, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { canonicalJson } from '../core/canonical-json.js';
import { leafVersionOf, LEAF_VERSION, type LeafVersion } from '../core/leaf.js';
import { leafBytesBound, MAX_ENTRY_BYTES } from '../core/tiles.js';
import { PositionSet } from '../core/positions.js';
import type { EventId, JsonObject, JsonValue, LogStorage, StoredEvent } from '../storage/types.js';
import { badInput, LogError, notFound } from './errors.js';
import type { AppendRequest, EraseRequest, EraseResult, ErasureSelection } from './service.js';

/**
 * The reserved log of erasure records. Client log ids start with a letter or digit, so no client
 * can append to it; its leaves are version 1 (a record holds no personal data and is never erased).
 */
export const ERASURES_LOG = '_erasures';
/** The eventType of an erasure record. */
export const ERASURE_EVENT_TYPE = 'chainlog.erasure';
/** Most events one eraseEvents call erases; EraseResult.more says when there are more to erase. */
export const MAX_ERASED_PER_CALL = 1000;
/**
 * Records one erasureRecords read gives at most, and positions of the erasures log it looks at beyond
 * the listings (each record's leaf is at most MAX_ENTRY_BYTES).
 */
export const ERASURE_RECORDS_PER_READ = 100;
/** Events read per page while selecting by filter or payload field (each page is one storage read). */
const SELECT_PAGE = 500;
/** Payload-field selections whose resume position a server remembers (least recently used dropped). */
const MAX_FIELD_CURSORS = 1024;
/** Reason of the erasures that retention makes. */
export const RETENTION_REASON = 'retention';

/**
 * The payload of an erasure record. It names the erased events and why, never the payload values the
 * selection matched (a `payloadField.equals` such as a user id would itself be personal data).
 */
export interface ErasureRecord {
  reason: string;
  /** The API key id that asked, or `retention`. */
  by: string;
  /** epoch ms. */
  erasedAt: number;
  selection: JsonObject;
  /** `[sourceAppId, seq, payloadHash]` of each erased event. */
  events: Array<[string, number, string]>;
}

/** The erasure record of an event of ERASURES_LOG; null if it is not one. */
export function parseErasureRecord(e: Pick<StoredEvent, 'eventType' | 'payload'>): ErasureRecord | null {
  if (e.eventType !== ERASURE_EVENT_TYPE || e.payload === null) return null;
  const p = e.payload as unknown as ErasureRecord;
  if (!Array.isArray(p.events) || typeof p.reason !== 'string' || typeof p.erasedAt !== 'number') return null;
  const entry = (x: unknown) =>
    Array.isArray(x) &&
    typeof x[0] === 'string' &&
    Number.isSafeInteger(x[1]) &&
    (x[1] as number) >= 0 &&
    typeof x[2] === 'string';
  if (!p.events.every(entry)) return null;
  return p;
}

/** The value at a dotted path of a payload (`a.b.c`), or undefined. */
function valueAt(payload: JsonObject, path: string[]): JsonValue | undefined {
  let at: JsonValue | undefined = payload;
  for (const key of path) {
    if (at === null || typeof at !== 'object' || Array.isArray(at) || !Object.hasOwn(at, key)) return undefined;
    at = at[key];
  }
  return at;
}

export interface ErasuresOptions {
  storage: LogStorage;
  /** Appends through the log's sequencer. */
  append: (requests: AppendRequest[]) => Promise<StoredEvent[]>;
  now: () => number;
  /** Told of every applied erasure (caches and subscription buffers drop the payloads). */
  onErased: (ids: readonly EventId[], erasedAt: number, reason: string) => void;
  /**
   * Told of a recorded erasure not applied (attempt 0), and of each failed round of the one loop that
   * applies the owed records again (attempt 1, 2, ...; a round stops at its first failure). They are
   * retried until applied.
   */
  onReapplyFailed?: (err: unknown, attempt: number) => void;
  /** Longest wait between attempts to apply a recorded erasure again; default 30 s. */
  maxReapplyBackoffMs?: number;
  /**
   * Told when the size below which every record is applied (LogStorage.erasuresAppliedBelow) could
   * not be read or raised after records were applied. Nothing is lost: a start applies the records
   * from the stored size on, which only applies some again.
   */
  onAppliedMarkFailed?: (err: unknown) => void;
}

export class Erasures {
  /** Erasures run one at a time on a server: each call's work is bounded, and calls queue. */
  private tail: Promise<unknown> = Promise.resolve();
  /** Leaf versions of non-empty logs (a log keeps its first event's for life). */
  private readonly versions = new Map<string, LeafVersion>();
  /**
   * Where a payload-field selection resumes: every event of the log below that seq which matches it
   * is erased (by an earlier call here, or elsewhere: an erasure is never undone, and the events
   * below a log's size never change otherwise), so a call scans only what the calls before it did
   * not, and erasing a value from a long log reads it once in all, not once per call. Keyed by an
   * HMAC under a key of this process, so the map never holds the selected value (personal data) in
   * clear. Lost at restart or when dropped: the next call then scans from the start, as correct.
   */
  private readonly fieldCursors = new LRUCache<string, number>({ max: MAX_FIELD_CURSORS });
  private readonly cursorKey = randomBytes(32);

  /**
   * Recorded erasures not (wholly) applied yet, by position in ERASURES_LOG, in the order the retry
   * loop tries them next. Applying a record is idempotent, so what is owed is each record once: a record
   * whose apply fails joins this map, and one loop (`reapplying`) applies them all again with backoff
   * until none is left. `recover` applies the records a start finds not known applied (from
   * LogStorage.erasuresAppliedBelow on), so a stop may leave some owed.
   */
  private readonly owed = new Map<number, ErasureRecord>();
  /**
   * Records this process applied whole that the stored applied size may not cover yet
   * (LogStorage.erasuresAppliedBelow), by position, each with the logs it lists events of:
   * `advanceApplied` moves the size past them without applying them again, storing their listings
   * with it, and forgets those it passes.
   */
  private readonly appliedHere = new Map<number, readonly string[]>();
  /** The next sweep's timer (sweepEvery), and the sweep in progress. */
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;
  /** The loop that applies the owed records; null when none runs (none owed, or stopped). */
  private reapplying: Promise<void> | null = null;
  private stopped = false;
  /** Ends the loop's current wait between attempts (stop, or an apply that succeeded again). */
  private wake: (() => void) | null = null;

  constructor(private readonly opts: ErasuresOptions) {}

  /** Ends the retries of recorded erasures not applied yet (`recover` applies them at the next start), and the sweeps. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = null;
    await this.sweeping;
    await this.reapplying;
  }

  /**
   * Every `ms` (none when 0), in its turn among the erase calls: applies the records from the stored
   * applied size on that this process did not apply, and raises the size (advanceApplied). Where
   * processes share a database, a record that one of them committed and did not apply (it crashed in
   * between) is then applied by the others within `ms`, not at the next start. A sweep's failure is
   * reported (onAppliedMarkFailed) and the next sweep tries again.
   */
  sweepEvery(ms: number): void {
    if (ms <= 0 || this.stopped || this.sweepTimer) return;
    this.sweepTimer = setTimeout(() => {
      this.sweeping = this.queued(async () => void (await this.advanceApplied())).finally(() => {
        this.sweeping = null;
        this.sweepTimer = null;
        this.sweepEvery(ms);
      });
    }, ms);
    this.sweepTimer.unref();
  }

  /** The leaf version of a log, null if it has no events. */
  async leafVersionOf(sourceAppId: string): Promise<LeafVersion | null> {
    const known = this.versions.get(sourceAppId);
    if (known) return known;
    const first = await this.opts.storage.getEvent(sourceAppId, 0);
    if (!first) return null;
    const v = leafVersionOf(first);
    this.versions.set(sourceAppId, v);
    return v;
  }

  erase(request: EraseRequest): Promise<EraseResult> {
    return this.queued(async () => (await this.eraseNow(request, false))!);
  }

  /**
   * As erase, for retention, whose ids come from a read made before this call's turn: records nothing
   * when none of them is left to erase (an owed record's apply, or another erasure, got there first).
   */
  async eraseIfAny(request: EraseRequest): Promise<{ erased: number; more: boolean }> {
    return (await this.queued(() => this.eraseNow(request, true))) ?? { erased: 0, more: false };
  }

  /**
   * Runs `work` after every erase call and retry round queued before it. Erase calls and the retry
   * loop's rounds take turns: a round never applies an owed record between a call's selection and its
   * look at the owed records (the call would record its events again), nor while the call applies one.
   */
  private queued<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** `ifAny`: null, recording nothing, when no selected event is left to erase and no owed record lists one. */
  private async eraseNow({ selection, reason, by }: EraseRequest, ifAny: boolean): Promise<EraseResult | null> {
    const selected = await this.select(selection);
    // Selected events that an owed record lists are erased by applying that record now, not recorded
    // again: retention selects them on every sweep, and each sweep would add a record while the apply
    // keeps failing. If that apply fails, so does this call, and it records nothing. What it erases
    // counts as erased by this call.
    const owed = await this.applyOwed(selected.events);
    const events = owed.listed.size === 0 ? selected.events : selected.events.filter((e) => !owed.listed.has(eventKey(e)));
    const owedIds = owed.records.map(recordIdOf);
    if (events.length === 0 && owedIds.length > 0) {
      // Every selected event is listed by a record this call applied: that erasure is recorded already,
      // and a record of this call would list nothing.
      if (selected.resume) this.fieldCursors.set(selected.resume.key, selected.resume.seq);
      await this.advanceApplied();
      return { erased: owed.erased, recordId: owedIds.at(-1)!, recordIds: owedIds, more: selected.more };
    }
    if (events.length === 0 && ifAny) return null;
    const erasedAt = this.opts.now();
    const record: ErasureRecord = {
      reason,
      by,
      erasedAt,
      selection: describeSelection(selection),
      events: events.map((e) => [e.sourceAppId, e.seq, e.payloadHash!]),
    };
    // The record is a leaf: it lists as many of the selected events as fit in an entry bundle, the rest are `more`.
    const fit = eventsThatFit(record);
    const cut = fit < record.events.length;
    if (cut) record.events.length = fit;
    const more = selected.more || cut;
    // A payload-field selection resumes at the first event left out: every match below it is erased.
    const resume = cut && selected.resume ? { key: selected.resume.key, seq: events[fit]!.seq } : selected.resume;
    const [stored] = await this.opts.append([
      {
        sourceAppId: ERASURES_LOG,
        eventType: ERASURE_EVENT_TYPE,
        timestamp: erasedAt,
        payload: record as unknown as JsonObject,
      },
    ]);
    let erased: number;
    try {
      erased = owed.erased + (await this.applyAt(stored!.seq, record));
    } catch (err) {
      // Recorded and not (wholly) applied: the caller gets the failure, and the erasure is completed
      // here, not only at the next start, since the events it lists would be served meanwhile.
      this.opts.onReapplyFailed?.(err, 0);
      this.reapplyLater(stored!.seq, record);
      throw err;
    }
    // Only once applied: the cursor says that everything matching below it is erased.
    if (resume) this.fieldCursors.set(resume.key, resume.seq);
    await this.advanceApplied();
    const recordId = recordIdOf(stored!.seq);
    return { erased, recordId, recordIds: [...owedIds, recordId], more };
  }

  /**
   * Applies the owed records that list any of `events` (throws the first failure); returns how many
   * events they erased now and the events they list (`<sourceAppId>/<seq>`).
   */
  private async applyOwed(events: readonly StoredEvent[]): Promise<{ erased: number; listed: Set<string>; records: number[] }> {
    const listed = new Set<string>();
    const records: number[] = [];
    let erased = 0;
    if (this.owed.size === 0 || events.length === 0) return { erased, listed, records };
    const selected = new Set(events.map(eventKey));
    for (const [seq, record] of [...this.owed]) {
      const keys = record.events.map(([sourceAppId, s]) => `${sourceAppId}/${s}`);
      if (!keys.some((k) => selected.has(k))) continue;
      // Out of the map while it is applied: a successful apply wakes the retry loop for the others.
      this.owed.delete(seq);
      try {
        erased += await this.applyAt(seq, record);
      } catch (err) {
        this.owed.set(seq, record);
        throw err;
      }
      records.push(seq);
      for (const k of keys) listed.add(k);
    }
    records.sort((a, b) => a - b);
    return { erased, listed, records };
  }

  /**
   * Owes the record at `seq` of ERASURES_LOG: the one retry loop applies it, started here if none runs.
   * However many records fail, one loop runs, and it makes one apply at a time.
   */
  private reapplyLater(seq: number, record: ErasureRecord): void {
    this.owed.set(seq, record);
    if (this.stopped || this.reapplying) return;
    this.reapplying = this.reapplyOwed();
  }

  /**
   * Until no record is owed (or stop): waits with backoff, then applies the owed records one after
   * another, going on to the next one as soon as one is applied. At the first failure it waits again,
   * that record moved last, so that one that keeps failing does not hold back the others.
   */
  private async reapplyOwed(): Promise<void> {
    try {
      for (let attempt = 1; ; attempt++) {
        // Begins with a wait: `reapplying` is set before this loop can end and clear it.
        await this.pause(attempt);
        const done = await this.queued(() => this.reapplyRound(attempt));
        // No wait between this check and the end: a record owed after it starts the next loop.
        if (done) return;
      }
    } finally {
      this.reapplying = null;
    }
  }

  /**
   * One round of the retry loop, in its turn among the erase calls: applies the owed records in order
   * until one fails (moved last). True when the loop ends (stopped, or nothing owed).
   */
  private async reapplyRound(attempt: number): Promise<boolean> {
    let applied = 0;
    for (const [seq, record] of [...this.owed]) {
      if (this.stopped) return true;
      // Applied meanwhile by an erase call that selected its events.
      if (!this.owed.has(seq)) continue;
      try {
        await this.applyAt(seq, record);
        this.owed.delete(seq);
        applied++;
      } catch (err) {
        if (this.owed.delete(seq)) this.owed.set(seq, record);
        try {
          this.opts.onReapplyFailed?.(err, attempt);
        } catch {
          // A listener's failure must not end the loop: the record stays owed.
        }
        break;
      }
    }
    if (applied > 0 && !this.stopped) await this.advanceApplied();
    return this.stopped || this.owed.size === 0;
  }

  /** A random wait of at most min(maxReapplyBackoffMs, 100 ms * 2^attempt); `wake` ends it sooner. */
  private pause(attempt: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const ceiling = Math.min(this.opts.maxReapplyBackoffMs ?? 30_000, 100 * 2 ** Math.min(attempt, 20));
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => done(), Math.random() * ceiling);
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      this.wake = done;
    });
  }

  /**
   * Erase the events a record lists (idempotent); listeners are told. Returns how many it erased now.
   * Once one succeeds, the owed records are tried at once (the storage erases again), not after the
   * retry loop's wait.
   */
  async apply(record: ErasureRecord): Promise<number> {
    if (record.events.length === 0) return 0;
    const ids = record.events.map(([sourceAppId, seq]) => ({ sourceAppId, seq }));
    const erased = await this.opts.storage.eraseEvents(ids, record.erasedAt, record.reason);
    this.opts.onErased(ids, record.erasedAt, record.reason);
    if (this.owed.size > 0) this.wake?.();
    return erased;
  }

  /**
   * A mirror's follower verified the record at `seq` of its copy of the erasures log: apply it as
   * `applyAt` does, so that `settleVerified` moves the applied size past it without reading it again.
   */
  applyVerified(seq: number, record: ErasureRecord): Promise<number> {
    return this.applyAt(seq, record);
  }

  /**
   * A mirror's follower: raises the stored applied size toward `verified` (the size of its copy that an
   * accepted checkpoint covers), through the records applied here and, should one in between not be,
   * by applying it; and raises LogStorage.erasuresCopiedBelow to `copiedBelow` (clamped to the applied
   * size reached). Returns false when the sizes could not be read or raised (reported, not thrown).
   */
  settleVerified(verified: number, copiedBelow: number): Promise<boolean> {
    return this.advanceApplied(verified, copiedBelow);
  }

  /** apply, of the record at `seq` of ERASURES_LOG: once it succeeds, `advanceApplied` need not apply it again. */
  private async applyAt(seq: number, record: ErasureRecord): Promise<number> {
    const erased = await this.apply(record);
    this.appliedHere.set(seq, [...new Set(record.events.map(([app]) => app))]);
    return erased;
  }

  /**
   * Apply the recorded erasures below `below` (all when omitted) again (idempotent), from the size
   * below which the storage says every record is applied; then raise that size to where this call
   * read. Completes an erasure a crash interrupted, without applying every record ever made at every
   * start. Returns events erased now.
   */
  async recover(below?: number): Promise<number> {
    const from = await this.opts.storage.erasuresAppliedBelow();
    const { reached, erased } = await this.applyRecords(from, await this.sizeBelow(below));
    await this.raiseApplied(from, reached);
    return erased;
  }

  /**
   * After this process applied records (an erase call's own, owed ones): applies the records from the
   * stored applied size on that it did not apply (another process's, or a crashed one's), then raises
   * the size. So, with one process erasing, each erase call moves the size past its own record without
   * reading the log, and the next start has nothing to apply again. A failure here is the size's
   * alone: reported (false), never the erase call's, whose record is applied. `below` bounds the size
   * (a mirror's verified records); `copiedBelow` is settleVerified's.
   */
  private async advanceApplied(below?: number, copiedBelow = 0): Promise<boolean> {
    let from: number;
    let reached: number;
    try {
      from = await this.opts.storage.erasuresAppliedBelow();
      const size = await this.sizeBelow(below);
      let at = from;
      while (at < size && this.appliedHere.has(at)) at++;
      // Only when a position in between was not applied here is the log read.
      reached = at === size ? size : (await this.applyRecords(at, size)).reached;
    } catch (err) {
      this.opts.onAppliedMarkFailed?.(err);
      return false;
    }
    return this.raiseApplied(from, reached, Math.min(copiedBelow, Math.max(from, reached)));
  }

  /**
   * Raises the stored size below which every record is applied from `from` to `reached`, with the
   * listings of the records in between (every one of them was applied here: `appliedHere`), and
   * LogStorage.erasuresCopiedBelow to `copiedBelow`; forgets the records applied here below `reached`.
   * A failure is reported (false), not thrown.
   */
  private async raiseApplied(from: number, reached: number, copiedBelow = 0): Promise<boolean> {
    if (reached <= from && copiedBelow === 0) return true;
    const listings: Array<[string, number]> = [];
    for (const [seq, apps] of this.appliedHere)
      if (seq >= from && seq < reached) for (const app of apps) listings.push([app, seq]);
    try {
      await this.opts.storage.raiseErasuresAppliedBelow(reached, listings, copiedBelow);
    } catch (err) {
      this.opts.onAppliedMarkFailed?.(err);
      return false;
    }
    for (const seq of this.appliedHere.keys()) if (seq < reached) this.appliedHere.delete(seq);
    return true;
  }

  /** The erasures log's stored size, at most `below`. */
  private async sizeBelow(below?: number): Promise<number> {
    const head = (await this.opts.storage.getLogHead(ERASURES_LOG))?.size ?? 0;
    return Math.min(head, below ?? head);
  }

  /**
   * Applies the records at positions from <= seq < size in log order, but those applied here already
   * (`appliedHere`) and those owed (`owed`: the retry loop applies each of them, once it succeeds, and
   * then drops it; applied here too, one would be applied twice). Returns how many events it erased,
   * and `reached`: the position below which every record is applied. A position the reads did not find
   * (an event not readable yet) or an owed record is where `reached` stays, so that no size is raised
   * past a record not applied; the records after it are applied all the same.
   */
  private async applyRecords(from: number, size: number): Promise<{ reached: number; erased: number }> {
    let erased = 0;
    let reached: number | null = null;
    while (from < size) {
      const page = await this.opts.storage.getEventRange(ERASURES_LOG, from, size, SELECT_PAGE);
      for (const e of page) {
        if (reached === null && e.seq !== from) reached = from;
        if (reached === null && this.owed.has(e.seq)) reached = e.seq;
        const record = this.appliedHere.has(e.seq) || this.owed.has(e.seq) ? null : parseErasureRecord(e);
        if (record) erased += await this.applyAt(e.seq, record);
        from = e.seq + 1;
      }
      if (page.length === 0) break;
    }
    return { reached: reached ?? from, erased };
  }

  /** The erasure records at positions from <= seq < below (the whole log when omitted), in log order. */
  async *records(from = 0, below?: number): AsyncGenerator<{ seq: number; record: ErasureRecord; event: StoredEvent }> {
    const head = (await this.opts.storage.getLogHead(ERASURES_LOG))?.size ?? 0;
    const size = Math.min(head, below ?? head);
    while (from < size) {
      const page = await this.opts.storage.getEventRange(ERASURES_LOG, from, size, SELECT_PAGE);
      if (page.length === 0) break;
      for (const e of page) {
        const record = parseErasureRecord(e);
        if (record) yield { seq: e.seq, record, event: e };
      }
      from = page[page.length - 1]!.seq + 1;
    }
  }

  /** The positions of one log that the erasures log lists (as runs: retention's millions take a few numbers). */
  async erasedSeqs(sourceAppId: string): Promise<PositionSet> {
    const out = new PositionSet();
    const size = await this.sizeBelow();
    for (let from: number | null = 0; from !== null;) {
      const page = await this.listing(sourceAppId, from, size);
      for (const { record } of page.records) for (const [app, seq] of record.events) if (app === sourceAppId) out.add(seq);
      from = page.next;
    }
    return out;
  }

  /**
   * One read of the records at positions in [from, size) of the erasures log that list events of
   * `sourceAppId`, in log order, and where the next read starts (null once `size` is reached). Below the
   * applied size the storage's listings find them (LogStorage.erasureListings): at most
   * ERASURE_RECORDS_PER_READ records, however many other logs' records lie between. From it on, a read
   * looks at each position, ERASURE_RECORDS_PER_READ of them in all with the records found before.
   * So a log's records are read in a number of reads that follows them, not the erasures log's size.
   */
  async listing(
    sourceAppId: string,
    from: number,
    size: number,
  ): Promise<{ records: Array<{ seq: number; record: ErasureRecord; event: StoredEvent }>; next: number | null }> {
    const { storage } = this.opts;
    const records: Array<{ seq: number; record: ErasureRecord; event: StoredEvent }> = [];
    const lists = (e: StoredEvent | null) => {
      const record = e && parseErasureRecord(e);
      if (record && record.events.some(([app]) => app === sourceAppId)) records.push({ seq: e.seq, record, event: e });
    };
    const listed = Math.min(size, await storage.erasuresAppliedBelow());
    let at = from;
    if (at < listed) {
      const seqs = await storage.erasureListings(sourceAppId, at, listed, ERASURE_RECORDS_PER_READ);
      for (const e of await Promise.all(seqs.map((seq) => storage.getEvent(ERASURES_LOG, seq)))) lists(e);
      if (seqs.length === ERASURE_RECORDS_PER_READ) {
        const next = seqs.at(-1)! + 1;
        return { records, next: next < size ? next : null };
      }
      at = listed;
    }
    const below = Math.min(size, at + ERASURE_RECORDS_PER_READ - records.length);
    if (at < below) for (const e of await storage.getEventRange(ERASURES_LOG, at, below, below - at)) lists(e);
    return { records, next: below < size ? below : null };
  }

  /**
   * Version 2 events of the selection not erased yet, at most MAX_ERASED_PER_CALL; for a payload
   * field, also where the next call with that selection resumes once these are erased.
   */
  private async select(
    s: ErasureSelection,
  ): Promise<{ events: StoredEvent[]; more: boolean; resume?: { key: string; seq: number } }> {
    const { storage } = this.opts;
    if (s.kind === 'ids') {
      const found = await readIds(storage, s.ids);
      const events: StoredEvent[] = [];
      const seen = new Set<string>();
      for (const [i, id] of s.ids.entries()) {
        const key = `${id.sourceAppId}/${id.seq}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const e = found.get(key);
        if (!e) throw notFound(`event ${key} not found`, `ids[${i}]`);
        if (leafVersionOf(e) !== 2) throw versionOne(id.sourceAppId, `ids[${i}]`);
        if (e.payload !== null) events.push(e);
      }
      return { events, more: false };
    }
    const version = await this.leafVersionOf(s.sourceAppId);
    if (version === null) throw notFound(`log "${s.sourceAppId}" not found`, 'sourceAppId');
    if (version !== 2) throw versionOne(s.sourceAppId, 'sourceAppId');
    if (s.kind === 'payloadField') return this.selectByField(s);
    const filter = { sourceAppIds: [s.sourceAppId], from: s.from, to: s.to, eventTypes: s.eventTypes };
    const events: StoredEvent[] = [];
    let after: { timestamp: number; pos: number } | undefined;
    for (;;) {
      const page = await storage.queryEvents({ filter, direction: 'asc', after, limit: SELECT_PAGE });
      for (const e of page.events) {
        if (e.payload === null || typeof e.payloadHash !== 'string') continue;
        if (events.length === MAX_ERASED_PER_CALL) return { events, more: true };
        events.push(e);
      }
      const last = page.events.at(-1);
      const next = page.resumeAfter ?? (last ? { timestamp: last.timestamp, pos: last.pos } : undefined);
      if (!next || (!page.resumeAfter && page.events.length < SELECT_PAGE)) return { events, more: false };
      after = next;
    }
  }

  /**
   * The events of one log whose payload holds `equals` at `path`, in seq order from where the last
   * call with this selection stopped (fieldCursors) up to the log's size when the call starts.
   */
  private async selectByField(
    s: Extract<ErasureSelection, { kind: 'payloadField' }>,
  ): Promise<{ events: StoredEvent[]; more: boolean; resume: { key: string; seq: number } }> {
    const { storage } = this.opts;
    const wanted = canonicalJson(s.equals);
    const key = createHmac('sha256', this.cursorKey)
      .update(canonicalJson([s.sourceAppId, s.path, s.equals]))
      .digest('base64');
    const size = (await storage.getLogHead(s.sourceAppId))?.size ?? 0;
    const events: StoredEvent[] = [];
    let from = Math.min(this.fieldCursors.get(key) ?? 0, size);
    while (from < size) {
      const page = await storage.getEventRange(s.sourceAppId, from, size, SELECT_PAGE);
      if (page.length === 0) break;
      for (const e of page) {
        if (e.payload === null || typeof e.payloadHash !== 'string') continue;
        const v = valueAt(e.payload, s.path);
        if (v === undefined || canonicalJson(v) !== wanted) continue;
        if (events.length === MAX_ERASED_PER_CALL) return { events, more: true, resume: { key, seq: e.seq } };
        events.push(e);
      }
      from = page.at(-1)!.seq + 1;
    }
    return { events, more: false, resume: { key, seq: from } };
  }
}

/**
 * The stored events of `ids`, keyed `<sourceAppId>/<seq>`: each run of consecutive positions of a log is
 * one range read (retention's ids are such runs), so a call's reads grow with its runs, not its ids.
 */
async function readIds(storage: LogStorage, ids: readonly EventId[]): Promise<Map<string, StoredEvent>> {
  const seqsOf = new Map<string, number[]>();
  for (const { sourceAppId, seq } of ids) {
    const seqs = seqsOf.get(sourceAppId) ?? [];
    seqs.push(seq);
    seqsOf.set(sourceAppId, seqs);
  }
  const found = new Map<string, StoredEvent>();
  for (const [app, seqs] of seqsOf) {
    const sorted = [...new Set(seqs)].sort((a, b) => a - b);
    for (let i = 0; i < sorted.length;) {
      let j = i;
      while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
      const start = sorted[i]!;
      const end = sorted[j]! + 1;
      for (const e of await storage.getEventRange(app, start, end, end - start)) found.set(`${app}/${e.seq}`, e);
      i = j + 1;
    }
  }
  return found;
}

/** The event id of the record at `seq` of the erasures log. */
function recordIdOf(seq: number): string {
  return `${ERASURES_LOG}/${seq}`;
}

function eventKey(e: Pick<StoredEvent, 'sourceAppId' | 'seq'>): string {
  return `${e.sourceAppId}/${e.seq}`;
}

function versionOne(sourceAppId: string, field: string): LogError {
  const message =
    `log "${sourceAppId}" uses leaf version ${LEAF_VERSION}: its leaves hold the payload, so erasing one would ` +
    'break its proofs; only logs of leaf version 2 can be erased';
  const err = badInput(message, field);
  err.details[0]!.rule = 'leafVersion2';
  Object.assign(err.extensions, { leafVersion: LEAF_VERSION });
  return err;
}

/**
 * How many of a record's events, from the first, it can list with its leaf at most MAX_ENTRY_BYTES (so that
 * the erasures log's entry bundles can serve every record, as every client log's); at least one.
 */
export function eventsThatFit(record: ErasureRecord): number {
  const budget =
    MAX_ENTRY_BYTES -
    leafBytesBound({ sourceAppId: ERASURES_LOG, eventType: ERASURE_EVENT_TYPE }, 0) -
    Buffer.byteLength(canonicalJson({ ...record, events: [] }), 'utf8');
  let used = 0;
  for (const [i, entry] of record.events.entries()) {
    // Each entry's canonical text, and the comma before every one but the first.
    used += Buffer.byteLength(canonicalJson(entry), 'utf8') + (i > 0 ? 1 : 0);
    if (used > budget) return Math.max(1, i);
  }
  return record.events.length;
}

/** The selection as the record states it: without payloadField.equals (it may be personal data). */
function describeSelection(s: ErasureSelection): JsonObject {
  switch (s.kind) {
    case 'ids':
      return { kind: 'ids' };
    case 'filter':
      return {
        kind: 'filter',
        sourceAppId: s.sourceAppId,
        ...(s.from !== undefined ? { from: s.from } : {}),
        ...(s.to !== undefined ? { to: s.to } : {}),
        ...(s.eventTypes ? { eventTypes: s.eventTypes } : {}),
      };
    case 'payloadField':
      return { kind: 'payloadField', sourceAppId: s.sourceAppId, path: s.path.join('.') };
  }
}

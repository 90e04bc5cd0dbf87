// eventLogged: replay from storage after a known event, then live, with no gap and no duplicate.
//
// The listener is registered before anything is read, so every commit is either visible to a later
// storage read or in the buffer (or both: duplicates are dropped by pos). While replaying, the consumer
// pulls pages from storage, so an overflowing buffer can simply be discarded and storage re-read. Once
// live, an overflowing buffer means the consumer is too slow: the stream ends with RESUME_REQUIRED.
//
// A committed event that was read back malformed (processes sharing a database read every commit
// from storage) ends the stream of every subscriber whose filter may include it with that
// MalformedEventError (MALFORMED_EVENT, naming the log and seq), once the events before it are
// delivered: the same error a replay through it gives, on either engine. A subscriber of a
// tamper-evident log is told that its log is damaged there rather than shown a gap.
import type { LogService } from '../../log/service.js';
import type { EventFilter, MalformedCommitted, StoredEvent } from '../../storage/types.js';
import { ApiError } from '../errors.js';
import { eventId } from '../validation/query-args.js';
import { inFilterLogs, matchesFilter } from './event-filter.js';

/**
 * Erased events a stream remembers to deliver erased, at most: an erasure is applied in storage moments
 * after a stream is told of it, so only the latest can still be read with their payloads.
 */
const RECENTLY_ERASED_KEPT = 10_000;

export type CommittedFeed = Pick<LogService, 'onCommitted' | 'readCommitted'> & Partial<Pick<LogService, 'onErased'>>;

export interface EventStreamOptions {
  filter: EventFilter;
  /** Most matching events held for a slow consumer before it is told to resume. */
  maxBuffered: number;
  replayPageSize: number;
  /** Called once when the stream ends, whatever the reason. */
  onEnd?: (reason: 'done' | 'resume' | 'error') => void;
}

export class CommittedEventStream implements AsyncIterableIterator<StoredEvent> {
  private readonly unsubscribe: () => void;
  private buffer: StoredEvent[] = [];
  private head = 0;
  private page: StoredEvent[] = [];
  private pageHead = 0;
  private started = false;
  private replaying = false;
  private caughtUp = false;
  /** Bumped whenever the buffer is discarded during replay: a storage read begun before must be redone. */
  private discards = 0;
  private overflowed = false;
  private ended = false;
  /** pos of the last event delivered (or of the `after` event). */
  private lastPos = -1;
  /** Where the next replay read starts: the last read covered every match up to here (CommittedPage.through). */
  private readFrom = -1;
  /** The id a client would resume after: everything matching up to it has been delivered. */
  private resumeId: string | null = null;
  private wake: (() => void) | null = null;
  /** Events this stream may include that were erased since it began (the latest RECENTLY_ERASED_KEPT), by id. */
  private readonly recentlyErased = new Map<string, { erasedAt: number; reason: string }>();
  /** The first malformed commit this stream's filter may include, once live: delivery stops there. */
  private damaged: MalformedCommitted | null = null;

  constructor(
    private readonly feed: CommittedFeed,
    private readonly opts: EventStreamOptions,
  ) {
    const offCommitted = feed.onCommitted((events, malformed) => this.onCommitted(events, malformed));
    const offErased = feed.onErased?.((ids, erasedAt, reason) => this.onErased(ids, erasedAt, reason));
    this.unsubscribe = () => {
      offCommitted();
      offErased?.();
    };
  }

  /**
   * An erased payload leaves the events this stream holds and has not delivered yet, and any it reads or
   * is handed later while the erasure may not be applied yet (a replay read in flight, or a read made
   * before another process applied an erasure this one was told of at its record's commit): those are
   * delivered erased (`recentlyErased`).
   */
  private onErased(ids: readonly { sourceAppId: string; seq: number }[], erasedAt: number, reason: string): void {
    for (const id of ids) {
      if (!inFilterLogs(this.opts.filter, id)) continue;
      this.recentlyErased.delete(eventId(id));
      this.recentlyErased.set(eventId(id), { erasedAt, reason });
    }
    for (const key of this.recentlyErased.keys()) {
      if (this.recentlyErased.size <= RECENTLY_ERASED_KEPT) break;
      this.recentlyErased.delete(key);
    }
    const erased = new Set(ids.map((id) => eventId(id)));
    const scrub = (list: StoredEvent[], from: number) => {
      for (let i = from; i < list.length; i++) {
        const e = list[i]!;
        if (e.payloadHash && e.payload !== null && erased.has(eventId(e)))
          list[i] = { ...e, payload: null, payloadSalt: null, erasedAt, erasureReason: reason };
      }
    };
    scrub(this.buffer, this.head);
    scrub(this.page, this.pageHead);
  }

  /**
   * Begin delivering: after `after` (replaying storage first), or live from the listener's
   * registration. With `including`, replay begins at `after` itself rather than after it.
   */
  start(after: StoredEvent | null, including = false): this {
    this.started = true;
    if (after) {
      this.lastPos = including ? after.pos - 1 : after.pos;
      this.readFrom = this.lastPos;
      this.resumeId = including ? resumeIdBefore(after) : eventId(after);
      this.replaying = true;
    }
    this.notify();
    return this;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Not safe for concurrent calls; graphql-js pulls one at a time. */
  async next(): Promise<IteratorResult<StoredEvent>> {
    try {
      while (!this.ended) {
        if (this.overflowed) throw this.resumeError();
        const event = this.started ? (this.replaying ? await this.nextReplayed() : this.nextBuffered()) : undefined;
        if (this.ended) break;
        if (event) return this.deliver(event);
        if (!this.replaying || !this.started) await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } catch (err) {
      this.end(err instanceof ApiError && err.code === 'RESUME_REQUIRED' ? 'resume' : 'error');
      throw err;
    }
    return { done: true, value: undefined };
  }

  async return(): Promise<IteratorResult<StoredEvent>> {
    this.end('done');
    return { done: true, value: undefined };
  }

  async throw(err?: unknown): Promise<IteratorResult<StoredEvent>> {
    this.end('error');
    throw err;
  }

  private async nextReplayed(): Promise<StoredEvent | undefined> {
    while (this.pageHead < this.page.length) {
      const event = this.page[this.pageHead++]!;
      if (event.pos > this.lastPos) return event;
    }
    if (this.caughtUp) {
      this.replaying = false;
      return this.nextBuffered();
    }
    const discards = this.discards;
    // A read may stop at its budget of examined rows with few or no matches: the next one goes on from
    // where it got to (storage reads each run in an event-loop turn of their own).
    const page = await this.feed.readCommitted(Math.max(this.readFrom, this.lastPos), this.opts.filter, this.opts.replayPageSize);
    this.page = page.events;
    this.pageHead = 0;
    this.readFrom = Math.max(this.readFrom, page.through);
    // Read up to the horizon wholly after the last discard: the buffer holds whatever storage did not show.
    if (page.atHorizon && discards === this.discards) this.caughtUp = true;
    return undefined;
  }

  private nextBuffered(): StoredEvent | undefined {
    while (this.head < this.buffer.length) {
      const event = this.buffer[this.head]!;
      if (this.damaged && event.pos > this.damaged.pos) break;
      this.head++;
      if (event.pos > this.lastPos) return event;
    }
    if (this.damaged && this.damaged.pos > this.lastPos) throw this.damaged.error;
    this.buffer = [];
    this.head = 0;
    return undefined;
  }

  private deliver(event: StoredEvent): IteratorResult<StoredEvent> {
    this.lastPos = event.pos;
    this.resumeId = eventId(event);
    if (event.payloadHash && event.payload !== null && this.recentlyErased.size > 0) {
      const erased = this.recentlyErased.get(this.resumeId);
      if (erased) event = { ...event, payload: null, payloadSalt: null, erasedAt: erased.erasedAt, erasureReason: erased.reason };
    }
    return { done: false, value: event };
  }

  private onCommitted(events: StoredEvent[], malformed: readonly MalformedCommitted[] = []): void {
    if (this.ended || this.overflowed) return;
    // During a replay, storage reads reach a malformed event themselves (and fail with it).
    this.damaged ??= malformed.find((m) => mayInclude(this.opts.filter, m)) ?? null;
    for (const event of events) {
      if (matchesFilter(this.opts.filter, event)) {
        this.buffer.push(event);
      } else if (
        this.started &&
        !this.replaying &&
        this.pending() === 0 &&
        event.pos > this.lastPos &&
        inFilterLogs(this.opts.filter, event)
      ) {
        // Nothing matching is pending before it, so resuming after it skips nothing the client wants.
        // Only an event of the filter's logs: the client resumes with its id, which names its log, and
        // a key limited to some logs may neither learn of another one nor resume after its event.
        this.resumeId = eventId(event);
      }
    }
    if (this.pending() > this.opts.maxBuffered) {
      if (this.started && !this.replaying) {
        this.overflowed = true;
        this.unsubscribe();
      } else {
        this.buffer = [];
        this.head = 0;
        this.caughtUp = false;
        this.discards++;
      }
    }
    this.notify();
  }

  private pending(): number {
    return this.buffer.length - this.head;
  }

  private resumeError(): ApiError {
    let after = this.resumeId;
    const first = this.buffer[this.head];
    // Nothing delivered yet: resume just before the first pending event (its predecessor in its log
    // was committed before it; before a log's first event, the id says so with seq -1).
    if (after === null && first) after = resumeIdBefore(first);
    return new ApiError(
      'RESUME_REQUIRED',
      `subscriber fell more than ${this.opts.maxBuffered} events behind; resubscribe with after: ${JSON.stringify(after)}`,
      { extra: { after } },
    );
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private end(reason: 'done' | 'resume' | 'error'): void {
    if (this.ended) return;
    this.ended = true;
    this.unsubscribe();
    this.buffer = [];
    this.page = [];
    this.notify();
    this.opts.onEnd?.(reason);
  }
}

/**
 * The resume id of the position just before `event`: its predecessor in its log, or `<log>/-1`
 * before a log's first event (eventLogged's `after` accepts both).
 */
export function resumeIdBefore(event: { sourceAppId: string; seq: number }): string {
  return `${event.sourceAppId}/${event.seq - 1}`;
}

/**
 * Whether a subscriber's filter may include a malformed event: only its log can be relied on (the
 * rest of it may be what is damaged), and an unreadable log may be any.
 */
function mayInclude(filter: EventFilter, m: MalformedCommitted): boolean {
  const app = m.error.sourceAppId;
  return filter.sourceAppIds === undefined || app === null || filter.sourceAppIds.includes(app);
}

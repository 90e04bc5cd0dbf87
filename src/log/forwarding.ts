// Appends to a log whose sequencer lease another process holds are handed to that process, at the
// address it recorded with its lease (ADVERTISE_URL), instead of taking turns with it: behind a load
// balancer that does not route by log, the holder then commits every process's appends to a hot log
// in its groups, and no process waits for a lease another one keeps taking back.
//
// Contract: forwarding saves turns, it decides nothing. The holder appends a forwarded request as it
// appends its own (the claim protocol of the engine decides every append, whoever holds the lease),
// so a forward to a process that lost the lease meanwhile is as correct as any append, only slower.
// A receiver never forwards a request on: if yet another process holds the lease now, it answers
// where (HeldElsewhereError) and the forwarding process follows, MAX_HOPS forwards at most.
import { AppendOutcomeUnknownError, type Coordination, type LeaseHolder, type StoredEvent } from '../storage/types.js';
import { HeldElsewhereError, logLeaseName } from './commit-gate.js';
import type { AppendRequest } from './service.js';

/** The forward never reached the holder (refused, unresolvable, no route, turned away): nothing was appended. */
export class PeerUnreachableError extends Error {
  override name = 'PeerUnreachableError';
}

/**
 * The forward was sent and no answer came: the holder went away mid-request (`lost`), gave no sign
 * of working on it for the silence limit (`silent`: stalled, or out of reach since), or was still
 * working on it when the forward's total time limit ran out (`timeout`). It may have appended the request.
 */
export class PeerNoAnswerError extends Error {
  override name = 'PeerNoAnswerError';
  constructor(
    message: string,
    readonly reason: 'lost' | 'silent' | 'timeout',
  ) {
    super(message);
  }
}

/** How appends reach another process (the API's internal endpoint; see src/api/peer-append.ts). */
export interface PeerTransport {
  /**
   * Have the process at `address` append `requests` as its own. Resolves with its events (replays
   * marked, src/log/replays.ts); rejects with PeerUnreachableError, PeerNoAnswerError, or the error
   * the holder answered with (LogError, AppendOutcomeUnknownError, StorageUnavailableError).
   * `onSign` runs on each sign of life the holder gives while it works on the append.
   */
  append(address: string, requests: readonly AppendRequest[], onSign?: () => void): Promise<StoredEvent[]>;
}

export interface ForwarderOptions {
  coordination: Coordination;
  /** This process, as its leases name it. */
  owner: string;
  transport: PeerTransport;
  /** Whether this process holds the log's lease now (its commit gate): then it appends without a read. */
  holds: (sourceAppId: string) => boolean;
  /**
   * One lease TTL: an address that did not take a forward is not tried again for this long, and a
   * holder as read is trusted at most this long.
   */
  ttlMs: number;
  now?: () => number;
}

/**
 * Appends here. `redirect`: instead of waiting for a lease another process holds and advertises,
 * reject with HeldElsewhereError (nothing written); without it, wait for this process's turn.
 */
export type Local = (redirect: boolean) => Promise<StoredEvent[]>;

/** Forwards of one append that follow a lease to the process that holds it now. */
const MAX_HOPS = 3;

export class AppendForwarder {
  /**
   * Per log: where another process holds its lease, trusted until `until` (the lease's expiry as read,
   * at most one TTL ahead by our clock). A stale one costs one hop: its process answers where the
   * lease is now (HeldElsewhereError), appends itself if no one holds it, or is unreachable.
   */
  private readonly hints = new Map<string, { address: string; until: number }>();
  /** Per log: the holder read in flight; the appends that arrive meanwhile wait for it instead of reading too. */
  private readonly reads = new Map<string, Promise<LeaseHolder | null>>();
  /** Addresses that refused a forward, and until when they are not tried. */
  private readonly refused = new Map<string, number>();
  private readonly now: () => number;
  /** Counts, for the tests and the benchmark's details. */
  readonly stats = { forwarded: 0, followed: 0, unreachable: 0, lost: 0, silent: 0, timeouts: 0, inFlight: 0, signs: 0 };
  private readonly sign = () => {
    this.stats.signs++;
  };

  constructor(private readonly opts: ForwarderOptions) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * Append `requests` through the holder of their log's lease if another process holds it and said
   * where it is (as last read, or as the commit gate finds when it asks for the lease), else with
   * `local`. A request that spans several logs is appended here. A forward that never reached the holder falls back to `local`; one
   * whose outcome is unknown falls back to `local` only if every event carries an idempotency key (a
   * second attempt is then stored once, whichever way the first went), else it is reported as
   * AppendOutcomeUnknownError (UNAVAILABLE, outcomeUnknown). One whose holder fell silent or ran out
   * of time is always reported so: the holder may still be appending it, and the client decides when
   * to retry. A holder that keeps giving signs of life while it works is waited for.
   */
  async append(requests: AppendRequest[], local: Local): Promise<StoredEvent[]> {
    const log = soleLogOf(requests);
    if (log === null) return local(false);
    let address = await this.addressFor(log);
    if (address === null) {
      try {
        // Appended here unless another process turns out to hold the lease: then it goes there.
        return await local(true);
      } catch (err) {
        if (!(err instanceof HeldElsewhereError) || err.sourceAppId !== log) throw err;
        if ((this.refused.get(err.address) ?? 0) > this.now()) return local(false);
        address = err.address;
        this.hints.set(log, { address, until: this.now() + this.opts.ttlMs / 2 });
      }
    }
    // A forward may find that yet another process holds the lease now: follow it, a few hops at most.
    for (let hop = 0; hop < MAX_HOPS; hop++) {
      this.stats.inFlight++;
      try {
        const events = await this.opts.transport.append(address, requests, this.sign);
        this.stats.inFlight--;
        this.stats.forwarded++;
        return events;
      } catch (err) {
        this.stats.inFlight--;
        this.hints.delete(log);
        if (err instanceof HeldElsewhereError && err.sourceAppId === log) {
          if (err.address === address || (this.refused.get(err.address) ?? 0) > this.now()) break;
          address = err.address;
          this.hints.set(log, { address, until: this.now() + this.opts.ttlMs / 2 });
          this.stats.followed++;
          continue;
        }
        if (err instanceof PeerUnreachableError) {
          this.stats.unreachable++;
          this.refused.set(address, this.now() + this.opts.ttlMs);
          return local(false);
        }
        if (err instanceof PeerNoAnswerError) {
          if (err.reason !== 'lost') {
            if (err.reason === 'silent') this.stats.silent++;
            else this.stats.timeouts++;
            throw new AppendOutcomeUnknownError(
              `the process holding log "${log}" (${address}) ${err.reason === 'silent' ? 'fell silent' : 'ran out of time'} while appending (${err.message}); it may still store the events: retry with the same idempotency keys`,
            );
          }
          this.stats.lost++;
          if (requests.every((r) => typeof r.idempotencyKey === 'string')) return local(false);
          throw new AppendOutcomeUnknownError(
            `the process holding log "${log}" (${address}) went away while appending; the events may be stored: retry with idempotency keys`,
          );
        }
        throw err;
      }
    }
    // The lease keeps moving: wait for this process's own turn.
    return local(false);
  }

  /** Where to forward an append to `log`, or null to append here. */
  private async addressFor(log: string): Promise<string | null> {
    if (this.opts.holds(log)) return null;
    const hint = this.hints.get(log);
    if (hint && hint.until > this.now() && (this.refused.get(hint.address) ?? 0) <= this.now()) return hint.address;
    this.hints.delete(log);
    let read = this.reads.get(log);
    if (!read) {
      read = this.opts.coordination.leases.holder(logLeaseName(log)).finally(() => this.reads.delete(log));
      this.reads.set(log, read);
    }
    let holder: LeaseHolder | null;
    try {
      holder = await read;
    } catch {
      return null; // the local path meets the same database and reports what it finds
    }
    const now = this.now();
    // Only another process's live, advertised lease routes the append: the local path keeps this
    // process's own leases, and takes a free one. By our clock, a routing hint only.
    if (!holder || holder.owner === this.opts.owner || holder.released || holder.address === undefined) return null;
    if (holder.expiresAt <= now) return null;
    if ((this.refused.get(holder.address) ?? 0) > now) return null;
    this.hints.set(log, { address: holder.address, until: Math.min(holder.expiresAt, now + this.opts.ttlMs) });
    return holder.address;
  }
}

/** The one log every request of an append targets, or null if it spans several. */
function soleLogOf(requests: readonly AppendRequest[]): string | null {
  const first = requests[0]?.sourceAppId;
  if (first === undefined) return null;
  return requests.every((r) => r.sourceAppId === first) ? first : null;
}

// Whose turn it is to commit to a log. One process alone (SQLite) always may. Processes sharing a
// database hold one lease per log: a process keeps the leases of the logs it writes to while it
// is active, so processes writing to different logs never wait for each other, and hands a lease
// over when another process asks for it. Leases are for throughput only: the engine decides every
// append by itself, so a stale or doubled lease costs a retry (a position conflict), never an event.
import type { CommitTurn, Coordination, Lease } from '../storage/types.js';

export interface CommitGate {
  /**
   * Wait for the turn of every log in `logs`. Returns the logs another process may have written to
   * since our last turn there: their cached heads are stale.
   */
  enter(logs: readonly string[], opts?: EnterOptions): Promise<Set<string>>;
  /** After a commit: hand over the leases other processes asked for, keep the rest. */
  leave(): Promise<void>;
  /** The current turn, to pass to the engine's append (undefined for a sole writer). */
  readonly turn: CommitTurn | undefined;
  /**
   * After an append found its positions taken: whether the current turn still holds the leases it
   * began with, asked of the database (a renewal each). False once another process has taken one
   * over (ours expired during a long commit): the turn is lost, and a retry in it would race the new
   * holder. Logs the turn went ahead without (no lease within maxWaitMs) are not asked.
   */
  confirm(logs: readonly string[]): Promise<boolean>;
  /** After a lost turn: give up every lease, so the next turn starts from fresh ones. */
  forfeit(): Promise<void>;
  /** Give up every lease, at shutdown. */
  close(): Promise<void>;
}

export interface EnterOptions {
  /**
   * Instead of waiting for a lease another process holds and advertises an address for, reject with
   * HeldElsewhereError naming it (the appends are then handed to that process, src/log/forwarding.ts).
   */
  redirect?: boolean;
}

/** A log's lease is held by another process, which said where it is: hand the append to it. */
export class HeldElsewhereError extends Error {
  override name = 'HeldElsewhereError';
  constructor(
    readonly sourceAppId: string,
    readonly address: string,
  ) {
    super(`log "${sourceAppId}" is appended to by the process at ${address}`);
  }
}

export const soleWriter: CommitGate = {
  turn: undefined,
  enter: async () => new Set(),
  leave: async () => undefined,
  confirm: async () => true,
  forfeit: async () => undefined,
  close: async () => undefined,
};

/** The sequencer lease of one log. */
export const logLeaseName = (sourceAppId: string) => `log:${sourceAppId}`;

/** How often an idle holder looks for processes waiting on its leases. */
const HANDOFF_POLL_MS = 100;

interface Held {
  lease: Lease;
}

export class LogLeaseGate implements CommitGate {
  private readonly held = new Map<string, Held>();
  /** The last fence we held per log, and whether we released it ourselves. */
  private readonly lastTurn = new Map<string, { fence: number; released: boolean }>();
  private current: CommitTurn | undefined;
  private busy = false;
  /** Logs whose lease a renewal during a turn is in flight for. */
  private readonly renewing = new Set<string>();
  private readonly poller: NodeJS.Timeout;

  constructor(
    private readonly coordination: Coordination,
    private readonly owner: string,
    private readonly ttlMs: number,
    private readonly maxWaitMs: number,
    private readonly now: () => number = Date.now,
    /** Where the other processes reach this one, recorded with each lease taken (appends are forwarded there). */
    private readonly address?: string,
  ) {
    // A holder with nothing to commit would otherwise keep a waiting process out until its lease
    // expires; one in a long commit would lose its lease mid-commit (a turn renews it only on entry),
    // and another process would take it and write beside it: both then lose positions to each other.
    this.poller = setInterval(() => {
      if (this.busy) this.renewDue();
      else if (this.held.size > 0) void this.handOff(true).catch(() => undefined);
    }, HANDOFF_POLL_MS);
    this.poller.unref();
  }

  get turn(): CommitTurn | undefined {
    return this.current;
  }

  /** Whether this process holds `log`'s lease now, by its own clock (for routing appends: a hint). */
  holds(log: string): boolean {
    const held = this.held.get(log);
    return held !== undefined && held.lease.expiresAt > this.now();
  }

  async enter(logs: readonly string[], opts: EnterOptions = {}): Promise<Set<string>> {
    this.busy = true;
    this.current = undefined;
    const fresh = new Set<string>();
    const deadline = this.now() + this.maxWaitMs;
    let delay = 2;
    try {
      for (;;) {
        const missing: string[] = [];
        await Promise.all(
          logs.map(async (log) => {
            if (!(await this.hold(log, fresh))) missing.push(log);
          }),
        );
        // A hand-off begun while we were idle may have released a lease we just counted as held: take it again.
        if (missing.length === 0 && logs.every((log) => this.held.has(log))) {
          this.current = { fences: new Map(logs.map((log) => [log, this.held.get(log)!.lease.fence])) };
          return fresh;
        }
        if (this.now() > deadline) {
          // A holder that died or stalls (or whose clock runs ahead) keeps its lease until it expires by
          // our clock. Leases are for throughput only: go ahead without the missing ones; the engine
          // decides the append, and another writer costs a conflict and a retry, never an event.
          for (const log of missing) fresh.add(log);
          const held = logs.filter((log) => this.held.has(log));
          this.current = { fences: new Map(held.map((log) => [log, this.held.get(log)!.lease.fence])) };
          return fresh;
        }
        if (opts.redirect) {
          const elsewhere = await this.heldElsewhere(missing);
          if (elsewhere) throw elsewhere;
        }
        await Promise.all(missing.map((log) => this.coordination.leases.request(logLeaseName(log), this.owner)));
        // Never sit on leases others wait for while waiting for theirs: two processes could each hold
        // what the other needs.
        await this.handOff();
        await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random())));
        delay = Math.min(delay * 2, 50);
      }
    } catch (err) {
      this.busy = false;
      throw err;
    }
  }

  /** The first of `logs` whose lease another process holds and advertises, as the error that says where. */
  private async heldElsewhere(logs: readonly string[]): Promise<HeldElsewhereError | null> {
    for (const log of logs) {
      const holder = await this.coordination.leases.holder(logLeaseName(log));
      if (holder && holder.owner !== this.owner && !holder.released && holder.address !== undefined) {
        return new HeldElsewhereError(log, holder.address);
      }
    }
    return null;
  }

  /**
   * During a turn: once a held lease is in the second half of its term, renew every held lease, one
   * renewal per log at a time. Renewed together, the leases go in one bulk (the lease store coalesces
   * the calls of one turn of the event loop) and their terms end together from then on: leases taken
   * at different times would otherwise be renewed one by one, each tick catching one or two. A failed
   * renewal changes nothing here: the next turn finds the lease lost, as it would.
   */
  private renewDue(): void {
    const now = this.now();
    const due = (log: string, held: Held) => !this.renewing.has(log) && held.lease.expiresAt - now <= this.ttlMs / 2;
    if (![...this.held].some(([log, held]) => due(log, held))) return;
    for (const [log, held] of this.held) {
      if (this.renewing.has(log)) continue;
      this.renewing.add(log);
      void this.renew(log, held.lease)
        .catch(() => false)
        .finally(() => this.renewing.delete(log));
    }
  }

  /**
   * Renew `log`'s `lease` in the database; true if it is still ours. The term counts here from before the
   * request, as the database's does: one counted from the answer would outlast the stored one by the
   * round trip, and another process could take the lease while this one still trusts it.
   */
  private async renew(log: string, lease: Lease): Promise<boolean> {
    const at = this.now();
    if (!(await this.coordination.leases.renew(lease, this.ttlMs))) return false;
    const held = this.held.get(log);
    if (held?.lease.fence === lease.fence) held.lease = { ...held.lease, expiresAt: at + this.ttlMs };
    return true;
  }

  async confirm(logs: readonly string[]): Promise<boolean> {
    const fences = this.current?.fences;
    if (!fences) return true;
    const kept = await Promise.all(
      logs
        .filter((log) => fences.has(log))
        .map((log) => {
          const held = this.held.get(log);
          return held && held.lease.fence === fences.get(log) ? this.renew(log, held.lease) : Promise.resolve(false);
        }),
    );
    return kept.every(Boolean);
  }

  /** Keep or take one log's lease; adds the log to `fresh` when another process may have written to it. */
  private async hold(log: string, fresh: Set<string>): Promise<boolean> {
    const { leases } = this.coordination;
    const held = this.held.get(log);
    if (held) {
      if (held.lease.expiresAt - this.now() > this.ttlMs / 2) return true;
      if (await this.renew(log, held.lease)) return true;
      this.held.delete(log); // lost it: someone took over after it expired
    }
    const lease = await leases.tryAcquire(logLeaseName(log), this.owner, this.ttlMs, this.address);
    if (!lease) return false;
    const last = this.lastTurn.get(log);
    // Unchanged since our own turn only if we renewed it, or released it and took the very next fence.
    const unchanged = last && (lease.fence === last.fence || (last.released && lease.fence === last.fence + 1));
    if (!unchanged) fresh.add(log);
    this.held.set(log, { lease });
    this.lastTurn.set(log, { fence: lease.fence, released: false });
    return true;
  }

  async leave(): Promise<void> {
    this.current = undefined;
    try {
      await this.handOff();
    } finally {
      this.busy = false;
    }
  }

  /**
   * Release the leases another process asked for during our turn of them (it asked when our fence
   * was the newest). `idle`: called by the poller between turns, so it gives up if a turn began
   * while it asked.
   */
  private async handOff(idle = false): Promise<void> {
    if (this.held.size === 0) return;
    const names = new Map([...this.held.keys()].map((log) => [logLeaseName(log), log]));
    const asked = await this.coordination.leases.waitingFor([...names.keys()], this.owner);
    if (idle && this.busy) return;
    await Promise.all(
      [...asked].map(([name, fence]) => {
        const log = names.get(name)!;
        const held = this.held.get(log);
        return held && fence >= held.lease.fence && !this.current?.fences.has(log) ? this.release(log) : Promise.resolve();
      }),
    );
  }

  private async release(log: string): Promise<void> {
    const held = this.held.get(log);
    if (!held) return;
    this.held.delete(log);
    this.lastTurn.set(log, { fence: held.lease.fence, released: true });
    await this.coordination.leases.release(held.lease);
  }

  async forfeit(): Promise<void> {
    this.current = undefined;
    await Promise.all([...this.held.keys()].map((log) => this.release(log)));
  }

  async close(): Promise<void> {
    clearInterval(this.poller);
    await this.forfeit();
  }
}

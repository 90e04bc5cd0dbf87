// Whose turn it is to commit. One process alone (SQLite) always may; processes sharing a database
// take turns through the sequencer lease, so positions are assigned by one writer at a time and
// commit positions (pos) grow in commit order across all of them.
import type { CommitTurn, Coordination, Lease } from '../storage/types.js';

export interface CommitGate {
  /** Wait for the turn; true when another process may have written since our last turn. */
  enter(): Promise<boolean>;
  /** After a commit: hand the turn over if another process asked for it, else keep it. */
  leave(): Promise<void>;
  /** The current turn, to pass to the engine's append (undefined for a sole writer). */
  readonly turn: CommitTurn | undefined;
  /** After a position conflict in our own turn: clear what a deposed writer left behind. */
  tidy(): Promise<void>;
  close(): Promise<void>;
}

export const soleWriter: CommitGate = {
  turn: undefined,
  tidy: async () => undefined,
  enter: async () => false,
  leave: async () => undefined,
  close: async () => undefined,
};

export class GateTimeoutError extends Error {
  override name = 'GateTimeoutError';
}

export const SEQUENCER_LEASE = 'sequencer';

export class LeaseGate implements CommitGate {
  private lease: Lease | null = null;
  private acquiredAt = 0;
  private lastFence = 0;
  private releasedLast = false;

  constructor(
    private readonly coordination: Coordination,
    private readonly owner: string,
    private readonly ttlMs: number,
    private readonly maxWaitMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get turn(): CommitTurn | undefined {
    return this.lease ? { fence: this.lease.fence } : undefined;
  }

  async enter(): Promise<boolean> {
    const { leases } = this.coordination;
    if (this.lease) {
      if (this.lease.expiresAt - this.now() > this.ttlMs / 2) return false;
      if (await leases.renew(this.lease, this.ttlMs)) {
        this.lease = { ...this.lease, expiresAt: this.now() + this.ttlMs };
        return false;
      }
      this.lease = null; // lost it: someone took over after it expired
      this.releasedLast = false;
    }
    const deadline = this.now() + this.maxWaitMs;
    let delay = 1;
    for (;;) {
      const lease = await leases.tryAcquire(SEQUENCER_LEASE, this.owner, this.ttlMs);
      if (lease) {
        const previous = this.lastFence;
        // Unchanged since our own turn only if we renewed it, or released it and took the very next fence.
        const fresh = !(lease.fence === this.lastFence || (this.releasedLast && lease.fence === this.lastFence + 1));
        this.lease = lease;
        this.lastFence = lease.fence;
        this.acquiredAt = this.now();
        this.releasedLast = false;
        if (lease.fence !== previous) await this.coordination.beginTurn(lease.fence);
        return fresh;
      }
      await leases.request(SEQUENCER_LEASE, this.owner);
      if (this.now() > deadline) throw new GateTimeoutError(`no turn to commit within ${this.maxWaitMs} ms`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 20);
    }
  }

  async tidy(): Promise<void> {
    if (this.lease) await this.coordination.beginTurn(this.lease.fence);
  }

  async leave(): Promise<void> {
    if (!this.lease) return;
    if (await this.coordination.leases.isRequested(SEQUENCER_LEASE, this.owner, this.acquiredAt)) await this.close();
  }

  async close(): Promise<void> {
    if (!this.lease) return;
    const lease = this.lease;
    this.lease = null;
    this.releasedLast = true;
    await this.coordination.leases.release(lease);
  }
}

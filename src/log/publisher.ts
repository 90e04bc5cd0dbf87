// Publish: integrate the logs that grew and sign a checkpoint of each (C2SP tlog-checkpoint, one
// origin per log, the one server key), as soon as committed events wait for one.
//
// The publisher owns the publish cycle: which logs may have grown (the dirty set), when a cycle runs,
// the publisher lease where several processes share a database, recovery (bringing every log's tree
// up to its events and checking its latest checkpoint), and quarantine (a log whose stored data fails
// a check gets no checkpoint until restart). Cycles run one at a time. What it publishes reaches
// delivery through `onPublished`.
//
// When a cycle runs (eager publishing, minGapMs > 0): a commit wakes the publisher, which publishes
// the logs that grew at once, bounded twice. Per log, two of its checkpoints are at least minGapMs
// apart; across logs, publishing takes at most 1 / (1 + EAGER_DUTY_FACTOR) of the time (after a cycle
// of d ms the next eager one waits EAGER_DUTY_FACTOR * d). Commits that arrive meanwhile wait for the
// next cycle together, so under heavy ingest one signature covers many events, never one per event.
// The interval cycle (checkpointIntervalMs) remains: it retries logs whose publish failed (never
// retried eagerly, so a failing storage is not hammered), renews or takes the publisher lease, and is
// the only cycle when eager publishing is off (minGapMs 0).
import type { Logger } from 'pino';
import { logVerifiers, openCheckpoint, signCheckpoint } from '../core/checkpoint.js';
import { toHex } from '../core/hex.js';
import { createSigner, type NoteSigner, type NoteVerifier } from '../core/note/signed-note.js';
import type { Lease, LogHead, LogStorage, StoredCheckpoint, StoredEvent } from '../storage/types.js';
import { Integrator, IntegrityError, type KnownNodes, type TreeState } from './integrator.js';
import type { Prover } from './prover.js';
import type { CheckpointUpdate } from './service.js';
import type { SigningKey } from './signing-key.js';

/** Only one process sharing a database publishes on the interval: the holder of this lease. */
export const PUBLISHER_LEASE = 'publisher';

/** Logs whose heads one recovery read asks for at once. */
const RECOVER_PAGE = 500;
/**
 * Events a recovery reads ahead at once for the logs behind their heads (Integrator.readAhead): their
 * first chunks, read together and held until each is integrated. On MongoDB, one query's worth of
 * whole ranges (RANGE_READ_EVENTS).
 */
const RECOVER_READ_AHEAD_EVENTS = 20_000;
/** Logs of a publish cycle whose heads one read asks for at once; the cycle publishes them before the next page. */
export const CYCLE_PAGE = 500;
/** Signers kept at most (one per log); beyond that the cache starts over. */
const MAX_SIGNERS = 10_000;
/** Latest checkpoints kept at most (one per log); beyond that the cache starts over. */
const MAX_LATEST = 10_000;
/**
 * Eager cycles wait this many times the previous cycle's length: publishing takes at most half of the
 * time. A cycle's length is mostly waiting for the engine's writer (the integration that stores the
 * checkpoint: on SQLite a commit of its own, ahead of the appends queued with it, publisherWritesFirst),
 * not work of this process; a rest of three cycles held a log's checkpoints about four cycles apart, above the min
 * gap, and proof-ready p95 at 64 concurrent single-event clients at 392 ms (docs/performance.md, session 28).
 */
export const EAGER_DUTY_FACTOR = 1;
/** Logs whose last publish time is kept for the min gap; beyond that the times older than the gap are dropped. */
const MAX_PUBLISH_TIMES = 100_000;

/**
 * Logs one cycle publishes at once. Each log waits on the engine's writer once (its integration's last
 * write stores the checkpoint too); with all of a cycle's logs in flight together, SQLite's writer
 * commits all of them at once (its group commit), so a cycle over 10 logs waits for about one commit.
 * An engine that says how many writes help at once (LogStorage.writeConcurrency) sets it instead.
 */
const PUBLISH_CONCURRENCY = 32;

/** interval: on checkpointIntervalMs; eager: woken by commits; demand: publishNow. */
type CycleKind = 'interval' | 'eager' | 'demand';

export interface PublisherOptions {
  storage: LogStorage;
  prover: Prover;
  key: SigningKey;
  /** The server key under its configured name (KEY_NAME), as auditors pin it. */
  verifier: NoteVerifier;
  originOf: (sourceAppId: string) => string;
  checkpointIntervalMs: number;
  /**
   * Eager publishing: the least time between two checkpoints of one log (CHECKPOINT_MIN_GAP_MS); a log
   * that grew is published as soon as this allows. 0 or omitted: publish on the interval only.
   */
  minGapMs?: number;
  /** Lease length for processes sharing a database; the publisher lease lasts at least 3 intervals. */
  leaseTtlMs: number;
  /** This process, among those sharing a database (the lease owner). */
  owner: string;
  logger: Logger;
  now: () => number;
  /** Called with each checkpoint published, in publishing order. */
  onPublished: (update: CheckpointUpdate) => void;
  /**
   * Sharing a database: called when this process has taken the publisher lease and recovered every log
   * (at start, or once the lease of another process, alive or dead, was given up or expired).
   */
  onLeaseTaken?: () => void;
  /**
   * Whether this process has an append to the log in its engine that has not settled
   * (Sequencer.writing): integration stops short of such events, which are offered once it settles,
   * instead of reading them back. None by default: integration reads every event it was not offered.
   */
  writing?: (sourceAppId: string) => boolean;
  /** Events a recovery reads ahead at once for the logs behind their heads; RECOVER_READ_AHEAD_EVENTS by default. */
  recoverReadAheadEvents?: number;
}

export class Publisher {
  private readonly storage: LogStorage;
  private readonly integrator: Integrator;
  /** Each log signs under its origin as key name, with the one key. */
  private readonly signers = new Map<string, NoteSigner>();
  /** Logs that may have grown past their latest checkpoint. */
  private readonly dirty = new Set<string>();
  /** Logs whose stored events failed a check; not published again until restart. */
  private readonly quarantined = new Map<string, string>();
  /** Logs whose recovery met an error other than a failed check: recovered again before publishing. */
  private readonly unrecovered = new Set<string>();
  /**
   * Logs whose last integration stopped short at events this process is still writing: dirty, but
   * published eagerly only once those events are offered (until then an eager cycle would find the
   * same), and on the interval in any case (an append that fails offers nothing).
   */
  private readonly awaiting = new Set<string>();
  /** Logs whose last publish failed (other than a failed check): retried on the interval, not eagerly. */
  private readonly held = new Set<string>();
  /**
   * Logs whose checkpoint may be stored without having been delivered (storing it threw): the next
   * publish of the log delivers the stored one if it is the tree's, instead of finding nothing new.
   */
  private readonly unsure = new Set<string>();
  /**
   * Each log's latest checkpoint as this process last stored or read it, so that a publish need not
   * read it first (on the test server that read is a scan of every log's checkpoints). An integration
   * that finds a larger tree stored than this checkpoint's (another publisher's work), or a tree stored
   * of a log with none kept, seals nothing, and the latest checkpoint is read once the tree is stored.
   * Dropped with the integrator's state.
   */
  private readonly latest = new Map<string, StoredCheckpoint>();
  /** When each log's latest checkpoint was published by this process (opts.now), for the min gap. */
  private readonly publishedAt = new Map<string, number>();
  private cycle: Promise<unknown> = Promise.resolve();
  /** Cycles queued or running. */
  private cycles = 0;
  /** Logs the running cycle took up (0: it found none due). */
  private attempted = 0;
  private lease: Lease | null = null;
  /** When the lease was last taken or renewed (opts.now): eager cycles renew it only as often as the interval does. */
  private leaseCheckedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private eagerTimer: NodeJS.Timeout | null = null;
  /** When the eager timer fires (opts.now), while it is set. */
  private eagerAt = Infinity;
  /** No eager cycle starts before this (opts.now): the duty bound of the previous cycle. */
  private restUntil = 0;
  /** Between start() and stop(): a publisher never started (a mirror's: its follower stores its primary's checkpoints) signs nothing. */
  private running = false;
  private stopped = false;

  constructor(private readonly opts: PublisherOptions) {
    this.storage = opts.storage;
    this.integrator = new Integrator(opts.storage, opts.writing);
  }

  /**
   * Before anything is served: check that the database's checkpoints are signed with this process's
   * key, and on an embedded engine bring every log up to its events (sharing a database, the lease
   * holder recovers in its first cycle instead).
   */
  async prepare(verifierKey: string): Promise<void> {
    const coordination = this.storage.coordination;
    if (coordination) {
      const recorded = await coordination.claimVerifierKey(verifierKey);
      if (recorded !== verifierKey) {
        throw new Error(
          `this database's checkpoints are signed with ${recorded}, but this process's key is ${verifierKey}: ` +
            'start every process that shares the database with the same SIGNING_KEY_FILE (and KEY_NAME)',
        );
      }
    } else {
      await this.recover();
    }
  }

  /** Run the first cycle, then one every interval until stop. A first cycle that fails is logged, not thrown. */
  async start(): Promise<void> {
    this.running = true;
    // A log that cannot be published now is retried on the interval; it must not keep the server from starting.
    await this.runCycle('interval').catch((err) => this.opts.logger.warn({ err }, 'first checkpoint cycle incomplete'));
    this.schedule();
  }

  /**
   * Stop the interval and the eager wakes, wait for the running cycle, publish what grew since (when
   * this process publishes), and give up the publisher lease. The last publish ignores the min gap:
   * after a graceful stop every event acknowledged before it is under a checkpoint, and the next start
   * (or the next publisher) has no log to integrate. A last publish that fails is logged, not thrown:
   * the events are stored, and the next recovery publishes them.
   */
  async stop(): Promise<void> {
    const started = this.running;
    this.stopped = true;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    if (this.eagerTimer) clearTimeout(this.eagerTimer);
    await this.cycle.catch(() => undefined);
    if (started) {
      await this.publishAtStop().catch((err) =>
        this.opts.logger.warn({ err }, 'last checkpoints before stopping not published; the next start publishes them'),
      );
    }
    if (this.lease) await this.storage.coordination?.leases.release(this.lease).catch(() => undefined);
  }

  /** Events this process's sequencer committed: their leaf hashes are integrated without reading them back. */
  offer(events: readonly StoredEvent[]): void {
    this.integrator.offer(events);
    for (const e of events) this.awaiting.delete(e.sourceAppId);
    this.grew(events);
  }

  /**
   * Events committed (by any process): their logs are published in the next cycle, which, publishing
   * eagerly, is as soon as the min gap and the duty bound allow.
   */
  grew(events: readonly StoredEvent[]): void {
    let app: string | null = null;
    for (const e of events) {
      if (e.sourceAppId === app) continue;
      app = e.sourceAppId;
      this.dirty.add(app);
      // While a cycle is queued or running, its end sets the duty bound and wakes for what waits.
      if (this.eager && this.cycles === 0 && !this.held.has(app)) this.wakeAt(this.dueAt(app));
    }
  }

  /** Integrate and publish now, whichever process holds the publisher lease; returns the new checkpoints. */
  publishNow(): Promise<StoredCheckpoint[]> {
    return this.runCycle('demand');
  }

  /** Why the log is quarantined (no checkpoint is published for it until restart), or null if it is not. */
  quarantineOf(sourceAppId: string): string | null {
    return this.quarantined.get(sourceAppId) ?? null;
  }

  /** Whether this process publishes on the interval: always on an embedded engine, while it holds the lease otherwise. */
  get publishes(): boolean {
    return !this.storage.coordination || this.lease !== null;
  }

  /** Whether commits wake the publisher now: eager publishing is on, the publisher runs, and this process publishes. */
  private get eager(): boolean {
    return (this.opts.minGapMs ?? 0) > 0 && this.running && this.publishes;
  }

  /**
   * The earliest time (opts.now) a cycle may publish the log: its min gap, and for an eager cycle the
   * duty bound. The interval cycle does not wait for the duty bound: a log that grew gets a checkpoint
   * each interval however long eager cycles take (as with eager publishing off).
   */
  private dueAt(app: string, kind: CycleKind = 'eager'): number {
    const last = this.publishedAt.get(app);
    const now = this.opts.now();
    // A clock that went back must not hold a log up for as long as it went back.
    const gapEnd = last === undefined || last > now ? 0 : last + this.opts.minGapMs!;
    return kind === 'eager' ? Math.max(gapEnd, this.restUntil) : gapEnd;
  }

  /** Have an eager cycle run at `at` (opts.now) at the latest. */
  private wakeAt(at: number): void {
    if (this.eagerTimer && this.eagerAt <= at) return;
    if (this.eagerTimer) clearTimeout(this.eagerTimer);
    this.eagerAt = at;
    this.eagerTimer = setTimeout(
      () => {
        this.eagerTimer = null;
        this.eagerAt = Infinity;
        this.runCycle('eager').catch((err) => this.opts.logger.error({ err }, 'checkpoint cycle failed'));
      },
      Math.max(0, at - this.opts.now()),
    );
    this.eagerTimer.unref();
  }

  /** After a cycle: wake for the logs still waiting (not yet due, or grown meanwhile). */
  private wakeForWaiting(): void {
    if (!this.eager) return;
    let at = Infinity;
    for (const app of this.dirty)
      if (!this.held.has(app) && !this.awaiting.has(app) && !this.quarantined.has(app)) at = Math.min(at, this.dueAt(app));
    if (at < Infinity) this.wakeAt(at);
  }

  private runCycle(kind: CycleKind): Promise<StoredCheckpoint[]> {
    this.cycles++;
    const run = this.cycle.then(async () => {
      if (!(await this.holdsLease(kind))) return [];
      const started = performance.now();
      this.attempted = 0;
      try {
        return await this.publishDirty(kind);
      } finally {
        const took = performance.now() - started;
        // A cycle that found nothing due (woken early) leaves the rest of the last one that worked.
        if (kind !== 'demand' && this.attempted > 0) this.restUntil = this.opts.now() + EAGER_DUTY_FACTOR * took;
      }
    });
    this.cycle = run
      .catch(() => undefined)
      .finally(() => {
        this.cycles--;
        this.wakeForWaiting();
      });
    return run;
  }

  /**
   * Sharing a database, the interval's and the eager publishing is done by one process: the lease
   * holder. A new holder first recovers every log, since it did not see what grew while another one
   * published. Eager cycles renew the lease only as often as the interval does; a holder learns that
   * it lost the lease at its next renewal, and meanwhile its checkpoints are as valid as anyone's
   * (putCheckpoint is idempotent per tree size).
   */
  private async holdsLease(kind: CycleKind): Promise<boolean> {
    const coordination = this.storage.coordination;
    if (!coordination) return true;
    const ttl = this.leaseTtlMs;
    const now = this.opts.now();
    if (kind === 'eager') {
      if (!this.lease) return false;
      const fresh = now >= this.leaseCheckedAt && now - this.leaseCheckedAt < Math.min(this.opts.checkpointIntervalMs, ttl / 3);
      if (fresh) return true;
    }
    if (this.lease && (await coordination.leases.renew(this.lease, ttl))) {
      this.leaseCheckedAt = now;
      return true;
    }
    if (this.lease) this.opts.logger.warn('publisher lease lost: another process publishes now');
    this.lease = await coordination.leases.tryAcquire(PUBLISHER_LEASE, this.opts.owner, ttl);
    if (this.lease) this.leaseCheckedAt = now;
    if (kind === 'eager') return this.lease !== null && (await this.recovered());
    if (this.lease || kind === 'demand') return this.recovered();
    return false;
  }

  /**
   * The last cycle, at stop: the logs that grew, whatever their min gap, when this process publishes
   * (sharing a database: it still holds the publisher lease; it never takes it to stop).
   */
  private async publishAtStop(): Promise<void> {
    const coordination = this.storage.coordination;
    if (coordination && !(this.lease && (await coordination.leases.renew(this.lease, this.leaseTtlMs)))) return;
    if ([...this.dirty].some((app) => !this.quarantined.has(app))) await this.publishDirty('demand');
  }

  /** The publisher lease's term: at least three intervals, so that a holder renewing on the interval keeps it. */
  private get leaseTtlMs(): number {
    return Math.max(3 * this.opts.checkpointIntervalMs, this.opts.leaseTtlMs);
  }

  /** Not having published until now, this process cannot know which logs grew: look at all of them. */
  private async recovered(): Promise<true> {
    this.forget();
    await this.recover();
    if (this.lease) this.opts.onLeaseTaken?.();
    return true;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.runCycle('interval')
        .catch((err) => this.opts.logger.error({ err }, 'checkpoint cycle failed'))
        .finally(() => this.schedule());
    }, this.opts.checkpointIntervalMs);
    this.timer.unref();
  }

  /**
   * Publish every log that may have grown and is due: on demand every one, otherwise (publishing
   * eagerly) those past their min gap (an eager cycle: and past the duty bound), and in an eager cycle
   * not those whose last publish failed.
   * Each log is on its own: a log whose stored events fail a check is quarantined, one that meets any
   * other error (storage unavailable, a lost connection) stays dirty for the next interval cycle, and
   * neither keeps the logs after it from being published. Throws once all are done if any log could
   * not be published, naming them.
   */
  private async publishDirty(kind: CycleKind): Promise<StoredCheckpoint[]> {
    const gap = (this.opts.minGapMs ?? 0) > 0 && kind !== 'demand';
    const now = this.opts.now();
    const apps: string[] = [];
    for (const app of this.dirty) {
      if (kind === 'eager' && (this.held.has(app) || this.awaiting.has(app))) continue;
      if (gap && this.dueAt(app, kind) > now && !(kind === 'interval' && this.held.has(app))) continue;
      apps.push(app);
    }
    for (const app of apps) this.dirty.delete(app);
    this.attempted = apps.length;
    const updates: Array<CheckpointUpdate | null> = apps.map(() => null);
    const failed: Array<{ app: string; err: unknown }> = [];
    const concurrency = Math.max(1, this.storage.writeConcurrency ?? PUBLISH_CONCURRENCY);
    // A page of the cycle's logs at a time: their heads in one read (the engine answers the calls of
    // one turn together), then each log integrated up to its head as read; what commits later is
    // published next cycle. A log in recovery reads its own, after the recovery.
    for (let from = 0; from < apps.length; from += CYCLE_PAGE) {
      const page = apps.slice(from, from + CYCLE_PAGE);
      const heads = await Promise.all(
        page.map(async (app) => {
          if (this.unrecovered.has(app) || this.quarantined.has(app)) return undefined;
          return this.storage.getLogHead(app).then(
            (head) => ({ head }),
            (err: unknown) => ({ err }),
          );
        }),
      );
      // Logs are independent: a few at once, so a cycle over an engine that waits on the network is
      // about as long as its slowest logs, not their sum. Delivered in the cycle's order.
      let next = 0;
      const worker = async () => {
        for (let j = next++; j < page.length; j = next++) {
          const app = page[j]!;
          if (this.quarantined.has(app)) continue;
          try {
            if (this.unrecovered.has(app)) {
              await this.recoverLog(app);
              if (this.quarantined.has(app)) continue;
            }
            const read = heads[j];
            if (read && 'err' in read) throw read.err;
            updates[from + j] = await this.publishLog(app, read?.head);
            this.held.delete(app);
          } catch (err) {
            this.forget(app);
            if (err instanceof IntegrityError) {
              this.quarantine(app, err.message);
            } else {
              this.dirty.add(app); // retried on the interval
              this.held.add(app);
              failed.push({ app, err });
            }
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, page.length) }, worker));
    }
    const published: StoredCheckpoint[] = [];
    for (const update of updates) {
      if (!update) continue;
      this.published(update.checkpoint.sourceAppId, update.checkpoint.publishedAt);
      published.push(update.checkpoint);
      this.opts.onPublished(update);
    }
    if (failed.length > 0) {
      const names = failed.map((f) => `"${f.app}"`).join(', ');
      throw new Error(`no checkpoint published for ${names} this cycle (retried next cycle): ${errorText(failed[0]!.err)}`, {
        cause: failed[0]!.err,
      });
    }
    return published;
  }

  /** Remember when the log was published (for its min gap), keeping the map bounded. */
  private published(app: string, at: number): void {
    if (this.publishedAt.size >= MAX_PUBLISH_TIMES) {
      const before = this.opts.now() - (this.opts.minGapMs ?? 0);
      for (const [a, t] of this.publishedAt) if (t <= before) this.publishedAt.delete(a);
      if (this.publishedAt.size >= MAX_PUBLISH_TIMES) this.publishedAt.clear();
    }
    this.publishedAt.delete(app);
    this.publishedAt.set(app, at);
  }

  /**
   * Sign and store a checkpoint of the log's integrated tree if it grew past the latest one. The
   * checkpoint is stored by the integration's last write, with the tree nodes it covers (one commit of
   * the engine's writer per publish, not two), or alone when the tree was integrated before (recovery,
   * or a publish whose checkpoint was not stored). The consistency proof for delivery is read once the
   * nodes are stored. From the write that carries the checkpoint until the update is ready the log is
   * `unsure`: if the write's answer is lost or the proof cannot be read, the checkpoint may be stored
   * without having been delivered, and the log's next publish delivers the stored checkpoint of its
   * tree instead of finding nothing new.
   */
  private async publishLog(sourceAppId: string, head?: LogHead | null): Promise<CheckpointUpdate | null> {
    // The latest checkpoint as kept (undefined: not known). The checkpoint goes out with the
    // integration's last write when the latest is known then.
    let latest: StoredCheckpoint | null | undefined = this.unsure.has(sourceAppId) ? undefined : this.latest.get(sourceAppId);
    const tree = await this.integrator.integrate(
      sourceAppId,
      (t, storedSize) => {
        // No tree stored, no checkpoint stored: a new log's first publish reads none.
        if (latest === undefined && storedSize === 0) latest = null;
        // Not known, or a larger tree stored than the kept checkpoint's (another publisher stored
        // after it): nothing sealed, the latest is read once the tree is stored.
        if (latest === undefined || storedSize !== (latest?.treeSize ?? 0)) {
          latest = undefined;
          return null;
        }
        const sealed = this.checkpointOf(sourceAppId, t);
        this.unsure.add(sourceAppId); // the write that follows stores it
        return sealed;
      },
      head,
    );
    if (tree.awaitsOffer) {
      this.awaiting.add(sourceAppId);
      this.dirty.add(sourceAppId);
    } else {
      this.awaiting.delete(sourceAppId);
    }
    if (tree.size === 0) return null;
    if (latest === undefined) latest = await this.storage.getCheckpoint(sourceAppId);
    let checkpoint = tree.sealed;
    if (!checkpoint) {
      if (latest && latest.treeSize >= tree.size) {
        if (this.unsure.has(sourceAppId)) return this.redeliver(latest);
        this.keepLatest(latest);
        return null;
      }
      checkpoint = this.checkpointOf(sourceAppId, tree);
      this.unsure.add(sourceAppId);
      await this.storage.putCheckpoint(checkpoint);
    }
    const consistency = latest
      ? await this.opts.prover.consistency(sourceAppId, latest.treeSize, checkpoint.treeSize, tree.known)
      : [];
    this.unsure.delete(sourceAppId);
    this.keepLatest(checkpoint);
    return { checkpoint, previous: latest, consistencyHashes: consistency.map(toHex) };
  }

  private keepLatest(checkpoint: StoredCheckpoint): void {
    if (this.latest.size >= MAX_LATEST && !this.latest.has(checkpoint.sourceAppId)) this.latest.clear();
    this.latest.set(checkpoint.sourceAppId, checkpoint);
  }

  /** Drop what is kept of the log (of every log, without one): after an error, or when another process may have published. */
  private forget(sourceAppId?: string): void {
    this.integrator.forget(sourceAppId);
    if (sourceAppId === undefined) this.latest.clear();
    else this.latest.delete(sourceAppId);
  }

  /** The signed checkpoint of the log's tree, as this process publishes it now. */
  private checkpointOf(sourceAppId: string, tree: TreeState): StoredCheckpoint {
    const note = signCheckpoint(
      { origin: this.opts.originOf(sourceAppId), size: tree.size, rootHash: tree.root },
      this.signerOf(sourceAppId),
    );
    return { sourceAppId, treeSize: tree.size, rootHash: toHex(tree.root), note, publishedAt: this.opts.now() };
  }

  /** The latest checkpoint, stored by a publish whose storing threw, delivered once with the proof from the one before it. */
  private async redeliver(latest: StoredCheckpoint): Promise<CheckpointUpdate> {
    const app = latest.sourceAppId;
    const [previous] = await this.storage.listCheckpoints(app, latest.treeSize, 1, 'desc');
    const consistency = previous ? await this.opts.prover.consistency(app, previous.treeSize, latest.treeSize) : [];
    this.unsure.delete(app);
    return { checkpoint: latest, previous: previous ?? null, consistencyHashes: consistency.map(toHex) };
  }

  private signerOf(sourceAppId: string): NoteSigner {
    let signer = this.signers.get(sourceAppId);
    if (!signer) {
      signer = createSigner(this.opts.originOf(sourceAppId), this.opts.key.privateKey);
      if (this.signers.size >= MAX_SIGNERS) this.signers.clear();
      this.signers.set(sourceAppId, signer);
    }
    return signer;
  }

  /**
   * On start (and when this process becomes the publisher): bring every log's tree up to its events,
   * re-checking each event on the way, then check its latest checkpoint against that tree and our
   * key. Only a verified mismatch quarantines a log; a log whose recovery meets any other error is
   * recovered again before it is next published.
   *
   * A page of logs at a time, in steps that each read the whole page together (on an engine over the
   * network, a few commands per step, not a few per log): the latest checkpoints, read before the
   * trees grow (on MongoDB a log's latest checkpoint is then found beside its integrated size); the
   * trees of the logs whose nodes are all stored, read; the other logs integrated up to their heads as
   * listed, in waves whose trees and first events are read together (RECOVER_READ_AHEAD_EVENTS), then
   * written as many logs at once as a publish cycle writes (what commits later is published next
   * cycle); then each checkpoint checked.
   */
  private async recover(): Promise<void> {
    const chunk = Math.max(1, this.storage.writeConcurrency ?? PUBLISH_CONCURRENCY);
    let after: string | null = null;
    for (;;) {
      const heads = await this.storage.listLogHeads(after, RECOVER_PAGE);
      // Where reading them together fails, each log reads its own once its tree is integrated: one the
      // storage cannot serve must not keep the others from being recovered.
      const read = await this.storage.getLatestCheckpoints(heads.map((h) => h.sourceAppId)).catch(() => null);
      const latest = read && new Map(heads.map((h, i) => [h.sourceAppId, read[i] ?? null]));
      const trees = new Map<string, TreeState & { known: KnownNodes }>();
      // A log behind is published next: its integration holds its nodes for that publish's proof.
      const integrate = (some: LogHead[]) =>
        Promise.all(
          some.map(async (head) => {
            try {
              const tree = await this.integrator.integrate(head.sourceAppId, undefined, head, { hold: true });
              trees.set(head.sourceAppId, { size: tree.size, root: tree.root, known: tree.known });
            } catch (err) {
              this.notRecovered(head.sourceAppId, err);
            }
          }),
        );
      await integrate(heads.filter((h) => h.integratedSize >= h.size));
      const behind = heads.filter((h) => h.integratedSize < h.size);
      try {
        // The logs behind in waves: the reads of a wave together, then its writes a few logs at a time.
        for (let from = 0; from < behind.length;) {
          const budget = this.opts.recoverReadAheadEvents ?? RECOVER_READ_AHEAD_EVENTS;
          const wave = await this.integrator.readAhead(behind.slice(from), budget);
          for (let i = from; i < from + wave; i += chunk) await integrate(behind.slice(i, Math.min(i + chunk, from + wave)));
          from += wave;
        }
      } finally {
        this.integrator.dropReadAhead();
      }
      await Promise.all(
        [...trees].map(async ([app, tree]) => {
          try {
            await this.checkRecovered(app, tree, latest ? (latest.get(app) ?? null) : await this.storage.getCheckpoint(app));
          } catch (err) {
            this.notRecovered(app, err);
          }
        }),
      );
      if (heads.length < RECOVER_PAGE) break;
      after = heads[heads.length - 1]!.sourceAppId;
    }
  }

  /** Recover one log (integrate it, check its latest checkpoint); quarantines it on a verified mismatch, throws on anything else. */
  private async recoverLog(app: string): Promise<void> {
    const tree = await this.integrator.integrate(app);
    await this.checkRecovered(app, tree, await this.storage.getCheckpoint(app));
  }

  /**
   * Check the log's latest checkpoint, as read before or after its tree was integrated, and mark the
   * log recovered.
   */
  private async checkRecovered(
    app: string,
    tree: TreeState & { known?: KnownNodes },
    latest: StoredCheckpoint | null,
  ): Promise<void> {
    // Another publisher may have integrated and published between the two reads: catch up before judging.
    if (latest && latest.treeSize > tree.size) tree = await this.integrator.integrate(app);
    if (latest) await this.checkLatestCheckpoint(latest, tree);
    this.unrecovered.delete(app);
    if (!latest || latest.treeSize < tree.size) this.dirty.add(app);
  }

  /** A log whose recovery failed: quarantined on a failed check, otherwise recovered again before it is next published. */
  private notRecovered(app: string, err: unknown): void {
    // One log the storage cannot serve now must not keep the others (or verifyLog on it) from being served.
    this.forget(app);
    if (err instanceof IntegrityError) {
      this.quarantine(app, err.message);
    } else {
      this.unrecovered.add(app);
      this.dirty.add(app);
      this.opts.logger.warn({ sourceAppId: app, err }, 'log not recovered yet; retried next cycle');
    }
  }

  private quarantine(sourceAppId: string, why: string): void {
    this.quarantined.set(sourceAppId, why);
    this.opts.logger.error({ sourceAppId }, `log failed an integrity check; no checkpoint will be published for it: ${why}`);
  }

  /** Check the latest checkpoint against the integrated tree (its root, read when it is of a smaller tree) and our key. */
  private async checkLatestCheckpoint(cp: StoredCheckpoint, tree: TreeState & { known?: KnownNodes }): Promise<void> {
    const app = cp.sourceAppId;
    const origin = this.opts.originOf(app);
    const fail = (why: string) => this.quarantine(app, `latest checkpoint (size ${cp.treeSize}): ${why}`);
    if (cp.treeSize > tree.size) return fail('checkpoint is beyond the integrated tree');
    const root = toHex(cp.treeSize === tree.size ? tree.root : await this.opts.prover.rootAt(app, cp.treeSize, tree.known));
    if (root !== cp.rootHash) return fail('stored tree does not give the checkpoint root');
    try {
      const signed = openCheckpoint(cp.note, logVerifiers(this.opts.verifier, origin));
      if (signed.origin !== origin) fail(`note is for origin "${signed.origin}", not "${origin}"`);
      else if (toHex(signed.rootHash) !== cp.rootHash || signed.size !== cp.treeSize) fail('note differs from stored fields');
    } catch (err) {
      fail(`signature: ${(err as Error).message}`);
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

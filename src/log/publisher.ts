// Publish: integrate the logs that grew and sign a checkpoint of each on the interval (C2SP
// tlog-checkpoint, one origin per log, the one server key).
//
// The publisher owns the publish cycle: which logs may have grown (the dirty set), the publisher lease
// where several processes share a database, recovery (bringing every log's tree up to its events and
// checking its latest checkpoint), and quarantine (a log whose stored data fails a check gets no
// checkpoint until restart). Cycles run one at a time. What it publishes reaches delivery through
// `onPublished`.
import type { Logger } from 'pino';
import { logVerifiers, openCheckpoint, signCheckpoint } from '../core/checkpoint.js';
import { toHex } from '../core/hex.js';
import { createSigner, type NoteSigner, type NoteVerifier } from '../core/note/signed-note.js';
import type { Lease, LogStorage, StoredCheckpoint, StoredEvent } from '../storage/types.js';
import { Integrator, IntegrityError } from './integrator.js';
import type { Prover } from './prover.js';
import type { CheckpointUpdate } from './service.js';
import type { SigningKey } from './signing-key.js';

/** Only one process sharing a database publishes on the interval: the holder of this lease. */
export const PUBLISHER_LEASE = 'publisher';

/** Logs whose heads one recovery read asks for at once. */
const RECOVER_PAGE = 500;
/** Signers kept at most (one per log); beyond that the cache starts over. */
const MAX_SIGNERS = 10_000;

export interface PublisherOptions {
  storage: LogStorage;
  prover: Prover;
  key: SigningKey;
  /** The server key under its configured name (KEY_NAME), as auditors pin it. */
  verifier: NoteVerifier;
  originOf: (sourceAppId: string) => string;
  checkpointIntervalMs: number;
  /** Lease length for processes sharing a database; the publisher lease lasts at least 3 intervals. */
  leaseTtlMs: number;
  /** This process, among those sharing a database (the lease owner). */
  owner: string;
  logger: Logger;
  now: () => number;
  /** Called with each checkpoint published, in publishing order. */
  onPublished: (update: CheckpointUpdate) => void;
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
  private cycle: Promise<unknown> = Promise.resolve();
  private lease: Lease | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly opts: PublisherOptions) {
    this.storage = opts.storage;
    this.integrator = new Integrator(opts.storage);
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
    // A log that cannot be published now is retried on the interval; it must not keep the server from starting.
    await this.runCycle(false).catch((err) => this.opts.logger.warn({ err }, 'first checkpoint cycle incomplete'));
    this.schedule();
  }

  /** Stop the interval, wait for the running cycle, and give up the publisher lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.cycle.catch(() => undefined);
    if (this.lease) await this.storage.coordination?.leases.release(this.lease).catch(() => undefined);
  }

  /** Events this process's sequencer committed: their leaf hashes are integrated without reading them back. */
  offer(events: readonly StoredEvent[]): void {
    this.integrator.offer(events);
    this.grew(events);
  }

  /** Events committed (by any process): their logs are published in the next cycle. */
  grew(events: readonly StoredEvent[]): void {
    for (const e of events) this.dirty.add(e.sourceAppId);
  }

  /** Integrate and publish now, whichever process holds the publisher lease; returns the new checkpoints. */
  publishNow(): Promise<StoredCheckpoint[]> {
    return this.runCycle(true);
  }

  /** Why the log is quarantined (no checkpoint is published for it until restart), or null if it is not. */
  quarantineOf(sourceAppId: string): string | null {
    return this.quarantined.get(sourceAppId) ?? null;
  }

  /** Whether this process publishes on the interval: always on an embedded engine, while it holds the lease otherwise. */
  get publishes(): boolean {
    return !this.storage.coordination || this.lease !== null;
  }

  private runCycle(onDemand: boolean): Promise<StoredCheckpoint[]> {
    const run = this.cycle.then(async () => ((await this.holdsLease(onDemand)) ? this.publishDirty() : []));
    this.cycle = run.catch(() => undefined);
    return run;
  }

  /**
   * Sharing a database, the interval's publishing is done by one process: the lease holder. A new
   * holder first recovers every log, since it did not see what grew while another one published.
   */
  private async holdsLease(onDemand: boolean): Promise<boolean> {
    const coordination = this.storage.coordination;
    if (!coordination) return true;
    const ttl = Math.max(3 * this.opts.checkpointIntervalMs, this.opts.leaseTtlMs);
    if (this.lease && (await coordination.leases.renew(this.lease, ttl))) return true;
    this.lease = await coordination.leases.tryAcquire(PUBLISHER_LEASE, this.opts.owner, ttl);
    if (this.lease || onDemand) {
      // Not having published until now, this process cannot know which logs grew: look at all of them.
      this.integrator.forget();
      await this.recover();
      return true;
    }
    return false;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.runCycle(false)
        .catch((err) => this.opts.logger.error({ err }, 'checkpoint cycle failed'))
        .finally(() => this.schedule());
    }, this.opts.checkpointIntervalMs);
    this.timer.unref();
  }

  /**
   * Publish every log that may have grown. Each log is on its own: a log whose stored events fail a
   * check is quarantined, one that meets any other error (storage unavailable, a lost connection)
   * stays dirty for the next cycle, and neither keeps the logs after it from being published. Throws
   * once all are done if any log could not be published, naming them.
   */
  private async publishDirty(): Promise<StoredCheckpoint[]> {
    const apps = [...this.dirty];
    this.dirty.clear();
    const published: StoredCheckpoint[] = [];
    const failed: Array<{ app: string; err: unknown }> = [];
    for (const app of apps) {
      if (this.quarantined.has(app)) continue;
      try {
        if (this.unrecovered.has(app)) {
          await this.recoverLog(app);
          if (this.quarantined.has(app)) continue;
        }
        const update = await this.publishLog(app);
        if (update) {
          published.push(update.checkpoint);
          this.opts.onPublished(update);
        }
      } catch (err) {
        this.integrator.forget(app);
        if (err instanceof IntegrityError) {
          this.quarantine(app, err.message);
        } else {
          this.dirty.add(app); // retried next cycle
          failed.push({ app, err });
        }
      }
    }
    if (failed.length > 0) {
      const names = failed.map((f) => `"${f.app}"`).join(', ');
      throw new Error(`no checkpoint published for ${names} this cycle (retried next cycle): ${errorText(failed[0]!.err)}`, {
        cause: failed[0]!.err,
      });
    }
    return published;
  }

  private async publishLog(sourceAppId: string): Promise<CheckpointUpdate | null> {
    const tree = await this.integrator.integrate(sourceAppId);
    const previous = await this.storage.getCheckpoint(sourceAppId);
    if (tree.size === 0 || (previous && previous.treeSize >= tree.size)) return null;
    const note = signCheckpoint(
      { origin: this.opts.originOf(sourceAppId), size: tree.size, rootHash: tree.root },
      this.signerOf(sourceAppId),
    );
    const checkpoint: StoredCheckpoint = {
      sourceAppId,
      treeSize: tree.size,
      rootHash: toHex(tree.root),
      note,
      publishedAt: this.opts.now(),
    };
    await this.storage.putCheckpoint(checkpoint);
    const consistency = previous ? await this.opts.prover.consistency(sourceAppId, previous.treeSize, tree.size) : [];
    return { checkpoint, previous, consistencyHashes: consistency.map(toHex) };
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
   */
  private async recover(): Promise<void> {
    let after: string | null = null;
    for (;;) {
      const heads = await this.storage.listLogHeads(after, RECOVER_PAGE);
      for (const head of heads) {
        const app = head.sourceAppId;
        try {
          await this.recoverLog(app);
        } catch (err) {
          // One log the storage cannot serve now must not keep the others (or verifyLog on it) from being served.
          this.integrator.forget(app);
          if (err instanceof IntegrityError) {
            this.quarantine(app, err.message);
          } else {
            this.unrecovered.add(app);
            this.dirty.add(app);
            this.opts.logger.warn({ sourceAppId: app, err }, 'log not recovered yet; retried next cycle');
          }
        }
      }
      if (heads.length < RECOVER_PAGE) break;
      after = heads[heads.length - 1]!.sourceAppId;
    }
  }

  /** Integrate one log and check its latest checkpoint; quarantines it on a verified mismatch, throws on anything else. */
  private async recoverLog(app: string): Promise<void> {
    let tree = await this.integrator.integrate(app);
    const latest = await this.storage.getCheckpoint(app);
    // Another publisher may have integrated and published between the two reads: catch up before judging.
    if (latest && latest.treeSize > tree.size) tree = await this.integrator.integrate(app);
    if (latest) await this.checkLatestCheckpoint(latest, tree.size);
    this.unrecovered.delete(app);
    if (!latest || latest.treeSize < tree.size) this.dirty.add(app);
  }

  private quarantine(sourceAppId: string, why: string): void {
    this.quarantined.set(sourceAppId, why);
    this.opts.logger.error({ sourceAppId }, `log failed an integrity check; no checkpoint will be published for it: ${why}`);
  }

  private async checkLatestCheckpoint(cp: StoredCheckpoint, integratedSize: number): Promise<void> {
    const app = cp.sourceAppId;
    const origin = this.opts.originOf(app);
    const fail = (why: string) => this.quarantine(app, `latest checkpoint (size ${cp.treeSize}): ${why}`);
    if (cp.treeSize > integratedSize) return fail('checkpoint is beyond the integrated tree');
    const root = toHex(await this.opts.prover.rootAt(app, cp.treeSize));
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

// The log pipeline, end to end: sequence (Sequencer) → integrate (Integrator) → publish (checkpoints),
// with proofs and audits read from what was stored.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { logVerifiers, openCheckpoint, signCheckpoint } from '../core/checkpoint.js';
import { toHex } from '../core/hex.js';
import { createSigner, verifierKeyString, parseVerifierKey, type NoteSigner, type NoteVerifier } from '../core/note/signed-note.js';
import type { EventFilter, EventQuery, Lease, LogStorage, MalformedCommitted, StoredCheckpoint, StoredEvent } from '../storage/types.js';
import { LogLeaseGate, soleWriter, type CommitGate } from './commit-gate.js';
import { CommitTailer } from './commit-tailer.js';
import { AuditSlots, auditLog, DEFAULT_MAX_CONCURRENT_AUDITS } from './audit.js';
import { badInput, LogError, notFound } from './errors.js';
import { Integrator, IntegrityError } from './integrator.js';
import { Prover } from './prover.js';
import { Sequencer } from './sequencer.js';
import type {
  AppendRequest,
  CheckpointUpdate,
  CommittedListener,
  ConsistencyProofResult,
  InclusionProofResult,
  LogService,
  RangeProofResult,
  ServerInfo,
  VerificationReport,
} from './service.js';
import type { SigningKey } from './signing-key.js';

/** Largest range a single rangeProof may return. */
export const MAX_RANGE_PROOF_EVENTS = 1000;

export interface ChainlogServiceOptions {
  storage: LogStorage;
  key: SigningKey;
  keyName: string;
  originPrefix: string;
  checkpointIntervalMs: number;
  version: string;
  logger: Logger;
  now?: () => number;
  /** Lease length for processes sharing a database (ignored by embedded engines). */
  leaseTtlMs?: number;
  /** Poll interval for commits made by other processes sharing the database. */
  tailIntervalMs?: number;
  /** verifyLog runs on at most this many logs at once (one audit per log); more get RATE_LIMITED. */
  maxConcurrentAudits?: number;
}

/** Only one process sharing a database publishes on the interval: the holder of this lease. */
export const PUBLISHER_LEASE = 'publisher';

export class ChainlogService implements LogService {
  readonly info: ServerInfo;
  private readonly storage: LogStorage;
  private readonly sequencer: Sequencer;
  private readonly integrator: Integrator;
  private readonly prover: Prover;
  /** Each log signs under its origin as key name (C2SP tlog-checkpoint), with the one key. */
  private readonly signers = new Map<string, NoteSigner>();
  /** The key under its configured name (KEY_NAME), as auditors pin it. */
  private readonly verifier: NoteVerifier;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly committedListeners = new Set<CommittedListener>();
  private readonly checkpointListeners = new Set<(update: CheckpointUpdate) => void>();
  /** Logs that may have grown past their latest checkpoint. */
  private readonly dirty = new Set<string>();
  /** Logs whose stored events failed a check; not published again until restart. */
  private readonly quarantined = new Map<string, string>();
  /** Logs whose recovery met an error other than a failed check: recovered again before publishing. */
  private readonly unrecovered = new Set<string>();
  private cycle: Promise<unknown> = Promise.resolve();
  /** This process, among those sharing a database. */
  readonly owner = `${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
  private readonly gate: CommitGate;
  private readonly tailer: CommitTailer | null;
  private publisherLease: Lease | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly opts: ChainlogServiceOptions) {
    this.storage = opts.storage;
    this.logger = opts.logger;
    this.now = opts.now ?? Date.now;
    const verifierKey = verifierKeyString(opts.keyName, opts.key.publicKey);
    this.verifier = parseVerifierKey(verifierKey);
    this.info = {
      version: opts.version,
      keyName: opts.keyName,
      verifierKey,
      originPrefix: opts.originPrefix,
      checkpointIntervalMs: opts.checkpointIntervalMs,
    };
    const coordination = this.storage.coordination;
    const ttl = opts.leaseTtlMs ?? 5000;
    // A lease not had within 3 TTL is skipped (see LogLeaseGate.enter): a dead or stalled holder, or one
    // whose clock runs ahead, holds up a log's writers that long at most.
    this.gate = coordination ? new LogLeaseGate(coordination, this.owner, ttl, 3 * ttl, this.now) : soleWriter;
    this.tailer = coordination
      ? new CommitTailer(this.storage, (events, malformed) => this.emitCommitted(events, malformed), opts.tailIntervalMs ?? 50, this.logger)
      : null;
    this.sequencer = new Sequencer(this.storage, (events) => this.committedHere(events), this.now, this.gate);
    this.integrator = new Integrator(this.storage);
    this.prover = new Prover(this.storage);
  }

  originOf(sourceAppId: string): string {
    return `${this.opts.originPrefix}/${sourceAppId}`;
  }

  /** The verifier key of one log's checkpoints: the server's key under the log's origin as name. */
  verifierKeyOf(sourceAppId: string): string {
    return verifierKeyString(this.originOf(sourceAppId), this.opts.key.publicKey);
  }

  private signerOf(sourceAppId: string): NoteSigner {
    let signer = this.signers.get(sourceAppId);
    if (!signer) {
      signer = createSigner(this.originOf(sourceAppId), this.opts.key.privateKey);
      if (this.signers.size >= 10_000) this.signers.clear();
      this.signers.set(sourceAppId, signer);
    }
    return signer;
  }

  /** Check what is derived against the events, catch up on anything a crash left, then publish on the interval. */
  async start(): Promise<void> {
    const coordination = this.storage.coordination;
    if (coordination) {
      const recorded = await coordination.claimVerifierKey(this.info.verifierKey);
      if (recorded !== this.info.verifierKey) {
        throw new Error(
          `this database's checkpoints are signed with ${recorded}, but this process's key is ${this.info.verifierKey}: ` +
            'start every process that shares the database with the same SIGNING_KEY_FILE (and KEY_NAME)',
        );
      }
    }
    // Sharing a database, only the publisher recovers: it takes the lease (and recovers) in its first cycle.
    if (!this.storage.coordination) await this.recover();
    await this.tailer?.start();
    // A log that cannot be published now is retried on the interval; it must not keep the server from starting.
    await this.runCycle(false).catch((err) => this.logger.warn({ err }, 'first checkpoint cycle incomplete'));
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.tailer?.stop();
    await this.cycle.catch(() => undefined);
    await this.gate.close().catch(() => undefined);
    if (this.publisherLease) await this.storage.coordination?.leases.release(this.publisherLease).catch(() => undefined);
  }

  // --- sequence ----------------------------------------------------------------------------

  append(requests: AppendRequest[]): Promise<StoredEvent[]> {
    return this.sequencer.append(requests);
  }

  /** A commit of this process's sequencer. */
  private committedHere(events: StoredEvent[]): void {
    this.integrator.offer(events);
    for (const e of events) this.dirty.add(e.sourceAppId);
    // Sharing a database, every commit (ours too) reaches listeners through the tailer, in pos order.
    if (!this.tailer) this.emitCommitted(events);
  }

  private emitCommitted(events: StoredEvent[], malformed?: readonly MalformedCommitted[]): void {
    for (const e of events) this.dirty.add(e.sourceAppId);
    for (const listener of this.committedListeners) {
      try {
        listener(events, malformed);
      } catch (err) {
        this.logger.error({ err }, 'committed-event listener failed');
      }
    }
  }

  // --- integrate + publish -------------------------------------------------------------------

  /** On demand: integrate and publish now, whichever process holds the publisher lease. */
  publishCheckpoints(): Promise<StoredCheckpoint[]> {
    return this.runCycle(true);
  }

  private runCycle(onDemand: boolean): Promise<StoredCheckpoint[]> {
    const run = this.cycle.then(async () => ((await this.holdsPublisher(onDemand)) ? this.publishDirty() : []));
    this.cycle = run.catch(() => undefined);
    return run;
  }

  /**
   * Sharing a database, the interval's publishing is done by one process: the lease holder. A new
   * holder first recovers every log, since it did not see what grew while another one published.
   */
  private async holdsPublisher(onDemand: boolean): Promise<boolean> {
    const coordination = this.storage.coordination;
    if (!coordination) return true;
    const ttl = Math.max(3 * this.opts.checkpointIntervalMs, this.opts.leaseTtlMs ?? 5000);
    if (this.publisherLease && (await coordination.leases.renew(this.publisherLease, ttl))) return true;
    this.publisherLease = await coordination.leases.tryAcquire(PUBLISHER_LEASE, this.owner, ttl);
    if (this.publisherLease || onDemand) {
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
        .catch((err) => this.logger.error({ err }, 'checkpoint cycle failed'))
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
          this.emitCheckpoint(update);
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
    const note = signCheckpoint({ origin: this.originOf(sourceAppId), size: tree.size, rootHash: tree.root }, this.signerOf(sourceAppId));
    const checkpoint: StoredCheckpoint = {
      sourceAppId,
      treeSize: tree.size,
      rootHash: toHex(tree.root),
      note,
      publishedAt: this.now(),
    };
    await this.storage.putCheckpoint(checkpoint);
    const consistency = previous ? await this.prover.consistency(sourceAppId, previous.treeSize, tree.size) : [];
    return { checkpoint, previous, consistencyHashes: consistency.map(toHex) };
  }

  private emitCheckpoint(update: CheckpointUpdate): void {
    for (const listener of this.checkpointListeners) {
      try {
        listener(update);
      } catch (err) {
        this.logger.error({ err }, 'checkpoint listener failed');
      }
    }
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
      const heads = await this.storage.listLogHeads(after, 500);
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
            this.logger.warn({ sourceAppId: app, err }, 'log not recovered yet; retried next cycle');
          }
        }
      }
      if (heads.length < 500) break;
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

  /** Why the log is quarantined (no checkpoint is published for it until restart), or null if it is not. */
  quarantineOf(sourceAppId: string): string | null {
    return this.quarantined.get(sourceAppId) ?? null;
  }

  private quarantine(sourceAppId: string, why: string): void {
    this.quarantined.set(sourceAppId, why);
    this.logger.error({ sourceAppId }, `log failed an integrity check; no checkpoint will be published for it: ${why}`);
  }

  private async checkLatestCheckpoint(cp: StoredCheckpoint, integratedSize: number): Promise<void> {
    const app = cp.sourceAppId;
    const fail = (why: string) => this.quarantine(app, `latest checkpoint (size ${cp.treeSize}): ${why}`);
    if (cp.treeSize > integratedSize) return fail('checkpoint is beyond the integrated tree');
    const root = toHex(await this.prover.rootAt(app, cp.treeSize));
    if (root !== cp.rootHash) return fail('stored tree does not give the checkpoint root');
    try {
      const signed = openCheckpoint(cp.note, logVerifiers(this.verifier, this.originOf(app)));
      if (signed.origin !== this.originOf(app)) fail(`note is for origin "${signed.origin}", not "${this.originOf(app)}"`);
      else if (toHex(signed.rootHash) !== cp.rootHash || signed.size !== cp.treeSize) fail('note differs from stored fields');
    } catch (err) {
      fail(`signature: ${(err as Error).message}`);
    }
  }

  // --- read ----------------------------------------------------------------------------------

  getEvent(sourceAppId: string, seq: number) {
    return this.storage.getEvent(sourceAppId, seq);
  }
  queryEvents(query: EventQuery) {
    return this.storage.queryEvents(query);
  }
  readCommitted(afterPos: number, filter: EventFilter, limit: number) {
    return this.storage.readCommitted(afterPos, filter, limit);
  }
  getLogHead(sourceAppId: string) {
    return this.storage.getLogHead(sourceAppId);
  }
  listLogHeads(afterSourceAppId: string | null, limit: number) {
    return this.storage.listLogHeads(afterSourceAppId, limit);
  }
  getCheckpoint(sourceAppId: string, treeSize?: number) {
    return this.storage.getCheckpoint(sourceAppId, treeSize);
  }
  listCheckpoints(sourceAppId: string, afterTreeSize: number | null, limit: number, direction: 'asc' | 'desc') {
    return this.storage.listCheckpoints(sourceAppId, afterTreeSize, limit, direction);
  }

  // --- prove ---------------------------------------------------------------------------------

  /** The latest checkpoint, and the requested size checked against it. */
  private async provable(sourceAppId: string, treeSize: number | undefined, field = 'treeSize') {
    const latest = await this.storage.getCheckpoint(sourceAppId);
    if (!latest) throw notFound(`log "${sourceAppId}" has no checkpoint yet`, 'sourceAppId');
    const size = treeSize ?? latest.treeSize;
    if (!Number.isSafeInteger(size) || size < 0 || size > latest.treeSize) {
      throw badInput(`${field} must be between 0 and the latest checkpoint's size ${latest.treeSize}`, field);
    }
    return { latest, size };
  }

  private async rootHex(sourceAppId: string, size: number, latest: StoredCheckpoint): Promise<string> {
    return size === latest.treeSize ? latest.rootHash : toHex(await this.prover.rootAt(sourceAppId, size));
  }

  async inclusionProof(sourceAppId: string, seq: number, treeSize?: number): Promise<InclusionProofResult> {
    const { latest, size } = await this.provable(sourceAppId, treeSize);
    if (!Number.isSafeInteger(seq) || seq < 0 || seq >= size) {
      throw badInput(`seq must be below the tree size ${size}`, 'seq');
    }
    const [hashes, [leaf], rootHash, checkpoint] = await Promise.all([
      this.prover.inclusion(sourceAppId, seq, size),
      this.storage.getTreeNodes(sourceAppId, [{ level: 0, index: seq }]),
      this.rootHex(sourceAppId, size, latest),
      size === latest.treeSize ? latest : this.storage.getCheckpoint(sourceAppId, size),
    ]);
    return {
      sourceAppId,
      leafIndex: seq,
      treeSize: size,
      leafHash: toHex(leaf!),
      rootHash,
      hashes: hashes.map(toHex),
      checkpoint: checkpoint ?? latest,
    };
  }

  async consistencyProof(sourceAppId: string, fromSize: number, toSize: number): Promise<ConsistencyProofResult> {
    const { latest, size } = await this.provable(sourceAppId, toSize, 'toSize');
    if (!Number.isSafeInteger(fromSize) || fromSize < 0 || fromSize > size) {
      throw badInput(`fromSize must be between 0 and toSize (${size})`, 'fromSize');
    }
    const [hashes, fromRoot, toRoot] = await Promise.all([
      this.prover.consistency(sourceAppId, fromSize, size),
      this.rootHex(sourceAppId, fromSize, latest),
      this.rootHex(sourceAppId, size, latest),
    ]);
    return { sourceAppId, fromSize, toSize: size, fromRoot, toRoot, hashes: hashes.map(toHex) };
  }

  async rangeProof(sourceAppId: string, start: number, end: number, treeSize?: number): Promise<RangeProofResult> {
    const { latest, size } = await this.provable(sourceAppId, treeSize);
    if (!Number.isSafeInteger(start) || start < 0) throw badInput('start must be a non-negative integer', 'start');
    if (!Number.isSafeInteger(end) || end <= start || end > size) {
      throw badInput(`end must be above start and at most the tree size ${size}`, 'end');
    }
    if (end - start > MAX_RANGE_PROOF_EVENTS) {
      throw badInput(`a range proof covers at most ${MAX_RANGE_PROOF_EVENTS} events`, 'end');
    }
    const [{ left, right }, events, rootHash, checkpoint] = await Promise.all([
      this.prover.range(sourceAppId, start, end, size),
      this.storage.getEventRange(sourceAppId, start, end, end - start),
      this.rootHex(sourceAppId, size, latest),
      size === latest.treeSize ? latest : this.storage.getCheckpoint(sourceAppId, size),
    ]);
    if (events.length !== end - start) throw new LogError('NOT_FOUND', `events ${start}..${end - 1} are not all stored`);
    return {
      sourceAppId,
      start,
      end,
      treeSize: size,
      rootHash,
      leftHashes: left.map(toHex),
      rightHashes: right.map(toHex),
      events,
      checkpoint: checkpoint ?? latest,
    };
  }

  private auditSlots: AuditSlots | undefined;

  /** Audits share the server with requests: bounded in number (AuditSlots), each yielding between chunks. */
  verifyLog(sourceAppId: string, fromSeq?: number, toSeq?: number): Promise<VerificationReport> {
    this.auditSlots ??= new AuditSlots(this.opts.maxConcurrentAudits ?? DEFAULT_MAX_CONCURRENT_AUDITS, this.now);
    return this.auditSlots.run(sourceAppId, (onProgress) =>
      auditLog(
        this.storage,
        { verifier: this.verifier, originOf: (app) => this.originOf(app), onProgress },
        sourceAppId,
        fromSeq ?? 0,
        toSeq,
      ),
    );
  }

  // --- subscribe -----------------------------------------------------------------------------

  onCommitted(listener: CommittedListener): () => void {
    this.committedListeners.add(listener);
    return () => this.committedListeners.delete(listener);
  }

  onCheckpoint(listener: (update: CheckpointUpdate) => void): () => void {
    this.checkpointListeners.add(listener);
    return () => this.checkpointListeners.delete(listener);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

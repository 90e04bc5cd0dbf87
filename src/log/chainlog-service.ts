// The log's public face (LogService): appends go to the sequencer, publishing to the publisher, and
// this facade serves reads, proofs and audits from what was stored and delivers commits and checkpoints
// to listeners. The pipeline: sequencer → integrator → publisher → delivery (docs/design/pipeline.md).
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { toHex } from '../core/hex.js';
import { verifierKeyString, parseVerifierKey, type NoteVerifier } from '../core/note/signed-note.js';
import type {
  EventFilter,
  EventId,
  EventQuery,
  LogStorage,
  MalformedCommitted,
  StoredCheckpoint,
  StoredEvent,
  Lease,
} from '../storage/types.js';
import {
  ERASURES_LOG,
  Erasures,
  MAX_ERASED_PER_CALL,
  parseErasureRecord,
  RETENTION_REASON,
  type ErasureRecord,
} from './erasure.js';
import { LEAF_VERSION, type LeafVersion } from '../core/leaf.js';
import type { PositionSet } from '../core/positions.js';
import { LogLeaseGate, soleWriter, type CommitGate } from './commit-gate.js';
import { AppendForwarder, type PeerTransport } from './forwarding.js';
import { CommitTailer } from './commit-tailer.js';
import { AuditSlots, DEFAULT_MAX_CONCURRENT_AUDITS, verifyStoredLog } from './verify-log.js';
import { badInput, LogError, notFound, readOnlyMirror } from './errors.js';
import { Prover } from './prover.js';
import { Publisher } from './publisher.js';
import { Sequencer } from './sequencer.js';
import type {
  AppendRequest,
  CheckpointUpdate,
  CommittedListener,
  ConsistencyProofResult,
  EraseRequest,
  EraseResult,
  ErasedListener,
  ErasureRecordPage,
  InclusionProofResult,
  LogService,
  RangeProofOptions,
  RangeProofResult,
  ServerInfo,
  TreeNodeRun,
  VerificationReport,
} from './service.js';
import type { SigningKey } from './signing-key.js';
import { TileSource } from './tiles.js';

/** Largest range a single rangeProof may return. */
const MAX_RANGE_PROOF_EVENTS = 1000;

export interface ChainlogServiceOptions {
  storage: LogStorage;
  key: SigningKey;
  keyName: string;
  originPrefix: string;
  checkpointIntervalMs: number;
  /**
   * Eager publishing (CHECKPOINT_MIN_GAP_MS): a log that grew gets a checkpoint as soon as its last one
   * is this old (see Publisher). 0 or omitted: checkpoints on the interval (and on demand) only.
   */
  checkpointMinGapMs?: number;
  version: string;
  logger: Logger;
  now?: () => number;
  /** Lease length for processes sharing a database (ignored by embedded engines). */
  leaseTtlMs?: number;
  /**
   * Processes sharing a database: where the others reach this one (ADVERTISE_URL), recorded with the
   * log leases it takes, and how appends reach the holder of another process's lease
   * (src/log/forwarding.ts). Without it, every process appends to every log itself, taking turns.
   */
  forwarding?: { address: string; transport: PeerTransport };
  /** Poll interval for commits made by other processes sharing the database. */
  tailIntervalMs?: number;
  /** verifyLog runs on at most this many logs at once (one audit per log); more get RATE_LIMITED. */
  maxConcurrentAudits?: number;
  /** Bytes of full tiles and entry bundles kept in memory (src/log/tiles.ts). */
  tileCacheBytes?: number;
  /**
   * A mirror (src/mirror): the store holds a verified copy of the primary's logs, whose checkpoints
   * are the primary's, signed with `verifierKey`'s public key. The service then serves reads and
   * proofs only: it appends and publishes nothing (READ_ONLY_MIRROR), and `key` signs nothing.
   */
  mirror?: { primaryUrl: string; verifierKey: string };
  /** The leaf version a log gets when its first event is written (LEAF_VERSION); 1 when omitted. */
  leafVersion?: LeafVersion;
  /** Days after receipt when payloads of a log are erased (`*`: every log not named); none when omitted. */
  retentionDays?: Readonly<Record<string, number>>;
  /** How often retention looks for payloads past their period (default RETENTION_INTERVAL_MS). */
  retentionIntervalMs?: number;
  /**
   * How often this process applies the erasure records that other processes sharing its database
   * committed and did not apply (they stopped in between; Erasures.sweepEvery). 0: never. Default
   * ERASURE_SWEEP_MS on engines shared by several processes, 0 on embedded ones (their one process
   * applies its own at its next start).
   */
  erasureSweepMs?: number;
}

/** Default interval of the erasure sweep where several processes share a database. */
export const ERASURE_SWEEP_MS = 60_000;

/** Default interval of the retention sweep. */
export const RETENTION_INTERVAL_MS = 60_000;
/**
 * The lease of the one process that sweeps retention among those sharing a database: sweeps of one log
 * by two processes at once would each record the erasure of the same events. It saves that work only;
 * a record listed twice is applied twice, to the same effect.
 */
export const RETENTION_LEASE = 'retention';
const DAY_MS = 86_400_000;

export class ChainlogService implements LogService {
  readonly info: ServerInfo;
  readonly tiles: TileSource;
  private readonly storage: LogStorage;
  private readonly sequencer: Sequencer;
  private readonly prover: Prover;
  private readonly publisher: Publisher;
  /** The key under its configured name (KEY_NAME), as auditors pin it. */
  private readonly verifier: NoteVerifier;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly committedListeners = new Set<CommittedListener>();
  private readonly checkpointListeners = new Set<(update: CheckpointUpdate) => void>();
  private readonly erasedListeners = new Set<ErasedListener>();
  private readonly publishingListeners = new Set<() => void>();
  private readonly erasures: Erasures;
  private retentionTimer: NodeJS.Timeout | null = null;
  private retentionRun: Promise<void> | null = null;
  /** RETENTION_LEASE while this process holds it (engines shared by several processes). */
  private retentionLease: Lease | null = null;
  /** Per log: every payload below this seq is past retention and erased (a sweep starts there). */
  private readonly retainedBelow = new Map<string, number>();
  /** This process, among those sharing a database. */
  readonly owner = `${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
  private readonly gate: CommitGate;
  /** Hands appends to the process holding their log's lease (processes sharing a database with ADVERTISE_URL). */
  readonly forwarder: AppendForwarder | null;
  private readonly tailer: CommitTailer | null;
  /** The public key of the log's checkpoints: this server's, or on a mirror its primary's. */
  private readonly publicKey: Uint8Array;

  /**
   * Writer transactions (group commits) this process's sequencer committed since start, and the events
   * they held: events / commits is how many concurrent appends share one transaction.
   */
  readonly commitStats = { commits: 0, events: 0 };

  constructor(private readonly opts: ChainlogServiceOptions) {
    this.storage = opts.storage;
    this.logger = opts.logger;
    this.now = opts.now ?? Date.now;
    const verifierKey = opts.mirror?.verifierKey ?? verifierKeyString(opts.keyName, opts.key.publicKey);
    this.verifier = parseVerifierKey(verifierKey);
    this.publicKey = this.verifier.publicKey;
    this.info = {
      version: opts.version,
      keyName: this.verifier.name,
      verifierKey,
      originPrefix: opts.originPrefix,
      checkpointIntervalMs: opts.checkpointIntervalMs,
      ...(opts.mirror && { mirrorOf: opts.mirror.primaryUrl }),
    };
    const coordination = this.storage.coordination;
    const ttl = opts.leaseTtlMs ?? 5000;
    // A lease not had within 3 TTL is skipped (see LogLeaseGate.enter): a dead or stalled holder, or one
    // whose clock runs ahead, holds up a log's writers that long at most.
    const address = coordination && !opts.mirror ? opts.forwarding?.address : undefined;
    const gate = coordination ? new LogLeaseGate(coordination, this.owner, ttl, 3 * ttl, this.now, address) : null;
    this.gate = gate ?? soleWriter;
    this.forwarder =
      gate && coordination && address !== undefined
        ? new AppendForwarder({
            coordination,
            owner: this.owner,
            transport: opts.forwarding!.transport,
            holds: (log) => gate.holds(log),
            ttlMs: ttl,
            now: this.now,
          })
        : null;
    this.tailer = coordination
      ? new CommitTailer(
          this.storage,
          (events, malformed) => {
            this.emitCommitted(events, malformed);
            this.erasedElsewhere(events);
          },
          opts.tailIntervalMs ?? 50,
          this.logger,
        )
      : null;
    // The erasures log keeps version 1: its records hold no personal data and are never erased.
    const leafVersion = opts.leafVersion ?? LEAF_VERSION;
    this.sequencer = new Sequencer(
      this.storage,
      (events) => this.committedHere(events),
      this.now,
      this.gate,
      (app) => (app === ERASURES_LOG ? LEAF_VERSION : leafVersion),
    );
    this.erasures = new Erasures({
      storage: this.storage,
      append: (requests) => this.sequencer.append(requests),
      now: this.now,
      onErased: (ids, erasedAt, reason) => this.emitErased(ids, erasedAt, reason),
      onReapplyFailed: (err, attempt) =>
        this.logger[attempt === 0 ? 'error' : 'debug'](
          { err, attempt },
          'recorded erasure not applied yet (retried with backoff)',
        ),
      onAppliedMarkFailed: (err) =>
        this.logger.warn({ err }, 'the size below which every erasure is applied was not raised (a start applies more again)'),
    });
    this.prover = new Prover(this.storage);
    this.tiles = new TileSource(this.storage, opts.tileCacheBytes);
    this.publisher = new Publisher({
      storage: this.storage,
      prover: this.prover,
      key: opts.key,
      verifier: this.verifier,
      originOf: (app) => this.originOf(app),
      checkpointIntervalMs: opts.checkpointIntervalMs,
      minGapMs: opts.checkpointMinGapMs ?? 0,
      leaseTtlMs: ttl,
      owner: this.owner,
      logger: this.logger,
      now: this.now,
      onPublished: (update) => this.emitCheckpoint(update),
      onLeaseTaken: () => this.emitPublishing(),
      writing: (app) => this.sequencer.writing(app),
    });
  }

  originOf(sourceAppId: string): string {
    return `${this.info.originPrefix}/${sourceAppId}`;
  }

  /** A mirror's logs have its primary's origins: the prefix is the primary's, learned when it answers. */
  adoptOriginPrefix(prefix: string): void {
    if (!this.opts.mirror) throw new Error('only a mirror takes its origin prefix from another server');
    this.info.originPrefix = prefix;
  }

  /** The verifier key of one log's checkpoints: the server's key under the log's origin as name. */
  verifierKeyOf(sourceAppId: string): string {
    return verifierKeyString(this.originOf(sourceAppId), this.publicKey);
  }

  /** Check what is derived against the events, catch up on anything a crash left, then publish on the interval. */
  async start(): Promise<void> {
    // An erasure recorded before a crash and not (wholly) applied is completed before anything is served.
    // A mirror applies only the records its accepted checkpoint of the primary's erasures log covers
    // (verified); the follower applies later ones as it accepts them.
    const below = this.opts.mirror ? ((await this.storage.getCheckpoint(ERASURES_LOG))?.treeSize ?? 0) : undefined;
    const completed = await this.erasures.recover(below);
    if (completed > 0) this.logger.warn({ completed }, 'completed erasures that a stop had interrupted');
    if (this.opts.mirror) {
      // The mirror's follower builds the tree and stores the primary's checkpoints: nothing is signed here.
      await this.tailer?.start();
      return;
    }
    await this.publisher.prepare(this.info.verifierKey);
    await this.tailer?.start();
    await this.publisher.start();
    this.erasures.sweepEvery(this.opts.erasureSweepMs ?? (this.storage.coordination ? ERASURE_SWEEP_MS : 0));
    if (this.opts.retentionDays && Object.keys(this.opts.retentionDays).length > 0) this.scheduleRetention();
  }

  async stop(): Promise<void> {
    if (this.retentionTimer) clearTimeout(this.retentionTimer);
    this.retentionTimer = null;
    await this.retentionRun;
    // Another process takes the sweeps over at its next one, not once the lease expires.
    const lease = this.retentionLease;
    this.retentionLease = null;
    if (lease) await this.storage.coordination?.leases.release(lease).catch(() => undefined);
    await this.erasures.stop();
    this.tailer?.stop();
    await this.publisher.stop();
    await this.gate.close().catch(() => undefined);
  }

  // --- sequence ----------------------------------------------------------------------------

  append(requests: AppendRequest[]): Promise<StoredEvent[]> {
    if (this.opts.mirror) return Promise.reject(readOnlyMirror(this.opts.mirror.primaryUrl));
    if (this.forwarder) return this.forwarder.append(requests, (redirect) => this.sequencer.append(requests, { redirect }));
    return this.sequencer.append(requests);
  }

  /**
   * An append another process forwarded here (src/log/forwarding.ts): appended here, or, if yet
   * another process holds the log's lease now, refused with HeldElsewhereError naming it (the
   * forwarding process goes there), so that a stale forward never makes two processes trade the lease.
   */
  appendHere(requests: AppendRequest[]): Promise<StoredEvent[]> {
    if (this.opts.mirror) return Promise.reject(readOnlyMirror(this.opts.mirror.primaryUrl));
    return this.sequencer.append(requests, { redirect: true });
  }

  /**
   * A mirror's follower stored these copied events (in pos order): they reach listeners as commits do.
   * Sharing a database, the tailer delivers them instead.
   */
  deliverCopied(events: StoredEvent[]): void {
    if (!this.tailer) this.emitCommitted(events);
  }

  /** A mirror's follower accepted this checkpoint of the primary: it reaches listeners as a published one does. */
  deliverCheckpoint(update: CheckpointUpdate): void {
    this.emitCheckpoint(update);
  }

  /** A commit of this process's sequencer. */
  private committedHere(events: StoredEvent[]): void {
    this.commitStats.commits++;
    this.commitStats.events += events.length;
    this.publisher.offer(events);
    // Sharing a database, every commit (ours too) reaches listeners through the tailer, in pos order.
    if (!this.tailer) this.emitCommitted(events);
  }

  // --- publish -------------------------------------------------------------------------------

  /** On demand: integrate and publish now, whichever process holds the publisher lease. */
  publishCheckpoints(): Promise<StoredCheckpoint[]> {
    if (this.opts.mirror) return Promise.reject(readOnlyMirror(this.opts.mirror.primaryUrl));
    return this.publisher.publishNow();
  }

  /** Why the log is quarantined (no checkpoint is published for it until restart), or null if it is not. */
  quarantineOf(sourceAppId: string): string | null {
    return this.publisher.quarantineOf(sourceAppId);
  }

  /** Whether this process is the one publishing checkpoints on the interval (see Publisher.publishes). */
  get publishes(): boolean {
    return this.publisher.publishes;
  }

  // --- erase ---------------------------------------------------------------------------------

  leafVersionOf(sourceAppId: string): Promise<LeafVersion | null> {
    return this.erasures.leafVersionOf(sourceAppId);
  }

  eraseEvents(request: EraseRequest): Promise<EraseResult> {
    // A mirror's erasures are its primary's, copied and verified with its erasures log (src/mirror).
    if (this.opts.mirror) return Promise.reject(readOnlyMirror(this.opts.mirror.primaryUrl));
    return this.erasures.erase(request);
  }

  /** The positions of a log that the erasures log lists as erased. */
  erasedSeqs(sourceAppId: string): Promise<PositionSet> {
    return this.erasures.erasedSeqs(sourceAppId);
  }

  async erasureRecordsOf(
    sourceAppId: string,
    from: number,
    treeSize: number | undefined,
    mayRead: (sourceAppId: string) => boolean,
    consistentWith?: number,
  ): Promise<ErasureRecordPage> {
    const checkpoint = await this.storage.getCheckpoint(ERASURES_LOG, treeSize);
    if (!checkpoint && treeSize !== undefined) {
      throw notFound(`the erasures log has no checkpoint of size ${treeSize}`, 'treeSize');
    }
    const size = checkpoint?.treeSize ?? 0;
    // A proof runs from the smaller size to the larger: a reader that trusts a larger checkpoint than the
    // page's reads at one at least as large (treeSize omitted: the latest), so one direction serves it.
    if (consistentWith !== undefined && consistentWith > size) {
      const message = checkpoint
        ? `consistentWith must be at most the checkpoint's size ${size}: omit treeSize for the latest checkpoint, or give one at least consistentWith`
        : 'consistentWith must be 0: the erasures log has no checkpoint yet';
      throw new LogError('BAD_USER_INPUT', message, [{ field: 'consistentWith', rule: 'beyondCheckpoint', message }]);
    }
    if (!checkpoint) return { checkpoint: null, records: [], withheld: [], next: null, consistencyProof: null };
    // One proof per read, of O(log size) nodes.
    const consistencyProof =
      consistentWith === undefined ? null : (await this.prover.consistency(ERASURES_LOG, consistentWith, size)).map(toHex);
    // Past the checkpoint (one smaller than a reader saw before, from a server behind): nothing to read.
    if (from >= size) return { checkpoint, records: [], withheld: [], next: null, consistencyProof };
    const found = await this.erasures.listing(sourceAppId, from, size);
    const listing: StoredEvent[] = [];
    const withheld: number[] = [];
    for (const { seq, record, event } of found.records) {
      // A record that names a log the reader may not read would tell it that log's name and positions.
      if (record.events.every(([app]) => mayRead(app))) listing.push(event);
      else withheld.push(seq);
    }
    // One proof at a time: a read's proofs are up to ERASURE_RECORDS_PER_READ, each a few node reads.
    const records = [];
    for (const event of listing) {
      records.push({ event, hashes: (await this.prover.inclusion(ERASURES_LOG, event.seq, size)).map(toHex) });
    }
    return { checkpoint, records, withheld, next: found.next, consistencyProof };
  }

  /** The erasure records at positions from <= seq < below of this store's erasures log (a mirror's: its primary's). */
  erasureRecords(from: number, below: number): AsyncGenerator<{ seq: number; record: ErasureRecord }> {
    return this.erasures.records(from, below);
  }

  /**
   * A mirror's follower verified the record at `seq` of its primary's erasures log: erase what it lists
   * here too (idempotent; events not stored yet are left to the copy, which stores them erased).
   */
  applyErasure(seq: number, record: ErasureRecord): Promise<number> {
    return this.erasures.applyVerified(seq, record);
  }

  /**
   * A mirror's follower applied every record of its copy of the erasures log below `verified`, and its
   * copy owes no event to the records below `copiedBelow`: the next start applies and reads only the
   * records after (Erasures.settleVerified). False when the sizes were not raised (logged).
   */
  settleErasures(verified: number, copiedBelow: number): Promise<boolean> {
    return this.erasures.settleVerified(verified, copiedBelow);
  }

  onErased(listener: ErasedListener): () => void {
    this.erasedListeners.add(listener);
    return () => this.erasedListeners.delete(listener);
  }

  /**
   * Sharing a database, an erasure another process records reaches this one as a commit of the erasures
   * log (ours too, which is harmless: dropping a payload is idempotent). What this process holds of the
   * listed events (the engine's copies of its commits, subscriptions' buffers) drops their payloads now:
   * once recorded, an erasure is applied (recover completes it after a crash), and the process that
   * applies it cannot reach this one's memory.
   */
  private erasedElsewhere(events: readonly StoredEvent[]): void {
    for (const e of events) {
      if (e.sourceAppId !== ERASURES_LOG) continue;
      try {
        const record = parseErasureRecord(e);
        if (!record || record.events.length === 0) continue;
        const ids = record.events.map(([sourceAppId, seq]) => ({ sourceAppId, seq }));
        this.storage.erasedElsewhere?.(ids);
        this.emitErased(ids, record.erasedAt, record.reason);
      } catch (err) {
        this.logger.error({ err, seq: e.seq }, 'an erasure record could not be read to drop its payloads here');
      }
    }
  }

  private emitErased(ids: readonly EventId[], erasedAt: number, reason: string): void {
    for (const listener of this.erasedListeners) {
      try {
        listener(ids, erasedAt, reason);
      } catch (err) {
        this.logger.error({ err }, 'erased-event listener failed');
      }
    }
  }

  private scheduleRetention(): void {
    this.retentionTimer = setTimeout(() => {
      this.retentionRun = this.applyRetention()
        .then(() => undefined)
        .catch((err: unknown) => this.logger.error({ err }, 'retention sweep failed'))
        .finally(() => {
          this.retentionRun = null;
          if (this.retentionTimer) this.scheduleRetention();
        });
    }, this.opts.retentionIntervalMs ?? RETENTION_INTERVAL_MS);
    this.retentionTimer.unref();
  }

  /**
   * Erase, through the erasure path (recorded, reason `retention`), the payloads of version 2 events
   * received longer ago than their log's retention period. Each erasure call is bounded
   * (MAX_ERASED_PER_CALL); a sweep goes on until none is left. Returns how many it erased: 0 while another
   * process sharing the database holds RETENTION_LEASE (it sweeps).
   */
  async applyRetention(): Promise<number> {
    const days = this.opts.retentionDays ?? {};
    let total = 0;
    /** Logs the sweep could not apply retention to (a damaged row, a failed read): the others are swept. */
    const failed: Array<{ sourceAppId: string; err: unknown }> = [];
    // The lease is checked before each page of logs and each erasure call: a holder that lost it
    // mid-sweep leaves the rest to the new one.
    sweep: for (let after: string | null = null; ;) {
      if (!(await this.sweepsRetention())) break;
      const heads = await this.storage.listLogHeads(after, 100);
      if (heads.length === 0) break;
      for (const h of heads) {
        after = h.sourceAppId;
        const d = days[h.sourceAppId] ?? days['*'];
        if (d === undefined || h.sourceAppId === ERASURES_LOG) continue;
        try {
          if ((await this.leafVersionOf(h.sourceAppId)) !== 2) continue;
          const cutoff = this.now() - d * DAY_MS;
          const r = await this.retainLog(h.sourceAppId, cutoff);
          total += r.erased;
          if (r.handedOver) break sweep;
        } catch (err) {
          failed.push({ sourceAppId: h.sourceAppId, err });
        }
      }
    }
    if (failed.length > 0) {
      const [first] = failed;
      this.logger.error(
        { err: first!.err, sourceAppId: first!.sourceAppId, failedLogs: failed.length, erased: total },
        'retention not applied to some logs (the first named); the others were swept, the next sweep tries again',
      );
    }
    return total;
  }

  /**
   * Whether this process sweeps retention now: always on an engine with one writer; among processes
   * sharing a database, the holder of RETENTION_LEASE (taken when free, renewed before each page of logs
   * and each erasure call of a sweep, for three sweep intervals). A failure of the lease store fails
   * the sweep when checked before a page of logs, and the log when checked before an erasure call, as
   * a failed read would.
   */
  private async sweepsRetention(): Promise<boolean> {
    const coordination = this.storage.coordination;
    if (!coordination) return true;
    const ttl = 3 * (this.opts.retentionIntervalMs ?? RETENTION_INTERVAL_MS);
    if (this.retentionLease) {
      if (await coordination.leases.renew(this.retentionLease, ttl)) return true;
      this.retentionLease = null;
      this.logger.info('retention lease lost: another process sweeps retention now');
    }
    this.retentionLease = await coordination.leases.tryAcquire(RETENTION_LEASE, this.owner, ttl);
    return this.retentionLease !== null;
  }

  /**
   * Erase the payloads of one log received before `cutoff` (receivedAt grows with seq). `handedOver`:
   * stopped because another process took RETENTION_LEASE over (the rest of the sweep is its).
   */
  private async retainLog(sourceAppId: string, cutoff: number): Promise<{ erased: number; handedOver: boolean }> {
    let erased = 0;
    for (let from = this.retainedBelow.get(sourceAppId) ?? 0; ;) {
      const page = await this.storage.getEventRange(sourceAppId, from, Number.MAX_SAFE_INTEGER, MAX_ERASED_PER_CALL);
      const due = page.filter((e) => e.receivedAt < cutoff && e.payload !== null).map((e) => ({ sourceAppId, seq: e.seq }));
      // One call may erase fewer than it was given (what its record can list): called again until done.
      for (let more = due.length > 0; more;) {
        if (!(await this.sweepsRetention())) return { erased, handedOver: true };
        const r = await this.erasures.eraseIfAny({
          selection: { kind: 'ids', ids: due },
          reason: RETENTION_REASON,
          by: RETENTION_REASON,
        });
        erased += r.erased;
        more = r.more;
      }
      // Every payload below the first event still within its period is erased: later sweeps start there.
      const kept = page.find((e) => e.receivedAt >= cutoff);
      const last = page.at(-1);
      const below = kept ? kept.seq : last ? last.seq + 1 : from;
      this.retainedBelow.set(sourceAppId, below);
      if (kept || !last || page.length < MAX_ERASED_PER_CALL) return { erased, handedOver: false };
      from = below;
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

  getLatestCheckpoints(sourceAppIds: readonly string[]) {
    return this.storage.getLatestCheckpoints(sourceAppIds);
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

  async rangeProof(
    sourceAppId: string,
    start: number,
    end: number,
    treeSize?: number,
    options?: RangeProofOptions,
  ): Promise<RangeProofResult> {
    const { latest, size } = await this.provable(sourceAppId, treeSize);
    if (!Number.isSafeInteger(start) || start < 0) throw badInput('start must be a non-negative integer', 'start');
    if (!Number.isSafeInteger(end) || end <= start || end > size) {
      throw badInput(`end must be above start and at most the tree size ${size}`, 'end');
    }
    if (end - start > MAX_RANGE_PROOF_EVENTS) {
      throw badInput(`a range proof covers at most ${MAX_RANGE_PROOF_EVENTS} events`, 'end');
    }
    const [{ left, right }, { events, payloadTexts }, rootHash, checkpoint, nodes] = await Promise.all([
      this.prover.range(sourceAppId, start, end, size),
      this.storage.getEventRangeWithText(sourceAppId, start, end, end - start),
      this.rootHex(sourceAppId, size, latest),
      size === latest.treeSize ? latest : this.storage.getCheckpoint(sourceAppId, size),
      options?.nodes ? this.prover.completed(sourceAppId, start, end) : undefined,
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
      payloadTexts,
      checkpoint: checkpoint ?? latest,
      ...(nodes ? { nodes } : {}),
    };
  }

  rangeProofNodes(proof: RangeProofResult): Promise<TreeNodeRun[]> {
    return proof.nodes ? Promise.resolve(proof.nodes) : this.prover.completed(proof.sourceAppId, proof.start, proof.end);
  }

  private auditSlots: AuditSlots | undefined;

  /** Audits share the server with requests: bounded in number (AuditSlots), each yielding between chunks. */
  verifyLog(sourceAppId: string, fromSeq?: number, toSeq?: number): Promise<VerificationReport> {
    this.auditSlots ??= new AuditSlots(this.opts.maxConcurrentAudits ?? DEFAULT_MAX_CONCURRENT_AUDITS, this.now);
    return this.auditSlots.run(sourceAppId, (onProgress) =>
      verifyStoredLog(
        this.storage,
        {
          verifier: this.verifier,
          originOf: (app) => this.originOf(app),
          onProgress,
          erasedSeqs: (app) => this.erasures.erasedSeqs(app),
        },
        sourceAppId,
        fromSeq ?? 0,
        toSeq,
      ),
    );
  }

  // --- deliver -------------------------------------------------------------------------------

  private emitCommitted(events: StoredEvent[], malformed?: readonly MalformedCommitted[]): void {
    this.publisher.grew(events);
    for (const listener of this.committedListeners) {
      try {
        listener(events, malformed);
      } catch (err) {
        this.logger.error({ err }, 'committed-event listener failed');
      }
    }
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

  deliverCosigned(update: CheckpointUpdate): void {
    this.emitCheckpoint({ ...update, cosigned: true });
  }

  onCommitted(listener: CommittedListener): () => void {
    this.committedListeners.add(listener);
    return () => this.committedListeners.delete(listener);
  }

  onCheckpoint(listener: (update: CheckpointUpdate) => void): () => void {
    this.checkpointListeners.add(listener);
    return () => this.checkpointListeners.delete(listener);
  }

  /**
   * Sharing a database: `listener` runs each time this process becomes the one that publishes (it took
   * the publisher lease and recovered every log). A process on an embedded engine publishes from start.
   */
  onPublishing(listener: () => void): () => void {
    this.publishingListeners.add(listener);
    return () => this.publishingListeners.delete(listener);
  }

  private emitPublishing(): void {
    for (const listener of this.publishingListeners) {
      try {
        listener();
      } catch (err) {
        this.logger.error({ err }, 'publishing listener failed');
      }
    }
  }
}

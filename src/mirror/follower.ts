// A mirror (FOLLOW_URL): copies every log of a primary chainlog server through its public API, checks
// every event (its position, its link and its leaf hash recomputed from its fields), builds its own
// Merkle tree, and accepts a primary's signed checkpoint only when its own root at that size is the
// one the note signs (with the pinned key, under the log's origin as key name). It stores the
// primary's note, so the proofs it serves from its copy verify under the primary's key. See
// docs/design/mirror.md.
import { createClient, type Client } from 'graphql-ws';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import WebSocket from 'ws';
import { logVerifiers, openCheckpoint } from '../core/checkpoint.js';
import { toHex } from '../core/hex.js';
import { eventLeafHash, formatTime, parseTime, payloadMatchesCommitment } from '../core/leaf.js';
import { createVerifier, parseVerifierKey, verifierKeyString, type NoteVerifier } from '../core/note/signed-note.js';
import type { ChainlogService } from '../log/chainlog-service.js';
import { ERASURES_LOG } from '../log/erasure.js';
import { Integrator } from '../log/integrator.js';
import { Prover } from '../log/prover.js';
import type { LogStorage, NewEvent, StoredCheckpoint, StoredEvent } from '../storage/types.js';
import { reportInconsistency, type MirrorInconsistency } from './inconsistency.js';
import type { InconsistencyReporter } from '../inconsistency/reporter.js';
import {
  PRIMARY_RANGE,
  PrimaryClient,
  PrimaryRefusedError,
  PrimaryUnavailableError,
  type PrimaryCheckpoint,
  type PrimaryEvent,
  type PrimaryInfo,
  type PrimaryLog,
} from './primary-client.js';

/** Backoff while the primary is down or refuses: from the poll interval, doubling, up to this, with jitter. */
const MAX_BACKOFF_MS = 30_000;
/** The poll interval is the primary's checkpoint interval, within these bounds. */
const MIN_POLL_MS = 100;
const MAX_POLL_MS = 5_000;
/**
 * The re-check of copied events reads one page from the primary and one from the copy: at most once in
 * this long, and only in a sync that copied nothing (catching up comes first).
 */
const RECHECK_EVERY_MS = 1_000;

export interface MirrorOptions {
  primaryUrl: string;
  apiKey: string;
  /** FOLLOW_VERIFIER_KEY: any vkey of the primary's signing key; only its public key is used. */
  verifierKey: string;
  storage: LogStorage;
  service: ChainlogService;
  logger: Logger;
  registry: Registry;
  /** Where a detected inconsistency is recorded with its evidence (src/inconsistency). */
  inconsistencies?: InconsistencyReporter | null;
  now?: () => number;
}

/** How long a witness request waits for the mirror to verify the checkpoint it is asked to cosign. */
const VOUCH_WAIT_MS = 5_000;

/** What serverInfo.mirror shows. */
export interface MirrorStatus {
  primaryUrl: string;
  primaryReachable: boolean;
  /** Events the primary's latest checkpoints cover that no checkpoint accepted here covers yet, over every log. */
  eventsBehind: number;
  logsBehind: number;
  /** Epoch ms of the end of the last complete sync with the primary; null before the first. */
  lastSyncAt: number | null;
  lastError: string | null;
  /** Events verified and stored per second in the last sync that copied any. */
  catchUpEventsPerSecond: number;
  eventsCopied: number;
  stoppedLogs: Array<{ sourceAppId: string; reason: string }>;
}

/** The primary failed a check that is not its own fault alone (a bad signature, a malformed answer): retried. */
class SyncError extends Error {
  override name = 'SyncError';
}

/** Reading the erasures log failed while another log was synced: a failure of the pass, not of that log. */
class ErasuresLogFailure extends Error {
  override name = 'ErasuresLogFailure';
  constructor(override readonly cause: unknown) {
    super((cause as Error)?.message ?? String(cause));
  }
}

/** This log is inconsistent: the report is made, and the log is not followed any more. */
class Inconsistent extends Error {
  override name = 'Inconsistent';
  constructor(
    readonly report: Omit<MirrorInconsistency, 'primaryUrl' | 'detectedAt' | 'verifierKey' | 'sourceAppId' | 'origin'>,
  ) {
    super(report.message);
  }
}

/** An erasure the primary's verified erasures log lists, of an event this mirror has not stored yet. */
interface Owed {
  erasedAt: number;
  reason: string;
  /** The record's position in the erasures log. */
  record: number;
}

/** A log whose last sync failed while the primary still answered: retried after its own backoff. */
interface Failing {
  failures: number;
  retryAt: number;
  /** Why, naming the log: serverInfo.mirror.lastError while it fails. */
  message: string;
  /** The first seq of the re-check page whose reading failed, read again at the log's retry; null when its sync failed. */
  recheckFrom: number | null;
}

interface LogState {
  /** The primary's latest checkpoint size as last seen. */
  primarySize: number;
  /** The size of the latest checkpoint accepted here. */
  ownSize: number;
}

export class Mirror {
  private readonly client: PrimaryClient;
  private readonly pinned: NoteVerifier;
  private readonly storage: LogStorage;
  private readonly integrator: Integrator;
  private readonly prover: Prover;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly logs = new Map<string, LogState>();
  private readonly stopped = new Map<string, string>();
  /**
   * Logs whose last sync (or re-check) failed while the primary answered other requests: an answer
   * that does not verify, an error or a failed connection for that log alone. The other logs are
   * followed meanwhile.
   */
  private readonly failing = new Map<string, Failing>();
  /** This pass's read about no log, made at the first failure of a log's read (one per pass, however many fail). */
  private passProbe: Promise<unknown> | null = null;
  private primary: PrimaryInfo | null = null;
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  private wakeUp: (() => void) | null = null;
  private wakeRequested = false;
  private ws: Client | null = null;
  /**
   * Round-robin position of the re-check of copied events: which log (the first at or after
   * `afterApp`), from which seq (null: a log the sweep comes to anew, read from its start or from its
   * recheckResume).
   */
  private recheck: { afterApp: string; fromSeq: number | null; at: number } = { afterApp: '', fromSeq: null, at: 0 };
  /**
   * Where the re-check of a log goes on when the sweep next comes to it, for logs the sweep left at a
   * failed page: the page after it once the log's retry has read it (the sweep does not start the log
   * over, which a page failing now and then would otherwise keep it doing).
   */
  private readonly recheckResume = new Map<string, number>();
  /** Records of the primary's erasures log below this position are applied here (null before start). */
  private erasuresApplied: number | null = null;
  /**
   * Erasures those records list of events not stored here yet, by log and seq: the copy stores them
   * erased. One entry per such event, dropped once it is stored.
   */
  private readonly owed = new Map<string, Map<number, Owed>>();
  /**
   * How many `owed` entries each record (by position) still has: the lowest is where the stored
   * LogStorage.erasuresCopiedBelow stops, so that a start learns those entries again.
   */
  private readonly owedByRecord = new Map<number, number>();
  /** The sizes this process last stored with settleErasures (applied, copied). */
  private settled = { applied: 0, copied: 0 };
  /**
   * Events the primary served without payload and its verified erasures log did not list yet, by
   * `<log>/<seq>`: the size the primary gave its erasures log just after (an honest primary records an
   * erasure before it applies it, so that size includes the record). Once the mirror has verified the
   * erasures log up to it and the event is still not listed, it is an UNRECORDED_ERASURE.
   */
  private readonly unlistedBars = new Map<string, number>();
  private readonly state = {
    primaryReachable: false,
    lastSyncAt: null as number | null,
    lastError: null as string | null,
    catchUpEventsPerSecond: 0,
    eventsCopied: 0,
  };
  private readonly metrics: ReturnType<typeof createMirrorMetrics>;

  constructor(private readonly opts: MirrorOptions) {
    this.client = new PrimaryClient(opts.primaryUrl.replace(/\/+$/, ''), opts.apiKey);
    this.pinned = parseVerifierKey(opts.verifierKey);
    this.storage = opts.storage;
    this.integrator = new Integrator(opts.storage);
    this.prover = new Prover(opts.storage);
    this.logger = opts.logger.child({ mirrorOf: opts.primaryUrl });
    this.now = opts.now ?? Date.now;
    this.metrics = createMirrorMetrics(opts.registry, () => this.status());
  }

  get primaryUrl(): string {
    return this.client.url;
  }

  status(): MirrorStatus {
    let eventsBehind = 0;
    let logsBehind = 0;
    for (const s of this.logs.values()) {
      if (s.primarySize > s.ownSize) {
        eventsBehind += s.primarySize - s.ownSize;
        logsBehind++;
      }
    }
    return {
      primaryUrl: this.client.url,
      ...this.state,
      eventsBehind,
      logsBehind,
      stoppedLogs: [...this.stopped].map(([sourceAppId, reason]) => ({ sourceAppId, reason })),
    };
  }

  /**
   * Ask the primary once before serving: a key it refuses (FOLLOW_API_KEY) or a primary signing with
   * another key than FOLLOW_VERIFIER_KEY's fails the start. A primary that cannot be reached does not:
   * the mirror serves what it has and keeps trying with backoff.
   */
  async start(): Promise<void> {
    // The service applied the erasures its accepted records list before it serves (ChainlogService.start).
    await this.loadErasures();
    try {
      await this.contact();
    } catch (err) {
      if (!(err instanceof PrimaryUnavailableError)) throw err;
      this.noteFailure(err);
      this.logger.warn({ err: err.message }, 'mirror: primary not reachable at start; serving the copy, retrying with backoff');
    }
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.ws?.dispose();
    await this.loop;
  }

  /**
   * For this server's witness: null when a checkpoint of `origin` of that size and root may be cosigned,
   * else why not. A log of the primary may be once this mirror's own tree of the events it copied has
   * that root at that size (the mirror is woken and waited for, up to VOUCH_WAIT_MS: 503 when it has not
   * got there, so the log retries); any other origin is left to the witness alone. Before the mirror
   * has reached its primary it cannot tell the primary's origins from others: every origin gets 503.
   */
  async vouch(origin: string, size: number, rootHashHex: string): Promise<{ status: 422 | 503; message: string } | null> {
    const prefix = this.primary?.originPrefix;
    if (prefix === undefined)
      return { status: 503, message: `this mirror has not reached its primary ${this.client.url} yet; retry` };
    if (!origin.startsWith(`${prefix}/`)) return null;
    const app = origin.slice(prefix.length + 1);
    const deadline = this.now() + VOUCH_WAIT_MS;
    for (;;) {
      const stopped = this.stopped.get(app);
      if (stopped !== undefined) return { status: 422, message: `this mirror found the log inconsistent: ${stopped}` };
      const accepted = await this.storage.getCheckpoint(app);
      if (accepted && accepted.treeSize >= size) {
        const root = size === 0 ? null : toHex(await this.prover.rootAt(app, size));
        if (root !== null && root !== rootHashHex) {
          return { status: 422, message: `this mirror's copy of the log has root ${root} at size ${size}, not ${rootHashHex}` };
        }
        return null;
      }
      if (this.now() >= deadline || !this.running) {
        return { status: 503, message: `this mirror has not verified size ${size} of ${origin} yet; retry` };
      }
      this.wake();
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * This mirror's views, for the server's LocalViews (served to peers and compared with theirs): of each
   * log of the primary it follows, the latest checkpoint it accepted, i.e. the primary's signed note whose
   * root its own copy gives. Structurally a ViewSource of src/witness/views.ts (the mirror does not import
   * the witness). Origins appear once the primary named its origin prefix and a sync saw the log.
   */
  views(): {
    origins(): Array<{ origin: string; trusted: NoteVerifier }>;
    latest(origin: string): Promise<string | null>;
  } {
    return {
      origins: () => {
        if (!this.primary) return [];
        return [...this.logs.keys()].map((app) => {
          const origin = this.origin(app);
          return { origin, trusted: createVerifier(origin, this.pinned.publicKey) };
        });
      },
      latest: async (origin) => {
        const prefix = this.primary?.originPrefix;
        if (prefix === undefined || !origin.startsWith(`${prefix}/`)) return null;
        return (await this.storage.getCheckpoint(origin.slice(prefix.length + 1)))?.note ?? null;
      },
    };
  }

  /** Sync now rather than at the end of the wait (a checkpoint was published on the primary). */
  private wake(): void {
    this.wakeRequested = true;
    this.wakeUp?.();
  }

  private async contact(): Promise<PrimaryInfo> {
    let info: PrimaryInfo;
    try {
      info = await this.client.probe();
    } catch (err) {
      if (err instanceof PrimaryRefusedError && (err.code === 'UNAUTHENTICATED' || err.code === 'FORBIDDEN')) {
        throw new Error(
          `FOLLOW_API_KEY: ${err.message} (the mirror needs an auditor key of the primary, not limited to some applications)`,
          { cause: err },
        );
      }
      throw err;
    }
    const theirs = parseVerifierKey(info.verifierKey);
    if (!Buffer.from(theirs.publicKey).equals(Buffer.from(this.pinned.publicKey))) {
      throw new Error(
        `FOLLOW_VERIFIER_KEY: the primary ${this.client.url} signs with ${info.verifierKey}, not with the key of ${this.opts.verifierKey}`,
      );
    }
    if (this.primary === null) {
      this.opts.service.adoptOriginPrefix(info.originPrefix);
      this.subscribe();
    }
    this.primary = info;
    return info;
  }

  /** A checkpoint published on the primary wakes the sync at once; polling stays the fallback. */
  private subscribe(): void {
    const wsUrl = `${this.client.url.replace(/^http/, 'ws')}/graphql`;
    this.ws = createClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { 'x-api-key': this.opts.apiKey },
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: () => this.running,
      lazy: false,
    });
    this.ws.subscribe(
      { query: 'subscription { checkpointPublished { checkpoint { treeSize } } }' },
      {
        next: () => this.wake(),
        error: (err) => this.logger.debug({ err }, 'mirror: checkpoint subscription ended; polling'),
        complete: () => undefined,
      },
    );
  }

  private pollMs(): number {
    return Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, this.primary?.checkpointIntervalMs ?? 1000));
  }

  /** The wait after `failures` failures in a row: from the poll interval, doubling, up to MAX_BACKOFF_MS, with jitter. */
  private backoffMs(failures: number): number {
    return Math.min(MAX_BACKOFF_MS, this.pollMs() * 2 ** Math.min(failures, 16)) * (0.5 + Math.random() / 2);
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      this.wakeRequested = false;
      let wait = this.pollMs();
      try {
        if (this.primary === null) await this.contact();
        await this.sync();
        failures = 0;
      } catch (err) {
        failures++;
        this.noteFailure(err);
        // The first failure is a warning; a refusal that will not pass by itself is an error.
        const level = err instanceof PrimaryUnavailableError ? (failures === 1 ? 'warn' : 'debug') : 'error';
        this.logger[level](
          { err: (err as Error).message, failures },
          'mirror: sync with the primary failed; retrying with backoff',
        );
        wait = this.backoffMs(failures);
      }
      if (!this.running) break;
      if (failures === 0 && this.wakeRequested) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        // A wake-up during backoff waits for the backoff: the primary is not asked sooner than that.
        this.wakeUp =
          failures === 0
            ? () => (clearTimeout(timer), resolve())
            : () => (this.running ? undefined : (clearTimeout(timer), resolve()));
      });
      this.wakeUp = null;
    }
  }

  /**
   * A failed sync, counted by kind: of the whole pass, or of the log `app` alone (the primary answers
   * other requests: it is reachable). Answers why, naming the log: the last error.
   */
  private noteFailure(err: unknown, app?: string): string {
    const message =
      app === undefined || err instanceof SyncError ? (err as Error).message : `log "${app}": ${(err as Error).message}`;
    this.state.lastError = message;
    if (app === undefined && err instanceof PrimaryUnavailableError) this.state.primaryReachable = false;
    const kind =
      err instanceof PrimaryUnavailableError
        ? 'unavailable'
        : err instanceof PrimaryRefusedError
          ? err.code === 'UNAUTHENTICATED' || err.code === 'FORBIDDEN'
            ? 'refused'
            : 'error'
          : err instanceof SyncError
            ? 'invalid'
            : 'error';
    this.metrics.syncErrors.inc({ kind });
    return message;
  }

  /**
   * One pass over every log of the primary. It fails when the primary cannot list its logs, or fails
   * every request; a failure of one log while the primary answers others is that log's alone (logFailed).
   */
  private async sync(): Promise<void> {
    const started = this.now();
    const copiedBefore = this.state.eventsCopied;
    let after: string | null = null;
    const seen: PrimaryLog[] = [];
    /** Why each log that failed this pass failed: the other logs are followed still. */
    const failed: string[] = [];
    this.passProbe = null;
    for (;;) {
      const page = await this.client.logs(after);
      for (const log of page.logs) {
        if (!this.running) return;
        seen.push(log);
        const app = log.sourceAppId;
        const failing = this.failing.get(app);
        // A failing log is asked again after its own backoff, the others at every pass.
        if (failing && this.now() < failing.retryAt) {
          failed.push(failing.message);
          continue;
        }
        try {
          await this.syncLog(log);
          // The retry does again what failed: a re-check's page too, and the sweep goes on after it.
          if (failing && failing.recheckFrom !== null && !this.stopped.has(app)) {
            const at = await this.recheckPage(app, failing.recheckFrom);
            if (at === null) this.recheckResume.delete(app);
            else this.recheckResume.set(app, at);
          }
          this.failing.delete(app);
        } catch (err) {
          failed.push(await this.logFailed(app, err, failing?.recheckFrom ?? null));
        }
      }
      if (!page.hasNextPage || page.endCursor === null) break;
      after = page.endCursor;
    }
    // A log the primary no longer lists is not retried.
    const listed = new Set(seen.map((l) => l.sourceAppId));
    for (const app of this.failing.keys()) if (!listed.has(app)) this.failing.delete(app);
    for (const app of this.recheckResume.keys()) if (!listed.has(app) || this.stopped.has(app)) this.recheckResume.delete(app);
    await this.applyErasures();
    const copied = this.state.eventsCopied - copiedBefore;
    if (copied === 0 && this.now() - this.recheck.at >= RECHECK_EVERY_MS) {
      this.recheck.at = this.now();
      const failure = await this.recheckOnePage(seen);
      if (failure !== null) failed.push(failure);
    }
    if (copied > 0) this.state.catchUpEventsPerSecond = Math.round((copied * 1000) / Math.max(1, this.now() - started));
    this.state.primaryReachable = true;
    this.state.lastError = failed[0] ?? null;
    this.state.lastSyncAt = this.now();
  }

  /**
   * Syncing (or re-checking) the log `app` failed with `err`. A failure of the primary's (unreachable,
   * an error, a refusal) is the log's own only while the primary answers a request about no log;
   * otherwise the pass fails with it (thrown). The log's failure is counted, named in lastError and
   * retried after the log's own backoff (`recheckFrom`: the re-check page read again then); logged as
   * when a pass fails (a warning for an unreachable primary, an error otherwise) when the log starts
   * failing, then at debug level. Answers why, naming the log.
   */
  private async logFailed(app: string, err: unknown, recheckFrom: number | null): Promise<string> {
    // The erasures log's records apply to every log, and a read of it made for another log fails the
    // pass too; so does a failure that is not the primary's (this mirror's storage, a fault here).
    if (err instanceof ErasuresLogFailure) throw err.cause;
    if (app === ERASURES_LOG) throw err;
    if (err instanceof PrimaryUnavailableError || err instanceof PrimaryRefusedError) {
      // The primary answers about no log: then this failure is the log's. If not, the probe's failure fails the pass.
      this.passProbe ??= this.client.probe();
      await this.passProbe;
    } else if (!(err instanceof SyncError)) {
      throw err;
    }
    const message = this.noteFailure(err, app);
    const before = this.failing.get(app);
    const failures = (before?.failures ?? 0) + 1;
    this.failing.set(app, { failures, retryAt: this.now() + this.backoffMs(failures), message, recheckFrom });
    const level = before ? 'debug' : err instanceof PrimaryUnavailableError ? 'warn' : 'error';
    this.logger[level](
      { err: message, sourceAppId: app, failures },
      'mirror: syncing a log failed; retried with its own backoff',
    );
    return message;
  }

  private origin(sourceAppId: string): string {
    return `${this.primary!.originPrefix}/${sourceAppId}`;
  }

  private verifiers(sourceAppId: string): NoteVerifier[] {
    return logVerifiers(createVerifier(this.origin(sourceAppId), this.pinned.publicKey), this.origin(sourceAppId));
  }

  /** The note verified with the pinned key under the log's origin; a note that fails is the primary's answer failing, retried. */
  private open(sourceAppId: string, cp: PrimaryCheckpoint): { size: number; root: string } {
    let opened;
    try {
      opened = openCheckpoint(cp.note, this.verifiers(sourceAppId), this.origin(sourceAppId));
    } catch (err) {
      throw new SyncError(
        `log "${sourceAppId}": the primary's checkpoint of size ${cp.treeSize} does not verify: ${(err as Error).message}`,
      );
    }
    return { size: opened.size, root: toHex(opened.rootHash) };
  }

  private async syncLog(log: PrimaryLog): Promise<void> {
    const app = log.sourceAppId;
    const own = await this.storage.getCheckpoint(app);
    const state = this.logs.get(app) ?? { primarySize: 0, ownSize: own?.treeSize ?? 0 };
    this.logs.set(app, state);
    state.ownSize = own?.treeSize ?? 0;
    if (!log.latestCheckpoint) return;
    if (this.stopped.has(app)) {
      // Not followed any more: the primary's size is only its lag, shown while the note verifies.
      try {
        state.primarySize = this.open(app, log.latestCheckpoint).size;
      } catch (err) {
        if (!(err instanceof SyncError)) throw err;
      }
      return;
    }
    const latest = this.open(app, log.latestCheckpoint);
    state.primarySize = latest.size;
    try {
      if (own && latest.size < own.treeSize) {
        throw new Inconsistent({
          kind: 'HISTORY_BACKWARDS',
          message: `the primary's latest checkpoint has size ${latest.size}, below the accepted ${own.treeSize}`,
          ...noEvidence(own, log.latestCheckpoint.note),
        });
      }
      if (own && latest.size === own.treeSize && latest.root !== own.rootHash) {
        throw new Inconsistent({
          kind: 'HISTORY_BACKWARDS',
          message: `the primary signed two roots for size ${own.treeSize}`,
          ...noEvidence(own, log.latestCheckpoint.note),
        });
      }
      if (latest.size > state.ownSize) {
        await this.copy(app, await this.newCheckpoints(app, state.ownSize), state);
      }
    } catch (err) {
      if (err instanceof Inconsistent) return this.stopLog(app, err);
      throw err;
    }
  }

  /** The primary's checkpoints of a log larger than `ownSize`, smallest first. */
  private async newCheckpoints(app: string, ownSize: number): Promise<PrimaryCheckpoint[]> {
    const found: PrimaryCheckpoint[] = [];
    let after: string | null = null;
    for (;;) {
      const page = await this.client.checkpointsDesc(app, after);
      for (const cp of page.checkpoints) {
        if (cp.treeSize <= ownSize) return found.reverse();
        found.push(cp);
      }
      if (!page.hasNextPage || page.endCursor === null) return found.reverse();
      after = page.endCursor;
    }
  }

  /**
   * Copy and check the events up to the largest of `pending` (the primary's new checkpoints, smallest
   * first), in pages of PRIMARY_RANGE events, the next page fetched while the current one is checked and
   * stored; each checkpoint is accepted as soon as the stored events reach it, if the root of our own
   * tree at its size is the one it signs.
   */
  private async copy(app: string, pending: PrimaryCheckpoint[], state: LogState): Promise<void> {
    if (pending.length === 0) return;
    for (const cp of pending) {
      const signed = this.open(app, cp);
      if (signed.size !== cp.treeSize || signed.root !== cp.rootHash) {
        throw new SyncError(`log "${app}": the primary's checkpoint fields differ from its note (size ${cp.treeSize})`);
      }
    }
    const target = pending[pending.length - 1]!.treeSize;
    let previous = await this.storage.getCheckpoint(app);
    const head = await this.storage.getLogHead(app);
    let size = head?.size ?? 0;
    let lastHash = head?.headHash ?? '0'.repeat(64);
    const fetchFrom = (from: number) => {
      const page = this.client.events(app, from, Math.min(from + PRIMARY_RANGE, target), target);
      // Awaited below unless a check fails first: never an unhandled rejection.
      page.catch(() => undefined);
      return page;
    };
    let next = size < target ? fetchFrom(size) : null;
    let i = 0;
    for (;;) {
      while (i < pending.length && pending[i]!.treeSize <= size) {
        previous = await this.acceptCheckpoint(app, pending[i]!, previous);
        state.ownSize = previous.treeSize;
        i++;
      }
      if (next === null) return;
      const end = Math.min(size + PRIMARY_RANGE, target);
      const served = await next;
      next = end < target ? fetchFrom(end) : null;
      if (served.length !== end - size)
        throw new SyncError(`log "${app}": the primary served ${served.length} events for ${size}..${end - 1}`);
      const events: NewEvent[] = [];
      let waiting = false;
      for (const e of served) {
        const seq = size + events.length;
        const problem = checkServed(e, app, seq, lastHash);
        if (problem) {
          throw new Inconsistent({
            kind: 'BAD_EVENT',
            message: `event ${app}/${seq} as served under the checkpoint of size ${target}: ${problem}`,
            seq,
            acceptedNote: previous?.note ?? null,
            conflictingNote: pending.find((cp) => cp.treeSize > seq)!.note,
            ownRootHash: null,
            copied: null,
            served: { event: e, proof: null, error: null },
          });
        }
        let copy = toNewEvent(e);
        if (e.payloadHash) {
          let owed = this.owed.get(app)?.get(seq);
          if (!owed && e.payload === null) {
            const found = await this.unlisted(app, seq);
            owed = this.owed.get(app)?.get(seq);
            if (owed) this.unlistedBars.delete(`${app}/${seq}`);
            if (!owed && found.verified >= found.bar) {
              throw new Inconsistent({
                kind: 'UNRECORDED_ERASURE',
                message:
                  `event ${app}/${seq} is served without its payload, and the primary's erasures log, verified up ` +
                  `to its size ${found.verified}, does not list it`,
                seq,
                acceptedNote: previous?.note ?? null,
                conflictingNote: null,
                ownRootHash: null,
                copied: null,
                served: await this.primaryEvidence(app, seq, target),
              });
            }
            if (!owed) {
              // The record may not be covered by a checkpoint of the primary yet: the log waits here.
              waiting = true;
              break;
            }
          }
          // Listed as erased by the verified erasures log: stored erased, whatever the primary served.
          if (owed) copy = { ...copy, payload: null, payloadSalt: null, erasedAt: owed.erasedAt, erasureReason: owed.reason };
        }
        events.push(copy);
        lastHash = e.hash;
      }
      const stored = events.length > 0 ? await this.storage.appendCopied(events) : [];
      this.paid(app, stored);
      this.integrator.offer(stored);
      this.opts.service.deliverCopied(stored);
      this.state.eventsCopied += stored.length;
      this.metrics.eventsCopied.inc(stored.length);
      if (waiting) {
        size += stored.length;
        while (i < pending.length && pending[i]!.treeSize <= size) {
          previous = await this.acceptCheckpoint(app, pending[i]!, previous);
          state.ownSize = previous.treeSize;
          i++;
        }
        return;
      }
      size = end;
    }
  }

  /**
   * Read what this mirror's store holds of the primary's erasures log: records below its accepted
   * checkpoint are applied (the service did so at start); the events they list that are not stored
   * yet are owed. Below the stored LogStorage.erasuresCopiedBelow no record lists such an event, so
   * the records are read from there on, not from the start of the log.
   */
  private async loadErasures(): Promise<void> {
    const accepted = (await this.storage.getCheckpoint(ERASURES_LOG))?.treeSize ?? 0;
    this.erasuresApplied = Math.min(accepted, await this.storage.erasuresCopiedBelow());
    this.settled = { applied: this.erasuresApplied, copied: this.erasuresApplied };
    await this.applyErasures(accepted, false);
  }

  /**
   * Apply the records of the primary's erasures log that a checkpoint accepted here covers (verified:
   * its root is our own tree's) and that are not applied yet: erase the listed events stored here, and
   * owe the others to the copy. A failure leaves the position where it was: the next sync applies again
   * (idempotent). Then store how far the records are applied and owe nothing (settleErasures).
   */
  private async applyErasures(upTo?: number, erase = true): Promise<void> {
    const verified = upTo ?? (await this.storage.getCheckpoint(ERASURES_LOG))?.treeSize ?? 0;
    const from = this.erasuresApplied ?? 0;
    if (verified > from) {
      const sizes = new Map<string, number>();
      for await (const { seq, record } of this.opts.service.erasureRecords(from, verified)) {
        if (erase) await this.opts.service.applyErasure(seq, record);
        for (const [app, at] of record.events) {
          let size = sizes.get(app);
          if (size === undefined) sizes.set(app, (size = (await this.storage.getLogHead(app))?.size ?? 0));
          if (at < size) continue;
          this.owe(app, at, { erasedAt: record.erasedAt, reason: record.reason, record: seq });
        }
        this.erasuresApplied = seq + 1;
      }
      this.erasuresApplied = verified;
    }
    await this.settleErasures();
  }

  /** The copy owes the erasure `owed` to the event `app`/`at`, not stored yet. */
  private owe(app: string, at: number, owed: Owed): void {
    let ofApp = this.owed.get(app);
    if (!ofApp) this.owed.set(app, (ofApp = new Map<number, Owed>()));
    const before = ofApp.get(at);
    if (before) this.unowe(before.record);
    ofApp.set(at, owed);
    this.owedByRecord.set(owed.record, (this.owedByRecord.get(owed.record) ?? 0) + 1);
  }

  /** These events of `app` are stored: whatever was owed to them was applied as they were. */
  private paid(app: string, stored: readonly StoredEvent[]): void {
    const ofApp = this.owed.get(app);
    if (!ofApp) return;
    for (const e of stored) {
      const owed = ofApp.get(e.seq);
      if (!owed) continue;
      ofApp.delete(e.seq);
      this.unowe(owed.record);
    }
    if (ofApp.size === 0) this.owed.delete(app);
  }

  private unowe(record: number): void {
    const left = (this.owedByRecord.get(record) ?? 1) - 1;
    if (left > 0) this.owedByRecord.set(record, left);
    else this.owedByRecord.delete(record);
  }

  /**
   * Store how far this mirror's copy of the erasures log is applied (every verified record) and owes
   * nothing (below the lowest record with an event still owed), where either rose: the next start then
   * neither applies nor reads the records below. A failure is logged by the service; the sizes are
   * stored again at the next sync.
   */
  private async settleErasures(): Promise<void> {
    const applied = this.erasuresApplied ?? 0;
    let copied = applied;
    for (const record of this.owedByRecord.keys()) if (record < copied) copied = record;
    if (applied <= this.settled.applied && copied <= this.settled.copied) return;
    if (await this.opts.service.settleErasures(applied, copied)) this.settled = { applied, copied };
  }

  /**
   * The primary served event `app`/`seq` without its payload and no verified record lists it (yet):
   * follow the primary's erasures log now (copied, verified and applied), and say up to which size
   * it is verified and which size it must reach for the answer to be final.
   */
  private async unlisted(app: string, seq: number): Promise<{ verified: number; bar: number }> {
    const key = `${app}/${seq}`;
    let bar: number;
    try {
      // Asked after the event was served erased: an honest primary's size includes the record by now.
      const log = await this.client.log(ERASURES_LOG);
      bar = this.unlistedBars.get(key) ?? log?.size ?? 0;
      this.unlistedBars.set(key, bar);
      if (log) await this.syncLog(log);
      await this.applyErasures();
    } catch (err) {
      throw new ErasuresLogFailure(err);
    }
    const verified = (await this.storage.getCheckpoint(ERASURES_LOG))?.treeSize ?? 0;
    if (verified >= bar) this.unlistedBars.delete(key);
    return { verified, bar };
  }

  /** Accept a checkpoint the stored events reach if our own root at its size is the one it signs. */
  private async acceptCheckpoint(
    app: string,
    cp: PrimaryCheckpoint,
    previous: StoredCheckpoint | null,
  ): Promise<StoredCheckpoint> {
    const tree = await this.integrator.integrate(app);
    const root = toHex(tree.size === cp.treeSize ? tree.root : await this.prover.rootAt(app, cp.treeSize));
    if (root !== cp.rootHash) {
      throw new Inconsistent({
        kind: 'ROOT_MISMATCH',
        message: `the checkpoint of size ${cp.treeSize} signs root ${cp.rootHash}, the events served for it give ${root}`,
        seq: null,
        acceptedNote: previous?.note ?? null,
        conflictingNote: cp.note,
        ownRootHash: root,
        copied: null,
        served: null,
      });
    }
    const checkpoint: StoredCheckpoint = {
      sourceAppId: app,
      treeSize: cp.treeSize,
      rootHash: cp.rootHash,
      note: cp.note,
      publishedAt: Date.parse(cp.publishedAt),
    };
    await this.storage.putCheckpoint(checkpoint);
    this.metrics.checkpointsAccepted.inc();
    const consistency = previous ? await this.prover.consistency(app, previous.treeSize, cp.treeSize) : [];
    this.opts.service.deliverCheckpoint({ checkpoint, previous, consistencyHashes: consistency.map(toHex) });
    return checkpoint;
  }

  /**
   * Each sync that copied nothing re-reads one page of copied events from the primary, one log after
   * the other, and compares them with the copy: an event the primary changed after it was copied is
   * caught when the sweep comes by. A failing log is left to its own retry; a page whose re-check
   * fails makes its log a failing one (logFailed), and the sweep goes on with the next log; it comes
   * back to that log after the page its retry re-read (recheckResume). Answers
   * that failure, naming the log, or null.
   */
  private async recheckOnePage(logs: readonly PrimaryLog[]): Promise<string | null> {
    const candidates = logs.filter(
      (l) =>
        !this.stopped.has(l.sourceAppId) && !this.failing.has(l.sourceAppId) && (this.logs.get(l.sourceAppId)?.ownSize ?? 0) > 0,
    );
    if (candidates.length === 0) return null;
    const log = candidates.find((l) => l.sourceAppId >= this.recheck.afterApp) ?? candidates[0]!;
    const app = log.sourceAppId;
    // Partway through a log it passes over now (failing): the sweep goes on there when it comes back.
    if (this.recheck.fromSeq !== null && this.recheck.afterApp !== app)
      this.recheckResume.set(this.recheck.afterApp, this.recheck.fromSeq);
    const from =
      app === this.recheck.afterApp && this.recheck.fromSeq !== null ? this.recheck.fromSeq : (this.recheckResume.get(app) ?? 0);
    this.recheckResume.delete(app);
    const next = { afterApp: candidates[candidates.indexOf(log) + 1]?.sourceAppId ?? '', fromSeq: null };
    let at: number | null;
    try {
      at = await this.recheckPage(app, from);
    } catch (err) {
      const failure = await this.logFailed(app, err, from);
      this.recheck = { ...this.recheck, ...next };
      return failure;
    }
    this.recheck = { ...this.recheck, ...(at === null ? next : { afterApp: app, fromSeq: at }) };
    return null;
  }

  /**
   * Re-read one page of the copied events of `app` from `from` from the primary and compare it with
   * the copy; an inconsistency stops the log. Answers where the sweep goes on in this log: the next
   * page, this one again (an erasure not final yet), or null (the log is done, or stopped).
   */
  private async recheckPage(app: string, from: number): Promise<number | null> {
    const accepted = (await this.storage.getCheckpoint(app))!;
    const end = Math.min(from + PRIMARY_RANGE, accepted.treeSize);
    const [served, copied] = await Promise.all([
      this.client.events(app, from, end, accepted.treeSize),
      this.storage.getEventRange(app, from, end, end - from),
    ]);
    for (const [i, own] of copied.entries()) {
      const theirs = served[i];
      let kind: 'EVENT_CHANGED' | 'UNRECORDED_ERASURE' = 'EVENT_CHANGED';
      let message = `event ${app}/${own.seq}, copied under the checkpoint of size ${accepted.treeSize}, is served differently now`;
      if (theirs && sameEvent(own, theirs)) {
        if (!(theirs.payload === null && own.payload !== null)) continue;
        // Served erased, copied with its payload: erased here too once the verified erasures log lists it.
        const found = await this.unlisted(app, own.seq);
        if ((await this.storage.getEvent(app, own.seq))?.payload === null) {
          this.unlistedBars.delete(`${app}/${own.seq}`);
          continue;
        }
        // Not final yet: this page is read again at the next re-check.
        if (found.verified < found.bar) return from;
        kind = 'UNRECORDED_ERASURE';
        message =
          `event ${app}/${own.seq}, copied with its payload, is served without it, and the primary's erasures log, ` +
          `verified up to its size ${found.verified}, does not list it; the copy keeps the payload`;
      }
      const evidence = await this.primaryEvidence(app, own.seq, accepted.treeSize);
      const proof = await this.prover.inclusion(app, own.seq, accepted.treeSize);
      // The copy's payload is personal data that may yet be erased: the report proves the leaf without it.
      const shown =
        kind === 'UNRECORDED_ERASURE' ? { ...toPrimaryEvent(own), payload: null, payloadSalt: null } : toPrimaryEvent(own);
      this.stopLog(
        app,
        new Inconsistent({
          kind,
          message,
          seq: own.seq,
          acceptedNote: accepted.note,
          conflictingNote: null,
          ownRootHash: null,
          copied: {
            event: shown,
            proof: { leafIndex: own.seq, treeSize: accepted.treeSize, rootHash: accepted.rootHash, hashes: proof.map(toHex) },
          },
          served: evidence,
        }),
      );
      return null;
    }
    return end < accepted.treeSize ? end : null;
  }

  private async primaryEvidence(app: string, seq: number, treeSize: number): Promise<NonNullable<MirrorInconsistency['served']>> {
    try {
      const { event, proof } = await this.client.eventWithProof(app, seq, treeSize);
      return { event, proof, error: null };
    } catch (err) {
      return { event: null, proof: null, error: (err as Error).message };
    }
  }

  private stopLog(app: string, found: Inconsistent): void {
    this.stopped.set(app, `${found.report.kind}: ${found.report.message}`);
    this.metrics.inconsistencies.inc({ kind: found.report.kind });
    const report: MirrorInconsistency = {
      ...found.report,
      sourceAppId: app,
      origin: this.origin(app),
      primaryUrl: this.client.url,
      verifierKey: verifierKeyString(this.origin(app), this.pinned.publicKey),
      detectedAt: this.now(),
    };
    // A failure to record must not stop the mirror from serving the other logs.
    reportInconsistency(report, { logger: this.logger, inconsistencies: this.opts.inconsistencies ?? null }).catch(
      (err: unknown) => this.logger.error({ err, sourceAppId: app }, 'mirror: recording an inconsistency failed'),
    );
  }
}

function noEvidence(own: StoredCheckpoint, conflictingNote: string) {
  return { seq: null, acceptedNote: own.note, conflictingNote, ownRootHash: null, copied: null, served: null };
}

/** Why an event served at `seq` after `prevHash` cannot be that event, or null if it can. */
function checkServed(e: PrimaryEvent, app: string, seq: number, prevHash: string): string | null {
  if (e.sourceAppId !== app || e.seq !== seq) return `served as ${e.sourceAppId}/${e.seq}`;
  if (e.prevHash !== prevHash) return 'prevHash does not link to the previous event';
  if (app === ERASURES_LOG && e.payloadHash) return 'the erasures log holds version 1 leaves only';
  try {
    if (eventLeafHash(toNewEvent(e)) !== e.hash) return 'hash does not match the event fields';
    if (e.payloadHash && e.payload !== null && !payloadMatchesCommitment(e.payload, e.payloadSalt ?? '', e.payloadHash))
      return 'payload and salt do not give its payloadHash';
  } catch (err) {
    return `the event cannot be a leaf: ${(err as Error).message}`;
  }
  return null;
}

function toNewEvent(e: PrimaryEvent): NewEvent {
  return {
    sourceAppId: e.sourceAppId,
    seq: e.seq,
    eventType: e.eventType,
    timestamp: parseTime(e.timestamp),
    receivedAt: parseTime(e.receivedAt),
    payload: e.payload,
    ...(e.payloadHash ? { payloadHash: e.payloadHash, payloadSalt: e.payloadSalt ?? null } : {}),
    prevHash: e.prevHash,
    hash: e.hash,
    // Idempotency keys are the primary's business: the mirror accepts no writes to retry.
    idempotencyKey: null,
  };
}

function toPrimaryEvent(e: StoredEvent): PrimaryEvent {
  return {
    sourceAppId: e.sourceAppId,
    seq: e.seq,
    eventType: e.eventType,
    timestamp: formatTime(e.timestamp),
    receivedAt: formatTime(e.receivedAt),
    payload: e.payload,
    ...(e.payloadHash ? { payloadHash: e.payloadHash, payloadSalt: e.payloadSalt ?? null } : {}),
    prevHash: e.prevHash,
    hash: e.hash,
  };
}

/** The copy and the primary's event agree: same served hash, and that hash follows from the served fields. */
function sameEvent(own: StoredEvent, theirs: PrimaryEvent): boolean {
  if (theirs.seq !== own.seq || theirs.hash !== own.hash || theirs.prevHash !== own.prevHash) return false;
  try {
    if (eventLeafHash(toNewEvent(theirs)) !== own.hash) return false;
    // Leaf version 2: the leaf holds the payload's commitment; a payload served now must still match it.
    return (
      !theirs.payloadHash ||
      theirs.payload === null ||
      payloadMatchesCommitment(theirs.payload, theirs.payloadSalt ?? '', theirs.payloadHash)
    );
  } catch {
    return false;
  }
}

function createMirrorMetrics(registry: Registry, status: () => MirrorStatus) {
  const registers = [registry];
  new Gauge({
    name: 'chainlog_mirror_events_behind',
    help: "Events the primary's latest checkpoints cover that no checkpoint this mirror accepted covers yet, over every log.",
    registers,
    collect() {
      this.set(status().eventsBehind);
    },
  });
  new Gauge({
    name: 'chainlog_mirror_last_sync_timestamp_seconds',
    help: 'When the last complete sync with the primary ended (Unix seconds); 0 before the first.',
    registers,
    collect() {
      this.set((status().lastSyncAt ?? 0) / 1000);
    },
  });
  new Gauge({
    name: 'chainlog_mirror_primary_up',
    help: 'Whether the last attempt to sync with the primary reached it (1) or not (0).',
    registers,
    collect() {
      this.set(status().primaryReachable ? 1 : 0);
    },
  });
  new Gauge({
    name: 'chainlog_mirror_catch_up_events_per_second',
    help: 'Events verified and stored per second in the last sync that copied any.',
    registers,
    collect() {
      this.set(status().catchUpEventsPerSecond);
    },
  });
  new Gauge({
    name: 'chainlog_mirror_logs_stopped',
    help: 'Logs this mirror stopped following because the primary was inconsistent (see serverInfo.mirror).',
    registers,
    collect() {
      this.set(status().stoppedLogs.length);
    },
  });
  return {
    eventsCopied: new Counter({
      name: 'chainlog_mirror_events_copied_total',
      help: 'Events copied from the primary, verified and stored (rate() of it is the catch-up rate).',
      registers,
    }),
    checkpointsAccepted: new Counter({
      name: 'chainlog_mirror_checkpoints_accepted_total',
      help: "The primary's checkpoints accepted: their root equals the root of this mirror's own tree.",
      registers,
    }),
    syncErrors: new Counter({
      name: 'chainlog_mirror_sync_errors_total',
      help: 'Syncs with the primary that failed, by kind (unavailable, refused, invalid, error); each is retried with backoff.',
      labelNames: ['kind'] as const,
      registers,
    }),
    inconsistencies: new Counter({
      name: 'chainlog_mirror_inconsistencies_total',
      help: 'Inconsistencies of the primary found (each stops following its log), by kind.',
      labelNames: ['kind'] as const,
      registers,
    }),
  };
}

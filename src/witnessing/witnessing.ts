// Witnessing: after each checkpoint this process publishes, submit it to every witness of the log's
// witness policy (c2sp.org/tlog-witness, in parallel), verify the cosignatures they answer with, and
// once the policy's quorum has cosigned, store the cosigned note on the checkpoint and deliver it again.
//
// Bounds: one lane per (witness, log) holds at most one pending checkpoint, the latest (a newer one
// supersedes it, also while it waits to be retried), has at most one request in flight, and starts
// requests at least minSubmitGapMs apart, so a log publishing every 50 ms does not send a witness twenty
// requests a second: what was published meanwhile goes as one, the newest; each request has a timeout and a bounded answer;
// failures are retried with exponential backoff and full jitter up to a ceiling, for as long as the
// checkpoint is the latest. Nothing here is awaited by ingest or by the publish cycle: it runs on the
// checkpoint listener's delivery and its own timers.
//
// Refresh: a witness's cosignature says the log looked like this at its timestamp, and auditors refuse
// one older than they accept (`--max-age`). So while this process publishes, every refreshIntervalMs/2 it
// resubmits each log's witnessed latest checkpoint, through the same lanes, to every policy witness whose
// newest cosignature on it is older than refreshIntervalMs; the witness cosigns the same
// checkpoint again with a new timestamp, and that line replaces the witness's older one in the stored note.
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { fromHex } from '../core/hex.js';
import { NoteError, openNote, parseVerifierKey, type NoteVerifier } from '../core/note/signed-note.js';
import {
  CosignatureError,
  formatAddCheckpointBody,
  quorumSatisfied,
  verifyCosignatureLine,
  verifyWitnessedNote,
  type Policy,
  type PolicyCosignature,
  type PolicyWitness,
} from '../core/witness/index.js';
import type { CheckpointUpdate, LogService } from '../log/service.js';
import type { LogStorage, StoredCheckpoint } from '../storage/types.js';
import { readBoundedText } from '../net/bounded-answer.js';
import { addCosignatures } from './store-cosignatures.js';
import { addCheckpointUrl, loadWitnessPolicy } from './policy-file.js';

/** tlog-witness: the body of a 409 is the witness's latest size, of this content type. */
const SIZE_CONTENT_TYPE = 'text/x.tlog.size';
/** A witness answers a few cosignature lines; anything longer is not an answer to read. */
const MAX_RESPONSE_BYTES = 16 * 1024;
/** 409s in a row for one checkpoint before the lane backs off (each one teaches a size; more means a race). */
const MAX_CONFLICTS_IN_A_ROW = 3;
/** How far ahead of this server's clock a cosignature's timestamp may be. */
const MAX_TIMESTAMP_AHEAD_MS = 5 * 60_000;
/** Logs one read of log heads asks for, looking for unwitnessed checkpoints. */
const LOG_PAGE = 500;
/** Notes whose cosignatures were verified, kept for the resolvers (a page of checkpoints). */
const MAX_VERIFIED_NOTES = 2_000;

export interface WitnessHealth {
  name: string;
  vkey: string;
  url: string;
  /** Epoch ms of the last cosignature that verified, or null. */
  lastSuccessAt: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
  /** The largest difference, over the logs published since start, between a log's latest size and the size this witness last cosigned. */
  lag: number;
}

/** What the API shows of a checkpoint's note under the current policy. */
export interface CheckpointWitnessing {
  cosignatures: PolicyCosignature[];
  witnessed: boolean;
}

export interface WitnessingOptions {
  service: Pick<LogService, 'onCheckpoint' | 'consistencyProof' | 'deliverCosigned' | 'verifierKeyOf'> & {
    /** Whether this process publishes checkpoints now: only the publishing process refreshes cosignatures. */
    readonly publishes: boolean;
  };
  storage: Pick<LogStorage, 'getCheckpoint' | 'replaceCheckpointNote' | 'listLogHeads' | 'listCheckpoints'>;
  policyFile: string;
  requestTimeoutMs: number;
  maxBackoffMs: number;
  /** The first retry's ceiling; doubles with each failure up to maxBackoffMs. */
  minBackoffMs?: number;
  /** Resubmit a witnessed latest checkpoint to a witness whose newest cosignature on it is older than this; 0 = never. */
  refreshIntervalMs?: number;
  /** The least time between the starts of two requests of one lane (a 409's immediate resubmission aside); 0 or omitted = none. */
  minSubmitGapMs?: number;
  logger: Logger;
  registry?: Registry;
  now?: () => number;
}

type Outcome = 'done' | 'again' | 'retry' | 'retry-slow' | 'drop';

/** One witness's queue for one log: the latest checkpoint to submit, and what the witness cosigned last. */
interface Lane {
  app: string;
  /** The size the witness last cosigned for this log, as learned from its answers; null before any. */
  cosignedSize: number | null;
  pending: CheckpointUpdate | null;
  running: boolean;
  failures: number;
  /** Ends the current backoff wait early (a newer checkpoint, or stop). */
  wake: (() => void) | null;
  /** Ends the current wait for the lane's gap between requests (stop only: a newer checkpoint waits too). */
  endGap: (() => void) | null;
  /** When the lane's last request started (this.now), for the gap. */
  lastSubmitAt: number;
  abort: AbortController | null;
}

interface Target {
  witness: PolicyWitness;
  url: string;
  health: WitnessHealth;
  lanes: Map<string, Lane>;
}

/** The cosignatures gathered for a log's latest checkpoint, until they make the quorum and are stored. */
interface Gathering {
  update: CheckpointUpdate;
  lines: Map<string, string>;
  /** Serializes this checkpoint's note updates within this process. */
  storing: Promise<void>;
  /** Ends the wait before a failed store's next attempt (stop). */
  wake: (() => void) | null;
}

export class Witnessing {
  private policy: Policy;
  private targets = new Map<string, Target>();
  private readonly gathering = new Map<string, Gathering>();
  private readonly logVerifiers = new Map<string, NoteVerifier>();
  private readonly verified = new Map<string, CheckpointWitnessing>();
  private readonly running = new Set<Promise<void>>();
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly unsubscribe: () => void;
  private stopped = false;
  /** Submissions that re-cosign a witnessed latest checkpoint, rather than gather its quorum. */
  private readonly refreshes = new WeakSet<CheckpointUpdate>();
  private refreshTimer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  /** The look for unwitnessed checkpoints under way, whether another pass was asked for meanwhile, and how to end its backoff. */
  private looking: Promise<void> | null = null;
  private lookAgain = false;
  private endLookBackoff: (() => void) | null = null;
  /** Serializes this process's refreshed note updates per log. */
  private readonly refreshStoring = new Map<string, Promise<void>>();
  private readonly submissions?: Counter<'witness' | 'outcome'>;
  private readonly witnessedTotal?: Counter;

  constructor(private readonly opts: WitnessingOptions) {
    this.logger = opts.logger.child({ component: 'witnessing' });
    this.now = opts.now ?? Date.now;
    this.policy = loadWitnessPolicy(opts.policyFile);
    this.targets = this.targetsOf(this.policy);
    if (opts.registry) {
      this.submissions = new Counter({
        name: 'chainlog_witness_submissions_total',
        help: 'add-checkpoint requests to policy witnesses by outcome: cosigned, conflict (409), refused (4xx), failed (no answer, timeout, 5xx, an answer without a valid cosignature).',
        labelNames: ['witness', 'outcome'],
        registers: [opts.registry],
      });
      this.witnessedTotal = new Counter({
        name: 'chainlog_checkpoints_witnessed_total',
        help: "Checkpoints whose stored note gained the witness policy's quorum of cosignatures.",
        registers: [opts.registry],
      });
      const targets = () => [...this.targets.values()];
      new Gauge({
        name: 'chainlog_witness_lag_tree_size',
        help: "Per policy witness: the largest difference between a log's latest size and the size the witness last cosigned.",
        labelNames: ['witness'],
        registers: [opts.registry],
        collect() {
          this.reset();
          for (const t of targets()) this.set({ witness: t.witness.name }, t.health.lag);
        },
      });
      new Gauge({
        name: 'chainlog_witness_last_success_timestamp_seconds',
        help: 'Per policy witness: when its last valid cosignature arrived (0: none since start).',
        labelNames: ['witness'],
        registers: [opts.registry],
        collect() {
          this.reset();
          for (const t of targets()) this.set({ witness: t.witness.name }, (t.health.lastSuccessAt ?? 0) / 1000);
        },
      });
      new Gauge({
        name: 'chainlog_witness_pending_logs',
        help: 'Per policy witness: logs with a checkpoint waiting to be submitted to it or retried.',
        labelNames: ['witness'],
        registers: [opts.registry],
        collect() {
          this.reset();
          for (const t of targets()) {
            let pending = 0;
            for (const lane of t.lanes.values()) if (lane.pending) pending++;
            this.set({ witness: t.witness.name }, pending);
          }
        },
      });
      new Gauge({
        name: 'chainlog_witness_up',
        help: 'Per policy witness: 1 if its latest submission got a valid cosignature or a size to resume from, 0 if it failed.',
        labelNames: ['witness'],
        registers: [opts.registry],
        collect() {
          this.reset();
          for (const t of targets()) {
            const h = t.health;
            this.set({ witness: t.witness.name }, h.lastErrorAt !== null && (h.lastSuccessAt ?? 0) <= h.lastErrorAt ? 0 : 1);
          }
        },
      });
    }
    this.unsubscribe = opts.service.onCheckpoint((update) => {
      if (!update.cosigned) this.published(update);
    });
    const refreshMs = opts.refreshIntervalMs ?? 0;
    if (refreshMs > 0) {
      // Every half interval, so no cosignature gets much older than the interval before it is refreshed.
      this.refreshTimer = setInterval(() => this.refreshTick(), Math.max(1, Math.floor(refreshMs / 2)));
      this.refreshTimer.unref();
    }
    this.logger.info(
      { witnesses: this.policy.witnesses.map((w) => w.name), quorum: this.policy.quorum },
      'submitting checkpoints to the witness policy',
    );
  }

  /** The witnesses of the policy in force, with how their submissions fare. */
  health(): WitnessHealth[] {
    for (const t of this.targets.values()) t.health.lag = this.lagOf(t);
    return [...this.targets.values()].map((t) => ({ ...t.health }));
  }

  /**
   * Re-reads the policy file and swaps it in whole; a file that fails to load leaves the current
   * policy in force and is logged as an error. Witnesses kept (same name, key and URL) keep their
   * queues and health; new ones get the latest checkpoint of each log published since start.
   */
  reload(): boolean {
    let policy: Policy;
    try {
      policy = loadWitnessPolicy(this.opts.policyFile);
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'witness policy not reloaded; the previous policy stays in force');
      return false;
    }
    const next = this.targetsOf(policy);
    for (const [key, old] of this.targets) {
      if (next.has(key)) next.set(key, old);
      else for (const lane of old.lanes.values()) this.cancel(lane);
    }
    const before = this.policy;
    this.policy = policy;
    this.targets = next;
    this.verified.clear();
    for (const g of this.gathering.values()) {
      // Cosignatures that made the previous quorum were stored then (or are being, with retries).
      const stored = quorumSatisfied(before, new Set(g.lines.keys()));
      for (const name of g.lines.keys()) if (!policy.witnesses.some((w) => w.name === name)) g.lines.delete(name);
      // The others may make the new quorum (a witness that never answered left it): stored now.
      if (!stored) this.storeOnQuorum(g);
      for (const t of next.values()) {
        const lane = this.laneOf(t, g.update.checkpoint.sourceAppId);
        if (lane.cosignedSize !== g.update.checkpoint.treeSize && !lane.pending) this.enqueue(t, lane, g.update);
      }
    }
    this.logger.info({ witnesses: policy.witnesses.map((w) => w.name), quorum: policy.quorum }, 'witness policy reloaded');
    return true;
  }

  /** The policy witnesses' verified cosignatures on a stored checkpoint, and whether they make the quorum. */
  inspect(checkpoint: StoredCheckpoint): CheckpointWitnessing {
    const cached = this.verified.get(checkpoint.note);
    if (cached) return cached;
    let result: CheckpointWitnessing;
    try {
      const opened = verifyWitnessedNote(checkpoint.note, [this.logVerifierOf(checkpoint.sourceAppId)], this.policy);
      result = { cosignatures: opened.cosignatures, witnessed: opened.quorum };
    } catch (err) {
      // A note signed under the server's former key name, or a cosignature line that fails: not witnessed.
      if (!(err instanceof NoteError || err instanceof CosignatureError)) throw err;
      result = { cosignatures: [], witnessed: false };
    }
    if (this.verified.size >= MAX_VERIFIED_NOTES) this.verified.clear();
    this.verified.set(checkpoint.note, result);
    return result;
  }

  /**
   * Submits the latest checkpoint of every log whose note is not witnessed under the policy (one
   * published before a restart, before its quorum answered): an idle log's latest checkpoint gets
   * witnessed too. The caller runs it in the process that publishes, once it started. It resolves once
   * a scan of every log completed (a failed one is tried again after a backoff) or witnessing stopped.
   */
  submitUnwitnessed(): Promise<void> {
    // One look at a time; a call during one (the lease taken again) asks for one more pass after it.
    if (this.looking) {
      this.lookAgain = true;
      return this.looking;
    }
    const run = this.lookForUnwitnessed();
    this.looking = run;
    // stop() waits for the look as for the lanes.
    const tracked: Promise<void> = run.catch(() => undefined).finally(() => this.running.delete(tracked));
    this.running.add(tracked);
    return run;
  }

  /**
   * Scans until a scan completes or witnessing stops: a scan that fails (the storage did not answer) is
   * logged and tried again after a backoff, since nothing else would submit an idle log's checkpoint.
   */
  private async lookForUnwitnessed(): Promise<void> {
    try {
      await this.lookUntilDone();
    } finally {
      // In the same turn as the last check of lookAgain: a call after it starts a look of its own.
      this.looking = null;
    }
  }

  private async lookUntilDone(): Promise<void> {
    do {
      this.lookAgain = false;
      for (let failures = 1; !this.stopped; failures++) {
        try {
          await this.scanUnwitnessed();
          break;
        } catch (err) {
          this.logger.error({ err, failures }, 'unwitnessed checkpoints not looked for (retried with backoff)');
          // A scan that failed after stop() ended the backoff must not start another: stop() waits for this.
          if (this.stopped) return;
          await endableDelay(this.backoffMs(failures), (end) => (this.endLookBackoff = end));
        }
      }
    } while (this.lookAgain && !this.stopped);
  }

  /** One scan of every log; a log that fails is passed over and the scan fails at its end, naming it. */
  private async scanUnwitnessed(): Promise<void> {
    if (this.stopped) return;
    let after: string | null = null;
    let failed: { app: string; err: unknown } | null = null;
    for (;;) {
      const heads = await this.opts.storage.listLogHeads(after, LOG_PAGE);
      for (const head of heads) {
        if (this.stopped) return;
        try {
          await this.submitIfUnwitnessed(head.sourceAppId);
        } catch (err) {
          failed ??= { app: head.sourceAppId, err };
        }
      }
      if (heads.length < LOG_PAGE) break;
      after = heads[heads.length - 1]!.sourceAppId;
    }
    if (failed) throw new Error(`log "${failed.app}": ${(failed.err as Error).message}`, { cause: failed.err });
  }

  private async submitIfUnwitnessed(app: string): Promise<void> {
    const latest = await this.opts.storage.getCheckpoint(app);
    // A gathering of this checkpoint (or a newer one) is under way; one of an older checkpoint (this
    // process published it before another took the lease) is superseded by this one.
    const g = this.gathering.get(app);
    if (!latest || this.inspect(latest).witnessed || (g && g.update.checkpoint.treeSize >= latest.treeSize)) return;
    const [previous] = await this.opts.storage.listCheckpoints(app, latest.treeSize, 1, 'desc');
    const consistency = previous ? await this.opts.service.consistencyProof(app, previous.treeSize, latest.treeSize) : null;
    this.published({ checkpoint: latest, previous: previous ?? null, consistencyHashes: consistency?.hashes ?? [] });
  }

  /** Stops submitting: abandons requests in flight and waits for the lanes to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe();
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.endLookBackoff?.();
    await this.refreshing;
    for (const t of this.targets.values()) for (const lane of t.lanes.values()) this.cancel(lane);
    await Promise.all([...this.running]);
    for (const g of this.gathering.values()) g.wake?.();
    await Promise.all([...this.gathering.values()].map((g) => g.storing));
    await Promise.all([...this.refreshStoring.values()]);
  }

  // --- refreshing -------------------------------------------------------------------------------

  private refreshTick(): void {
    // One scan at a time; a process that does not publish leaves refreshing to the one that does.
    if (this.stopped || this.refreshing || !this.opts.service.publishes) return;
    this.refreshing = this.scanStale()
      .catch((err) => this.logger.error({ err }, 'cosignatures not refreshed'))
      .finally(() => {
        this.refreshing = null;
      });
  }

  /** Queues each log's witnessed latest checkpoint on the lanes of the witnesses whose cosignature on it is stale. */
  private async scanStale(): Promise<void> {
    const interval = this.opts.refreshIntervalMs ?? 0;
    let after: string | null = null;
    for (;;) {
      const heads = await this.opts.storage.listLogHeads(after, LOG_PAGE);
      for (const head of heads) {
        if (this.stopped) return;
        const app = head.sourceAppId;
        const g = this.gathering.get(app);
        const latest = await this.opts.storage.getCheckpoint(app);
        // A newer checkpoint is on its way to the witnesses; one not witnessed yet is the lanes' (or submitUnwitnessed's).
        if (!latest || (g && g.update.checkpoint.treeSize > latest.treeSize)) continue;
        const seen = this.inspect(latest);
        if (!seen.witnessed) continue;
        const now = this.now();
        let update: CheckpointUpdate | null = null;
        for (const t of this.targets.values()) {
          const newest = seen.cosignatures.find((c) => c.witness === t.witness.name);
          // A witness that has not cosigned this checkpoint is the lanes' business (retried while it is the latest).
          if (!newest || now - newest.timestamp * 1000 < interval) continue;
          const lane = this.laneOf(t, app);
          if (lane.pending) continue; // a submission is queued already: a newer checkpoint, or this refresh
          if (!update) {
            update = { checkpoint: latest, previous: null, consistencyHashes: [] };
            this.refreshes.add(update);
          }
          this.enqueue(t, lane, update);
        }
      }
      if (heads.length < LOG_PAGE) return;
      after = heads[heads.length - 1]!.sourceAppId;
    }
  }

  /** Stores a witness's newer cosignature of an already witnessed checkpoint in place of its older one. */
  private refreshed(app: string, treeSize: number, witness: string, line: string): void {
    const verifiers = [this.logVerifierOf(app)];
    const run = (this.refreshStoring.get(app) ?? Promise.resolve())
      .then(async () => {
        const change = await addCosignatures(this.opts.storage, app, treeSize, [line], (note) =>
          this.witnessedUnder(note, verifiers),
        );
        if (change) this.logger.debug({ sourceAppId: app, treeSize, witness }, 'cosignature refreshed');
      })
      .catch((err) => this.logger.error({ err, sourceAppId: app, treeSize, witness }, 'refreshed cosignature not stored'));
    this.refreshStoring.set(app, run);
    void run.finally(() => {
      if (this.refreshStoring.get(app) === run) this.refreshStoring.delete(app);
    });
  }

  // --- submitting -----------------------------------------------------------------------------

  private published(update: CheckpointUpdate): void {
    if (this.stopped) return;
    const app = update.checkpoint.sourceAppId;
    const current = this.gathering.get(app);
    if (current && current.update.checkpoint.treeSize >= update.checkpoint.treeSize) return;
    // A store of the superseded checkpoint waiting to be tried again gives up now, not after its wait.
    current?.wake?.();
    this.gathering.set(app, { update, lines: new Map(), storing: current?.storing ?? Promise.resolve(), wake: null });
    for (const t of this.targets.values()) this.enqueue(t, this.laneOf(t, app), update);
  }

  private enqueue(target: Target, lane: Lane, update: CheckpointUpdate): void {
    lane.pending = update;
    lane.failures = 0;
    const wake = lane.wake;
    lane.wake = null;
    wake?.();
    if (lane.running) return;
    lane.running = true;
    const run = this.drive(target, lane).finally(() => {
      lane.running = false;
      this.running.delete(run);
    });
    this.running.add(run);
  }

  private async drive(target: Target, lane: Lane): Promise<void> {
    let conflicts = 0;
    while (!this.stopped && lane.pending && this.targets.get(keyOf(target.witness)) === target) {
      // A 409 taught the witness's size: the same checkpoint goes again at once, within MAX_CONFLICTS_IN_A_ROW.
      if (conflicts === 0) {
        await this.spaced(lane);
        if (this.stopped || !lane.pending || this.targets.get(keyOf(target.witness)) !== target) break;
      }
      const update = lane.pending;
      lane.lastSubmitAt = this.now();
      let outcome: Outcome;
      try {
        outcome = await this.submit(target, lane, update);
      } catch (err) {
        this.failed(target, lane, `size ${update.checkpoint.treeSize}: ${(err as Error).message}`);
        outcome = 'retry';
      }
      if (lane.pending !== update) {
        conflicts = 0;
        continue; // superseded while in flight: the newer checkpoint goes at once
      }
      if (outcome === 'again' && ++conflicts <= MAX_CONFLICTS_IN_A_ROW) continue;
      conflicts = 0;
      if (outcome === 'done' || outcome === 'drop') {
        lane.pending = null;
        break;
      }
      lane.failures++;
      await this.backoff(lane, outcome === 'retry-slow');
    }
  }

  /** Waits before the next attempt, ended early by wake. */
  private backoff(lane: Lane, slow: boolean): Promise<void> {
    return endableDelay(this.backoffMs(lane.failures, slow), (end) => (lane.wake = end));
  }

  /** The wait after `failures` failures in a row: full jitter over an exponentially growing ceiling (`slow`: the ceiling's top). */
  private backoffMs(failures: number, slow = false): number {
    const min = this.opts.minBackoffMs ?? Math.min(250, this.opts.maxBackoffMs);
    const ceiling = slow ? this.opts.maxBackoffMs : Math.min(this.opts.maxBackoffMs, min * 2 ** Math.min(failures - 1, 30));
    return Math.random() * ceiling;
  }

  /** Waits until the lane's gap since its last request is over; newer checkpoints arriving meanwhile replace the pending one. */
  private spaced(lane: Lane): Promise<void> {
    const gap = this.opts.minSubmitGapMs ?? 0;
    const wait = lane.lastSubmitAt + gap - this.now();
    // A wait longer than the gap means the clock went back: it must not hold the lane up that long.
    if (gap <= 0 || wait <= 0 || wait > gap) return Promise.resolve();
    return endableDelay(wait, (end) => (lane.endGap = end));
  }

  private cancel(lane: Lane): void {
    lane.pending = null;
    lane.abort?.abort();
    const wake = lane.wake;
    lane.wake = null;
    wake?.();
    const endGap = lane.endGap;
    lane.endGap = null;
    endGap?.();
  }

  private async submit(target: Target, lane: Lane, update: CheckpointUpdate): Promise<Outcome> {
    const { sourceAppId: app, treeSize: size, note } = update.checkpoint;
    const old = lane.cosignedSize ?? 0;
    if (old > size) {
      // The witness cosigned a larger checkpoint of this log. Another publisher's (sharing the database):
      // a newer one of ours follows. One the log never published: an operator's to see, and the lane
      // asks the witness its size afresh with the next checkpoint.
      const latest = await this.opts.storage.getCheckpoint(app);
      if (latest && latest.treeSize >= old) return 'drop';
      lane.cosignedSize = null;
      const why = `the witness holds size ${old} of this log, larger than any checkpoint it published (latest ${latest?.treeSize ?? 0}): the log was rolled back or forked, or the witness is wrong`;
      this.logger.error({ witness: target.witness.name, sourceAppId: app, treeSize: size, witnessSize: old }, why);
      // Not retried (failed() would say so): the next checkpoint asks the witness again.
      target.health.lastError = `${app} size ${size}: ${why}`;
      target.health.lastErrorAt = this.now();
      return 'drop';
    }
    const proof =
      old === 0 || old === size ? [] : (await this.opts.service.consistencyProof(app, old, size)).hashes.map((h) => fromHex(h));
    const body = formatAddCheckpointBody({ oldSize: old, proof, note });
    const abort = new AbortController();
    lane.abort = abort;
    const signal = AbortSignal.any([abort.signal, AbortSignal.timeout(this.opts.requestTimeoutMs)]);
    let status: number;
    let contentType: string;
    let text: string;
    try {
      const res = await fetch(target.url, {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body,
        signal,
        redirect: 'error',
      });
      status = res.status;
      contentType = res.headers.get('content-type') ?? '';
      text = await readBoundedText(res, MAX_RESPONSE_BYTES);
    } catch (err) {
      if (this.stopped || abort.signal.aborted) return 'drop';
      const e = err as Error & { cause?: { message?: string } };
      const why =
        e.name === 'TimeoutError' ? `no answer within ${this.opts.requestTimeoutMs} ms` : (e.cause?.message ?? e.message);
      this.count(target, 'failed');
      this.failed(target, lane, `size ${size}: ${why}`);
      return 'retry';
    } finally {
      lane.abort = null;
    }

    if (status === 200) return this.cosigned(target, lane, update, text);
    if (status === 409) {
      const learned = /^(0|[1-9][0-9]{0,15})\n$/.exec(text);
      if (contentType.split(';')[0]!.trim() !== SIZE_CONTENT_TYPE || !learned) {
        this.count(target, 'failed');
        this.failed(target, lane, `size ${size}: 409 without a ${SIZE_CONTENT_TYPE} size`);
        return 'retry';
      }
      this.count(target, 'conflict');
      lane.cosignedSize = Number(learned[1]);
      return 'again';
    }
    const detail = `${status} ${text.trim().slice(0, 300)}`;
    if (status === 422) {
      this.count(target, 'refused');
      // A witness holding a checkpoint this one contradicts: evidence of a fork, for an operator now.
      this.logger.error(
        { witness: target.witness.name, sourceAppId: app, treeSize: size, oldSize: old, answer: text.trim().slice(0, 300) },
        'a witness refused the checkpoint as inconsistent with one it cosigned',
      );
      this.failed(target, lane, `size ${size}: ${detail}`);
      return 'drop';
    }
    if (status === 400) {
      this.count(target, 'refused');
      this.failed(target, lane, `size ${size}: ${detail}`);
      return 'drop';
    }
    if (status === 403 || status === 404) {
      // The witness does not (yet) trust this log: its operator may fix that, so the lane tries again, slowly.
      this.count(target, 'refused');
      this.failed(target, lane, `size ${size}: ${detail}`);
      return 'retry-slow';
    }
    this.count(target, 'failed');
    this.failed(target, lane, `size ${size}: ${detail}`);
    return 'retry';
  }

  private cosigned(target: Target, lane: Lane, update: CheckpointUpdate, text: string): Outcome {
    const { sourceAppId: app, treeSize: size, note } = update.checkpoint;
    const body = openNote(note, [this.logVerifierOf(app)]).text;
    let line: string | null = null;
    let bad: string | null = null;
    for (const candidate of text.split('\n')) {
      if (candidate === '') continue;
      try {
        const cosignature = verifyCosignatureLine(candidate, body, target.witness.verifier);
        if (cosignature === null) continue;
        // A timestamp ahead of our clock would make the checkpoint look fresher than it is to clients that check its age.
        if (cosignature.timestamp * 1000 > this.now() + MAX_TIMESTAMP_AHEAD_MS) {
          bad = `cosignature timestamp ${cosignature.timestamp} is in the future`;
          continue;
        }
        line = candidate;
        break;
      } catch (err) {
        if (!(err instanceof CosignatureError)) throw err;
        bad = err.message;
      }
    }
    if (line === null) {
      this.count(target, 'failed');
      this.failed(target, lane, `size ${size}: answered 200 without a valid cosignature by its key${bad ? ` (${bad})` : ''}`);
      return 'retry';
    }
    this.count(target, 'cosigned');
    lane.cosignedSize = size;
    target.health.lastSuccessAt = this.now();
    target.health.lag = this.lagOf(target);
    if (this.refreshes.has(update)) this.refreshed(app, size, target.witness.name, line);
    else this.gathered(app, update, target.witness.name, line);
    return 'done';
  }

  /** Records a failed submission in the witness's health as `<log> size <n>: <why>`; logged at warn once per run of failures. */
  private failed(target: Target, lane: Lane, why: string): void {
    target.health.lastError = `${lane.app} ${why}`;
    target.health.lastErrorAt = this.now();
    const fields = { witness: target.witness.name, sourceAppId: lane.app, failures: lane.failures + 1 };
    if (lane.failures === 0) this.logger.warn(fields, `witness submission failed (retried with backoff): ${why}`);
    else this.logger.debug(fields, `witness submission failed again: ${why}`);
  }

  private count(target: Target, outcome: string): void {
    this.submissions?.inc({ witness: target.witness.name, outcome });
  }

  // --- storing ----------------------------------------------------------------------------------

  private gathered(app: string, update: CheckpointUpdate, witness: string, line: string): void {
    const g = this.gathering.get(app);
    // A cosignature of a checkpoint since superseded: the newer one is what gets witnessed.
    if (!g || g.update.checkpoint.treeSize !== update.checkpoint.treeSize) return;
    g.lines.set(witness, line);
    this.storeOnQuorum(g);
  }

  /**
   * Stores g's cosignatures once they make the quorum. A store that fails is tried again with backoff
   * while g is its log's latest checkpoint and this runs: the lanes are done with it, so nothing else
   * would store what its quorum cosigned.
   */
  private storeOnQuorum(g: Gathering): void {
    if (!quorumSatisfied(this.policy, new Set(g.lines.keys()))) return;
    const { sourceAppId: app, treeSize } = g.update.checkpoint;
    g.storing = g.storing.then(async () => {
      for (let failures = 0; ; failures++) {
        try {
          await this.store(g);
          return;
        } catch (err) {
          const fields = { err, sourceAppId: app, treeSize, failures: failures + 1 };
          if (failures === 0) this.logger.error(fields, 'cosigned checkpoint not stored (retried with backoff)');
          else this.logger.debug(fields, 'cosigned checkpoint not stored again');
        }
        if (this.stopped || this.gathering.get(app) !== g) return;
        await endableDelay(this.backoffMs(failures + 1), (end) => (g.wake = end));
        if (this.stopped || this.gathering.get(app) !== g) return;
      }
    });
  }

  /**
   * Adds the gathered cosignatures to the stored note by compare-and-swap, merging with what another
   * process may have added meanwhile; delivers the checkpoint again when its note first makes the quorum.
   */
  private async store(g: Gathering): Promise<void> {
    const { sourceAppId: app, treeSize: size } = g.update.checkpoint;
    const verifiers = [this.logVerifierOf(app)];
    const change = await addCosignatures(this.opts.storage, app, size, [...g.lines.values()], (note) =>
      this.witnessedUnder(note, verifiers),
    );
    if (change && !this.witnessedUnder(change.before, verifiers)) {
      this.witnessedTotal?.inc();
      this.logger.info({ sourceAppId: app, treeSize: size, witnesses: [...g.lines.keys()] }, 'checkpoint witnessed');
      this.opts.service.deliverCosigned({ ...g.update, checkpoint: { ...g.update.checkpoint, note: change.after } });
    }
  }

  private witnessedUnder(note: string, verifiers: NoteVerifier[]): boolean {
    try {
      return verifyWitnessedNote(note, verifiers, this.policy).quorum;
    } catch {
      return false;
    }
  }

  // --- helpers ----------------------------------------------------------------------------------

  private targetsOf(policy: Policy): Map<string, Target> {
    const targets = new Map<string, Target>();
    for (const witness of policy.witnesses) {
      targets.set(keyOf(witness), {
        witness,
        url: addCheckpointUrl(witness.url!),
        health: {
          name: witness.name,
          vkey: witness.vkey,
          url: witness.url!,
          lastSuccessAt: null,
          lastError: null,
          lastErrorAt: null,
          lag: 0,
        },
        lanes: new Map(),
      });
    }
    return targets;
  }

  private laneOf(target: Target, app: string): Lane {
    let lane = target.lanes.get(app);
    if (!lane) {
      lane = {
        app,
        cosignedSize: null,
        pending: null,
        running: false,
        failures: 0,
        wake: null,
        endGap: null,
        lastSubmitAt: -Infinity,
        abort: null,
      };
      target.lanes.set(app, lane);
    }
    return lane;
  }

  private lagOf(target: Target): number {
    let lag = 0;
    for (const [app, g] of this.gathering) {
      const cosigned = target.lanes.get(app)?.cosignedSize ?? 0;
      lag = Math.max(lag, g.update.checkpoint.treeSize - Math.min(cosigned, g.update.checkpoint.treeSize));
    }
    return lag;
  }

  private logVerifierOf(app: string): NoteVerifier {
    let verifier = this.logVerifiers.get(app);
    if (!verifier) {
      verifier = parseVerifierKey(this.opts.service.verifierKeyOf(app));
      this.logVerifiers.set(app, verifier);
    }
    return verifier;
  }
}

/** A policy witness is the same across reloads while its name, key and URL are. */
function keyOf(w: PolicyWitness): string {
  return `${w.name} ${w.vkey} ${w.url}`;
}

/**
 * Resolves after `ms` (an unreferenced timer: it keeps no process alive), or at once when the function
 * handed to `hold` is called, which also clears the timer. `hold` gets that function when the wait
 * starts and null once the timer has fired, so a lane holds an end only while its wait is running.
 */
function endableDelay(ms: number, hold: (end: (() => void) | null) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      hold(null);
      resolve();
    }, ms);
    timer.unref();
    hold(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

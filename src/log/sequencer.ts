// Sequence: give each accepted event its position, link and leaf hash, and commit it durably.
//
// Appends are queued and committed together (group commit): every request that arrives while a
// commit is in flight goes into the next one, in one storage call. Each request is all-or-nothing
// and is checked on its own (expectedPrevHash, idempotency), so one request's conflict never fails
// another's, whatever log it targets.
//
// On an engine whose appends apply in call order (storage.orderedAppends), a sole writer pipelines:
// the next group is sequenced on the heads the group being written will leave, and handed to the
// engine before that group commits, so the engine never waits for hashing. Every event leaves here
// complete: its link, its leaf hash and, for leaf version 2, its salt and commitment; the engine
// stores what it is given.
import { canonicalJson } from '../core/canonical-json.js';
import { randomBytes } from 'node:crypto';
import {
  eventLeafHash,
  leafVersionOf,
  LEAF_VERSION,
  PAYLOAD_SALT_BYTES,
  payloadCommitment,
  ZERO_HASH_HEX,
  type LeafVersion,
} from '../core/leaf.js';
import {
  AppendConflictError,
  appendBytes,
  TurnLostError,
  type LogStorage,
  type NewEvent,
  type StoredEvent,
} from '../storage/types.js';
import { LogError, type LogErrorDetail } from './errors.js';
import { soleWriter, type CommitGate } from './commit-gate.js';
import type { AppendRequest } from './service.js';
import { asReplay } from './replays.js';

interface Head {
  size: number;
  headHash: string;
}

interface Job {
  requests: AppendRequest[];
  /** Wait for this process's turn even where another process holds the lease (append's `redirect` unset). */
  stay: boolean;
  /** appendBytes of its events, where the engine has a byte budget (storage.maxAppendBytes). */
  bytes: number;
  resolve: (events: StoredEvent[]) => void;
  reject: (err: unknown) => void;
  /** Turns it was planned in that turned out not to be this process's (queued again after each). */
  lostTurns?: number;
}

/** What one job will write, and what it returns (originals for idempotent retries). */
interface Plan {
  job: Job;
  fresh: NewEvent[];
  /** For each request: an index into `fresh`, or an already stored event. */
  results: Array<number | StoredEvent>;
}

/** A group handed to the engine and not yet settled. */
interface InFlight {
  plans: Plan[];
  /** The logs it writes to (counted in Sequencer.writes until it settles). */
  logs: string[];
  /** app + idempotency key of its fresh events: a retry of one waits for the outcome. */
  keys: string[];
  outcome: Promise<{ stored: StoredEvent[] } | { error: unknown }>;
}

const MAX_EVENTS_PER_COMMIT = 10_000;
const MAX_POSITION_RETRIES = 3;
/** Turns a job may find were not this process's (TurnLostError, a lease taken over) before it is refused as contended. */
const MAX_LOST_TURNS = 3;
/**
 * Groups an ordered engine holds at once: one being written and up to three queued behind it. A group
 * is handed over as soon as its first job arrives, and the SQLite writer commits every group waiting
 * for it in one transaction (writer-worker.ts), so while a commit is in flight the next one gathers up
 * to three groups instead of one: fewer, larger commits, each an fsync of the WAL and one write of
 * every page its rows dirtied (the events table's and the logs' heads; the time index's keys follow in
 * transactions of their own, time-index.ts).
 */
export const PIPELINE_DEPTH = 4;

export class Sequencer {
  private readonly heads = new Map<string, Head>();
  private queue: Job[] = [];
  private running = false;
  private readonly depth: number;
  private readonly inFlightKeys = new Set<string>();
  /** Per log, the groups writing to it that are in the engine and not yet settled. */
  private readonly writes = new Map<string, number>();
  /** A job of the last group waits for a key in flight: settle a group before sequencing again. */
  private blocked = false;
  /** Set while the pipelined drain waits for a job or an outcome. */
  private arrived: (() => void) | null = null;
  /**
   * The leaf version of each non-empty log this has loaded, read from its event at seq 0 (a log keeps
   * the version of its first event for life); a log not in it is empty, or was first written here.
   */
  private readonly versions = new Map<string, LeafVersion>();

  constructor(
    private readonly storage: LogStorage,
    private readonly onCommitted: (events: StoredEvent[]) => void,
    private readonly now: () => number = Date.now,
    private readonly gate: CommitGate = soleWriter,
    /** The leaf version a log gets when its first event is written here (LEAF_VERSION). */
    private readonly newLogVersion: (sourceAppId: string) => LeafVersion = () => LEAF_VERSION,
  ) {
    this.depth = storage.orderedAppends === true && gate === soleWriter ? PIPELINE_DEPTH : 1;
  }

  /**
   * Resolves once the events are durably committed; rejects with LogError on conflict. With
   * `redirect`, rejects with HeldElsewhereError (nothing written) instead of waiting for a log's lease
   * that another process holds and advertises an address for.
   */
  append(requests: AppendRequest[], opts: { redirect?: boolean } = {}): Promise<StoredEvent[]> {
    if (requests.length === 0) return Promise.resolve([]);
    let bytes = 0;
    const budget = this.storage.maxAppendBytes;
    if (budget !== undefined) {
      for (const r of requests) bytes += appendBytes({ ...r, payloadText: (r.payloadText ??= canonicalJson(r.payload)) });
      if (bytes > budget) {
        const message = `one request may hold at most ${budget} bytes of events on this storage engine (maxAppendBytes); this one holds ${bytes}`;
        return Promise.reject(new LogError('PAYLOAD_TOO_LARGE', message, [{ field: 'inputs', message }]));
      }
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ requests, bytes, stay: opts.redirect !== true, resolve, reject });
      this.arrived?.();
      this.arrived = null;
      this.wake();
    });
  }

  /** Resolves (true) when the next job is queued. */
  private arrival(): Promise<boolean> {
    return new Promise((resolve) => {
      this.arrived = () => resolve(true);
    });
  }

  /** Forget cached heads (another writer may have appended, or a commit failed midway). */
  invalidate(sourceAppIds?: Iterable<string>): void {
    if (!sourceAppIds) return this.heads.clear();
    for (const id of sourceAppIds) this.heads.delete(id);
  }

  /**
   * Whether a group of this sequencer that writes to the log is in the engine and not yet settled.
   * Its events may already be visible in storage (a MongoDB batch is committed by its claim, before
   * its events are derived); once it settles they reach onCommitted, in seq order.
   */
  writing(sourceAppId: string): boolean {
    return this.writes.has(sourceAppId);
  }

  private countWrites(logs: readonly string[], by: 1 | -1): void {
    for (const app of logs) {
      const n = (this.writes.get(app) ?? 0) + by;
      if (n > 0) this.writes.set(app, n);
      else this.writes.delete(app);
    }
  }

  private wake(): void {
    if (this.running) return;
    this.running = true;
    setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    try {
      if (this.depth > 1) await this.drainPipelined();
      else await this.drainInTurns();
    } finally {
      this.running = false;
      // Jobs queued after the loop's last look, while its promise settled.
      if (this.queue.length > 0) this.wake();
    }
  }

  /** One group at a time, each in a turn of the commit gate. */
  private async drainInTurns(): Promise<void> {
    while (this.queue.length > 0) {
      const jobs = this.takeBatch();
      const logs = logsOf(jobs);
      let fresh: Set<string>;
      try {
        fresh = await this.gate.enter(logs, { redirect: jobs.every((j) => !j.stay) });
      } catch (err) {
        for (const job of jobs) job.reject(err);
        continue;
      }
      // Another process may have appended to these logs since our last turn: their heads come from storage.
      this.invalidate(fresh);
      try {
        await this.commit(jobs, 0);
      } finally {
        await this.gate.leave().catch(() => undefined);
      }
    }
  }

  /**
   * Up to `depth` groups in the engine at once, settled in order. A failed group takes the groups
   * planned on its heads down with it (their positions no longer continue the logs, so the engine
   * writes none of them); once nothing is in flight, the heads are reloaded from storage and those
   * groups are sequenced again, before anything queued after them.
   */
  private async drainPipelined(): Promise<void> {
    const inFlight: InFlight[] = [];
    let again: Job[] = [];
    let failed = false;
    for (;;) {
      if (!failed && !this.blocked && this.queue.length > 0 && inFlight.length < this.depth) {
        const group = await this.start(this.takeBatch());
        if (group) inFlight.push(group);
        continue;
      }
      const oldest = inFlight[0];
      if (oldest) {
        // With room in the pipeline, a job that arrives first is sequenced before the oldest group settles.
        if (!failed && !this.blocked && inFlight.length < this.depth) {
          const arrived = await Promise.race([oldest.outcome.then(() => false), this.arrival()]);
          if (arrived) continue;
        }
        inFlight.shift();
        const settled = await this.settle(oldest);
        this.blocked = false;
        if (!settled.ok) failed = true;
        again.push(...settled.again);
        continue;
      }
      this.blocked = false;
      if (failed) {
        failed = false;
        this.heads.clear();
        const jobs = again;
        again = [];
        if (jobs.length > 0) await this.commit(jobs, 1);
        continue;
      }
      if (this.queue.length === 0) return;
    }
  }

  /** Sequence a group on the current heads and hand it to the engine; null if it has nothing to write. */
  private async start(jobs: Job[]): Promise<InFlight | null> {
    let plans: Plan[];
    let waiting: Job[];
    let heads: Map<string, Head>;
    try {
      await this.loadHeads(new Set(logsOf(jobs)));
      ({ plans, waiting, heads } = await this.plan(jobs));
    } catch (err) {
      for (const job of jobs) job.reject(err);
      return null;
    }
    this.queue.unshift(...waiting);
    this.blocked = waiting.length > 0;
    const writes = plans.flatMap((p) => p.fresh);
    if (writes.length === 0) {
      deliver(plans, []);
      return null;
    }
    // The heads this group leaves, for the next group to be sequenced on before it commits.
    const keys: string[] = [];
    const logSet = new Set<string>();
    for (const e of writes) {
      logSet.add(e.sourceAppId);
      if (e.idempotencyKey) keys.push(keyOf(e.sourceAppId, e.idempotencyKey));
    }
    for (const [app, head] of heads) this.heads.set(app, head);
    for (const k of keys) this.inFlightKeys.add(k);
    const logs = [...logSet];
    this.countWrites(logs, 1);
    const outcome = this.storage.appendEvents(writes).then(
      (stored) => ({ stored }),
      (error: unknown) => ({ error }),
    );
    return { plans, logs, keys, outcome };
  }

  /** Resolve a committed group; a failed one is rejected, or returned to be sequenced again after a conflict. */
  private async settle(group: InFlight): Promise<{ ok: boolean; again: Job[] }> {
    const outcome = await group.outcome;
    this.countWrites(group.logs, -1);
    for (const k of group.keys) this.inFlightKeys.delete(k);
    if ('error' in outcome) {
      if (outcome.error instanceof AppendConflictError) return { ok: false, again: group.plans.map((p) => p.job) };
      for (const p of group.plans) p.job.reject(outcome.error);
      return { ok: false, again: [] };
    }
    deliver(group.plans, outcome.stored);
    this.onCommitted(outcome.stored);
    return { ok: true, again: [] };
  }

  /** The next group: at least one job, then as many as fit in MAX_EVENTS_PER_COMMIT and the engine's byte budget. */
  private takeBatch(): Job[] {
    const budget = this.storage.maxAppendBytes ?? Infinity;
    let count = 0;
    let bytes = 0;
    let n = 0;
    for (; n < this.queue.length; n++) {
      const job = this.queue[n]!;
      if (n > 0 && (count + job.requests.length > MAX_EVENTS_PER_COMMIT || bytes + job.bytes > budget)) break;
      count += job.requests.length;
      bytes += job.bytes;
    }
    return this.queue.splice(0, n);
  }

  /**
   * Sequence and write `jobs` as one group, settling every job exactly once: resolved with its
   * events once they are committed, or rejected with nothing of it written. A job refused while
   * planning is settled then and never planned again (its refusal stands, even if the heads move); a
   * job that waits for an idempotency key another job of the group is writing goes back to the queue
   * whatever the group's outcome, and is sequenced afresh once that outcome is known.
   */
  private async commit(jobs: Job[], attempt: number): Promise<void> {
    const apps = new Set(logsOf(jobs));
    let plans: Plan[];
    let waiting: Job[];
    try {
      await this.loadHeads(apps);
      ({ plans, waiting } = await this.plan(jobs));
    } catch (err) {
      for (const job of jobs) job.reject(err);
      return;
    }
    const planned = plans.map((p) => p.job);
    const writes = plans.flatMap((p) => p.fresh);
    let stored: StoredEvent[] = [];
    const logs = [...new Set(writes.map((e) => e.sourceAppId))];
    this.countWrites(logs, 1);
    try {
      if (writes.length > 0) stored = await this.storage.appendEvents(writes, this.gate.turn);
    } catch (err) {
      this.countWrites(logs, -1);
      this.invalidate(apps);
      this.queue.unshift(...waiting);
      if (err instanceof TurnLostError || (await this.turnNotOurs(err, apps))) {
        // Nothing was committed: queue the planned jobs again for our next turns, taken afresh, as
        // long as turns keep coming back to this process.
        await this.gate.forfeit().catch(() => undefined);
        const again: Job[] = [];
        for (const job of planned) {
          job.lostTurns = (job.lostTurns ?? 0) + 1;
          if (job.lostTurns <= MAX_LOST_TURNS) again.push(job);
          else
            job.reject(
              contended(`other writers took ${job.lostTurns} of its turns: ${err instanceof Error ? err.message : String(err)}`),
            );
        }
        this.queue.unshift(...again);
        return;
      }
      if (err instanceof AppendConflictError && attempt < MAX_POSITION_RETRIES) {
        // Another writer moved a head or raced on a key: re-plan from storage.
        return this.commit(planned, attempt + 1);
      }
      if (err instanceof AppendConflictError && planned.length > 1) {
        // Still conflicting: find the job that does, so that the others are not refused with it.
        for (const job of planned) await this.commit([job], attempt);
        return;
      }
      // Positions taken by other writers on every try: the log is contended, the request is not wrong.
      const failure =
        err instanceof AppendConflictError
          ? err.kind === 'position'
            ? contended(`other writers took its positions ${MAX_POSITION_RETRIES + 1} times: ${err.message}`)
            : new LogError('CONFLICT', `append conflict: ${err.message}`)
          : err;
      for (const job of planned) job.reject(failure);
      return;
    }
    this.countWrites(logs, -1);
    deliver(plans, stored);
    for (const e of stored) this.heads.set(e.sourceAppId, { size: e.seq + 1, headHash: e.hash });
    this.queue.unshift(...waiting);
    if (stored.length > 0) this.onCommitted(stored);
  }

  /**
   * Whether `err`, positions taken, means that the turn is another process's: it went ahead without a
   * log's lease (not had within the gate's wait) and the holder is alive and writing, or another
   * process took a lease over (ours expired during a long commit). Retrying in such a turn races the
   * holder until the log counts as contended; waiting for the next turn lets it finish. When the gate
   * cannot tell, the retry goes ahead as for any conflict.
   */
  private async turnNotOurs(err: unknown, apps: Set<string>): Promise<boolean> {
    const turn = this.gate.turn;
    if (!(err instanceof AppendConflictError) || err.kind !== 'position' || turn === undefined) return false;
    for (const app of apps) if (!turn.fences.has(app)) return true;
    return !(await this.gate.confirm([...apps]).catch(() => true));
  }

  private async loadHeads(apps: Set<string>): Promise<void> {
    const missing = [...apps].filter((a) => !this.heads.has(a));
    const heads = await Promise.all(missing.map((a) => this.storage.getLogHead(a)));
    await Promise.all(
      missing.map(async (app, i) => {
        if (heads[i] && !this.versions.has(app)) {
          const first = await this.storage.getEvent(app, 0);
          if (first) this.versions.set(app, leafVersionOf(first));
        }
      }),
    );
    missing.forEach((app, i) => {
      const h = heads[i];
      this.heads.set(app, h ? { size: h.size, headHash: h.headHash } : { size: 0, headHash: ZERO_HASH_HEX });
    });
  }

  /**
   * Sequence each job against the heads as the jobs before it in this batch leave them; `heads` are
   * the heads the planned jobs leave, for the logs they append to.
   */
  private async plan(jobs: Job[]): Promise<{ plans: Plan[]; waiting: Job[]; heads: Map<string, Head> }> {
    const stored = await this.storedKeys(jobs);
    const working = new Map<string, Head>();
    const pendingKeys = new Map<string, KeyRef>();
    const plans: Plan[] = [];
    const waiting: Job[] = [];
    const receivedAt = this.now();
    for (const job of jobs) {
      const localHeads = new Map<string, Head>();
      const localKeys = new Map<string, KeyRef>();
      const headOf = (app: string) => localHeads.get(app) ?? working.get(app) ?? this.heads.get(app)!;
      const fresh: NewEvent[] = [];
      const results: Array<number | StoredEvent> = [];
      const problems: LogErrorDetail[] = [];
      let mustWait = false;
      job.requests.forEach((req, index) => {
        let fingerprint = '';
        if (req.idempotencyKey) {
          fingerprint = fingerprintOf(req);
          const mapKey = keyOf(req.sourceAppId, req.idempotencyKey);
          const prior = localKeys.get(mapKey) ?? pendingKeys.get(mapKey) ?? storedRef(stored.get(mapKey));
          if (!prior && this.inFlightKeys.has(mapKey)) {
            // The key's first use is being written: its outcome decides what this one returns.
            mustWait = true;
            return;
          }
          if (prior) {
            // An erased payload (and its salt) is gone: only the other fields can be compared.
            if (prior.fingerprint !== (prior.payloadErased ? fingerprintOf(req, false) : fingerprint)) {
              problems.push({
                index,
                field: 'idempotencyKey',
                message: `idempotency key "${req.idempotencyKey}" was already used with other content`,
              });
            } else if (typeof prior.ref !== 'number' || localKeys.has(mapKey)) {
              results.push(prior.ref);
            } else {
              // The original is in an earlier job of this batch and not stored yet: wait for it.
              mustWait = true;
            }
            return;
          }
        }
        const head = headOf(req.sourceAppId);
        if (req.expectedPrevHash != null) {
          if (req.expectedPrevHash !== head.headHash) {
            problems.push({
              index,
              field: 'expectedPrevHash',
              message: `expectedPrevHash ${req.expectedPrevHash} is not the head of log "${req.sourceAppId}" (${head.headHash})`,
            });
            return;
          }
        }
        const version = this.versions.get(req.sourceAppId) ?? this.newLogVersion(req.sourceAppId);
        const event = sequenceOne(req, head, receivedAt, version);
        localHeads.set(req.sourceAppId, { size: head.size + 1, headHash: event.hash });
        results.push(fresh.length);
        if (req.idempotencyKey) {
          localKeys.set(keyOf(req.sourceAppId, req.idempotencyKey), { fingerprint, ref: fresh.length });
        }
        fresh.push(event);
      });
      if (problems.length > 0) {
        const message = problems.length === 1 ? problems[0]!.message : `${problems.length} conflicting events`;
        job.reject(new LogError('CONFLICT', message, problems));
        continue;
      }
      if (mustWait) {
        waiting.push(job);
        continue;
      }
      for (const [app, head] of localHeads) working.set(app, head);
      for (const [k, v] of localKeys) pendingKeys.set(k, v);
      plans.push({ job, fresh, results });
    }
    return { plans, waiting, heads: working };
  }

  /** Stored events for the idempotency keys these jobs carry, keyed by app + key. */
  private async storedKeys(jobs: Job[]): Promise<Map<string, StoredEvent>> {
    const byApp = new Map<string, Set<string>>();
    for (const job of jobs) {
      for (const r of job.requests) {
        if (!r.idempotencyKey) continue;
        let keys = byApp.get(r.sourceAppId);
        if (!keys) byApp.set(r.sourceAppId, (keys = new Set()));
        keys.add(r.idempotencyKey);
      }
    }
    const found = new Map<string, StoredEvent>();
    await Promise.all(
      [...byApp].map(async ([app, keys]) => {
        for (const e of await this.storage.findByIdempotencyKeys(app, [...keys])) {
          found.set(keyOf(app, e.idempotencyKey!), e);
        }
      }),
    );
    return found;
  }
}

/**
 * Resolve each job with its events: fresh ones from `stored` (the group's writes, in order), retries as
 * found, marked as replays (src/log/replays.ts), as is a repeat of an idempotency key within the job.
 */
function deliver(plans: Plan[], stored: StoredEvent[]): void {
  let offset = 0;
  for (const plan of plans) {
    const base = offset;
    offset += plan.fresh.length;
    const seen = new Set<number>();
    plan.job.resolve(
      plan.results.map((r) => {
        if (typeof r !== 'number') return asReplay(r);
        if (seen.has(r)) return asReplay(stored[base + r]!);
        seen.add(r);
        return stored[base + r]!;
      }),
    );
  }
}

/** Retryable: other writers took the log's next positions on every try (processes sharing a database). */
/** `why`: what the other writers did, e.g. "other writers took its positions 4 times: …". */
function contended(why: string): LogError {
  const message = `log too contended to append now (${why}); retry with the same idempotency keys`;
  return new LogError('UNAVAILABLE', message, [{ rule: 'contended', message }], { retryAfterMs: 1000 });
}

/** The first use of an idempotency key: a fresh event of the batch (its index) or a stored one. */
interface KeyRef {
  fingerprint: string;
  ref: number | StoredEvent;
  /** The stored event's payload is erased: its fingerprint leaves the payload out. */
  payloadErased?: boolean;
}

const keyOf = (sourceAppId: string, idempotencyKey: string) => `${sourceAppId}\u0000${idempotencyKey}`;

function logsOf(jobs: Job[]): string[] {
  const logs = new Set<string>();
  for (const job of jobs) for (const r of job.requests) logs.add(r.sourceAppId);
  return [...logs];
}

/**
 * A stored event's fingerprint. Once its payload is erased (leaf version 2: payload and salt deleted,
 * payloadHash kept), a retried payload cannot be checked against the commitment, so the fingerprint
 * leaves the payload out: a retry whose other fields match is a replay of the event as now stored
 * (erased), not a CONFLICT that would claim other content; one whose other fields differ still conflicts.
 */
function storedRef(e: StoredEvent | undefined): KeyRef | undefined {
  if (!e) return undefined;
  const payloadErased = e.payload === null;
  return { fingerprint: fingerprintOf(e, !payloadErased), ref: e, payloadErased };
}

/** What must match for a retry to count as the same event (`withPayload` false: all but the payload). */
function fingerprintOf(e: { eventType: string; timestamp: number; payload: unknown }, withPayload = true): string {
  const fields = `${e.eventType}\u0000${e.timestamp}`;
  return withPayload ? `${fields}\u0000${canonicalJson(e.payload)}` : fields;
}

/** An event at the head's position, linked to it and hashed. */
function sequenceOne(req: AppendRequest, head: Head, receivedAt: number, version: LeafVersion): NewEvent {
  // One object per event (batches hold thousands): the leaf hash is filled in once the fields are set.
  // The payload is serialized once, for the leaf (or its commitment) and for the engine.
  const payloadText = req.payloadText ?? canonicalJson(req.payload);
  const event: NewEvent = {
    sourceAppId: req.sourceAppId,
    seq: head.size,
    eventType: req.eventType,
    timestamp: req.timestamp,
    receivedAt,
    payload: req.payload,
    prevHash: head.headHash,
    idempotencyKey: req.idempotencyKey ?? null,
    hash: '',
    payloadText,
    // Version 2: a fresh salt per event, so a small payload cannot be found from payloadHash by guessing.
    ...(version === 2 ? commitment(payloadText) : {}),
  };
  event.hash = eventLeafHash(event, payloadText);
  return event;
}

/** Salts come from one buffer of CSPRNG bytes refilled every SALT_POOL_SALTS salts (one system call each). */
const SALT_POOL_SALTS = 256;
let saltPool = Buffer.alloc(0);
let saltAt = 0;

/** A fresh salt and the payload's commitment (leaf version 2). */
function commitment(payloadText: string): { payloadSalt: string; payloadHash: string } {
  const salt = nextSalt();
  const payloadSalt = saltPool.toString('hex', saltAt - PAYLOAD_SALT_BYTES, saltAt);
  return { payloadSalt, payloadHash: payloadCommitment(salt, payloadText) };
}

function nextSalt(): Buffer {
  if (saltAt + PAYLOAD_SALT_BYTES > saltPool.length) {
    saltPool = randomBytes(PAYLOAD_SALT_BYTES * SALT_POOL_SALTS);
    saltAt = 0;
  }
  const salt = saltPool.subarray(saltAt, saltAt + PAYLOAD_SALT_BYTES);
  saltAt += PAYLOAD_SALT_BYTES;
  return salt;
}

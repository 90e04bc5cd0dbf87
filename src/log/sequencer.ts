// Sequence: give each accepted event its position, link and leaf hash, and commit it durably.
//
// Appends are queued and committed together (group commit): every request that arrives while a
// commit is in flight goes into the next one, in one storage call. Each request is all-or-nothing
// and is checked on its own (expectedPrevHash, idempotency), so one request's conflict never fails
// another's, whatever log it targets.
import canonicalize from 'canonicalize';
import { ZERO_HASH_HEX } from '../core/leaf.js';
import { AppendConflictError, TurnLostError, type LogStorage, type NewEvent, type StoredEvent } from '../storage/types.js';
import { LogError, type LogErrorDetail } from './errors.js';
import { soleWriter, type CommitGate } from './commit-gate.js';
import { eventLeafHash } from './event-leaf.js';
import type { AppendRequest } from './service.js';

interface Head {
  size: number;
  headHash: string;
}

interface Job {
  requests: AppendRequest[];
  resolve: (events: StoredEvent[]) => void;
  reject: (err: unknown) => void;
}

/** What one job will write, and what it returns (originals for idempotent retries). */
interface Plan {
  job: Job;
  fresh: NewEvent[];
  /** For each request: an index into `fresh`, or an already stored event. */
  results: Array<number | StoredEvent>;
}

const MAX_EVENTS_PER_COMMIT = 10_000;
const MAX_POSITION_RETRIES = 3;

export class Sequencer {
  private readonly heads = new Map<string, Head>();
  private queue: Job[] = [];
  private running = false;

  constructor(
    private readonly storage: LogStorage,
    private readonly onCommitted: (events: StoredEvent[]) => void,
    private readonly now: () => number = Date.now,
    private readonly gate: CommitGate = soleWriter,
  ) {}

  /** Resolves once the events are durably committed; rejects with LogError on conflict. */
  append(requests: AppendRequest[]): Promise<StoredEvent[]> {
    if (requests.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ requests, resolve, reject });
      if (!this.running) {
        this.running = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  /** Forget cached heads (another writer may have appended, or a commit failed midway). */
  invalidate(sourceAppIds?: Iterable<string>): void {
    if (!sourceAppIds) return this.heads.clear();
    for (const id of sourceAppIds) this.heads.delete(id);
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const jobs = this.takeBatch();
        const logs = logsOf(jobs);
        let fresh: Set<string>;
        try {
          fresh = await this.gate.enter(logs);
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
    } finally {
      this.running = false;
    }
  }

  private takeBatch(): Job[] {
    let count = 0;
    let n = 0;
    while (n < this.queue.length && (n === 0 || count + this.queue[n]!.requests.length <= MAX_EVENTS_PER_COMMIT)) {
      count += this.queue[n]!.requests.length;
      n++;
    }
    return this.queue.splice(0, n);
  }

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
    const writes = plans.flatMap((p) => p.fresh);
    let stored: StoredEvent[] = [];
    try {
      if (writes.length > 0) stored = await this.storage.appendEvents(writes, this.gate.turn);
    } catch (err) {
      this.invalidate(apps);
      this.queue.unshift(...waiting);
      if (err instanceof TurnLostError) {
        // Nothing was committed: queue the jobs again for our next turns, taken afresh.
        await this.gate.forfeit().catch(() => undefined);
        this.queue.unshift(...jobs);
        return;
      }
      if (err instanceof AppendConflictError && attempt < MAX_POSITION_RETRIES) {
        // Another writer moved a head, left uncommitted events, or raced on a key: re-plan from storage.
        await this.gate.tidy([...apps]).catch(() => undefined);
        return this.commit(jobs, attempt + 1);
      }
      if (err instanceof AppendConflictError && jobs.length > 1) {
        for (const job of jobs) await this.commit([job], attempt);
        return;
      }
      const failure =
        err instanceof AppendConflictError
          ? new LogError('CONFLICT', `append conflict: ${err.message}`)
          : err;
      for (const job of jobs) job.reject(failure);
      return;
    }
    let offset = 0;
    for (const plan of plans) {
      const base = offset;
      offset += plan.fresh.length;
      plan.job.resolve(plan.results.map((r) => (typeof r === 'number' ? stored[base + r]! : r)));
    }
    for (const e of stored) this.heads.set(e.sourceAppId, { size: e.seq + 1, headHash: e.hash });
    this.queue.unshift(...waiting);
    if (stored.length > 0) this.onCommitted(stored);
  }

  private async loadHeads(apps: Set<string>): Promise<void> {
    const missing = [...apps].filter((a) => !this.heads.has(a));
    const heads = await Promise.all(missing.map((a) => this.storage.getLogHead(a)));
    missing.forEach((app, i) => {
      const h = heads[i];
      this.heads.set(app, h ? { size: h.size, headHash: h.headHash } : { size: 0, headHash: ZERO_HASH_HEX });
    });
  }

  /** Sequence each job against the heads as the jobs before it in this batch leave them. */
  private async plan(jobs: Job[]): Promise<{ plans: Plan[]; waiting: Job[] }> {
    const stored = await this.storedKeys(jobs);
    const working = new Map<string, Head>();
    const pendingKeys = new Map<string, { fingerprint: string; ref: number | StoredEvent }>();
    const plans: Plan[] = [];
    const waiting: Job[] = [];
    const receivedAt = this.now();
    for (const job of jobs) {
      const localHeads = new Map<string, Head>();
      const localKeys = new Map<string, { fingerprint: string; ref: number | StoredEvent }>();
      const headOf = (app: string) => localHeads.get(app) ?? working.get(app) ?? this.heads.get(app)!;
      const fresh: NewEvent[] = [];
      const results: Array<number | StoredEvent> = [];
      const problems: LogErrorDetail[] = [];
      let mustWait = false;
      job.requests.forEach((req, index) => {
        let fingerprint = '';
        if (req.idempotencyKey) {
          fingerprint = fingerprintOf(req);
          const mapKey = `${req.sourceAppId}\u0000${req.idempotencyKey}`;
          const prior = localKeys.get(mapKey) ?? pendingKeys.get(mapKey) ?? storedRef(stored.get(mapKey));
          if (prior) {
            if (prior.fingerprint !== fingerprint) {
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
        if (req.expectedPrevHash != null && req.expectedPrevHash !== head.headHash) {
          problems.push({
            index,
            field: 'expectedPrevHash',
            message: `expectedPrevHash ${req.expectedPrevHash} is not the head of log "${req.sourceAppId}" (${head.headHash})`,
          });
          return;
        }
        const event = sequenceOne(req, head, receivedAt);
        localHeads.set(req.sourceAppId, { size: head.size + 1, headHash: event.hash });
        results.push(fresh.length);
        if (req.idempotencyKey) {
          localKeys.set(`${req.sourceAppId}\u0000${req.idempotencyKey}`, { fingerprint, ref: fresh.length });
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
    return { plans, waiting };
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
          found.set(`${app}\u0000${e.idempotencyKey}`, e);
        }
      }),
    );
    return found;
  }
}

function logsOf(jobs: Job[]): string[] {
  const logs = new Set<string>();
  for (const job of jobs) for (const r of job.requests) logs.add(r.sourceAppId);
  return [...logs];
}

function storedRef(e: StoredEvent | undefined): { fingerprint: string; ref: StoredEvent } | undefined {
  return e ? { fingerprint: fingerprintOf(e), ref: e } : undefined;
}

/** What must match for a retry to count as the same event. */
function fingerprintOf(e: { eventType: string; timestamp: number; payload: unknown }): string {
  return `${e.eventType}\u0000${e.timestamp}\u0000${canonicalize(e.payload)}`;
}

function sequenceOne(req: AppendRequest, head: Head, receivedAt: number): NewEvent {
  // One object per event (batches hold thousands): the hash is filled in once the fields are set.
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
  };
  event.hash = eventLeafHash(event);
  return event;
}

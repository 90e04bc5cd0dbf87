// Verification of a stored log: walk its events and checkpoints, recompute everything that is
// derived, and report every problem with its position. Nothing stored is trusted here except the
// starting compact range when the walk begins past 0 (it is then checked against checkpoint roots).
//
// A stored event that breaks the storage contract (MalformedEventError) is a finding like any other:
// the walk names its position and goes on past it. The walk reads in chunks and checks in slices, both
// bounded by rows and payload bytes, and lets the event loop turn between slices, so that an audit never
// holds up the requests of others (on SQLite every storage call runs on the calling thread).
import { CompactRange, rangeNodes } from '../core/compact/range.js';
import { canonicalJson } from '../core/canonical-json.js';
import { logVerifiers, openCheckpoint } from '../core/checkpoint.js';
import { fromHex, toHex } from '../core/hex.js';
import { eventLeafHash, payloadMatchesCommitment, ZERO_HASH_HEX } from '../core/leaf.js';
import type { NoteVerifier } from '../core/note/signed-note.js';
import type { NodeId } from '../core/compact/node.js';
import { PositionSet } from '../core/positions.js';
import { MalformedEventError, type LogStorage, type StoredCheckpoint, type StoredEvent } from '../storage/types.js';
import { notFound, badInput, LogError } from './errors.js';
import type { VerificationProblem, VerificationProblemKind, VerificationReport } from './service.js';
import { readNodesOrNull } from './stored-nodes.js';

/** Rows of the first read, before the payload size of this log is known. */
const FIRST_CHUNK_ROWS = 16;
/**
 * Events checked between two turns of the event loop, at most; fewer when their payloads reach
 * SLICE_PAYLOAD_BYTES (RFC 8785 text). A turn holds one slice's checks, a few milliseconds, so a
 * request waits for little more than that.
 */
export const SLICE_ROWS = 64;
const SLICE_PAYLOAD_BYTES = 128 * 1024;
/**
 * Rows per read at most. Where reads run on the calling thread (LogStorage.synchronousReads), a read
 * is one slice, so that one turn holds one slice's read and one slice's checks; elsewhere reads wait
 * on I/O, and fewer, larger ones cost less (a range read is not free on every server).
 */
const MAX_CHUNK_ROWS = { synchronous: SLICE_ROWS, asynchronous: 1024 } as const;
/** Payload bytes one read aims at: the next read's rows follow the last ones' average payload. */
const CHUNK_PAYLOAD_BYTES = { synchronous: SLICE_PAYLOAD_BYTES, asynchronous: 2 * 1024 * 1024 } as const;
/**
 * Problems a report lists at most: those at the lowest positions (problems are found out of position
 * order: deferred erasures, tree nodes, checkpoints), so a long list never hides an earlier one.
 */
export const MAX_PROBLEMS = 1000;
/** Default of VerifyLogOptions.maxUnlisted. */
export const MAX_UNLISTED = 10_000;

/** Default of MAX_CONCURRENT_AUDITS: verifyLog runs at once on at most this many logs per server. */
export const DEFAULT_MAX_CONCURRENT_AUDITS = 2;

export interface VerifyLogOptions {
  verifier: NoteVerifier;
  originOf: (sourceAppId: string) => string;
  /** Called after each chunk with the events walked so far and the size of the walk. */
  onProgress?: (walked: number, total: number) => void;
  /**
   * The positions of this log that the erasures log lists as erased (src/log/erasure.ts): an erased
   * payload there is an erasure, one not there was deleted outside the erasure path. Absent: every
   * erased payload is reported UNRECORDED_ERASURE.
   */
  erasedSeqs?: (sourceAppId: string) => Promise<Pick<PositionSet, 'has'>>;
  /**
   * Payload-less events the listing does not name that the walk holds, at most (default MAX_UNLISTED):
   * at this many it reads the listing again and settles them in the middle of the walk, which bounds
   * the walk's memory. Tests set a small one to run that path.
   */
  maxUnlisted?: number;
  /** Problems the report lists at most, those at the lowest positions (default MAX_PROBLEMS). */
  maxProblems?: number;
}

/** Lets the event loop serve what is waiting (I/O callbacks, timers) before the next chunk. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function verifyStoredLog(
  storage: LogStorage,
  opts: VerifyLogOptions,
  sourceAppId: string,
  fromSeq = 0,
  toSeqArg?: number,
): Promise<VerificationReport> {
  const head = await storage.getLogHead(sourceAppId);
  if (!head) throw notFound(`log "${sourceAppId}" not found`, 'sourceAppId');
  const latest = await storage.getCheckpoint(sourceAppId);
  // Walk to the larger of the head and the latest checkpoint: deleted tail events must show as gaps.
  const fullSize = Math.max(head.size, latest?.treeSize ?? 0);
  const toSeq = toSeqArg ?? fullSize;
  if (fromSeq < 0 || fromSeq > fullSize) throw badInput(`fromSeq must be between 0 and ${fullSize}`, 'fromSeq');
  if (toSeq < fromSeq || toSeq > fullSize) throw badInput(`toSeq must be between fromSeq and ${fullSize}`, 'toSeq');

  const maxUnlisted = opts.maxUnlisted ?? MAX_UNLISTED;
  const maxProblems = opts.maxProblems ?? MAX_PROBLEMS;
  const problems: VerificationProblem[] = [];
  let recordedErasures = (await opts.erasedSeqs?.(sourceAppId)) ?? new PositionSet();
  let eventsErased = 0;
  /** Payload-less events the listing last read does not name: an erasure may have run since. */
  let unlisted: number[] = [];
  /** Leaves whose own content is wrong: tree nodes above them are consequences, not new findings. */
  const badLeaves: number[] = [];
  let firstBadSeq: number | null = null;
  const report = (kind: VerificationProblemKind, seq: number, message: string) => {
    if (kind === 'LEAF_HASH_MISMATCH' || kind === 'GAP' || kind === 'DUPLICATE_POSITION' || kind === 'MALFORMED_EVENT')
      badLeaves.push(seq);
    // The first bad position counts every problem, also those past the list's bound (some are reported late).
    if (firstBadSeq === null || seq < firstBadSeq) firstBadSeq = seq;
    problems.push({ kind, seq, message });
    if (problems.length >= 2 * maxProblems) keepLowest(problems, maxProblems);
  };

  /**
   * Reads the listing again and reports the payload-less events it still does not name. An erasure is
   * recorded before it is applied, so one applied during the walk (retention, an admin) is listed by now.
   */
  const settleUnlisted = async () => {
    if (unlisted.length === 0) return;
    recordedErasures = (await opts.erasedSeqs?.(sourceAppId)) ?? recordedErasures;
    for (const seq of unlisted) {
      if (recordedErasures.has(seq)) eventsErased++;
      else
        report(
          'UNRECORDED_ERASURE',
          seq,
          `event ${seq} has no payload, and the erasures log does not list it: it was deleted outside the erasure path`,
        );
    }
    unlisted = [];
  };

  // Starting state: the tree and link just before fromSeq.
  let range = CompactRange.new(0);
  /** Leaf hash the next event must link to; null when the previous event could not be read. */
  let prevLeaf: string | null = ZERO_HASH_HEX;
  if (fromSeq > 0) {
    const start = await startingState(storage, sourceAppId, fromSeq);
    range = start.range;
    prevLeaf = start.prevLeaf;
  }

  const checkpoints = checkpointCursor(storage, sourceAppId, fromSeq);
  let cp = await checkpoints.next();
  let eventsChecked = 0;
  let checkpointsChecked = 0;
  const checkCheckpoints = async (size: number) => {
    while (cp && cp.treeSize <= size) {
      if (cp.treeSize === size) {
        checkpointsChecked++;
        checkCheckpoint(cp, range.rootHash(), opts, report);
      }
      cp = await checkpoints.next();
    }
  };
  if (fromSeq === 0) await checkCheckpoints(0);

  let expected = fromSeq;
  const mode = storage.synchronousReads ? 'synchronous' : 'asynchronous';
  const maxRows = MAX_CHUNK_ROWS[mode];
  const chunkBytes = CHUNK_PAYLOAD_BYTES[mode];
  let rows = FIRST_CHUNK_ROWS;
  /** Checked since the loop last turned. */
  let slice = { rows: 0, bytes: 0 };
  const yieldNow = async () => {
    await turn();
    slice = { rows: 0, bytes: 0 };
  };
  // The next chunk is read while this one is checked: where storage calls are truly asynchronous
  // (MongoDB) the round trip overlaps the hashing; where they are not (SQLite) one turn of the loop
  // holds one chunk's checks and the next chunk's read, no more.
  let pending: Promise<Chunk> | null = fromSeq < toSeq ? readChunk(storage, sourceAppId, fromSeq, toSeq, rows) : null;
  while (pending) {
    const read = await pending;
    pending = null;
    if (read.events.length === 0 && read.malformed === null) {
      report('GAP', expected, `events ${expected}..${toSeq - 1} are missing`);
      break;
    }
    await yieldNow();
    const nextStart = read.malformed ? read.malformed.seq + 1 : read.events[read.events.length - 1]!.seq + 1;
    if (nextStart < toSeq) {
      pending = readChunk(storage, sourceAppId, nextStart, toSeq, rows);
      // Awaited at the top of the next round; until then a failure must not count as unhandled.
      pending.catch(() => undefined);
    }
    const nodes: Array<{ id: NodeId; hash: Uint8Array }> = [];
    const collect = (id: NodeId, hash: Uint8Array) => {
      if (id.level > 0 && (id.index + 1) * 2 ** id.level <= head.integratedSize) nodes.push({ id, hash });
    };
    /** Fills positions up to `seq` (a gap) with zero leaves, so later problems are still found; roots will not match now. */
    const skipTo = (seq: number) => {
      if (seq > expected) {
        report('GAP', expected, `events ${expected}..${seq - 1} are missing`);
        while (range.end < seq) range.append(fromHex(ZERO_HASH_HEX));
        expected = seq;
        prevLeaf = null;
      }
    };
    let bytes = 0;
    for (const e of read.events) {
      if (e.seq < expected) {
        report('DUPLICATE_POSITION', e.seq, `position ${e.seq} is stored more than once`);
        continue;
      }
      skipTo(e.seq);
      let leaf: string;
      if (slice.rows >= SLICE_ROWS || slice.bytes >= SLICE_PAYLOAD_BYTES) await yieldNow();
      slice.rows++;
      try {
        if (typeof e.payloadHash === 'string') {
          // Version 2: the leaf commits to the payload; the payload, while it exists, must match it.
          leaf = eventLeafHash({ ...e, payloadHash: e.payloadHash });
          if (e.payload === null) {
            if (recordedErasures.has(e.seq)) eventsErased++;
            else unlisted.push(e.seq);
          } else {
            const payloadText = canonicalJson(e.payload);
            bytes += payloadText.length;
            slice.bytes += payloadText.length;
            if (!payloadMatchesCommitment(e.payload, e.payloadSalt ?? '', e.payloadHash))
              report(
                'PAYLOAD_MISMATCH',
                e.seq,
                `event ${e.seq}: SHA-256(payloadSalt || payload) is not its payloadHash ${e.payloadHash}: the payload or its salt was altered`,
              );
          }
        } else {
          const payloadText = canonicalJson(e.payload);
          bytes += payloadText.length;
          slice.bytes += payloadText.length;
          leaf = eventLeafHash(e, payloadText);
        }
      } catch (err) {
        // The decoder let it through, yet no leaf can be made of it (a lone surrogate, a nesting too deep).
        report('MALFORMED_EVENT', e.seq, `event ${e.seq} cannot be encoded as a leaf: ${(err as Error).message}`);
        range.append(fromHex(ZERO_HASH_HEX), collect);
        prevLeaf = null;
        eventsChecked++;
        expected = e.seq + 1;
        await checkCheckpoints(expected);
        continue;
      }
      // Outside the leaf's try: a failed read of the listing fails the walk, it says nothing of this event.
      if (unlisted.length >= maxUnlisted) await settleUnlisted();
      if (leaf !== e.hash)
        report('LEAF_HASH_MISMATCH', e.seq, `stored hash ${e.hash} does not match the event's fields (${leaf})`);
      if (prevLeaf !== null && e.prevHash !== prevLeaf) {
        report('BROKEN_LINK', e.seq, `prevHash ${e.prevHash} does not link to the previous event (${prevLeaf})`);
      }
      range.append(fromHex(leaf), collect);
      prevLeaf = leaf;
      eventsChecked++;
      expected = e.seq + 1;
      await checkCheckpoints(expected);
    }
    if (read.malformed) {
      const { seq, error } = read.malformed;
      skipTo(seq);
      report('MALFORMED_EVENT', seq, `${error.message} (${error.field}: ${error.rule})`);
      // Its leaf is unknown: a zero leaf keeps the positions of the tree, and the next link is not checked.
      range.append(fromHex(ZERO_HASH_HEX), collect);
      prevLeaf = null;
      eventsChecked++;
      expected = seq + 1;
      await checkCheckpoints(expected);
    }
    const explained = (id: NodeId) => {
      const first = id.index * 2 ** id.level;
      return badLeaves.some((seq) => seq >= first && seq < first + 2 ** id.level);
    };
    await checkNodes(
      storage,
      sourceAppId,
      nodes.filter((n) => !explained(n.id)),
      report,
    );
    opts.onProgress?.(expected - fromSeq, toSeq - fromSeq);
    const n = read.events.length;
    rows = n === 0 || bytes === 0 ? maxRows : Math.max(1, Math.min(maxRows, Math.floor((chunkBytes * n) / bytes)));
  }

  if (toSeqArg === undefined && !storage.coordination) await checkPastHead(storage, sourceAppId, fullSize, report);
  await settleUnlisted();

  keepLowest(problems, maxProblems);
  return {
    sourceAppId,
    fromSeq,
    toSeq,
    eventsChecked,
    eventsErased,
    checkpointsChecked,
    ok: problems.length === 0,
    firstBadSeq,
    problems,
  };
}

/** Sorts problems by position (stable: found order within one) and keeps the first `max`. */
function keepLowest(problems: VerificationProblem[], max: number): void {
  problems.sort((a, b) => a.seq - b.seq);
  if (problems.length > max) problems.length = max;
}

interface Chunk {
  /** Well-formed events before the first malformed position, in seq order. */
  events: StoredEvent[];
  /** The first position in the chunk holding a malformed event, and why; the chunk ends there. */
  malformed: { seq: number; error: MalformedEventError } | null;
}

/**
 * Up to `limit` events of [start, end). Where an event in them is malformed, the events before the first
 * such position and that position: a read of [start, e) fails for every e past it, so halving e finds it.
 */
async function readChunk(storage: LogStorage, app: string, start: number, end: number, limit: number): Promise<Chunk> {
  const read = async (e: number): Promise<StoredEvent[] | MalformedEventError> => {
    try {
      return await storage.getEventRange(app, start, e, limit);
    } catch (err) {
      if (err instanceof MalformedEventError) return err;
      throw err;
    }
  };
  const whole = await read(end);
  if (!(whole instanceof MalformedEventError)) return { events: whole, malformed: null };
  // Reads of [start, e) with the same limit see a prefix of the failing read's rows: failing is monotone in e.
  let good = start;
  let failing = end;
  let error = whole;
  let events: StoredEvent[] = [];
  // The decoder names the position when it can read it: try that first.
  if (whole.seq !== null && whole.seq >= start && whole.seq < end) {
    const before = await read(whole.seq);
    const at = await read(whole.seq + 1);
    if (!(before instanceof MalformedEventError) && at instanceof MalformedEventError) {
      return { events: before, malformed: { seq: whole.seq, error: at } };
    }
  }
  while (failing - good > 1) {
    const mid = good + Math.floor((failing - good) / 2);
    const r = await read(mid);
    if (r instanceof MalformedEventError) {
      failing = mid;
      error = r;
    } else {
      good = mid;
      events = r;
    }
  }
  if (good === start) events = [];
  return { events, malformed: { seq: failing - 1, error } };
}

/**
 * Where a commit writes a log's events and raises its head in one transaction (engines without
 * `coordination`), no event is ever stored at or past the committed size: one there was put there by
 * hand. Reads serve it, no checkpoint will cover it, and it blocks the next append at its position.
 * (Engines shared by processes hold appends in flight there until they commit, and delete abandoned ones.)
 */
async function checkPastHead(
  storage: LogStorage,
  sourceAppId: string,
  size: number,
  report: (kind: VerificationProblemKind, seq: number, message: string) => void,
) {
  let from = size;
  for (let attempt = 0; attempt < 3; attempt++) {
    let first: number | null;
    try {
      first = (await storage.getEventRange(sourceAppId, from, Number.MAX_SAFE_INTEGER, 1))[0]?.seq ?? null;
    } catch (err) {
      if (!(err instanceof MalformedEventError)) throw err;
      first = err.seq ?? from;
    }
    if (first === null) return;
    // The head is read after the event: an append that committed meanwhile has raised it past its events.
    const headNow = (await storage.getLogHead(sourceAppId))?.size ?? 0;
    if (first >= headNow) {
      report('EVENT_PAST_HEAD', first, `an event is stored at position ${first}, past the log's committed size ${headNow}`);
      return;
    }
    from = headNow;
  }
}

async function startingState(storage: LogStorage, sourceAppId: string, fromSeq: number) {
  const hashes = await storage.getTreeNodes(sourceAppId, rangeNodes(0, fromSeq));
  const range = CompactRange.from(0, fromSeq, hashes);
  // The event before the walk is outside it: if it cannot be read or encoded, the first link is not checked.
  let prevLeaf: string | null;
  try {
    const prev = await storage.getEvent(sourceAppId, fromSeq - 1);
    prevLeaf = prev ? eventLeafHash(prev) : ZERO_HASH_HEX;
  } catch (err) {
    if (!(err instanceof MalformedEventError) && !(err instanceof TypeError) && !(err instanceof RangeError)) throw err;
    prevLeaf = null;
  }
  return { range, prevLeaf };
}

function checkCheckpoint(
  cp: StoredCheckpoint,
  root: Uint8Array,
  opts: VerifyLogOptions,
  report: (kind: VerificationProblemKind, seq: number, message: string) => void,
) {
  let signed;
  try {
    signed = openCheckpoint(cp.note, logVerifiers(opts.verifier, opts.originOf(cp.sourceAppId)));
  } catch (err) {
    report('BAD_SIGNATURE', cp.treeSize, `checkpoint at size ${cp.treeSize}: ${(err as Error).message}`);
    return;
  }
  const signedRoot = toHex(signed.rootHash);
  if (signed.origin !== opts.originOf(cp.sourceAppId) || signed.size !== cp.treeSize || signedRoot !== cp.rootHash) {
    report('BAD_CHECKPOINT', cp.treeSize, `checkpoint at size ${cp.treeSize}: stored fields differ from its signed note`);
  }
  if (signedRoot !== toHex(root)) {
    report('ROOT_MISMATCH', cp.treeSize, `signed root at size ${cp.treeSize} is ${signedRoot}, the events give ${toHex(root)}`);
  }
}

async function checkNodes(
  storage: LogStorage,
  sourceAppId: string,
  nodes: Array<{ id: NodeId; hash: Uint8Array }>,
  report: (kind: VerificationProblemKind, seq: number, message: string) => void,
) {
  if (nodes.length === 0) return;
  const stored = await readNodesOrNull(
    storage,
    sourceAppId,
    nodes.map((n) => n.id),
  );
  nodes.forEach((n, i) => {
    const s = stored[i];
    const first = n.id.index * 2 ** n.id.level;
    if (!s) report('TREE_NODE_MISMATCH', first, `tree node (level ${n.id.level}, index ${n.id.index}) is missing`);
    else if (toHex(s) !== toHex(n.hash)) {
      report('TREE_NODE_MISMATCH', first, `tree node (level ${n.id.level}, index ${n.id.index}) does not match the events`);
    }
  });
}

/** Checkpoints of a log in ascending size from `fromSize`, fetched page by page. */
function checkpointCursor(storage: LogStorage, sourceAppId: string, fromSize: number) {
  let buffer: StoredCheckpoint[] = [];
  let after: number | null = fromSize > 0 ? fromSize - 1 : null;
  let done = false;
  return {
    async next(): Promise<StoredCheckpoint | undefined> {
      if (buffer.length === 0 && !done) {
        buffer = await storage.listCheckpoints(sourceAppId, after, 500, 'asc');
        if (buffer.length < 500) done = true;
        if (buffer.length > 0) after = buffer[buffer.length - 1]!.treeSize;
      }
      return buffer.shift();
    },
  };
}

/**
 * The audits a server runs at once: at most one per log and `max` in all. An audit beyond them is
 * refused with RATE_LIMITED and `retryAfterMs`, the time the running audit in the way is expected to
 * need at the pace it has had so far.
 */
export class AuditSlots {
  private readonly running = new Map<string, { startedAt: number; walked: number; total: number }>();

  constructor(
    readonly max: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max concurrent audits must be an integer >= 1, got ${max}`);
  }

  get active(): number {
    return this.running.size;
  }

  /** Runs `audit` in a slot of `sourceAppId`; rejects with LogError RATE_LIMITED when there is none. */
  async run<T>(sourceAppId: string, audit: (onProgress: (walked: number, total: number) => void) => Promise<T>): Promise<T> {
    const same = this.running.get(sourceAppId);
    if (same) throw this.refusal(`an audit of log "${sourceAppId}" is already running`, 'oneAuditPerLog', [same]);
    if (this.running.size >= this.max) {
      throw this.refusal(`${this.max} audits are already running on this server`, 'maxConcurrentAudits', [
        ...this.running.values(),
      ]);
    }
    const slot = { startedAt: this.now(), walked: 0, total: 0 };
    this.running.set(sourceAppId, slot);
    try {
      return await audit((walked, total) => {
        slot.walked = walked;
        slot.total = total;
      });
    } finally {
      this.running.delete(sourceAppId);
    }
  }

  private refusal(
    message: string,
    rule: string,
    blockers: Array<{ startedAt: number; walked: number; total: number }>,
  ): LogError {
    const retryAfterMs = Math.min(...blockers.map((b) => this.remainingMs(b)));
    return new LogError('RATE_LIMITED', `${message}; retry in ${retryAfterMs} ms`, [{ field: 'sourceAppId', rule, message }], {
      retryAfterMs,
    });
  }

  /** Expected time left of a running audit, 1 s while it has no pace yet, within [100 ms, 60 s]. */
  private remainingMs(b: { startedAt: number; walked: number; total: number }): number {
    const elapsed = Math.max(1, this.now() - b.startedAt);
    const estimate = b.walked > 0 ? ((b.total - b.walked) * elapsed) / b.walked : 1000;
    return Math.round(Math.min(60_000, Math.max(100, estimate)));
  }
}

// Which erased payloads of a log are erasures: the records of the erasures log that list its events
// (erasureRecords), each recomputed into its leaf and proven by inclusion in the erasures log's checkpoint,
// opened with the key the auditor trusts. Nothing the server says about a record counts without its proof,
// so a key limited to the audited log (which may not read the erasures log itself) proves erasures too.
// The checkpoint must also extend the erasures log's checkpoint the auditor trusted before, by the
// consistency proof the page carries, since such a key may not ask consistencyProof of the erasures log:
// otherwise a server could prove erasures to it against a history of its own making.
import { logVerifiers, PositionSet, toHex, type NoteVerifier, type Policy } from '../core/index.js';
import { ask } from './asking.js';
import { checkCheckpointNote } from './checkpoint.js';
import { checkPage, ERASURES_LOG, type ErasureRecordsPage } from './erasure-records.js';
import { finding, type Finding } from './findings.js';
import { GraphqlError, type GraphqlClient } from './graphql-client.js';
import { checkConsistency, type TreeHead } from './proofs.js';
import * as q from './queries.js';
import { checkWitnesses } from './witnesses.js';

/**
 * How long, at most, the audit waits for a checkpoint of the erasures log to cover a record it lacks: two
 * of the server's checkpoint intervals (serverInfo.checkpointIntervalMs) and a second, since a record is
 * committed before its erasure is applied and checkpointed within an interval; this long when the server
 * does not say.
 */
export const LATE_RECORD_WAIT_MS = 5000;
/** The longest wait the server's checkpoint interval can ask for (a server does not hold an audit longer). */
export const MAX_LATE_RECORD_WAIT_MS = 60_000;
const LATE_RECORD_POLL_MS = 250;

async function lateRecordWaitMs(client: GraphqlClient): Promise<number> {
  try {
    const info = await client.request(q.CHECKPOINT_INTERVAL, {}, q.checkpointIntervalSchema);
    return Math.min(MAX_LATE_RECORD_WAIT_MS, 2 * info.serverInfo.checkpointIntervalMs + 1000);
  } catch {
    return LATE_RECORD_WAIT_MS;
  }
}

export interface ErasureListing {
  /** Positions of the audited log that proven records list. */
  listed: PositionSet;
  /** Positions in the erasures log of records that list the log and a log the key may not read. */
  withheld: number[];
  /** The erasures log's checkpoint the records were proven against; null when it has none. */
  treeSize: number | null;
  /**
   * That checkpoint (the newest read): opened with the trusted key and shown to extend `trusted` and every
   * checkpoint of the erasures log read before it in this listing. Null when none was read.
   */
  checkpoint: { treeSize: number; rootHash: string; note: string } | null;
}

export interface ErasureListingOptions {
  client: GraphqlClient;
  app: string;
  originPrefix: string;
  verifier: NoteVerifier;
  /** The audited log's payload-less positions: the listing is read until it lists them all, or to its end. */
  erased: PositionSet;
  findings: Finding[];
  /** Default: from the server's checkpoint interval (LATE_RECORD_WAIT_MS). */
  lateRecordWaitMs?: number | undefined;
  /**
   * Called when the audit starts waiting for a newer erasures checkpoint: the listing lacks some of `erased`,
   * or (--policy) the checkpoint read lacks its quorum.
   */
  onWaitingForRecords?: (treeSize: number | null) => void;
  /** The erasures log's checkpoint trusted before (the state file's): the first one read must extend it. */
  trusted?: TreeHead | null | undefined;
  /**
   * --policy: each erasures log checkpoint the records are proven against must carry the policy's quorum, as
   * the audited log's must. One that does not (the first one read, or a newer one found while waiting for a
   * late record) is awaited within the late-record wait until it, or a newer one, does.
   */
  policy?: Policy | undefined;
}

/**
 * The erased positions of `app` that records proven in the erasures log list. A record that does not
 * prove earns a finding and lists nothing. When the latest checkpoint's records leave some of `erased`
 * unlisted, a larger checkpoint is awaited (an erasure is recorded before it is applied, and its record may
 * not be checkpointed yet), and the records it adds are read; a smaller one (a server behind) adds none.
 * Each read must move forward within the checkpoint (`next`, withheld positions), so a server cannot keep
 * the audit reading. Each checkpoint read must extend the one before it (`trusted`, then the previous one
 * read), by the consistency proof its first page carries: one of the same size with another root is a FORK.
 * With `policy`, a checkpoint without its quorum (the first one read or a later one) is awaited like a
 * late record, until one that carries it is served. Null (with a finding) when the erasures log's
 * checkpoint cannot be opened or read, or does not extend the one before it, or the server says its
 * checkpoint is smaller than the trusted one.
 */
export async function listErasures(o: ErasureListingOptions): Promise<ErasureListing | null> {
  const origin = `${o.originPrefix}/${ERASURES_LOG}`;
  const at = o.erased.lowest() ?? 0;
  const out: ErasureListing = { listed: new PositionSet(), withheld: [], treeSize: null, checkpoint: null };
  const missing = () => {
    for (const seq of o.erased) if (!out.listed.has(seq)) return true;
    return false;
  };
  const trusted: TreeHead | null = o.trusted ?? null;
  /** The newest checkpoint read in this listing (accepted, or awaiting its quorum): the next one must extend it. */
  let read: { head: TreeHead; note: string } | null = null;
  /** --policy: the newest checkpoint read, its records unread while its witnesses may still cosign it. */
  let awaiting: Pending | null = null;
  let from = 0;
  let waitUntil: number | null = null;
  /** Proves the records `p` adds against its checkpoint, which the listing then holds. */
  const accept = async (p: Pending): Promise<boolean> => {
    o.findings.push(...p.witnessFindings);
    awaiting = null;
    if (!(await readRecords(o, p.head, p.page, from, at, out))) return false;
    out.treeSize = p.head.treeSize;
    out.checkpoint = { treeSize: p.head.treeSize, rootHash: p.rootHash, note: p.note };
    from = p.head.treeSize;
    return true;
  };
  for (;;) {
    const before = read?.head ?? trusted;
    const first = await readFirstPage(o, from, at, before?.treeSize);
    if (first === null) return null;
    if (first instanceof Behind) {
      // The server's checkpoint is smaller than `before`. If that is the trusted one, the erasures log went
      // back (the audited log's ROLLBACK); if one read in this listing, the server is behind: it adds none.
      if (read === null) {
        o.findings.push(
          finding(
            'ROLLBACK',
            at,
            `the erasures log (${origin}): the server's checkpoint is smaller than the one of size ${first.trustedSize} trusted before (it refuses the consistency proof from that size: ${first.message})`,
          ),
        );
        return null;
      }
    } else {
      const cp = first.erasureRecords.checkpoint;
      if (cp === null && trusted !== null && read === null) {
        o.findings.push(
          finding(
            'ROLLBACK',
            at,
            `the erasures log (${origin}) has no checkpoint, but one of size ${trusted.treeSize} was trusted before`,
          ),
        );
        return null;
      }
      // A smaller checkpoint (a server behind) adds none, and the same note again says nothing new.
      if (
        cp !== null &&
        (read === null || cp.treeSize > read.head.treeSize || (cp.treeSize === read.head.treeSize && cp.note !== read.note))
      ) {
        const opened = checkCheckpointNote(cp.note, o.verifier, origin);
        if (opened.finding) {
          o.findings.push(finding(opened.finding.kind, at, `the erasures log's ${opened.finding.message}`));
          return null;
        }
        const head = { treeSize: opened.checkpoint.size, rootHash: opened.checkpoint.rootHash };
        if (cp.treeSize !== head.treeSize || cp.rootHash !== toHex(head.rootHash)) {
          o.findings.push(finding('BAD_CHECKPOINT', at, `the erasures log's checkpoint fields contradict its signed note`));
          return null;
        }
        // A checkpoint that does not extend the one before it is another history: its records prove nothing.
        // One of the size read before with another root is a FORK of the erasures log.
        if (before !== null) {
          const bad = checkConsistency(before, head, first.erasureRecords.consistencyProof ?? null);
          if (bad) {
            o.findings.push(finding(bad.kind, at, `the erasures log (${origin}): ${bad.message}`));
            return null;
          }
        }
        // Only cosignatures were added to the checkpoint already read: nothing to do unless it awaits them.
        const again = read !== null && head.treeSize === read.head.treeSize;
        read = { head, note: cp.note };
        if (!again || awaiting !== null) {
          const p: Pending = { head, rootHash: cp.rootHash, note: cp.note, page: first.erasureRecords, witnessFindings: [] };
          let uncosigned = false;
          if (o.policy) {
            const subject = `the erasures log's checkpoint (${origin})`;
            const w = checkWitnesses(cp.note, head.treeSize, logVerifiers(o.verifier, origin), o.policy, null, 0, subject);
            p.witnessFindings = w.findings.map((f) => finding(f.kind, at, f.message));
            // A checkpoint gets its cosignatures after it is published: its witnesses have the rest of the
            // wait, whether it is the first one read or a later one (a forged cosignature is not waited on).
            uncosigned = w.report !== null && !w.report.met;
          }
          if (uncosigned) awaiting = p;
          else if (!(await accept(p))) return null;
        }
      }
    }
    // Withheld records may list what is missing, or a record may not be checkpointed yet, or a checkpoint
    // not cosigned yet: wait in each case.
    if (!missing() && awaiting === null) return out;
    if (waitUntil === null) {
      waitUntil = Date.now() + (o.lateRecordWaitMs ?? (await lateRecordWaitMs(o.client)));
      o.onWaitingForRecords?.(out.treeSize);
    }
    if (Date.now() >= waitUntil) {
      // A checkpoint never cosigned within the wait fails the audit. The first one read is still what the
      // records are proven against; a later one's records are not read.
      const never: Pending | null = awaiting;
      if (never !== null) {
        if (out.treeSize === null) return (await accept(never)) ? out : null;
        o.findings.push(...never.witnessFindings);
      }
      return out;
    }
    await new Promise((resolve) => setTimeout(resolve, LATE_RECORD_POLL_MS));
  }
}

/** A checkpoint of the erasures log read and shown to extend the one before, with its first page. */
interface Pending {
  head: TreeHead;
  rootHash: string;
  note: string;
  page: ErasureRecordsPage;
  /** --policy: what its cosignatures lack. */
  witnessFindings: Finding[];
}

/**
 * The records in [from, head.treeSize), read page by page from `page` on (later pages at head's size), each
 * proven against `head`. Each read must move forward within the checkpoint. False (with a finding) when a
 * read fails or does not.
 */
async function readRecords(
  o: ErasureListingOptions,
  head: TreeHead,
  page: ErasureRecordsPage,
  from: number,
  at: number,
  out: ErasureListing,
): Promise<boolean> {
  let pos = from;
  for (;;) {
    const end = page.next ?? head.treeSize;
    const stray = page.withheld.find((w) => !Number.isSafeInteger(w) || w < pos || w >= end);
    if (end <= pos || end > head.treeSize || stray !== undefined) {
      const what = stray !== undefined ? `withheld position ${stray}` : `next ${page.next}`;
      o.findings.push(
        finding(
          'MALFORMED_RESPONSE',
          at,
          `erasureRecords from ${pos}: ${what} is not in [${pos}, ${head.treeSize}) of the erasures log`,
        ),
      );
      return false;
    }
    checkPage(page, head, o, out);
    if (page.next === null) return true;
    pos = page.next;
    const nextPage = await readPage(o, head.treeSize, pos, at);
    if (nextPage === null) return false;
    page = nextPage.erasureRecords;
  }
}

/** A read that goes on within the checkpoint of size `size`. */
function readPage(o: ErasureListingOptions, size: number, from: number, at: number) {
  const request = () => o.client.request(q.ERASURE_RECORDS, { app: o.app, size, from }, q.erasureRecordsSchema);
  return ask(request, at, `erasureRecords from ${from}`, o.findings);
}

/** The server's refusal of `consistentWith`: its checkpoint is smaller than that size (rule beyondCheckpoint). */
class Behind {
  constructor(
    readonly message: string,
    readonly trustedSize: number,
  ) {}
}

/**
 * The first read at the latest checkpoint; with `consistentWith`, its page carries the consistency proof
 * from that size to its checkpoint, or the server says its checkpoint is smaller (Behind).
 */
function readFirstPage(o: ErasureListingOptions, from: number, at: number, consistentWith: number | undefined) {
  const request = async () => {
    if (consistentWith === undefined) {
      return o.client.request(q.ERASURE_RECORDS, { app: o.app, from }, q.erasureRecordsSchema);
    }
    try {
      return await o.client.request(q.ERASURE_RECORDS_CONSISTENT, { app: o.app, from, consistentWith }, q.erasureRecordsSchema);
    } catch (err) {
      if (err instanceof GraphqlError && err.code === 'BAD_USER_INPUT' && err.rule === 'beyondCheckpoint') {
        return new Behind(err.message, consistentWith);
      }
      throw err;
    }
  };
  return ask(request, at, `erasureRecords from ${from}`, o.findings);
}

// Which erased payloads of a log are erasures: the records of the erasures log that list its events
// (erasureRecords), each recomputed into its leaf and proven by inclusion in the erasures log's checkpoint,
// opened with the key the auditor trusts. Nothing the server says about a record counts without its proof,
// so a key limited to the audited log (which may not read the erasures log itself) proves erasures too.
// The checkpoint must also extend the erasures log's checkpoint the auditor trusted before, by the
// consistency proof the page carries, since such a key may not ask consistencyProof of the erasures log:
// otherwise a server could prove erasures to it against a history of its own making.
import { logVerifiers, toHex, type NoteVerifier, type Policy } from '../core/index.js';
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
  listed: Set<number>;
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
  erased: readonly number[];
  findings: Finding[];
  /** Default: from the server's checkpoint interval (LATE_RECORD_WAIT_MS). */
  lateRecordWaitMs?: number | undefined;
  /** Called when the listing lacks some of `erased` and the audit waits for a newer erasures checkpoint. */
  onWaitingForRecords?: (treeSize: number | null) => void;
  /** The erasures log's checkpoint trusted before (the state file's): the first one read must extend it. */
  trusted?: TreeHead | null | undefined;
  /**
   * --policy: each erasures log checkpoint the records are proven against must carry the policy's quorum, as
   * the audited log's must. A newer one found while waiting for a late record is awaited until it does.
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
 * read), by the consistency proof its first page carries; one of the size accepted before with another
 * root is a FORK. Null (with a finding) when the erasures log's checkpoint cannot be opened or read, or
 * does not extend the one before it, or the server says its checkpoint is smaller than the trusted one.
 */
export async function listErasures(o: ErasureListingOptions): Promise<ErasureListing | null> {
  const origin = `${o.originPrefix}/${ERASURES_LOG}`;
  const at = o.erased[0] ?? 0;
  const out: ErasureListing = { listed: new Set(), withheld: [], treeSize: null, checkpoint: null };
  const missing = () => o.erased.some((seq) => !out.listed.has(seq));
  /** The checkpoint the next one must extend: the one trusted before this listing, then the last one read. */
  let before: TreeHead | null = o.trusted ?? null;
  /** The policy's findings on a newer checkpoint left unread while its witnesses may still cosign it. */
  let uncosigned: Finding[] = [];
  let from = 0;
  let waitUntil: number | null = null;
  for (;;) {
    const read = await readFirstPage(o, from, at, before?.treeSize);
    if (read === null) return null;
    if (read instanceof Behind && out.treeSize === null) {
      // The server's checkpoint is smaller than the trusted one: the erasures log went back, as the audited
      // log's ROLLBACK. Smaller than one read in this listing: a server behind, which adds none (below).
      o.findings.push(
        finding(
          'ROLLBACK',
          at,
          `the erasures log (${origin}): the server's checkpoint is smaller than the one of size ${read.trustedSize} trusted before (it refuses the consistency proof from that size: ${read.message})`,
        ),
      );
      return null;
    }
    const first = read instanceof Behind ? null : read;
    const cp = first?.erasureRecords.checkpoint ?? null;
    if (first !== null && cp === null && before !== null && out.treeSize === null) {
      o.findings.push(
        finding(
          'ROLLBACK',
          at,
          `the erasures log (${origin}) has no checkpoint, but one of size ${before.treeSize} was trusted before`,
        ),
      );
      return null;
    }
    uncosigned = [];
    // The size accepted before with another root signed by the trusted key: a FORK of the erasures log.
    if (first !== null && cp !== null && out.checkpoint !== null && cp.treeSize === out.checkpoint.treeSize) {
      const opened = cp.note === out.checkpoint.note ? null : checkCheckpointNote(cp.note, o.verifier, origin);
      if (opened?.checkpoint && toHex(opened.checkpoint.rootHash) !== out.checkpoint.rootHash) {
        const roots = `trusted ${out.checkpoint.rootHash}, new ${toHex(opened.checkpoint.rootHash)}`;
        o.findings.push(finding('FORK', at, `the erasures log (${origin}): two signed roots for size ${cp.treeSize}: ${roots}`));
        return null;
      }
    }
    if (first !== null && cp !== null && (out.treeSize === null || cp.treeSize > out.treeSize)) {
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
      if (before !== null) {
        const bad = checkConsistency(before, head, first.erasureRecords.consistencyProof ?? null);
        if (bad) {
          o.findings.push(finding(bad.kind, at, `the erasures log (${origin}): ${bad.message}`));
          return null;
        }
      }
      let witnessFindings: Finding[] = [];
      if (o.policy) {
        const subject = `the erasures log's checkpoint (${origin})`;
        const w = checkWitnesses(cp.note, head.treeSize, logVerifiers(o.verifier, origin), o.policy, null, 0, subject);
        witnessFindings = w.findings.map((f) => finding(f.kind, at, f.message));
        // A checkpoint published while the audit waits gets its cosignatures after it is published: its
        // witnesses have the rest of the wait (a forged cosignature is not waited on).
        if (w.report !== null && !w.report.met && waitUntil !== null) uncosigned = witnessFindings;
      }
      if (uncosigned.length === 0) {
        o.findings.push(...witnessFindings);
        if (!(await readRecords(o, head, first.erasureRecords, from, at, out))) return null;
        out.treeSize = head.treeSize;
        out.checkpoint = { treeSize: head.treeSize, rootHash: cp.rootHash, note: cp.note };
        before = head;
        from = head.treeSize;
      }
    }
    // Withheld records may list what is missing, or a record may not be checkpointed yet: wait either way.
    if (!missing()) return out;
    if (waitUntil === null) {
      waitUntil = Date.now() + (o.lateRecordWaitMs ?? (await lateRecordWaitMs(o.client)));
      o.onWaitingForRecords?.(out.treeSize);
    }
    if (Date.now() >= waitUntil) {
      // The newer checkpoint never carried the quorum: that, not only the records it would have added, fails.
      o.findings.push(...uncosigned);
      return out;
    }
    await new Promise((resolve) => setTimeout(resolve, LATE_RECORD_POLL_MS));
  }
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

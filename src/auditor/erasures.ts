// Which erased payloads of a log are erasures: the records of the erasures log that list its events
// (erasureRecords), each recomputed into its leaf and proven by inclusion in the erasures log's checkpoint,
// opened with the key the auditor trusts. Nothing the server says about a record counts without its proof,
// so a key limited to the audited log (which may not read the erasures log itself) proves erasures too.
import { toHex, type NoteVerifier } from '../core/index.js';
import { ask } from './asking.js';
import { checkCheckpointNote } from './checkpoint.js';
import { checkPage, ERASURES_LOG, type ErasureRecordsPage } from './erasure-records.js';
import { finding, type Finding } from './findings.js';
import type { GraphqlClient } from './graphql-client.js';
import * as q from './queries.js';

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
}

/**
 * The erased positions of `app` that records proven in the erasures log list. A record that does not
 * prove earns a finding and lists nothing. When the latest checkpoint's records leave some of `erased`
 * unlisted, a larger checkpoint is awaited (an erasure is recorded before it is applied, and its record may
 * not be checkpointed yet), and the records it adds are read; a smaller one (a server behind) adds none.
 * Each read must move forward within the checkpoint (`next`, withheld positions), so a server cannot keep
 * the audit reading. Null (with a finding) when the erasures log's checkpoint cannot be opened or read.
 */
export async function listErasures(o: ErasureListingOptions): Promise<ErasureListing | null> {
  const origin = `${o.originPrefix}/${ERASURES_LOG}`;
  const at = o.erased[0] ?? 0;
  const out: ErasureListing = { listed: new Set(), withheld: [], treeSize: null };
  const missing = () => o.erased.some((seq) => !out.listed.has(seq));
  let from = 0;
  let waitUntil: number | null = null;
  for (;;) {
    const first = await readPage(o, undefined, from, at);
    if (first === null) return null;
    const cp = first.erasureRecords.checkpoint;
    if (cp !== null && (out.treeSize === null || cp.treeSize > out.treeSize)) {
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
      // Records from `from` up to this checkpoint's size, each proven against it.
      let page: ErasureRecordsPage | null = first.erasureRecords;
      let pos = from;
      while (page !== null) {
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
          return null;
        }
        checkPage(page, head, o, out);
        if (page.next === null) break;
        pos = page.next;
        const nextPage = await readPage(o, head.treeSize, pos, at);
        if (nextPage === null) return null;
        page = nextPage.erasureRecords;
      }
      out.treeSize = head.treeSize;
      from = head.treeSize;
    }
    // Withheld records may list what is missing, or a record may not be checkpointed yet: wait either way.
    if (!missing()) return out;
    if (waitUntil === null) {
      waitUntil = Date.now() + (o.lateRecordWaitMs ?? (await lateRecordWaitMs(o.client)));
      o.onWaitingForRecords?.(out.treeSize);
    }
    if (Date.now() >= waitUntil) return out;
    await new Promise((resolve) => setTimeout(resolve, LATE_RECORD_POLL_MS));
  }
}

function readPage(o: ErasureListingOptions, size: number | undefined, from: number, at: number) {
  return ask(
    () => o.client.request(q.ERASURE_RECORDS, { app: o.app, size, from }, q.erasureRecordsSchema),
    at,
    `erasureRecords from ${from}`,
    o.findings,
  );
}

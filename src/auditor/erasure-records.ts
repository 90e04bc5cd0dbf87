// One page of erasureRecords, checked: each record's leaf recomputed from its fields and proven by
// inclusion in the erasures log's checkpoint before the positions it lists count as erased. Pure (the
// core only), for the auditor CLI and the dashboard alike.
import { leafHashHex, type AnyLeafFields } from '../core/index.js';
import { finding, type Finding } from './findings.js';
import { checkInclusion, type TreeHead } from './proofs.js';
import type { ServedEvent } from './range-page.js';

/** The reserved log of erasure records (src/log/erasure.ts). */
export const ERASURES_LOG = '_erasures';

/** A page of erasureRecords as the API serves it (the fields the check reads). */
export interface ErasureRecordsPage {
  records: Array<{ event: ServedEvent; hashes: string[] }>;
  withheld: number[];
  next: number | null;
}

/** Adds to `out` what the page's records list of the audited log, once each record proves against `head`. */
export function checkPage(
  page: ErasureRecordsPage,
  head: TreeHead,
  o: { app: string; findings: Finding[] },
  out: { listed: { add(seq: number): unknown }; withheld: number[] },
): void {
  out.withheld.push(...page.withheld);
  for (const { event, hashes } of page.records) {
    const seqs = listedSeqs(event, o.app);
    const at = seqs[0] ?? null;
    const where = `erasure record ${ERASURES_LOG}/${event.seq}`;
    if (event.sourceAppId !== ERASURES_LOG || !Number.isSafeInteger(event.seq) || event.seq < 0 || event.seq >= head.treeSize) {
      o.findings.push(
        finding(
          'WRONG_POSITION',
          at,
          `${where} is not an event of the erasures log below its checkpoint's size ${head.treeSize}`,
        ),
      );
      continue;
    }
    if (typeof event.payloadHash === 'string') {
      // The erasures log has leaf version 1: its leaf holds the record itself, not a commitment to it.
      o.findings.push(
        finding('BAD_EVENT', at, `${where} is served as leaf version 2; the erasures log's leaves hold their records`),
      );
      continue;
    }
    let leaf: string;
    try {
      leaf = leafHashHex(event as AnyLeafFields);
    } catch (err) {
      o.findings.push(finding('BAD_EVENT', at, `${where} cannot be encoded as a leaf: ${(err as Error).message}`));
      continue;
    }
    const bad = checkInclusion(event.seq, leaf, head, hashes);
    if (bad) {
      o.findings.push(finding(bad.kind, at, `${where}: ${bad.message}; the positions it lists are not counted as erased`));
      continue;
    }
    for (const seq of seqs) out.listed.add(seq);
  }
}

/** The positions of `app` a record lists (`payload.events` of `[sourceAppId, seq, payloadHash]`), lowest first. */
export function listedSeqs(event: Pick<ServedEvent, 'payload'>, app: string): number[] {
  const events = (event.payload as { events?: unknown } | null)?.events;
  if (!Array.isArray(events)) return [];
  const seqs: number[] = [];
  for (const item of events) {
    if (Array.isArray(item) && item[0] === app && Number.isSafeInteger(item[1])) seqs.push(item[1] as number);
  }
  return seqs.sort((a, b) => a - b);
}

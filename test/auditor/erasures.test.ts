// checkPage: what an erasure record must be before the positions it lists count as erased (the erasures
// log's records built with the core alone; the whole flow against the server: test/e2e/erasure-audit.test.ts).
import { describe, expect, it } from 'vitest';
import { checkPage, type ErasureRecordsPage } from '../../src/auditor/erasure-records.js';
import type { Finding } from '../../src/auditor/findings.js';
import { APP, erasuresLog, type TestLog } from './log-fixture.js';

const HASH = 'ab'.repeat(32);

/** An erasures log of three records: the first lists APP's 4 and 2, the second another log's 1, the third APP's 7. */
const threeRecords = (): TestLog =>
  erasuresLog([
    [
      [APP, 4, HASH],
      [APP, 2, HASH],
    ],
    [['other', 1, HASH]],
    [[APP, 7, HASH]],
  ]);

function check(log: TestLog, records: ErasureRecordsPage['records'], withheld: number[] = []) {
  const findings: Finding[] = [];
  const out = { listed: new Set<number>(), withheld: [] as number[] };
  const page: ErasureRecordsPage = { records, withheld, next: null };
  checkPage(page, { treeSize: log.leaves.length, rootHash: log.root() }, { app: APP, findings }, out);
  return { findings, listed: [...out.listed].sort((a, b) => a - b), withheld: out.withheld };
}

const proven = (log: TestLog, seq: number) => ({ event: structuredClone(log.events[seq]!), hashes: log.inclusion(seq) });

describe('erasure records', () => {
  it('count the positions of the audited log that records proven in the erasures log list', () => {
    const log = threeRecords();
    const r = check(log, [proven(log, 0), proven(log, 2)], [1]);
    expect(r).toEqual({ findings: [], listed: [2, 4, 7], withheld: [1] });
  });

  it('a record edited after it was logged lists nothing, and is named with the lowest position it claims', () => {
    const log = threeRecords();
    const edited = proven(log, 0);
    (edited.event.payload as { events: unknown[] }).events.push([APP, 1, HASH]);
    const r = check(log, [edited, proven(log, 2)]);
    expect(r.listed).toEqual([7]);
    expect(r.findings).toEqual([
      expect.objectContaining({
        kind: 'BAD_INCLUSION_PROOF',
        seq: 1,
        message: expect.stringMatching(/_erasures\/0.*not counted/),
      }),
    ]);
  });

  it('a proof of another position, a record of another log, or one that is no leaf, lists nothing', () => {
    const log = threeRecords();
    const moved = proven(log, 0);
    moved.hashes = log.inclusion(2);
    const foreign = proven(log, 2);
    foreign.event.sourceAppId = APP;
    const past = proven(log, 2);
    past.event.seq = 3;
    const broken = proven(log, 2);
    broken.event.timestamp = 'yesterday';
    const r = check(log, [moved, foreign, past, broken]);
    expect(r.listed).toEqual([]);
    expect(r.findings.map((f) => [f.kind, f.seq])).toEqual([
      ['BAD_INCLUSION_PROOF', 2],
      ['WRONG_POSITION', 7],
      ['WRONG_POSITION', 7],
      ['BAD_EVENT', 7],
    ]);
  });
});

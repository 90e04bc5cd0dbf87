import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/core/canonical-json.js';
import { leafHashHex, parseSalt, payloadCommitment, ZERO_HASH_HEX, type JsonObject } from '../../src/core/index.js';
import { checkCheckpointNote } from '../../src/auditor/checkpoint.js';
import { firstBadSeq, type Finding } from '../../src/auditor/findings.js';
import { checkConsistency, checkInclusion } from '../../src/auditor/proofs.js';
import { verifyRangePage, type RangePage } from '../../src/auditor/range-page.js';
import { APP, makeEvents, ORIGIN, signingKey, TestLog } from './log-fixture.js';

const SIZE = 37;
const PAGE = 10;
const log = new TestLog(makeEvents(SIZE));

/** Verifies the whole log page by page like the auditor does, carrying the chain across pages. */
function auditPages(
  pages: (start: number, end: number) => RangePage,
  root = log.root(),
): { findings: Finding[]; leaves: string[] } {
  const findings: Finding[] = [];
  const leaves: string[] = [];
  let prev: string | null = ZERO_HASH_HEX;
  for (let start = 0; start < SIZE; start += PAGE) {
    const end = Math.min(SIZE, start + PAGE);
    const r = verifyRangePage(pages(start, end), { app: APP, start, end, treeSize: SIZE, rootHash: root, prevLeafHash: prev });
    findings.push(...r.findings);
    leaves.push(...r.leafHashes.map((h) => h ?? '?'));
    prev = r.leafHashes.at(-1) ?? null;
  }
  return { findings, leaves };
}

describe('checkpoint', () => {
  const key = signingKey();
  it('opens a note signed by the trusted key for the expected origin', () => {
    const r = checkCheckpointNote(log.note(key.signer), key.verifier, ORIGIN);
    expect(r.finding).toBeNull();
    expect(r.checkpoint?.size).toBe(SIZE);
  });
  it('a bad signature names the checkpoint size', () => {
    const other = signingKey(); // same key name, different key
    const r = checkCheckpointNote(log.note(other.signer), key.verifier, ORIGIN);
    expect(r.finding).toMatchObject({ kind: 'BAD_SIGNATURE', seq: SIZE });
    const forged = log.note(key.signer).replace(`\n${SIZE}\n`, `\n${SIZE + 1}\n`);
    expect(checkCheckpointNote(forged, key.verifier, ORIGIN).finding).toMatchObject({ kind: 'BAD_SIGNATURE', seq: SIZE + 1 });
  });
  it('a checkpoint of another log is refused', () => {
    const r = checkCheckpointNote(log.note(key.signer, SIZE, 'test.chainlog/auth'), key.verifier, ORIGIN);
    expect(r.finding).toMatchObject({ kind: 'WRONG_ORIGIN', seq: SIZE });
  });
});

describe('range pages', () => {
  it('an honest log verifies page by page, recomputing every leaf', () => {
    const { findings, leaves } = auditPages((s, e) => log.rangePage(s, e));
    expect(findings).toEqual([]);
    expect(leaves).toEqual(log.events.map((e) => e.hash));
  });

  it('a tampered payload is named by position, although the served hash is the original', () => {
    const { findings } = auditPages((s, e) => {
      const page = log.rangePage(s, e);
      if (s === 20) (page.events[3]!.payload as { total: { amountMinor: number } }).total.amountMinor = 1;
      return page;
    });
    expect(firstBadSeq(findings)).toBe(23);
    expect(findings).toContainEqual(expect.objectContaining({ kind: 'BROKEN_LINK', seq: 24 }));
    expect(findings).toHaveLength(2);
    expect(findings).toContainEqual(expect.objectContaining({ kind: 'LEAF_HASH_MISMATCH', seq: 23 }));
    expect(findings.find((f) => f.seq === 23)?.message).toMatch(/altered/);
  });

  it('a tampered event with a matching forged hash fails the range proof at its page', () => {
    const { findings } = auditPages((s, e) => {
      const page = log.rangePage(s, e);
      if (s === 30) {
        const ev = page.events[5]!;
        ev.eventType = 'order.cancelled';
        ev.hash = '0'.repeat(64); // any served hash: it cannot be made to fold into the signed root
      }
      return page;
    });
    expect(findings).toContainEqual(expect.objectContaining({ kind: 'BAD_RANGE_PROOF', seq: 30 }));
    expect(findings).toContainEqual(expect.objectContaining({ kind: 'BROKEN_LINK', seq: 36 }));
  });

  it('a chain broken at a page boundary is found even though the tree is consistent', () => {
    // The server hashed event 20 with a wrong prevHash: leaves and tree agree, only the chain breaks.
    const broken = new TestLog(makeEvents(SIZE, (e) => e.seq === 20 && (e.prevHash = 'ab'.repeat(32))));
    const { findings } = auditPages((s, e) => broken.rangePage(s, e), broken.root());
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ kind: 'BROKEN_LINK', seq: 20 });
    // Page by page without carrying the link, the same log would look fine: the carry is what finds it.
    const page = broken.rangePage(20, 30);
    const alone = verifyRangePage(page, {
      app: APP,
      start: 20,
      end: 30,
      treeSize: SIZE,
      rootHash: broken.root(),
      prevLeafHash: null,
    });
    expect(alone.findings).toEqual([]);
  });

  it('a wrong root fails every page, naming its start', () => {
    const other = new TestLog(makeEvents(SIZE, (e) => e.seq === 2 && (e.eventType = 'x')));
    const { findings } = auditPages((s, e) => log.rangePage(s, e), other.root());
    expect(findings.map((f) => `${f.kind}@${f.seq}`)).toEqual([
      'BAD_RANGE_PROOF@0',
      'BAD_RANGE_PROOF@10',
      'BAD_RANGE_PROOF@20',
      'BAD_RANGE_PROOF@30',
    ]);
  });

  it('events at the wrong position, of another log, or with unencodable fields are named', () => {
    const page = log.rangePage(0, 10);
    page.events[4]!.seq = 40;
    page.events[6]!.sourceAppId = 'auth';
    page.events[8]!.timestamp = '2024-01-01T00:00:00Z'; // not the leaf's millisecond form
    const r = verifyRangePage(page, {
      app: APP,
      start: 0,
      end: 10,
      treeSize: SIZE,
      rootHash: log.root(),
      prevLeafHash: ZERO_HASH_HEX,
    });
    expect(r.findings.map((f) => `${f.kind}@${f.seq}`)).toEqual(['WRONG_POSITION@4', 'WRONG_POSITION@6', 'BAD_EVENT@8']);
    const short = { ...log.rangePage(0, 10), events: log.rangePage(0, 9).events };
    expect(
      verifyRangePage(short, { app: APP, start: 0, end: 10, treeSize: SIZE, rootHash: log.root(), prevLeafHash: null }).findings,
    ).toEqual([expect.objectContaining({ kind: 'MALFORMED_RESPONSE', seq: 0 })]);
  });
});

describe('the tree nodes served with a page', () => {
  const ctx = (start: number, end: number) => ({
    app: APP,
    start,
    end,
    treeSize: SIZE,
    rootHash: log.root(),
    prevLeafHash: start === 0 ? ZERO_HASH_HEX : log.events[start - 1]!.hash,
  });
  const nodeCount = (page: RangePage) => page.nodes!.reduce((n, run) => n + run.hashes.length, 0);

  it('every node of level 1 and up is compared once over the pages of an audit, and honest ones pass', () => {
    let compared = 0;
    for (let start = 0; start < SIZE; start += PAGE) {
      const end = Math.min(SIZE, start + PAGE);
      const page = log.rangePage(start, end);
      const r = verifyRangePage(page, ctx(start, end));
      expect(r.findings).toEqual([]);
      expect(r.nodesChecked).toBe(nodeCount(page));
      compared += r.nodesChecked;
    }
    // The perfect subtrees of level >= 1 in a tree of 37 leaves: 18 + 9 + 4 + 2 + 1.
    expect(compared).toBe(34);
  });

  it('a wrong or missing node is BAD_TREE_NODE at the first position whose proof carries it', () => {
    // Page [20, 30) completes node (2, 5) over 20..23, carried by the proofs of 16..19; and (1, 14) over
    // 28..29, carried by those of 30..31; and (3, 3) over 24..31 is completed only by page [30, 37).
    const page = log.rangePage(20, 30);
    const level2 = page.nodes!.find((r) => r.level === 2)!;
    level2.hashes[5 - level2.index] = '00'.repeat(32);
    const level1 = page.nodes!.find((r) => r.level === 1)!;
    level1.hashes[14 - level1.index] = null;
    const r = verifyRangePage(page, ctx(20, 30));
    expect(r.findings.map((f) => [f.kind, f.seq])).toEqual([
      ['BAD_TREE_NODE', 16],
      ['BAD_TREE_NODE', 30],
    ]);
    expect(r.findings[0]!.message).toContain(
      `tree node (2, 5) over events [20, 24) is stored as "${'00'.repeat(32)}", but those events hash to ${log.node({ level: 2, index: 5 })}`,
    );
    expect(r.findings[1]!.message).toContain('tree node (1, 14) over events [28, 30) is not stored');
    expect(r.nodesChecked).toBe(nodeCount(page));
    // The events themselves are fine: nothing else is found, and every leaf is recomputed.
    expect(r.leafHashes).toEqual(log.events.slice(20, 30).map((e) => e.hash));
  });

  it('a served hash of any length is named in the finding cut to 80 characters', () => {
    const page = log.rangePage(0, 10);
    page.nodes![0]!.hashes[2] = 'x'.repeat(1_000_000);
    const r = verifyRangePage(page, ctx(0, 10));
    expect(r.findings.map((f) => [f.kind, f.seq])).toEqual([['BAD_TREE_NODE', 6]]);
    expect(r.findings[0]!.message).toContain(`stored as "${'x'.repeat(80)}…"`);
    expect(r.findings[0]!.message.length).toBeLessThan(300);
  });

  it('a node whose sibling has no leaf in the tree yet is named at its own first leaf', () => {
    // Node (2, 8) over 32..35: its sibling (2, 9) starts at 36, a leaf of the tree of 37; node (1, 17)
    // over 34..35 has sibling (1, 16) at 32. With a tree of 36, (2, 8)'s sibling has no leaf.
    const small = new TestLog(makeEvents(36));
    const page = small.rangePage(30, 36);
    const level2 = page.nodes!.find((r) => r.level === 2)!;
    level2.hashes[8 - level2.index] = 'ff'.repeat(32);
    const r = verifyRangePage(page, { ...ctx(30, 36), treeSize: 36, rootHash: small.root() });
    expect(r.findings.map((f) => [f.kind, f.seq])).toEqual([['BAD_TREE_NODE', 32]]);
  });

  it('runs of the wrong level, index or length are a malformed answer, and no node is compared', () => {
    const alter: Array<(p: RangePage) => void> = [
      (p) => p.nodes!.pop(),
      (p) => (p.nodes![0]!.index += 1),
      (p) => p.nodes![1]!.hashes.push(null),
      (p) => (p.nodes = []),
      (p) => p.nodes!.reverse(),
    ];
    for (const a of alter) {
      const page = log.rangePage(10, 20);
      a(page);
      const r = verifyRangePage(page, ctx(10, 20));
      expect(r.findings.map((f) => [f.kind, f.seq])).toEqual([['MALFORMED_RESPONSE', 10]]);
      expect(r.findings[0]!.message).toMatch(/are not the ones its events complete/);
      expect(r.nodesChecked).toBe(0);
    }
  });

  it('nodes are not compared on a page that does not prove, nor where none came (GraphQL)', () => {
    const page = log.rangePage(0, 10);
    (page.events[4]!.payload as { orderId: string }).orderId = 'forged';
    page.nodes![0]!.hashes[0] = null;
    const r = verifyRangePage(page, ctx(0, 10));
    expect(r.nodesChecked).toBe(0);
    expect(r.findings.map((f) => f.kind)).not.toContain('BAD_TREE_NODE');
    const { nodes: _, ...withoutNodes } = log.rangePage(0, 10);
    expect(verifyRangePage(withoutNodes, ctx(0, 10))).toMatchObject({ findings: [], nodesChecked: 0 });
  });
});

describe('range pages of leaf version 2', () => {
  /** The events of `log` as version 2 leaves: a salted commitment to each payload (salt i repeated). */
  const salt = (seq: number) => `ab${(seq % 256).toString(16).padStart(2, '0')}`.repeat(16);
  const v2 = new TestLog(
    makeEvents(SIZE).reduce<ReturnType<typeof makeEvents>>((out, e) => {
      const payloadHash = payloadCommitment(parseSalt(salt(e.seq)), canonicalJson(e.payload));
      const prevHash = out.at(-1)?.hash ?? ZERO_HASH_HEX;
      const fields = { ...e, prevHash, payloadHash, payloadSalt: salt(e.seq) };
      out.push({ ...fields, hash: leafHashHex({ ...fields, payload: undefined }) });
      return out;
    }, []),
  );
  const verify = (page: RangePage, prevLeafHash: string | null = ZERO_HASH_HEX) =>
    verifyRangePage(page, { app: APP, start: 0, end: 10, treeSize: SIZE, rootHash: v2.root(), prevLeafHash });

  it('an honest page verifies; an erased payload is listed, not a finding', () => {
    expect(verify(v2.rangePage(0, 10))).toMatchObject({ findings: [], erased: [] });
    const page = v2.rangePage(0, 10);
    page.events[3]!.payload = null;
    page.events[3]!.payloadSalt = null;
    expect(verify(page)).toMatchObject({ findings: [], erased: [3] });
  });

  it('a salt or payload that is not the committed one is PAYLOAD_MISMATCH at its event, whatever the other salts', () => {
    const cases: Array<[string, (e: RangePage['events'][number]) => void]> = [
      ['uppercase salt', (e) => (e.payloadSalt = e.payloadSalt!.toUpperCase())],
      ['short salt', (e) => (e.payloadSalt = e.payloadSalt!.slice(2))],
      ['non-hex salt', (e) => (e.payloadSalt = `zz${e.payloadSalt!.slice(2)}`)],
      ['no salt', (e) => (e.payloadSalt = null)],
      ['another salt', (e) => (e.payloadSalt = salt(99))],
      ['another payload', (e) => ((e.payload as JsonObject).orderId = 'ord_x')],
    ];
    for (const [name, alter] of cases) {
      const page = v2.rangePage(0, 10);
      alter(page.events[6]!);
      expect(
        verify(page).findings.map((f) => `${f.kind}@${f.seq}`),
        name,
      ).toEqual(['PAYLOAD_MISMATCH@6']);
      // With a second bad salt on the page (the page's salts then read one by one), the same per event.
      page.events[2]!.payloadSalt = page.events[2]!.payloadSalt!.toUpperCase();
      expect(
        verify(page).findings.map((f) => `${f.kind}@${f.seq}`),
        name,
      ).toEqual(['PAYLOAD_MISMATCH@2', 'PAYLOAD_MISMATCH@6']);
    }
  });

  it('a malformed payloadHash or prevHash is BAD_EVENT, also where the chain link is unknown', () => {
    for (const prev of [ZERO_HASH_HEX, null]) {
      const page = v2.rangePage(0, 10);
      page.events[4]!.payloadHash = page.events[4]!.payloadHash!.toUpperCase();
      page.events[0]!.prevHash = 'AB'.repeat(32);
      const kinds = verify(page, prev).findings.map((f) => `${f.kind}@${f.seq}`);
      expect(kinds).toContain('BAD_EVENT@0');
      expect(kinds).toContain('BAD_EVENT@4');
      expect(kinds).not.toContain('PAYLOAD_MISMATCH@4');
    }
  });
});

describe('inclusion and consistency', () => {
  const head = (size: number) => ({ treeSize: size, rootHash: log.root(size) });

  it('inclusion of a recomputed leaf verifies; another leaf fails at its position', () => {
    expect(checkInclusion(17, log.events[17]!.hash, head(SIZE), log.inclusion(17))).toBeNull();
    expect(checkInclusion(17, log.events[18]!.hash, head(SIZE), log.inclusion(17))).toMatchObject({
      kind: 'BAD_INCLUSION_PROOF',
      seq: 17,
    });
  });

  it('accepts a proved extension; rollback, fork and a bad proof are findings', () => {
    expect(checkConsistency(head(11), head(SIZE), log.consistency(11, SIZE))).toBeNull();
    expect(checkConsistency(head(SIZE), head(SIZE), null)).toBeNull();
    expect(checkConsistency(head(SIZE), head(30), null)).toMatchObject({ kind: 'ROLLBACK', seq: 30 });
    expect(checkConsistency(head(SIZE), { treeSize: SIZE, rootHash: log.root(30) }, null)).toMatchObject({
      kind: 'FORK',
      seq: SIZE,
    });
    const forked = new TestLog(makeEvents(SIZE, (e) => e.seq === 5 && (e.eventType = 'rewritten')));
    const forkedHead = { treeSize: SIZE, rootHash: forked.root() };
    expect(checkConsistency(head(11), forkedHead, forked.consistency(11, SIZE))).toMatchObject({
      kind: 'BAD_CONSISTENCY_PROOF',
      seq: 11,
    });
  });
});

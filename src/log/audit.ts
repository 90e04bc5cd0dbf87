// Verification of a stored log: walk its events and checkpoints, recompute everything that is
// derived, and report every problem with its position. Nothing stored is trusted here except the
// starting compact range when the walk begins past 0 (it is then checked against checkpoint roots).
import { CompactRange, rangeNodes } from '../core/compact/range.js';
import { openCheckpoint } from '../core/checkpoint.js';
import { fromHex, toHex } from '../core/hex.js';
import { ZERO_HASH_HEX } from '../core/leaf.js';
import type { NoteVerifier } from '../core/note/signed-note.js';
import type { LogStorage, NodeId, StoredCheckpoint } from '../storage/types.js';
import { eventLeafHash } from './event-leaf.js';
import { notFound, badInput } from './errors.js';
import type { VerificationProblem, VerificationProblemKind, VerificationReport } from './service.js';

const CHUNK = 2000;
const MAX_PROBLEMS = 1000;

export interface AuditOptions {
  verifier: NoteVerifier;
  originOf: (sourceAppId: string) => string;
}

export async function auditLog(
  storage: LogStorage,
  opts: AuditOptions,
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

  const problems: VerificationProblem[] = [];
  /** Leaves whose own content is wrong: tree nodes above them are consequences, not new findings. */
  const badLeaves: number[] = [];
  const report = (kind: VerificationProblemKind, seq: number, message: string) => {
    if (kind === 'LEAF_HASH_MISMATCH' || kind === 'GAP' || kind === 'DUPLICATE_POSITION') badLeaves.push(seq);
    if (problems.length < MAX_PROBLEMS) problems.push({ kind, seq, message });
  };

  // Starting state: the tree and link just before fromSeq.
  let range = CompactRange.new(0);
  let prevLeaf = ZERO_HASH_HEX;
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
  while (expected < toSeq) {
    const events = await storage.getEventRange(sourceAppId, expected, toSeq, CHUNK);
    if (events.length === 0) {
      report('GAP', expected, `events ${expected}..${toSeq - 1} are missing`);
      break;
    }
    const nodes: Array<{ id: NodeId; hash: Uint8Array }> = [];
    for (const e of events) {
      if (e.seq < expected) {
        report('DUPLICATE_POSITION', e.seq, `position ${e.seq} is stored more than once`);
        continue;
      }
      if (e.seq > expected) {
        report('GAP', expected, `events ${expected}..${e.seq - 1} are missing`);
        // Keep walking from here so later problems are still found; roots will not match now.
        while (range.end < e.seq) range.append(fromHex(ZERO_HASH_HEX));
        expected = e.seq;
      }
      const leaf = eventLeafHash(e);
      if (leaf !== e.hash) report('LEAF_HASH_MISMATCH', e.seq, `stored hash ${e.hash} does not match the event's fields (${leaf})`);
      if (e.prevHash !== prevLeaf) report('BROKEN_LINK', e.seq, `prevHash ${e.prevHash} does not link to the previous event (${prevLeaf})`);
      range.append(fromHex(leaf), (id, hash) => {
        if (id.level > 0 && (id.index + 1) * 2 ** id.level <= head.integratedSize) nodes.push({ id, hash });
      });
      prevLeaf = leaf;
      eventsChecked++;
      expected = e.seq + 1;
      await checkCheckpoints(expected);
    }
    const explained = (id: NodeId) => {
      const first = id.index * 2 ** id.level;
      return badLeaves.some((seq) => seq >= first && seq < first + 2 ** id.level);
    };
    await checkNodes(storage, sourceAppId, nodes.filter((n) => !explained(n.id)), report);
  }

  problems.sort((a, b) => a.seq - b.seq);
  return {
    sourceAppId,
    fromSeq,
    toSeq,
    eventsChecked,
    checkpointsChecked,
    ok: problems.length === 0,
    firstBadSeq: problems.length > 0 ? problems[0]!.seq : null,
    problems,
  };
}

async function startingState(storage: LogStorage, sourceAppId: string, fromSeq: number) {
  const hashes = await storage.getTreeNodes(sourceAppId, rangeNodes(0, fromSeq));
  const range = CompactRange.from(0, fromSeq, hashes);
  const prev = await storage.getEvent(sourceAppId, fromSeq - 1);
  return { range, prevLeaf: prev ? eventLeafHash(prev) : ZERO_HASH_HEX };
}

function checkCheckpoint(
  cp: StoredCheckpoint,
  root: Uint8Array,
  opts: AuditOptions,
  report: (kind: VerificationProblemKind, seq: number, message: string) => void,
) {
  let signed;
  try {
    signed = openCheckpoint(cp.note, opts.verifier);
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
  let stored: Array<Uint8Array | null>;
  try {
    stored = await storage.getTreeNodes(sourceAppId, nodes.map((n) => n.id));
  } catch {
    // Some are missing: find which, one by one.
    stored = await Promise.all(
      nodes.map((n) => storage.getTreeNodes(sourceAppId, [n.id]).then((h) => h[0] ?? null, () => null)),
    );
  }
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

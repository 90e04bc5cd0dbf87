// One page of events with its range proof: recompute every leaf from the served fields (never trusting the
// served `hash`), check the hash chain, and fold the page into the checkpoint root.
import {
  checkedLeafHashHex,
  completedNodes,
  equalBytes,
  fromHex,
  isHex64,
  payloadMatchesCommitment,
  payloadMatchesCommitmentOfSalt,
  ProofError,
  toHex,
  verifyRangeHex,
  type AnyLeafFields,
  type EventJson,
  type JsonObject,
  type NodeId,
  type NodeVisitor,
} from '../core/index.js';
import { finding, type Finding } from './findings.js';

/** An event as the API serves it (EventJson), every field untrusted: the payload may be anything. */
export type ServedEvent = Omit<EventJson, 'payload'> & { payload: unknown };

export interface RangePage {
  start: number;
  end: number;
  treeSize: number;
  leftHashes: string[];
  rightHashes: string[];
  /**
   * The stored tree nodes the page's events complete, one run per level from 1 up (asked for with the
   * page: src/api/rest/range-proof.ts); absent where the page came without them (GraphQL's rangeProof).
   */
  nodes?: ServedNodeRun[] | undefined;
  events: ServedEvent[];
}

/** Served nodes of one level, indexes [index, index + hashes.length); a hash is null where one is not stored. */
export interface ServedNodeRun {
  level: number;
  index: number;
  hashes: Array<string | null>;
}

export interface PageContext {
  app: string;
  /** The range asked for; the page must be exactly that. */
  start: number;
  end: number;
  /** The verified checkpoint. */
  treeSize: number;
  rootHash: Uint8Array;
  /** Recomputed leaf hash of the event at start - 1 (64 zeros when start = 0); null if unknown. */
  prevLeafHash: string | null;
}

export interface PageResult {
  findings: Finding[];
  /** Recomputed leaf hashes, by position in the page; null where the event could not be encoded. */
  leafHashes: Array<string | null>;
  /** Positions of leaf version 2 events served without their payload (erased: the erasures log must list them). */
  erased: number[];
  /** Served tree nodes compared with the recomputed ones (0 when the page came without nodes, or did not prove). */
  nodesChecked: number;
}

/**
 * The leaf hash of either version from the served fields: version 2 (payloadHash served) whether or not
 * the payload is there. The payload is untrusted: the core refuses one the contract cannot encode, and
 * the caller records that. `prevHashChecked` / `payloadHashChecked`: that field equals a hash this
 * auditor computed (so it is 64 lowercase hex, the format the core would otherwise check).
 */
const recompute = (e: ServedEvent, prevHashChecked: boolean, payloadHashChecked: boolean): string =>
  checkedLeafHashHex(e as AnyLeafFields, prevHashChecked, payloadHashChecked);

const SALT_HEX = 64;
const NO_SALT = '0'.repeat(SALT_HEX);
const LOWER_HEX_TEXT = /^[0-9a-f]*$/;

/**
 * The page's salts decoded in one call, event i's at bytes [32 i, 32 i + 32) (zeros where an event has no
 * 64-character salt), or null when a 64-character salt is not lowercase hex: then each event's salt is
 * read on its own, as payloadMatchesCommitment reads it (and refuses). One check and one decoding per
 * page instead of a format check and a hex decoding per event.
 */
function pageSalts(events: readonly ServedEvent[]): Uint8Array | null {
  const hex = new Array<string>(events.length);
  for (let i = 0; i < events.length; i++) {
    const salt = events[i]!.payloadSalt;
    hex[i] = typeof salt === 'string' && salt.length === SALT_HEX ? salt : NO_SALT;
  }
  const text = hex.join('');
  return LOWER_HEX_TEXT.test(text) ? fromHex(text) : null;
}

/** Whether a version 2 event's served payload and salt are the ones its payloadHash commits to. */
function commitmentHolds(e: ServedEvent, i: number, salts: Uint8Array | null): boolean {
  const salt = e.payloadSalt;
  if (salts !== null && typeof salt === 'string' && salt.length === SALT_HEX)
    return payloadMatchesCommitmentOfSalt(e.payload as JsonObject, salts.subarray(32 * i, 32 * i + 32), e.payloadHash!);
  return payloadMatchesCommitment(e.payload as JsonObject, salt ?? '', e.payloadHash!);
}

/**
 * True when the leaves fold with the proof into the root; throws only on programming errors. `visit` sees
 * the nodes the fold computes (verifyRange), which are the tree's only when this returns true.
 */
function rangeHolds(ctx: PageContext, page: RangePage, leaves: readonly string[], visit?: NodeVisitor): boolean {
  try {
    verifyRangeHex(
      ctx.start,
      ctx.end,
      ctx.treeSize,
      leaves,
      page.leftHashes.map(fromHex),
      page.rightHashes.map(fromHex),
      ctx.rootHash,
      visit,
    );
    return true;
  } catch (err) {
    if (err instanceof ProofError) return false;
    throw err;
  }
}

export function verifyRangePage(page: RangePage, ctx: PageContext): PageResult {
  const { start, end } = ctx;
  const findings: Finding[] = [];
  const shapeOk =
    page.start === start &&
    page.end === end &&
    page.treeSize === ctx.treeSize &&
    page.events.length === end - start &&
    page.leftHashes.every(isHex64) &&
    page.rightHashes.every(isHex64);
  if (!shapeOk) {
    const msg = `range proof for [${start}, ${end}) of size ${ctx.treeSize} came back as [${page.start}, ${page.end}) of size ${page.treeSize} with ${page.events.length} events (or malformed hashes)`;
    return {
      findings: [finding('MALFORMED_RESPONSE', start, msg)],
      leafHashes: Array.from({ length: end - start }, () => null),
      erased: [],
      nodesChecked: 0,
    };
  }

  const events = page.events;
  const leafHashes = new Array<string | null>(events.length);
  const erased: number[] = [];
  let unencoded = 0;
  let prev = ctx.prevLeafHash;
  const salts = pageSalts(events);
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const seq = start + i;
    let hash: string | null = null;
    if (e.seq !== seq || e.sourceAppId !== ctx.app) {
      findings.push(
        finding('WRONG_POSITION', seq, `position ${seq} of ${ctx.app} was served as ${JSON.stringify(e.sourceAppId)}/${e.seq}`),
      );
    } else {
      // Version 2 with its payload: the commitment first, so that a payloadHash equal to the digest needs
      // no format check in the leaf; its refusal (an unencodable payload) counts only once the leaf is
      // encoded, as when it came second: the findings are the same either way.
      const committed = typeof e.payloadHash === 'string' && e.payload !== null && e.payload !== undefined;
      let matches = false;
      let unencodable: Error | null = null;
      if (committed) {
        try {
          matches = commitmentHolds(e, i, salts);
        } catch (err) {
          unencodable = err instanceof Error ? err : new Error(String(err));
        }
      }
      try {
        hash = recompute(e, prev !== null && e.prevHash === prev, matches);
        if (typeof e.payloadHash === 'string') {
          // Version 2: the payload, while served, must be the one the leaf commits to.
          if (!committed) erased.push(seq);
          else if (unencodable !== null) throw unencodable;
          else if (!matches)
            findings.push(
              finding(
                'PAYLOAD_MISMATCH',
                seq,
                `event ${seq}: SHA-256(payloadSalt || payload) is not its payloadHash ${e.payloadHash}`,
              ),
            );
        }
      } catch (err) {
        findings.push(finding('BAD_EVENT', seq, `event ${seq} cannot be encoded as a leaf: ${(err as Error).message}`));
      }
    }
    if (prev !== null && e.prevHash !== prev) {
      findings.push(
        finding('BROKEN_LINK', seq, `event ${seq} has prevHash ${e.prevHash}, but event ${seq - 1} hashes to ${prev}`),
      );
    }
    leafHashes[i] = hash;
    if (hash === null) unencoded++;
    prev = hash;
  }

  // The nodes the page's leaves complete, as the proof's fold computes them: compared with the served
  // ones once the fold has proven them the tree's.
  const computed: Computed = { ids: [], hashes: [] };
  const visit: NodeVisitor | undefined =
    page.nodes &&
    ((id, hash) => {
      if (id.level === 0) return;
      computed.ids.push(id);
      computed.hashes.push(hash);
    });
  if (unencoded === 0 && rangeHolds(ctx, page, leafHashes as string[], visit)) {
    const nodesChecked = page.nodes ? checkNodes(page.nodes, computed, ctx, findings) : 0;
    for (let i = 0; i < leafHashes.length; i++) {
      const h = leafHashes[i];
      if (h !== events[i]!.hash)
        findings.push(
          finding(
            'LEAF_HASH_MISMATCH',
            start + i,
            `event ${start + i} is served with hash ${events[i]!.hash}, but its leaf hash is ${h}`,
          ),
        );
    }
    return { findings, leafHashes, erased, nodesChecked };
  }
  // The recomputed leaves do not fold into the root. If the served hashes do, the signed tree commits to
  // them, so each event whose fields hash differently is exactly an altered event.
  const served = page.events.map((e) => e.hash);
  if (served.every(isHex64) && rangeHolds(ctx, page, served)) {
    leafHashes.forEach((h, i) => {
      if (h !== null && h !== served[i]) {
        findings.push(
          finding(
            'LEAF_HASH_MISMATCH',
            start + i,
            `event ${start + i} was altered: the signed tree holds leaf ${served[i]}, its fields hash to ${h}`,
          ),
        );
      }
    });
    return { findings, leafHashes, erased, nodesChecked: 0 };
  }
  findings.push(
    finding(
      'BAD_RANGE_PROOF',
      start,
      `events [${start}, ${end}) with their range proof do not lead to the checkpoint root of size ${ctx.treeSize}`,
    ),
  );
  return { findings, leafHashes, erased, nodesChecked: 0 };
}

/** Nodes a page's leaves complete, in the order they complete, and their hashes (as verifyRange visits them). */
interface Computed {
  ids: NodeId[];
  hashes: Uint8Array[];
}

/** A run's hashes as one array of bytes (32 per node), or null when one is null or not 64 lowercase hex. */
function runBytes(run: ServedNodeRun): Uint8Array | null {
  for (const h of run.hashes) if (!isHex64(h)) return null;
  return fromHex(run.hashes.join(''));
}

/**
 * The served nodes against `computed`, the ones the page's proven leaves complete (grown onto the compact
 * range [0, start) of its left hashes, which the range proof authenticates: exactly completedNodes(start,
 * end), in the order they complete). A run of the wrong level, index or length is a malformed answer; a
 * hash that differs (or is null: not stored) is a BAD_TREE_NODE, named by the first position whose
 * inclusion proof carries the node (its sibling subtree's first leaf, or its own when the sibling has no
 * leaf in the tree yet). Returns how many nodes it compared.
 */
function checkNodes(served: readonly ServedNodeRun[], computed: Computed, ctx: PageContext, findings: Finding[]): number {
  const want = completedNodes(ctx.start, ctx.end);
  const shapeOk =
    served.length === want.length &&
    want.every(
      (run, i) => served[i]!.level === run.level && served[i]!.index === run.first && served[i]!.hashes.length === run.count,
    );
  if (!shapeOk) {
    const got = served.map((r) => `level ${r.level}: ${r.hashes.length} from ${r.index}`).join(', ');
    const expected = want.map((r) => `level ${r.level}: ${r.count} from ${r.first}`).join(', ');
    findings.push(
      finding(
        'MALFORMED_RESPONSE',
        ctx.start,
        `the tree nodes served with [${ctx.start}, ${ctx.end}) are not the ones its events complete: got ${got || 'none'}, expected ${expected || 'none'}`,
      ),
    );
    return 0;
  }
  // Each level's served hashes decoded in one call where all are lowercase hex (the common answer), and
  // compared as bytes: no hex string per computed node.
  const decoded = served.map(runBytes);
  for (let n = 0; n < computed.ids.length; n++) {
    const { level, index } = computed.ids[n]!;
    const hash = computed.hashes[n]!;
    const run = served[level - 1]!;
    const bytes = decoded[level - 1];
    const at = index - run.index;
    if (bytes && equalBytes(bytes.subarray(32 * at, 32 * at + 32), hash)) continue;
    const got = run.hashes[at] ?? null;
    const truth = toHex(hash);
    if (got === truth) continue;
    const width = 2 ** level;
    const sibling = (index % 2 === 0 ? index + 1 : index - 1) * width;
    findings.push(
      finding(
        'BAD_TREE_NODE',
        sibling < ctx.treeSize ? sibling : index * width,
        `tree node (${level}, ${index}) over events [${index * width}, ${(index + 1) * width}) is ${got === null ? 'not stored' : `stored as ${JSON.stringify(got.length > 80 ? `${got.slice(0, 80)}…` : got)}`}, but those events hash to ${truth}: the proofs that carry it fail`,
      ),
    );
  }
  return computed.ids.length;
}

// One page of events with its range proof: recompute every leaf from the served fields (never trusting the
// served `hash`), check the hash chain, and fold the page into the checkpoint root.
import {
  fromHex,
  isHex64,
  leafHashHex,
  payloadMatchesCommitment,
  ProofError,
  verifyRange,
  type AnyLeafFields,
  type EventJson,
  type JsonObject,
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
  events: ServedEvent[];
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
}

/** The leaf hash of either version from the served fields: version 2 (payloadHash served) whether or not the payload is there. */
// The payload is untrusted: leafHashHex refuses one the contract cannot encode, and the caller records that.
const recompute = (e: ServedEvent): string => leafHashHex(e as AnyLeafFields);

/** True when the leaves fold with the proof into the root; throws only on programming errors. */
function rangeHolds(ctx: PageContext, page: RangePage, leaves: readonly string[]): boolean {
  try {
    verifyRange(
      ctx.start,
      ctx.end,
      ctx.treeSize,
      leaves.map(fromHex),
      page.leftHashes.map(fromHex),
      page.rightHashes.map(fromHex),
      ctx.rootHash,
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
    };
  }

  const leafHashes: Array<string | null> = [];
  const erased: number[] = [];
  let prev = ctx.prevLeafHash;
  page.events.forEach((e, i) => {
    const seq = start + i;
    let hash: string | null = null;
    if (e.seq !== seq || e.sourceAppId !== ctx.app) {
      findings.push(
        finding('WRONG_POSITION', seq, `position ${seq} of ${ctx.app} was served as ${JSON.stringify(e.sourceAppId)}/${e.seq}`),
      );
    } else {
      try {
        hash = recompute(e);
        if (typeof e.payloadHash === 'string') {
          // Version 2: the payload, while served, must be the one the leaf commits to.
          if (e.payload === null || e.payload === undefined) erased.push(seq);
          else if (!payloadMatchesCommitment(e.payload as JsonObject, e.payloadSalt ?? '', e.payloadHash))
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
    leafHashes.push(hash);
    prev = hash;
  });

  const recomputed = leafHashes.filter((h): h is string => h !== null);
  if (recomputed.length === leafHashes.length && rangeHolds(ctx, page, recomputed)) {
    leafHashes.forEach((h, i) => {
      if (h !== page.events[i]!.hash)
        findings.push(
          finding(
            'LEAF_HASH_MISMATCH',
            start + i,
            `event ${start + i} is served with hash ${page.events[i]!.hash}, but its leaf hash is ${h}`,
          ),
        );
    });
    return { findings, leafHashes, erased };
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
    return { findings, leafHashes, erased };
  }
  findings.push(
    finding(
      'BAD_RANGE_PROOF',
      start,
      `events [${start}, ${end}) with their range proof do not lead to the checkpoint root of size ${ctx.treeSize}`,
    ),
  );
  return { findings, leafHashes, erased };
}

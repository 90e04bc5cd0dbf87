// The queries the auditor sends, with zod schemas of what it accepts back.
import { z } from 'zod';

export const SERVER_INFO = `query { serverInfo { originPrefix } }`;
export const serverInfoSchema = z.object({ serverInfo: z.object({ originPrefix: z.string() }) });

export const CHECKPOINT_INTERVAL = `query { serverInfo { checkpointIntervalMs } }`;
export const checkpointIntervalSchema = z.object({ serverInfo: z.object({ checkpointIntervalMs: z.number() }) });

export const LATEST_CHECKPOINT = `query Checkpoint($app: String!) { checkpoint(sourceAppId: $app) { note treeSize rootHash } }`;
export const checkpointSchema = z.object({
  checkpoint: z.object({ note: z.string(), treeSize: z.number(), rootHash: z.string() }).nullable(),
});

export const RANGE_PROOF = `query Range($app: String!, $start: SafeInt!, $end: SafeInt!, $size: SafeInt!) {
  rangeProof(sourceAppId: $app, start: $start, end: $end, treeSize: $size) {
    start end treeSize leftHashes rightHashes
    events { sourceAppId seq eventType timestamp receivedAt payload prevHash hash payloadHash payloadSalt erasedAt }
  }
}`;
const eventSchema = z.object({
  sourceAppId: z.string(),
  seq: z.number(),
  eventType: z.string(),
  timestamp: z.string(),
  receivedAt: z.string(),
  payload: z.unknown(),
  prevHash: z.string(),
  hash: z.string(),
  payloadHash: z.string().nullish(),
  payloadSalt: z.string().nullish(),
  erasedAt: z.string().nullish(),
});
export const rangeProofSchema = z.object({
  rangeProof: z.object({
    start: z.number(),
    end: z.number(),
    treeSize: z.number(),
    leftHashes: z.array(z.string()),
    rightHashes: z.array(z.string()),
    events: z.array(eventSchema),
  }),
});

export const INCLUSION_PROOF = `query Inclusion($app: String!, $seq: SafeInt!, $size: SafeInt!) {
  inclusionProof(sourceAppId: $app, seq: $seq, treeSize: $size) { leafIndex treeSize hashes }
}`;
export const inclusionProofSchema = z.object({
  inclusionProof: z.object({ leafIndex: z.number(), treeSize: z.number(), hashes: z.array(z.string()) }),
});

export const CONSISTENCY_PROOF = `query Consistency($app: String!, $from: SafeInt!, $to: SafeInt!) {
  consistencyProof(sourceAppId: $app, fromSize: $from, toSize: $to) { fromSize toSize hashes }
}`;
export const consistencyProofSchema = z.object({
  consistencyProof: z.object({ fromSize: z.number(), toSize: z.number(), hashes: z.array(z.string()) }),
});

const ERASURE_PAGE = `checkpoint { note treeSize rootHash }
    records { event { sourceAppId seq eventType timestamp receivedAt payload prevHash hash payloadHash } hashes }
    withheld
    next`;

/**
 * The erasure records that list events of one log (erasureRecords), each with its inclusion proof in the
 * erasures log at the page's checkpoint; records withheld from a scoped key by position only.
 */
export const ERASURE_RECORDS = `query Erasures($app: String!, $size: SafeInt, $from: SafeInt) {
  erasureRecords(sourceAppId: $app, treeSize: $size, from: $from) {
    ${ERASURE_PAGE}
  }
}`;

/**
 * The same page with the consistency proof from a size of the erasures log the auditor trusts to the page's
 * checkpoint. A query of its own, so that an audit that trusts no erasures checkpoint yet asks only what
 * erasureRecords has always answered.
 */
export const ERASURE_RECORDS_CONSISTENT = `query ErasuresConsistent($app: String!, $size: SafeInt, $from: SafeInt, $consistentWith: SafeInt!) {
  erasureRecords(sourceAppId: $app, treeSize: $size, from: $from, consistentWith: $consistentWith) {
    ${ERASURE_PAGE}
    consistencyProof
  }
}`;

export const erasureRecordsSchema = z.object({
  erasureRecords: z.object({
    checkpoint: z.object({ note: z.string(), treeSize: z.number(), rootHash: z.string() }).nullable(),
    records: z.array(z.object({ event: eventSchema, hashes: z.array(z.string()) })),
    withheld: z.array(z.number()),
    next: z.number().nullable(),
    consistencyProof: z.array(z.string()).nullish(),
  }),
});

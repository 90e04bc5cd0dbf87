// Offline verification of a receipt (C2SP tlog-proof) of one event, as the API serves them: the leaf is
// recomputed from the event's fields with the core (leaf version 2: the payload checked against its
// commitment), the inclusion proof folded to the checkpoint's root, and the checkpoint's signature checked
// under the log's origin with the verifier key the user pinned. The client's verifyEvent and verifyReceipt
// and `npm run verify -- --receipt` all verify with checkReceipt.
import {
  fromHex,
  leafHashHex,
  payloadMatchesCommitment,
  ReceiptError,
  verifyReceipt,
  type JsonObject,
  type LeafFields,
  type NoteVerifier,
  type VerifiedReceipt,
} from '../core/index.js';

/** The leaf fields of an event given as JSON (GraphQL Event or a REST event; other members are ignored). */
function leafFieldsOf(event: unknown): LeafFields & { hash?: string } {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    throw new ReceiptError('event', 'the event must be a JSON object, as the API serves events');
  }
  const e = event as Record<string, unknown>;
  for (const name of ['sourceAppId', 'eventType', 'timestamp', 'receivedAt', 'prevHash'] as const) {
    if (typeof e[name] !== 'string') throw new ReceiptError('event', `the event's ${name} must be a string`);
  }
  if (!Number.isSafeInteger(e.seq)) throw new ReceiptError('event', "the event's seq must be an integer");
  if (e.hash !== undefined && typeof e.hash !== 'string') throw new ReceiptError('event', "the event's hash must be a string");
  return e as unknown as LeafFields & { hash?: string };
}

export interface ReceiptCheck extends VerifiedReceipt {
  origin: string;
  leafHash: string;
}

/**
 * Verifies `receiptText` for `event` (parsed JSON). The log's origin is `<originPrefix>/<sourceAppId>`,
 * the prefix defaulting to the trusted key's name (a server's KEY_NAME defaults to its ORIGIN_PREFIX).
 * Throws ReceiptError naming the part that fails.
 */
export function checkReceipt(
  receiptText: string,
  event: unknown,
  trusted: NoteVerifier,
  originPrefix: string = trusted.name,
): ReceiptCheck {
  const fields = leafFieldsOf(event);
  let leafHash: string;
  try {
    leafHash = leafHashHex(fields);
  } catch (err) {
    throw new ReceiptError('event', `the event's fields do not make a leaf: ${(err as Error).message}`);
  }
  if (fields.hash !== undefined && fields.hash !== leafHash) {
    throw new ReceiptError('event', `the event's fields hash to ${leafHash}, not to its hash ${fields.hash}`);
  }
  // Leaf version 2: the leaf holds the payload's commitment, so a present payload must match it.
  const v2 = fields as { payloadHash?: unknown; payloadSalt?: unknown; payload?: unknown };
  if (typeof v2.payloadHash === 'string' && v2.payload !== null && v2.payload !== undefined) {
    if (
      !payloadMatchesCommitment(
        v2.payload as JsonObject,
        typeof v2.payloadSalt === 'string' ? v2.payloadSalt : '',
        v2.payloadHash,
      )
    )
      throw new ReceiptError('event', `the event's payload and payloadSalt do not give its payloadHash ${v2.payloadHash}`);
  }
  const origin = `${originPrefix}/${fields.sourceAppId}`;
  return { ...verifyReceipt(receiptText, fromHex(leafHash), fields.seq, trusted, origin), origin, leafHash };
}

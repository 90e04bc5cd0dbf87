// Receipts: C2SP tlog-proof (c2sp.org/tlog-proof) texts, an offline-verifiable proof that an entry is in a
// log: the header line, optional `extra` line, `index <n>`, the inclusion proof one base64 hash a line
// (from the leaf's sibling up to the root's child, RFC 6962 §2.1.1), an empty line, then the log's
// checkpoint note verbatim with all its signatures.
import { fromBase64Strict, toBase64 } from './base64.js';
import { equalBytes } from './bytes.js';
import { logVerifiers, openCheckpoint, type Checkpoint } from './checkpoint.js';
import type { NoteVerifier } from './note/signed-note.js';
import { rootFromInclusionProof } from './proof/verify.js';
import { HASH_SIZE } from './rfc6962/hasher.js';

export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';

export interface TlogProof {
  index: number;
  /** The inclusion proof, from the leaf's sibling up. */
  hashes: Uint8Array[];
  /** The signed checkpoint note, verbatim (ends with a newline). */
  checkpoint: string;
  /** Opaque, unauthenticated application data; absent when the proof has no `extra` line. */
  extra?: Uint8Array;
}

/** A receipt that does not parse or does not verify; `reason` says which part and why. */
export class ReceiptError extends Error {
  override name = 'ReceiptError';
  constructor(
    /** The part of the receipt at fault: header, extra, index, proof, checkpoint, signature, origin, leaf. */
    readonly part: string,
    message: string,
  ) {
    super(message);
  }
}

const INDEX_RE = /^index (0|[1-9][0-9]*)$/;

export function formatTlogProof(p: TlogProof): string {
  if (!Number.isSafeInteger(p.index) || p.index < 0) throw new ReceiptError('index', `invalid index ${p.index}`);
  if (!p.checkpoint.endsWith('\n')) throw new ReceiptError('checkpoint', 'the checkpoint note must end in a newline');
  const lines = [TLOG_PROOF_HEADER];
  if (p.extra !== undefined) lines.push(`extra ${toBase64(p.extra)}`);
  lines.push(`index ${p.index}`);
  for (const h of p.hashes) {
    if (h.length !== HASH_SIZE) throw new ReceiptError('proof', `a proof hash has ${h.length} bytes`);
    lines.push(toBase64(h));
  }
  return `${lines.join('\n')}\n\n${p.checkpoint}`;
}

/** Parses strictly: canonical base64, an index without leading zeros, a non-empty checkpoint. Throws ReceiptError. */
export function parseTlogProof(text: string): TlogProof {
  const lines = text.split('\n');
  let at = 0;
  if (lines[at++] !== TLOG_PROOF_HEADER) {
    throw new ReceiptError('header', `the first line must be ${TLOG_PROOF_HEADER}`);
  }
  let extra: Uint8Array | undefined;
  if (lines[at]?.startsWith('extra ')) {
    const decoded = fromBase64Strict(lines[at]!.slice('extra '.length));
    if (decoded === null) throw new ReceiptError('extra', 'the extra line must hold standard base64');
    extra = decoded;
    at++;
  }
  const indexMatch = INDEX_RE.exec(lines[at++] ?? '');
  const index = indexMatch ? Number(indexMatch[1]) : NaN;
  if (!Number.isSafeInteger(index)) {
    throw new ReceiptError('index', 'an `index <n>` line (a decimal without leading zeros) must follow the header');
  }
  const hashes: Uint8Array[] = [];
  for (; at < lines.length && lines[at] !== ''; at++) {
    const h = fromBase64Strict(lines[at]!);
    if (h === null || h.length !== HASH_SIZE) {
      throw new ReceiptError('proof', `proof line ${hashes.length + 1} is not a base64 SHA-256 hash`);
    }
    hashes.push(h);
  }
  if (at >= lines.length) throw new ReceiptError('checkpoint', 'an empty line and the checkpoint must follow the proof');
  const checkpoint = lines.slice(at + 1).join('\n');
  if (checkpoint === '') throw new ReceiptError('checkpoint', 'the checkpoint note is missing');
  return { index, hashes, checkpoint, ...(extra !== undefined && { extra }) };
}

export interface VerifiedReceipt {
  proof: TlogProof;
  checkpoint: Checkpoint;
}

/**
 * Verifies a receipt of the leaf `leafHash` (SHA-256(0x00 || leaf bytes)) at `expectedIndex` in the log
 * `origin`, whose checkpoints `trusted` signs (under the origin as key name, or under its own name: see
 * logVerifiers). Throws ReceiptError naming the part that fails.
 */
export function verifyReceipt(
  text: string,
  leafHash: Uint8Array,
  expectedIndex: number,
  trusted: NoteVerifier,
  origin: string,
): VerifiedReceipt {
  const proof = parseTlogProof(text);
  if (proof.index !== expectedIndex) {
    throw new ReceiptError('index', `the receipt is for index ${proof.index}, the event is at seq ${expectedIndex}`);
  }
  let checkpoint: Checkpoint;
  try {
    checkpoint = openCheckpoint(proof.checkpoint, logVerifiers(trusted, origin), origin);
  } catch (err) {
    throw new ReceiptError('checkpoint', `the checkpoint does not verify: ${(err as Error).message}`);
  }
  if (proof.index >= checkpoint.size) {
    throw new ReceiptError('index', `index ${proof.index} is beyond the checkpoint's tree size ${checkpoint.size}`);
  }
  let root: Uint8Array;
  try {
    root = rootFromInclusionProof(leafHash, proof.index, checkpoint.size, proof.hashes);
  } catch (err) {
    throw new ReceiptError('proof', `the inclusion proof is malformed: ${(err as Error).message}`);
  }
  if (!equalBytes(root, checkpoint.rootHash)) {
    throw new ReceiptError(
      'proof',
      "the inclusion proof does not lead from the event's leaf to the checkpoint's root hash (a proof hash, the index or the event differs)",
    );
  }
  return { proof, checkpoint };
}

// C2SP tlog-checkpoint bodies (c2sp.org/tlog-checkpoint): origin, tree size, base64 root, then
// optional extension lines, which we never write and ignore when reading.
import { fromBase64Strict, toBase64 } from './base64.js';
import { createVerifier, openNote, signNote } from './note/signed-note.js';
import type { NoteSigner, NoteVerifier } from './note/signed-note.js';
import { HASH_SIZE } from './rfc6962/hasher.js';

export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Uint8Array;
}

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

const SIZE_RE = /^(?:0|[1-9][0-9]*)$/;
// A line may hold no newline nor other ASCII control character (they would make an unopenable note).
const BAD_LINE_CHAR_RE = /[\x00-\x1f]/;

export function formatCheckpoint(c: Checkpoint): string {
  if (c.origin === '' || BAD_LINE_CHAR_RE.test(c.origin)) throw new CheckpointError('origin must be a non-empty single line');
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw new CheckpointError(`invalid tree size ${c.size}`);
  if (c.rootHash.length !== HASH_SIZE) throw new CheckpointError(`root hash has ${c.rootHash.length} bytes`);
  return `${c.origin}\n${c.size}\n${toBase64(c.rootHash)}\n`;
}

export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) throw new CheckpointError('checkpoint must end in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new CheckpointError('checkpoint needs origin, size and root hash lines');
  if (lines.some((l) => l === '')) throw new CheckpointError('checkpoint lines must be non-empty');
  const [origin, sizeLine, rootLine] = lines as [string, string, string];
  if (!SIZE_RE.test(sizeLine)) throw new CheckpointError(`invalid tree size ${JSON.stringify(sizeLine)}`);
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw new CheckpointError(`tree size ${sizeLine} is too large`);
  const rootHash = fromBase64Strict(rootLine);
  if (rootHash === null || rootHash.length !== HASH_SIZE) throw new CheckpointError('invalid root hash');
  return { origin, size, rootHash };
}

export function signCheckpoint(c: Checkpoint, signer: NoteSigner): string {
  return signNote(formatCheckpoint(c), [signer]);
}

/**
 * The verifiers of one log's checkpoints, from the key an auditor trusts (under any name): a log signs
 * its checkpoints under its origin as key name (C2SP tlog-checkpoint), so each log has its own key id;
 * checkpoints signed under the trusted key's own name (as servers did before) stay verifiable.
 */
export function logVerifiers(trusted: NoteVerifier, origin: string): NoteVerifier[] {
  return trusted.name === origin ? [trusted] : [createVerifier(origin, trusted.publicKey), trusted];
}

/**
 * Verifies the note's signature by one of `verifiers`, then parses the body. Throws NoteError or
 * CheckpointError.
 */
export function openCheckpoint(
  note: string,
  verifiers: NoteVerifier | readonly NoteVerifier[],
  expectedOrigin?: string,
): Checkpoint {
  const checkpoint = parseCheckpoint(openNote(note, Array.isArray(verifiers) ? verifiers : [verifiers as NoteVerifier]).text);
  if (expectedOrigin !== undefined && checkpoint.origin !== expectedOrigin) {
    throw new CheckpointError(`checkpoint origin ${JSON.stringify(checkpoint.origin)}, want ${JSON.stringify(expectedOrigin)}`);
  }
  return checkpoint;
}

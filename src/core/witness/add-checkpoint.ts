// The request body of C2SP tlog-witness add-checkpoint (c2sp.org/tlog-witness): an old size line
// "old <N>", up to 63 base64 consistency-proof lines, an empty line, then the signed checkpoint note.
import { fromBase64Strict, toBase64 } from '../base64.js';
import { HASH_SIZE } from '../rfc6962/hasher.js';

/** tlog-witness: a client MUST NOT send more consistency proof lines than this. */
export const MAX_PROOF_LINES = 63;

export interface AddCheckpointRequest {
  /** The size of the checkpoint the client believes the witness cosigned last (0: none). */
  oldSize: number;
  proof: Uint8Array[];
  /** The signed checkpoint note, as sent. */
  note: string;
}

export class AddCheckpointFormatError extends Error {
  override name = 'AddCheckpointFormatError';
}

const SIZE_RE = /^(?:0|[1-9][0-9]*)$/;

export function parseAddCheckpointBody(body: string): AddCheckpointRequest {
  let at = 0;
  const nextLine = (what: string): string => {
    const nl = body.indexOf('\n', at);
    if (nl < 0) throw new AddCheckpointFormatError(`${what}: every line must end in a newline`);
    const line = body.slice(at, nl);
    at = nl + 1;
    return line;
  };
  const oldLine = nextLine('old size line');
  if (!oldLine.startsWith('old ') || !SIZE_RE.test(oldLine.slice(4))) {
    throw new AddCheckpointFormatError('the first line must be "old <size>", the size in decimal without leading zeroes');
  }
  const oldSize = Number(oldLine.slice(4));
  if (!Number.isSafeInteger(oldSize)) throw new AddCheckpointFormatError(`old size ${oldLine.slice(4)} is too large`);
  const proof: Uint8Array[] = [];
  for (;;) {
    const line = nextLine('consistency proof');
    if (line === '') break;
    if (proof.length === MAX_PROOF_LINES)
      throw new AddCheckpointFormatError(`more than ${MAX_PROOF_LINES} consistency proof lines`);
    const hash = fromBase64Strict(line);
    if (hash === null || hash.length !== HASH_SIZE) {
      throw new AddCheckpointFormatError(`consistency proof line ${proof.length + 1} is not a base64 ${HASH_SIZE}-byte hash`);
    }
    proof.push(hash);
  }
  const note = body.slice(at);
  if (note === '') throw new AddCheckpointFormatError('the checkpoint is missing after the empty line');
  return { oldSize, proof, note };
}

export function formatAddCheckpointBody(req: AddCheckpointRequest): string {
  if (!Number.isSafeInteger(req.oldSize) || req.oldSize < 0)
    throw new AddCheckpointFormatError(`invalid old size ${req.oldSize}`);
  if (req.proof.length > MAX_PROOF_LINES)
    throw new AddCheckpointFormatError(`more than ${MAX_PROOF_LINES} consistency proof lines`);
  return `old ${req.oldSize}\n${req.proof.map((h) => `${toBase64(h)}\n`).join('')}\n${req.note}`;
}

/**
 * The origin line of a note, unverified: what a witness looks up before it spends any work on the
 * note (null when the note has no first line).
 */
export function noteOrigin(note: string): string | null {
  const nl = note.indexOf('\n');
  return nl <= 0 ? null : note.slice(0, nl);
}

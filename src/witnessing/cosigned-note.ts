// Adding cosignature lines to a signed note (c2sp.org/signed-note): the note keeps its body and its
// signature lines in order, gains the lines of keys it does not carry yet, and swaps a timestamped
// cosignature (c2sp.org/tlog-cosignature) for the same key's newer one in place. A key (name and key id)
// signs a note at most once, as Go's note.Open requires, so each key keeps exactly one line: its newest.
import { fromBase64Strict } from '../core/base64.js';

const SIG_PREFIX = '\u2014 ';

/** A cosignature/v1 signature: key id (4 bytes), timestamp (8 bytes, big-endian seconds), Ed25519 signature (64 bytes). */
const COSIGNATURE_V1_BYTES = 4 + 8 + 64;

interface Signer {
  /** `<name> <key id hex>` */
  key: string;
  /** The cosignature's timestamp in seconds, or null for a signature without one (the log's own). */
  timestamp: bigint | null;
}

/** The key a signature line is by and its timestamp, or null for a line that is not a signature line. */
function signerOf(line: string): Signer | null {
  if (!line.startsWith(SIG_PREFIX)) return null;
  const rest = line.slice(SIG_PREFIX.length);
  const space = rest.indexOf(' ');
  if (space <= 0) return null;
  const blob = fromBase64Strict(rest.slice(space + 1));
  if (blob === null || blob.length < 5) return null;
  const timestamp =
    blob.length === COSIGNATURE_V1_BYTES ? Buffer.from(blob.buffer, blob.byteOffset, blob.length).readBigUInt64BE(4) : null;
  return { key: `${rest.slice(0, space)} ${Buffer.from(blob.subarray(0, 4)).toString('hex')}`, timestamp };
}

/**
 * `note` with each of `lines` (signature lines, with or without their newline) appended whose key does
 * not sign the note yet, and with a key's timestamped line replaced in place by one of `lines` of that
 * key with a later timestamp (an older or equal one changes nothing; a line without a timestamp is never
 * replaced). Returns `note` itself when nothing changes.
 */
export function addSignatureLines(note: string, lines: readonly string[]): string {
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) throw new Error('not a signed note');
  const existing = note.slice(split + 2, -1).split('\n');
  const out = [...existing];
  const at = new Map<string, { index: number; timestamp: bigint | null }>();
  existing.forEach((line, index) => {
    const signer = signerOf(line);
    if (signer !== null && !at.has(signer.key)) at.set(signer.key, { index, timestamp: signer.timestamp });
  });
  for (const raw of lines) {
    const line = raw.endsWith('\n') ? raw.slice(0, -1) : raw;
    const signer = signerOf(line);
    if (signer === null) continue;
    const current = at.get(signer.key);
    if (!current) {
      at.set(signer.key, { index: out.length, timestamp: signer.timestamp });
      out.push(line);
    } else if (current.timestamp !== null && signer.timestamp !== null && signer.timestamp > current.timestamp) {
      out[current.index] = line;
      current.timestamp = signer.timestamp;
    }
  }
  if (out.every((line, i) => line === existing[i])) return note;
  return `${note.slice(0, split + 2)}${out.join('\n')}\n`;
}

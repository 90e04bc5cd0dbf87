// Adding cosignature lines to a signed note (c2sp.org/signed-note): the note keeps its body and every
// signature line it has, in order, and gains the lines of keys it does not carry yet. A key (name and
// key id) signs a note at most once, as Go's note.Open requires.
import { fromBase64Strict } from '../core/base64.js';

const SIG_PREFIX = '\u2014 ';

/** The key a signature line is by: `<name> <key id hex>`, or null for a line that is not a signature line. */
function signerOf(line: string): string | null {
  if (!line.startsWith(SIG_PREFIX)) return null;
  const rest = line.slice(SIG_PREFIX.length);
  const space = rest.indexOf(' ');
  if (space <= 0) return null;
  const blob = fromBase64Strict(rest.slice(space + 1));
  if (blob === null || blob.length < 5) return null;
  return `${rest.slice(0, space)} ${Buffer.from(blob.subarray(0, 4)).toString('hex')}`;
}

/**
 * `note` with each of `lines` (signature lines, with or without their newline) appended whose key does
 * not sign the note yet. Returns `note` itself when nothing is added.
 */
export function addSignatureLines(note: string, lines: readonly string[]): string {
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) throw new Error('not a signed note');
  const signers = new Set(
    note
      .slice(split + 2, -1)
      .split('\n')
      .map(signerOf),
  );
  let out = note;
  for (const raw of lines) {
    const line = raw.endsWith('\n') ? raw.slice(0, -1) : raw;
    const signer = signerOf(line);
    if (signer === null || signers.has(signer)) continue;
    signers.add(signer);
    out += `${line}\n`;
  }
  return out;
}

// JSON exchanged between systems is UTF-8 (RFC 8259 §8.1, RFC 7493 §2.1). Node decodes bytes that are
// not well-formed UTF-8 to U+FFFD without a word, so a body holding such bytes would be stored and hashed
// as text the client did not send. A request body or a WebSocket message that is not well-formed UTF-8
// is refused instead: BAD_USER_INPUT, rule `encoding` (the rule of a body sent in another charset,
// src/api/charset.ts), naming the offset of the first byte that does not begin a well-formed sequence.
//
// The check is Node's isUtf8 (simdutf), tens of nanoseconds for a single event's body; only a refused text
// is walked again, here, to find the offset.
import { isUtf8 } from 'node:buffer';
import { ApiError } from '../errors.js';

const notUtf8 = (field: string, bytes: Uint8Array, offset: number) =>
  new ApiError(
    'BAD_USER_INPUT',
    `${field}: must be UTF-8 (RFC 8259); the byte at offset ${offset} (0x${(bytes[offset] ?? 0).toString(16).padStart(2, '0')}) does not begin a well-formed UTF-8 sequence`,
    { field, rule: 'encoding' },
  );

/** notUtf8 naming `field`, or undefined when `bytes` are well-formed UTF-8. */
export function findNotUtf8(bytes: Uint8Array, field = 'body'): ApiError | undefined {
  return isUtf8(bytes) ? undefined : notUtf8(field, bytes, firstInvalidUtf8(bytes));
}

/** Throws notUtf8 naming `field` unless `bytes` are well-formed UTF-8. */
export function verifyUtf8(bytes: Uint8Array, field = 'body'): void {
  const refused = findNotUtf8(bytes, field);
  if (refused) throw refused;
}

const isContinuation = (b: number | undefined) => b !== undefined && b >= 0x80 && b <= 0xbf;

/**
 * The offset of the first byte that does not begin a well-formed UTF-8 sequence (The Unicode Standard,
 * Table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF, no sequence cut short), or -1
 * when every byte is part of one.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i++;
      continue;
    }
    // The bytes after the lead, and the range of the first of them (narrower after E0, ED, F0 and F4).
    let more: number;
    let low = 0x80;
    let high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) more = 1;
    else if (lead >= 0xe0 && lead <= 0xef) {
      more = 2;
      if (lead === 0xe0) low = 0xa0;
      else if (lead === 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      more = 3;
      if (lead === 0xf0) low = 0x90;
      else if (lead === 0xf4) high = 0x8f;
    } else return i;
    const second = bytes[i + 1];
    if (second === undefined || second < low || second > high) return i;
    for (let k = 2; k <= more; k++) if (!isContinuation(bytes[i + k])) return i;
    i += more + 1;
  }
  return -1;
}

// Opaque keyset cursors: base64url of a small versioned text form, checked strictly on decode.
import type { EventKey } from '../storage/types.js';
import { badUserInput } from './errors.js';
import { SOURCE_APP_ID } from './validation/rules.js';

const MAX_CURSOR_LENGTH = 256;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const INT = /^-?(0|[1-9]\d{0,15})$/;

const encode = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

/** The cursor's text, or null unless it is canonical base64url (so each position has exactly one cursor). */
function decode(cursor: string): string | null {
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH || !BASE64URL.test(cursor)) return null;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  return encode(text) === cursor ? text : null;
}

function safeInt(text: string | undefined): number | null {
  if (text === undefined || !INT.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

const invalidCursor = (field: string) => badUserInput(field, 'cursor', `${field}: is not a cursor this API issued for this list`);

export const encodeEventCursor = (key: EventKey): string => encode(`e1:${key.timestamp}:${key.pos}`);

export function decodeEventCursor(cursor: string, field: string): EventKey {
  const parts = decode(cursor)?.split(':');
  if (parts?.length !== 3 || parts[0] !== 'e1') throw invalidCursor(field);
  const timestamp = safeInt(parts[1]);
  const pos = safeInt(parts[2]);
  if (timestamp === null || pos === null || pos < 0) throw invalidCursor(field);
  return { timestamp, pos };
}

export const encodeLogCursor = (sourceAppId: string): string => encode(`l1:${sourceAppId}`);

export function decodeLogCursor(cursor: string, field: string): string {
  const text = decode(cursor);
  if (!text?.startsWith('l1:')) throw invalidCursor(field);
  const sourceAppId = text.slice(3);
  if (!SOURCE_APP_ID.test(sourceAppId)) throw invalidCursor(field);
  return sourceAppId;
}

export const encodeCheckpointCursor = (treeSize: number): string => encode(`c1:${treeSize}`);

export function decodeCheckpointCursor(cursor: string, field: string): number {
  const text = decode(cursor);
  const treeSize = text?.startsWith('c1:') ? safeInt(text.slice(3)) : null;
  if (treeSize === null || treeSize < 0) throw invalidCursor(field);
  return treeSize;
}

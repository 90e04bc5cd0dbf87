// The input rules users would expect, as zod schemas; messages name the rule in plain words.
import { z } from 'zod';

export const SOURCE_APP_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const EVENT_TYPE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const PRINTABLE_ASCII = /^[\x20-\x7E]{1,128}$/;
/** A SHA-256 hash as the log format writes it: 64 lowercase hex digits. */
export const HASH_HEX = /^[0-9a-f]{64}$/;

/** Filter lists longer than this are rejected: they would turn into huge IN clauses. */
export const MAX_FILTER_ITEMS = 100;
/** Page size of every connection (GraphQL `first`/`last`) when the client names none. */
export const DEFAULT_PAGE_SIZE = 50;
/** The largest page size a connection accepts; a larger one is refused (serverInfo.limits.maxPageSize). */
export const MAX_PAGE_SIZE = 500;

export const sourceAppId = z
  .string()
  .regex(SOURCE_APP_ID, "must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit");

export const eventType = z
  .string()
  .regex(EVENT_TYPE, "must be 1-128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit");

export const idempotencyKey = z.string().regex(PRINTABLE_ASCII, 'must be 1-128 printable ASCII characters');

export const hashHex = z.string().regex(HASH_HEX, 'must be 64 lowercase hex digits');

/** A log position or tree size. */
export const position = z.number().int('must be an integer').nonnegative('must not be negative').max(Number.MAX_SAFE_INTEGER);

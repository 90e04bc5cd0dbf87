// API key secrets: `clk_` + 32 random bytes in base64url. They are high-entropy, so a plain SHA-256
// is a safe way to store them (no slow KDF needed): only the hash is ever stored or compared.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const SECRET_PREFIX = 'clk_';
const SECRET_BYTES = 32;
/** Longest credential we even hash: anything longer is not one of ours. */
const MAX_SECRET_LENGTH = 512;

export const generateSecret = (): string => SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64url');

/** A key id: public, unrelated to the secret. */
export const generateKeyId = (): string => `key_${randomBytes(9).toString('base64url')}`;

export const hashSecret = (secret: string): string => createHash('sha256').update(secret, 'utf8').digest('hex');

/** Constant-time comparison of two lowercase hex SHA-256 digests. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === 32 && y.length === 32 && timingSafeEqual(x, y);
}

/** `scheme`: an Authorization header that is not `Bearer <secret>` (e.g. the bare key). */
export type Credential = { kind: 'none' } | { kind: 'malformed'; problem?: 'scheme' } | { kind: 'secret'; secret: string };

type HeaderBag = Record<string, unknown> | undefined;

/** A header's value as a string; '\u0000' (malformed) when present but not a string. */
function headerValue(v: unknown): string | undefined {
  const value: unknown = Array.isArray(v) ? v[0] : v;
  if (typeof value === 'string') return value;
  if (value !== undefined && value !== null) return '\u0000';
  return undefined;
}

/**
 * The bag's API key (`x-api-key`, or `apiKey` in connectionParams) and Authorization header, names
 * compared without case; of each, the first the bag holds. One walk of the bag's own keys, with no
 * array of its entries: every request takes this path.
 */
function credentialHeaders(bag: Record<string, unknown>): { key: string | undefined; authorization: string | undefined } {
  let key: string | undefined;
  let authorization: string | undefined;
  for (const name in bag) {
    if (!Object.hasOwn(bag, name)) continue;
    const lower = name.toLowerCase();
    if (key === undefined && (lower === 'x-api-key' || lower === 'apikey')) key = headerValue(bag[name]);
    else if (authorization === undefined && lower === 'authorization') authorization = headerValue(bag[name]);
  }
  return { key, authorization };
}

/**
 * The caller's credential from HTTP headers or graphql-ws connectionParams: `x-api-key: <secret>`
 * (also `apiKey` in connectionParams) or `Authorization: Bearer <secret>`.
 */
export function credentialFrom(...bags: HeaderBag[]): Credential {
  let raw: string | undefined;
  let badScheme = false;
  for (const bag of bags) {
    if (!bag) continue;
    const { key, authorization } = credentialHeaders(bag);
    if (key !== undefined) {
      raw = key;
      badScheme = false;
    } else if (authorization !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      raw = m ? m[1]! : '\u0000';
      badScheme = !m;
    }
  }
  if (raw === undefined) return { kind: 'none' };
  if (badScheme) return { kind: 'malformed', problem: 'scheme' };
  const secret = raw.trim();
  if (secret.length === 0 || secret.length > MAX_SECRET_LENGTH || !/^[\x21-\x7e]+$/.test(secret)) return { kind: 'malformed' };
  return { kind: 'secret', secret };
}

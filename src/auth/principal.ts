// Who is calling, as established by src/api/access.ts for every request and WebSocket operation.
import type { ApiKeyRole } from '../storage/api-key-store.js';

export type Principal =
  /** No credential was sent. */
  | { kind: 'anonymous' }
  /** A credential was sent but is malformed, unknown or revoked. */
  | { kind: 'invalid'; problem?: 'scheme' }
  /** A valid API key (or the bootstrap admin key, id `bootstrap`). */
  | { kind: 'key'; id: string; role: ApiKeyRole; sourceAppIds: readonly string[] | null; name: string | null }
  /** AUTH=off: every caller may do everything. */
  | { kind: 'open' };

export const BOOTSTRAP_KEY_ID = 'bootstrap';

/** The applications a principal is limited to; null = all. Unauthenticated principals see nothing. */
export function scopeOf(p: Principal): readonly string[] | null {
  if (p.kind === 'open') return null;
  if (p.kind === 'key') return p.role === 'admin' ? null : p.sourceAppIds;
  return [];
}

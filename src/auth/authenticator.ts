// API key authentication and management. Lookups are cached briefly (CACHE_TTL_MS) so that a busy
// client does not cost a storage read per request; a revocation therefore takes effect everywhere
// within CACHE_TTL_MS, and at once in the process that revoked.
import { AuthError } from './errors.js';
import {
  API_KEY_ROLES,
  ApiKeyConflictError,
  type ApiKeyInfo,
  type ApiKeyRole,
  type ApiKeyStore,
} from '../storage/api-key-store.js';
import { BOOTSTRAP_KEY_ID, type Principal } from './principal.js';
import { generateKeyId, generateSecret, hashSecret, sameHash, type Credential } from './secrets.js';

export const CACHE_TTL_MS = 2_000;
const MAX_CACHE_ENTRIES = 10_000;
export const MAX_KEY_APPS = 100;

export interface AuthenticatorOptions {
  /** false: AUTH=off, every caller is let through as `open`. */
  enabled: boolean;
  /** Where keys live; without it only the bootstrap admin key works and keys cannot be created. */
  store: ApiKeyStore | undefined;
  /** SHA-256 (hex) of the bootstrap admin key, checked in memory, never stored. */
  bootstrapHash: string | null;
  cacheTtlMs?: number;
  now?: () => number;
}

export interface CreatedKey {
  secret: string;
  key: ApiKeyInfo;
}

interface CacheEntry {
  principal: Principal;
  expiresAt: number;
}

const OPEN: Principal = { kind: 'open' };
const ANONYMOUS: Principal = { kind: 'anonymous' };
const INVALID: Principal = { kind: 'invalid' };
const BOOTSTRAP: Principal = {
  kind: 'key',
  id: BOOTSTRAP_KEY_ID,
  role: 'admin',
  sourceAppIds: null,
  name: 'bootstrap admin key',
};

export class Authenticator {
  readonly enabled: boolean;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<Principal>>();
  /** The secret hash behind each key principal handed out, to re-check it later. */
  private readonly hashes = new WeakMap<Principal, string>();
  private readonly ttl: number;
  private readonly now: () => number;

  constructor(private readonly opts: AuthenticatorOptions) {
    this.enabled = opts.enabled;
    this.ttl = opts.cacheTtlMs ?? CACHE_TTL_MS;
    this.now = opts.now ?? Date.now;
  }

  async authenticate(credential: Credential): Promise<Principal> {
    if (!this.enabled) return OPEN;
    if (credential.kind === 'none') return ANONYMOUS;
    if (credential.kind === 'malformed') return credential.problem ? { kind: 'invalid', problem: credential.problem } : INVALID;
    const hash = hashSecret(credential.secret);
    if (this.opts.bootstrapHash && sameHash(hash, this.opts.bootstrapHash)) return BOOTSTRAP;
    return this.byHash(hash);
  }

  private byHash(hash: string): Promise<Principal> {
    const cached = this.cache.get(hash);
    if (cached && cached.expiresAt > this.now()) return Promise.resolve(cached.principal);
    let pending = this.inflight.get(hash);
    if (!pending) {
      pending = this.lookup(hash).finally(() => this.inflight.delete(hash));
      this.inflight.set(hash, pending);
    }
    return pending;
  }

  private async lookup(hash: string): Promise<Principal> {
    const key = this.opts.store ? await this.opts.store.findBySecretHash(hash) : null;
    const principal: Principal =
      key && key.revokedAt === null
        ? { kind: 'key', id: key.id, role: key.role, sourceAppIds: key.sourceAppIds, name: key.name }
        : INVALID;
    if (principal.kind === 'key') this.hashes.set(principal, hash);
    if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(hash, { principal, expiresAt: this.now() + this.ttl });
    return principal;
  }

  private requireStore(): ApiKeyStore {
    if (!this.opts.store)
      throw new AuthError('BAD_USER_INPUT', 'this storage engine does not store API keys', undefined, 'unsupported');
    return this.opts.store;
  }

  /**
   * Creates a key; the secret is returned only here. The caller has checked each application id and
   * the name against the API's rules; this checks what makes a key: its role, and the applications
   * that role needs. With AUTH=off no key is created: any caller (a web page included) could
   * otherwise mint an admin key that stays valid once the server restarts with AUTH=on. `createdBy` is
   * the id of the admin key asking; it is stored with the key.
   */
  async createKey(args: {
    role: string;
    sourceAppIds?: readonly string[] | null;
    name?: string | null;
    createdBy: string;
  }): Promise<CreatedKey> {
    if (!this.enabled) {
      throw new AuthError(
        'FORBIDDEN',
        'API keys cannot be created while AUTH=off (any caller could create one); start with AUTH=on and use the bootstrap admin key',
        undefined,
        'authOff',
      );
    }
    const store = this.requireStore();
    const role = args.role.toLowerCase() as ApiKeyRole;
    const refuse = (field: string, rule: string, message: string) =>
      new AuthError('BAD_USER_INPUT', `${field}: ${message}`, field, rule);
    if (!API_KEY_ROLES.includes(role)) throw refuse('role', 'enum', `must be one of ${API_KEY_ROLES.join(', ')}`);
    const apps = args.sourceAppIds == null ? null : [...new Set(args.sourceAppIds)].sort();
    if (apps !== null && apps.length === 0)
      throw refuse('sourceAppIds', 'min', 'must hold at least one item; omit it for every application');
    if (apps !== null && apps.length > MAX_KEY_APPS)
      throw refuse('sourceAppIds', 'max', `must hold at most ${MAX_KEY_APPS} items`);
    if (role === 'writer' && apps === null)
      throw refuse('sourceAppIds', 'required', 'a writer key must name the applications it writes for');
    if (role === 'admin' && apps !== null)
      throw refuse('sourceAppIds', 'forbidden', 'an admin key cannot be limited to applications');
    const name = args.name ?? null;
    for (let attempt = 0; ; attempt++) {
      const secret = generateSecret();
      try {
        const key = await store.create({
          id: generateKeyId(),
          secretHash: hashSecret(secret),
          role,
          sourceAppIds: apps,
          name,
          createdAt: this.now(),
          createdBy: args.createdBy,
        });
        return { secret, key };
      } catch (err) {
        if (!(err instanceof ApiKeyConflictError) || attempt >= 2) throw err;
      }
    }
  }

  listKeys(includeRevoked = false): Promise<ApiKeyInfo[]> {
    return this.requireStore().list({ includeRevoked });
  }

  /** Revokes at once in this process; other processes notice within the cache TTL. */
  async revokeKey(id: string): Promise<ApiKeyInfo> {
    if (id === BOOTSTRAP_KEY_ID) {
      throw new AuthError(
        'BAD_USER_INPUT',
        'id: the bootstrap admin key cannot be revoked; change ADMIN_API_KEY or delete DATA_DIR/admin-api-key and restart',
        'id',
        'bootstrap',
      );
    }
    const key = await this.requireStore().revoke(id, this.now());
    if (!key) throw new AuthError('NOT_FOUND', `id: no API key ${id}`, 'id', 'notFound');
    for (const [hash, entry] of this.cache) {
      if (entry.principal.kind === 'key' && entry.principal.id === id) this.cache.delete(hash);
    }
    return key;
  }

  /** Whether a principal authenticated earlier is still valid (for long-lived subscriptions). */
  async stillValid(principal: Principal): Promise<boolean> {
    if (principal.kind === 'open' || principal === BOOTSTRAP) return true;
    const hash = this.hashes.get(principal);
    if (!hash) return principal.kind === 'key';
    return (await this.byHash(hash)).kind === 'key';
  }
}

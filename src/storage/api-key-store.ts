// API keys as the engines store them: only the SHA-256 of a secret is ever stored, never the secret.
// Every engine that offers keys (`LogStorage.apiKeys`) must pass test/storage/api-key-contract.ts.

export type ApiKeyRole = 'writer' | 'reader' | 'auditor' | 'admin';

export const API_KEY_ROLES: readonly ApiKeyRole[] = ['writer', 'reader', 'auditor', 'admin'];

/** What may be shown about a key: everything but its secret hash. */
export interface ApiKeyInfo {
  /** Public identifier, unrelated to the secret. */
  id: string;
  role: ApiKeyRole;
  /** The source applications the key is limited to; null = every application. */
  sourceAppIds: string[] | null;
  name: string | null;
  /** Epoch ms. */
  createdAt: number;
  /**
   * The id of the key that created this one (`bootstrap` for the bootstrap admin key); null for keys
   * stored before the creator was recorded, which may have been created while authentication was off.
   */
  createdBy: string | null;
  /** Epoch ms; null while the key is valid. */
  revokedAt: number | null;
}

export interface NewApiKey extends Omit<ApiKeyInfo, 'revokedAt'> {
  /** Lowercase hex SHA-256 of the secret. */
  secretHash: string;
}

export class ApiKeyConflictError extends Error {
  override name = 'ApiKeyConflictError';
}

export interface ApiKeyStore {
  /** Create the table/collection and indexes; idempotent. Engines call it from their own init(). */
  init(): Promise<void>;
  /** Throws ApiKeyConflictError if the id or the secret hash is already stored. */
  create(key: NewApiKey): Promise<ApiKeyInfo>;
  /** The key with that secret hash, revoked or not (the caller decides), or null. */
  findBySecretHash(secretHash: string): Promise<ApiKeyInfo | null>;
  /** Keys by (createdAt, id); revoked ones only when asked. */
  list(options?: { includeRevoked?: boolean }): Promise<ApiKeyInfo[]>;
  /** Marks the key revoked at `at` (the first revocation time is kept); null if there is no such key. */
  revoke(id: string, at: number): Promise<ApiKeyInfo | null>;
}

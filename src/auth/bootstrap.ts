// The bootstrap admin key: ADMIN_API_KEY, else DATA_DIR/admin-api-key, else generated into that file
// (mode 0600) and printed once. It is checked in memory (never stored in the database), cannot be
// revoked through the API, and is replaced by changing ADMIN_API_KEY or deleting the file.
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { ApiKeyInfo, ApiKeyStore } from '../storage/api-key-store.js';
import type { LogStorage } from '../storage/types.js';
import { Authenticator } from './authenticator.js';
import { generateSecret, hashSecret } from './secrets.js';

export const ADMIN_KEY_FILE = 'admin-api-key';

export interface BootstrapKey {
  hash: string;
  source: 'env' | 'file' | 'generated';
  path?: string;
}

export function loadBootstrapKey(config: Pick<Config, 'ADMIN_API_KEY' | 'DATA_DIR'>, logger: Logger): BootstrapKey {
  if (config.ADMIN_API_KEY) return { hash: hashSecret(config.ADMIN_API_KEY), source: 'env' };
  const path = join(config.DATA_DIR, ADMIN_KEY_FILE);
  let existing: string | null = null;
  try {
    existing = readFileSync(path, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (existing !== null) {
    if (existing.length < 24) throw new Error(`${path}: does not hold an API key (delete it to generate a new one)`);
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) {
      chmodSync(path, 0o600);
      logger.warn({ path, mode: mode.toString(8) }, 'the bootstrap admin API key file was readable by others; made it 0600');
    }
    logger.info({ path }, 'using the bootstrap admin API key from its file');
    return { hash: hashSecret(existing), source: 'file', path };
  }
  mkdirSync(config.DATA_DIR, { recursive: true });
  const secret = generateSecret();
  // wx: never overwrite a key another process (a replica on a shared volume) wrote in the meantime.
  try {
    writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadBootstrapKey(config, logger);
    throw err;
  }
  chmodSync(path, 0o600);
  logger.warn(
    { path, adminApiKey: secret },
    `generated the bootstrap admin API key (shown only this once; also saved in ${path}, mode 0600): ${secret}`,
  );
  return { hash: hashSecret(secret), source: 'generated', path };
}

/** The authenticator for a server: AUTH=off says so loudly; otherwise the bootstrap key is set up. */
export function createAuthenticator(config: Config, storage: LogStorage, logger: Logger): Authenticator {
  if (config.AUTH === 'off') {
    const message =
      'AUTH=off: AUTHENTICATION IS DISABLED. Every caller, from anywhere that can reach this port, may read, write and manage keys as admin. Use only for local demos.';
    if (config.production) logger.error(message);
    else logger.warn(message);
    return new Authenticator({ enabled: false, store: storage.apiKeys, bootstrapHash: null });
  }
  const bootstrap = loadBootstrapKey(config, logger);
  if (!storage.apiKeys) logger.warn('this storage engine does not store API keys: only the bootstrap admin key works');
  return new Authenticator({ enabled: true, store: storage.apiKeys, bootstrapHash: bootstrap.hash });
}

/**
 * Warns, at start with authentication on, about every valid key whose creator is unknown: such keys
 * were stored by a version that did not record it, and may have been minted by anyone while AUTH=off.
 * They keep working (revoking them is the operator's call); the warning names each one. Returns them.
 */
export async function flagKeysOfUnknownOrigin(store: ApiKeyStore | undefined, logger: Logger): Promise<ApiKeyInfo[]> {
  if (!store) return [];
  const unknown = (await store.list()).filter((k) => k.createdBy === null);
  if (unknown.length > 0) {
    logger.warn(
      { keys: unknown.map((k) => ({ id: k.id, role: k.role, name: k.name, createdAt: new Date(k.createdAt).toISOString() })) },
      `${unknown.length} valid API key(s) have no recorded creator: they may have been created while AUTH=off, by any caller. Review them (query apiKeys) and revoke those you do not recognize (revokeApiKey).`,
    );
  }
  return unknown;
}

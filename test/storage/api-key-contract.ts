// The ApiKeyStore contract: every engine that stores API keys must pass it.
// `open()` gives a fresh, NOT yet initialised store's owner (the suite calls init()); `reopen()` a new
// instance on the same data (the current one is closed first); `cleanup()` drops the data.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiKeyConflictError, type ApiKeyStore, type NewApiKey } from '../../src/storage/api-key-store.js';
import type { LogStorage } from '../../src/storage/types.js';
import type { StorageHarness } from './contract.js';

/** The same as the storage contract's (harnesses.ts makes them). */
export type ApiKeyHarness = StorageHarness;

const hash = (n: number) => n.toString(16).padStart(64, '0');
const key = (n: number, extra: Partial<NewApiKey> = {}): NewApiKey => ({
  id: `key_${n}`,
  secretHash: hash(n),
  role: 'reader',
  sourceAppIds: null,
  name: null,
  createdAt: 1_700_000_000_000 + n,
  createdBy: 'key_admin',
  ...extra,
});

export function describeApiKeyContract(engine: string, open: () => Promise<ApiKeyHarness>): void {
  describe(`ApiKeyStore contract: ${engine}`, () => {
    let h: ApiKeyHarness;
    let storage: LogStorage;
    let keys: ApiKeyStore;

    beforeEach(async () => {
      h = await open();
      storage = h.storage;
      await storage.init();
      keys = storage.apiKeys!;
    });
    afterEach(async () => {
      await storage.close();
      await h.cleanup();
    });

    it('is offered by the engine', () => {
      expect(keys).toBeDefined();
    });

    it('creates keys and finds them by secret hash, with every field as given', async () => {
      const made = await keys.create(key(1, { role: 'writer', sourceAppIds: ['a', 'b.c'], name: 'shop ✓' }));
      expect(made).toEqual({
        id: 'key_1',
        role: 'writer',
        sourceAppIds: ['a', 'b.c'],
        name: 'shop ✓',
        createdAt: 1_700_000_000_001,
        createdBy: 'key_admin',
        revokedAt: null,
      });
      expect(made).not.toHaveProperty('secretHash');
      expect(await keys.findBySecretHash(hash(1))).toEqual(made);
      expect(await keys.findBySecretHash(hash(2))).toBeNull();
      await keys.create(key(2, { role: 'admin', createdBy: 'bootstrap' }));
      expect(await keys.findBySecretHash(hash(2))).toMatchObject({
        id: 'key_2',
        role: 'admin',
        sourceAppIds: null,
        name: null,
        createdBy: 'bootstrap',
      });
    });

    it('refuses a second key with the same id or the same secret hash', async () => {
      await keys.create(key(1));
      await expect(keys.create(key(1, { secretHash: hash(9) }))).rejects.toBeInstanceOf(ApiKeyConflictError);
      await expect(keys.create(key(9, { secretHash: hash(1) }))).rejects.toBeInstanceOf(ApiKeyConflictError);
      expect(await keys.list({ includeRevoked: true })).toHaveLength(1);
    });

    it('lists keys by creation time without secrets, revoked ones only when asked', async () => {
      await keys.create(key(3));
      await keys.create(key(1, { role: 'auditor', sourceAppIds: ['x'] }));
      await keys.create(key(2, { role: 'writer', sourceAppIds: ['y'] }));
      expect((await keys.list()).map((k) => k.id)).toEqual(['key_1', 'key_2', 'key_3']);
      for (const k of await keys.list())
        expect(Object.keys(k).sort()).toEqual(['createdAt', 'createdBy', 'id', 'name', 'revokedAt', 'role', 'sourceAppIds']);
      await keys.revoke('key_2', 5);
      expect((await keys.list()).map((k) => k.id)).toEqual(['key_1', 'key_3']);
      expect((await keys.list({ includeRevoked: true })).map((k) => [k.id, k.revokedAt])).toEqual([
        ['key_1', null],
        ['key_2', 5],
        ['key_3', null],
      ]);
    });

    it('revokes once (the first time is kept), and says when there is no such key', async () => {
      await keys.create(key(1));
      expect(await keys.revoke('key_1', 100)).toMatchObject({ id: 'key_1', revokedAt: 100 });
      expect(await keys.revoke('key_1', 200)).toMatchObject({ id: 'key_1', revokedAt: 100 });
      expect(await keys.findBySecretHash(hash(1))).toMatchObject({ revokedAt: 100 });
      expect(await keys.revoke('key_nope', 100)).toBeNull();
    });

    it('keeps keys across reopening, and init() is idempotent', async () => {
      await keys.create(key(1, { role: 'writer', sourceAppIds: ['a'] }));
      await keys.revoke('key_1', 7);
      await keys.create(key(2));
      await storage.close();
      storage = await h.reopen();
      await storage.init();
      await storage.init();
      keys = storage.apiKeys!;
      expect(await keys.findBySecretHash(hash(1))).toMatchObject({ id: 'key_1', sourceAppIds: ['a'], revokedAt: 7 });
      expect((await keys.list()).map((k) => k.id)).toEqual(['key_2']);
    });
  });
}

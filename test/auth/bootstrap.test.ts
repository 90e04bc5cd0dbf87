// The bootstrap admin key (generated into DATA_DIR/admin-api-key 0600, printed once) and AUTH=off.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY_FILE, loadBootstrapKey } from '../../src/auth/bootstrap.js';
import { writeLegacyAdminKey } from '../support/legacy-api-keys.js';
import { startService } from '../support/service.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('bootstrap admin key', () => {
  it('is generated on first start into DATA_DIR/admin-api-key (0600), printed once, and kept across restarts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'chainlog-bootstrap-'));
    dirs.push(dataDir);
    const first = await startService({ env: { DATA_DIR: dataDir, ADMIN_API_KEY: '' } });
    let key: string;
    try {
      const file = join(dataDir, 'admin-api-key');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      key = readFileSync(file, 'utf8').trim();
      expect(key).toMatch(/^clk_[A-Za-z0-9_-]{43}$/);
      const occurrences = first.output().split(key).length - 1;
      // One log line: in its message and in its adminApiKey field.
      expect(
        first
          .output()
          .split('\n')
          .filter((l) => l.includes(key)).length,
      ).toBe(1);
      expect(occurrences).toBeGreaterThanOrEqual(1);
      expect(first.adminKey).toBeNull();
      expect((await first.gqlAs(key, '{ apiKeys { id } }')).data.apiKeys).toEqual([]);
      expect((await first.gqlAs(null, '{ serverInfo { version } }')).status).toBe(401);
    } finally {
      await first.stop();
    }
    const second = await startService({ env: { DATA_DIR: dataDir, ADMIN_API_KEY: '' } });
    try {
      expect(second.output()).not.toContain(key);
      expect((await second.gqlAs(key, '{ apiKeys { id } }')).errors).toBeUndefined();
    } finally {
      await second.stop();
    }
  });

  it('ADMIN_API_KEY is used as given and never written to DATA_DIR or printed; a short one is refused', async () => {
    const admin = 'clk_from-env-0123456789-abcdefghij';
    const svc = await startService({ env: { ADMIN_API_KEY: admin } });
    try {
      expect(() => statSync(join(svc.dataDir, 'admin-api-key'))).toThrow();
      expect(svc.output()).not.toContain(admin);
      expect((await svc.gqlAs(admin, '{ apiKeys { id } }')).errors).toBeUndefined();
      const refused = await svc.gql('mutation { revokeApiKey(id: "bootstrap") { id } }');
      expect(refused.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', rule: 'bootstrap' });
    } finally {
      await svc.stop();
    }
    await expect(startService({ env: { ADMIN_API_KEY: 'short' }, startTimeoutMs: 20_000 })).rejects.toThrow(/ADMIN_API_KEY/);
  });
});

describe('AUTH=off', () => {
  it('says so loudly at start and lets every caller do everything', async () => {
    const svc = await startService({ env: { AUTH: 'off' } });
    try {
      expect(svc.output()).toMatch(/AUTH=off: AUTHENTICATION IS DISABLED/);
      expect(svc.adminKey).toBeNull();
      expect((await svc.gqlAs(null, 'mutation { publishCheckpoints { treeSize } }')).errors).toBeUndefined();
      expect((await fetch(`${svc.url}/metrics`)).status).toBe(200);
    } finally {
      await svc.stop();
    }
  });
});

describe('keys of unknown origin', () => {
  it('a key stored without its creator (an earlier version, maybe AUTH=off) is named in a warning at start', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'chainlog-legacy-key-'));
    dirs.push(dataDir);
    writeLegacyAdminKey(join(dataDir, 'chainlog.db'), { id: 'key_legacy1', secretHash: 'c'.repeat(64), name: 'from-a-web-page' });
    const svc = await startService({ env: { DATA_DIR: dataDir } });
    try {
      const warning = svc
        .output()
        .split('\n')
        .find((l) => l.includes('no recorded creator'));
      expect(warning).toContain('key_legacy1');
      const listed = (await svc.gql('{ apiKeys { id createdBy } }')).data.apiKeys;
      expect(listed).toEqual([{ id: 'key_legacy1', createdBy: null }]);
    } finally {
      await svc.stop();
    }
  });
});

describe('a bootstrap key file that cannot be used', () => {
  const logger = pino({ level: 'silent' });
  const dataDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainlog-bootstrap-'));
    dirs.push(dir);
    return dir;
  };

  it('refuses a file too short to hold a key (truncated, emptied), naming it and what to do, and leaves it as it is', () => {
    for (const text of ['', '\n', 'short-key\n']) {
      const dir = dataDir();
      const path = join(dir, ADMIN_KEY_FILE);
      writeFileSync(path, text, { mode: 0o600 });
      expect(() => loadBootstrapKey({ DATA_DIR: dir }, logger)).toThrow(
        `${path}: does not hold an API key (delete it to generate a new one)`,
      );
      expect(readFileSync(path, 'utf8')).toBe(text);
    }
  });

  it('fails on a file it cannot read, rather than generating another key over it', () => {
    const dir = dataDir();
    mkdirSync(join(dir, ADMIN_KEY_FILE)); // EISDIR: neither a key nor absent
    expect(() => loadBootstrapKey({ DATA_DIR: dir }, logger)).toThrow(/EISDIR/);
  });
});

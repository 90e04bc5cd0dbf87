// The log's signing key (src/log/signing-key.ts): generated once into the data directory, and otherwise
// only ever read. A key file that is there but unusable stops the start with its path; it is never
// replaced by a new key, which would sign the log's next checkpoints with a key no auditor pinned.
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../src/log/signing-key.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const dataDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'chainlog-signing-key-'));
  dirs.push(dir);
  return dir;
};

describe('loadSigningKey', () => {
  it('generates a key once, then reads the same one', () => {
    const dir = dataDir();
    const first = loadSigningKey({ dataDir: dir });
    expect(first.generated).toBe(true);
    const again = loadSigningKey({ dataDir: dir });
    expect(again).toMatchObject({ generated: false, source: join(dir, 'signing-key.pem') });
    expect(again.publicKey).toEqual(first.publicKey);
  });

  it('refuses a key of another algorithm, naming the file, and leaves it as it is', () => {
    for (const type of ['ec', 'rsa'] as const) {
      const dir = dataDir();
      const path = join(dir, 'signing-key.pem');
      const { privateKey } =
        type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
      const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
      writeFileSync(path, pem, { mode: 0o600 });
      expect(() => loadSigningKey({ dataDir: dir })).toThrow(`${path}: signing key must be Ed25519, got ${type}`);
      expect(readFileSync(path, 'utf8')).toBe(pem);
    }
  });

  it('fails on a key file that is not a key, or cannot be read, rather than generating another', () => {
    const garbled = dataDir();
    const path = join(garbled, 'signing-key.pem');
    writeFileSync(path, '-----BEGIN PRIVATE KEY-----\ntruncated\n', { mode: 0o600 });
    expect(() => loadSigningKey({ dataDir: garbled })).toThrow();
    expect(readFileSync(path, 'utf8')).toBe('-----BEGIN PRIVATE KEY-----\ntruncated\n');

    const unreadable = dataDir();
    mkdirSync(join(unreadable, 'signing-key.pem'));
    expect(() => loadSigningKey({ dataDir: unreadable })).toThrow(/EISDIR/);
  });

  it('reads SIGNING_KEY_FILE as given: a missing one is an error, not a key to generate', () => {
    const dir = dataDir();
    const missing = join(dir, 'elsewhere.pem');
    expect(() => loadSigningKey({ dataDir: dir, keyFile: missing })).toThrow(/ENOENT/);
    expect(() => readFileSync(join(dir, 'signing-key.pem'))).toThrow(/ENOENT/);
  });

  it('fails when the data directory is under a file, rather than taking that for no key', () => {
    const dir = dataDir();
    const notADir = join(dir, 'file');
    writeFileSync(notADir, '');
    expect(() => loadSigningKey({ dataDir: join(notADir, 'data') })).toThrow(/ENOTDIR/);
  });
});

// An Ed25519 signing key (the log's, the witness's): given by configuration, or generated once into the
// data directory.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SigningKey {
  privateKey: KeyObject;
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  /** Where it was loaded from, for the start-up log line. */
  source: string;
  generated: boolean;
}

/** `fileName`: the key's file in dataDir when keyFile is unset (default: the log's signing-key.pem). */
export function loadSigningKey(opts: { dataDir: string; keyFile?: string | undefined; fileName?: string }): SigningKey {
  if (opts.keyFile) return fromPem(readFileSync(opts.keyFile, 'utf8'), opts.keyFile, false);
  const path = join(opts.dataDir, opts.fileName ?? 'signing-key.pem');
  try {
    return fromPem(readFileSync(path, 'utf8'), path, false);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(opts.dataDir, { recursive: true });
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  try {
    // 'wx': never overwrite a key another process created a moment ago.
    writeFileSync(path, pem, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return fromPem(readFileSync(path, 'utf8'), path, false);
    throw err;
  }
  return fromPem(pem, path, true);
}

function fromPem(pem: string, source: string, generated: boolean): SigningKey {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(`${source}: signing key must be Ed25519, got ${privateKey.asymmetricKeyType}`);
  }
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  return { privateKey, publicKey: new Uint8Array(Buffer.from(jwk.x as string, 'base64url')), source, generated };
}

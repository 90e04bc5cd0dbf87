// Test helpers: Ed25519 KeyObjects from a Go note signer key or a fixed seed.
import { createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** `PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>` → name and KeyObject. */
export function parseGoSignerKey(skey: string): { name: string; key: KeyObject } {
  const [priv, key, name, , b64] = skey.split('+', 5);
  const raw = Buffer.from(skey.slice(skey.indexOf('+', `${priv}+${key}+${name}+`.length) + 1), 'base64');
  if (priv !== 'PRIVATE' || key !== 'KEY' || name === undefined || b64 === undefined || raw[0] !== 1)
    throw new Error('bad signer key');
  return { name, key: privateKeyFromSeed(raw.subarray(1)) };
}

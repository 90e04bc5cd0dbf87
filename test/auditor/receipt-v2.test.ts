// A receipt of a leaf version 2 event: the leaf holds the payload's commitment, so the offline check
// also recomputes the commitment when the payload is present, and checks the leaf alone once erased.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkReceipt } from '../../src/client/verify.js';
import { canonicalJson } from '../../src/core/canonical-json.js';
import {
  createSigner,
  formatTime,
  formatTlogProof,
  fromHex,
  leafHashHex,
  parseVerifierKey,
  payloadCommitment,
  rawPublicKey,
  signCheckpoint,
  toHex,
  verifierKeyString,
  ZERO_HASH_HEX,
} from '../../src/core/index.js';

const keys = generateKeyPairSync('ed25519');
const ORIGIN = 'chainlog.test/app';
const trusted = parseVerifierKey(verifierKeyString('chainlog.test', rawPublicKey(keys.publicKey)));
const payload = { userId: 'u42', amount: 5 };
const salt = randomBytes(32);
const fields = {
  sourceAppId: 'app',
  seq: 0,
  prevHash: ZERO_HASH_HEX,
  eventType: 'e',
  timestamp: formatTime(1_700_000_000_000),
  receivedAt: formatTime(1_700_000_000_500),
  payloadHash: payloadCommitment(salt, canonicalJson(payload)),
};
const hash = leafHashHex(fields);
const event = { ...fields, payload, payloadSalt: toHex(salt), hash };
// A one-leaf tree: its root is the leaf hash, and the inclusion proof is empty.
const note = signCheckpoint({ origin: ORIGIN, size: 1, rootHash: fromHex(hash) }, createSigner(ORIGIN, keys.privateKey));
const receipt = formatTlogProof({ index: 0, hashes: [], checkpoint: note });

describe('checkReceipt on a leaf version 2 event', () => {
  it('verifies the event with its payload, and the erased event by its leaf alone', () => {
    expect(checkReceipt(receipt, event, trusted).leafHash).toBe(hash);
    expect(checkReceipt(receipt, { ...event, payload: null, payloadSalt: null }, trusted).leafHash).toBe(hash);
  });

  it('rejects a payload or salt the leaf does not commit to, naming the event', () => {
    expect(() => checkReceipt(receipt, { ...event, payload: { ...payload, amount: 6 } }, trusted)).toThrow(
      /do not give its payloadHash/,
    );
    expect(() => checkReceipt(receipt, { ...event, payloadSalt: toHex(randomBytes(32)) }, trusted)).toThrow(
      /do not give its payloadHash/,
    );
  });
});
